import { z } from 'zod';
import { ProblemError } from '../errors/problems.ts';
import type { Tensor } from '../kernels/types.ts';
import { paramsObject } from './params.ts';
import { formatShape, shapeProblem } from './shape-rules.ts';
import type { LayerTask, ShapeContext, StateName } from './types.ts';

export const eps = z.number().gt(0).default(1e-5).meta({ description: 'added to the variance before the square root (> 0)' });

export const batchnormParams = paramsObject({
    eps,
    momentum: z.number().min(0).max(1).default(0.9).meta({ description: 'cs231n: running = momentum·running + (1 − momentum)·batch (PyTorch momentum = 1 − this)' }),
    runningVarEstimator: z
      .enum(['biased', 'unbiased'])
      .default('biased')
      .meta({ description: 'variance used for the running update: biased (N, cs231n) or unbiased (N − 1, PyTorch); normalization always uses the biased one' }),
  });

/** gamma, beta (and the running statistics, when sent) are vectors over the normalized features. */
export function expectFeatureVectors(ctx: ShapeContext<unknown>, features: number, what: string): void {
  const want = [features];
  const check = (path: string, got: number[] | undefined) => {
    if (got && !(got.length === 1 && got[0] === features)) {
      throw shapeProblem(path, `${path} has shape ${formatShape(got)}; x ${formatShape(ctx.shapes.x)} has ${what} = ${features}, so it must be ${formatShape(want)}`);
    }
  };
  check('inputs.gamma', ctx.shapes.gamma);
  check('inputs.beta', ctx.shapes.beta);
  for (const k of ['runningMean', 'runningVar'] as StateName[]) check(`state.${k}`, ctx.state[k]);
}

/**
 * Value rules of the batchnorm family: the running variance is a variance (>= 0), and the unbiased
 * estimator needs at least two values per feature (N − 1 > 0).
 */
export function validateBatchnorm(task: LayerTask<{ runningVarEstimator: string }>, valuesPerFeature: number): void {
  const rv = task.state.runningVar?.data;
  if (rv) {
    for (let i = 0; i < rv.length; i++) {
      if (rv[i] < 0) throw ProblemError.at('invalidParam', `state.runningVar[${i}]`, `is ${rv[i]}; a variance must be >= 0`);
    }
  }
  if (task.mode === 'train' && task.params.runningVarEstimator === 'unbiased' && valuesPerFeature < 2) {
    throw ProblemError.at(
      'invalidParam',
      'params.runningVarEstimator',
      `"unbiased" divides by (values per feature − 1) = 0: this batch has one value per feature; send more, or use "biased"`,
    );
  }
}

export const vector = (data: Tensor['data']): Tensor => ({ shape: [data.length], data });
