import { z } from 'zod';
import { GeometryError } from '../kernels/geometry.ts';
import { ProblemError } from '../errors/problems.ts';

/**
 * A layer's params: strict (an unknown param is refused by name), and a missing `params` is
 * validated as {} so that each default applies and each required param is named when absent.
 */
export const paramsObject = <S extends z.core.$ZodLooseShape>(shape: S) => z.strictObject(shape).prefault({} as never);

/** An int for both axes, or `[h, w]`, each at least `min`. */
export const pair = (min: number, description: string) =>
  z.union([z.int().min(min), z.tuple([z.int().min(min), z.int().min(min)])]).meta({ description: `${description}: an int, or [h, w]` });

/** Geometry problems from the kernels' shared geometry module, as 400 problems naming the field. */
export function geometryProblem<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof GeometryError)) throw e;
    throw new ProblemError(e.path.startsWith('params.') ? 'invalidParam' : 'shapeMismatch', e.message, {
      errors: [{ path: e.path, message: e.message }],
    });
  }
}
