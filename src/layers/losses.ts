import { ProblemError } from '../errors/problems.ts';
import { formatShape, shapeProblem } from './shape-rules.ts';
import type { LayerTask, ShapeContext } from './types.ts';

/** Shape rule shared by the loss layers: x (N, C) scores and y (N) labels. */
export function lossOutShape({ shapes: { x }, labels: { y } }: ShapeContext<unknown>): number[] {
  if (y !== x[0]) {
    throw shapeProblem('inputs.y', `inputs.y has ${y} labels; x ${formatShape(x)} has N = ${x[0]} rows, so y needs ${x[0]}`);
  }
  return [];
}

/** Labels must index a class: 0 <= y[n] < C. */
export function validateLabels({ inputs: { x }, labels: { y } }: LayerTask<unknown>): void {
  const C = x.shape[1];
  for (let n = 0; n < y.length; n++) {
    if (y[n] < 0 || y[n] >= C) {
      throw ProblemError.at('invalidParam', `inputs.y[${n}]`, `label ${y[n]} is outside [0, ${C}): x has C = ${C} classes`);
    }
  }
}
