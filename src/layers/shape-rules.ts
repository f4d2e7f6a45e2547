import { ProblemError } from '../errors/problems.ts';
import { formatShape } from '../kernels/types.ts';
import type { FloatInputSpec } from './types.ts';

export { formatShape };

/** The rank rule of an input spec, checked before the layer's own rules. */
export function checkRank(spec: FloatInputSpec, shape: readonly number[]): void {
  const { rank } = spec;
  const ok = rank === 'any' || (typeof rank === 'number' ? shape.length === rank : shape.length >= rank.min);
  if (ok) return;
  const want = typeof rank === 'number' ? `${rank}-D` : `at least ${(rank as { min: number }).min}-D`;
  throw shapeProblem(
    `inputs.${spec.name}`,
    `inputs.${spec.name} must be ${want} ${spec.layout}; got shape ${formatShape(shape)}`,
  );
}

/** A 400 shape-mismatch problem about one field; the route puts the layer name in front. */
export function shapeProblem(path: string, detail: string): ProblemError {
  return new ProblemError('shapeMismatch', detail, { errors: [{ path, message: detail }] });
}

/** Requires `got` to equal `want`; `why` finishes the sentence "… it must be [..] because …". */
export function expectShape(path: string, got: readonly number[], want: readonly number[], why: string): void {
  if (got.length === want.length && got.every((d, i) => d === want[i])) return;
  throw shapeProblem(path, `${path} has shape ${formatShape(got)}; ${why} it must be ${formatShape(want)}`);
}
