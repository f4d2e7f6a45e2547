import { z } from 'zod';
import { ProblemError } from '../errors/problems.ts';
import type { Tensor } from '../kernels/types.ts';
import { paramsObject } from './params.ts';
import { formatShape, shapeProblem } from './shape-rules.ts';
import type { LayerTask, Mistake, NormalizationSpec, ShapeContext } from './types.ts';

/** The batchnorm family's state: the running statistics, updated in train mode, used in test mode. */
export const RUNNING_STATS = ['runningMean', 'runningVar'] as const;

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
  for (const k of RUNNING_STATS) check(`state.${k}`, ctx.state[k]);
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

type Grouping = ReturnType<NormalizationSpec<unknown>['grouping']>;

/**
 * Statistics groups of the four normalization layers. `groupOf(i)` and `channelOf(i)` of the flat
 * index i: one per feature (batchnorm), per channel (spatial-batchnorm), per row (layernorm), per
 * (sample, channel group) (spatial-groupnorm).
 */
function grouping(size: number, groups: number, groupOf: (i: number) => number, channelOf: (i: number) => number): Grouping {
  const group = new Int32Array(size);
  const channel = new Int32Array(size);
  for (let i = 0; i < size; i++) {
    group[i] = groupOf(i);
    channel[i] = channelOf(i);
  }
  return { groups, group, channel };
}

const sizeOf = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

/** batchnorm x (N, D): one group per feature d. */
export const featureGroups = (shape: readonly number[]): Grouping => {
  const D = shape[1];
  return grouping(sizeOf(shape), D, (i) => i % D, (i) => i % D);
};

/** spatial-batchnorm x (N, C, H, W): one group per channel c. */
export const channelGroups = (shape: readonly number[]): Grouping => {
  const [, C, H, W] = shape;
  const channel = (i: number) => Math.floor(i / (H * W)) % C;
  return grouping(sizeOf(shape), C, channel, channel);
};

/** layernorm x (…, D): one group per row; gamma and beta per feature d. */
export const rowGroups = (shape: readonly number[]): Grouping => {
  const D = shape[shape.length - 1];
  const size = sizeOf(shape);
  return grouping(size, size / D, (i) => Math.floor(i / D), (i) => i % D);
};

/** spatial-groupnorm x (N, C, H, W), G groups: one group per (sample, consecutive C/G channels). */
export const channelGroupGroups = (shape: readonly number[], G: number): Grouping => {
  const [N, C, H, W] = shape;
  const S = H * W;
  const channel = (i: number) => Math.floor(i / S) % C;
  return grouping(sizeOf(shape), N * G, (i) => Math.floor(i / (C * S)) * G + Math.floor(channel(i) / (C / G)), channel);
};

/** The batchnorm family: batch statistics in train mode, the running ones in test mode. */
export const batchnormNormalization = (groups: (shape: readonly number[]) => Grouping): NormalizationSpec<{ eps: number }> => ({
  grouping: (shape) => groups(shape),
  batchStatistics: (mode) => mode === 'train',
  eps: (p) => p.eps,
});

type BnParams = { eps: number; momentum: number; runningVarEstimator: 'biased' | 'unbiased' };

/**
 * The running-statistics mistakes of the batchnorm family (/check hints): the momentum weighed the
 * other way round (PyTorch's convention), the other variance estimator, and both. Each is the same
 * request with other params, forward only. `valuesPerFeature` (M) < 2 leaves the estimator alone.
 */
export function runningStatsMistakes(task: LayerTask<BnParams>, valuesPerFeature: number): Mistake[] {
  if (task.mode !== 'train') return [];
  const p = task.params;
  const other = p.runningVarEstimator === 'biased' ? 'unbiased' : 'biased';
  const reversed = 1 - p.momentum;
  const shown = Number(reversed.toPrecision(12)); // 1 − 0.8 prints as 0.2, not 0.19999999999999996
  const canReverse = reversed !== p.momentum;
  const canSwap = valuesPerFeature >= 2;
  const momentumHint = (key: string) =>
    `${key} matches momentum ${shown} where the request has ${p.momentum}: cs231n updates running = momentum · running + (1 − momentum) · batch; ` +
    `yours weighs them the other way round (PyTorch's momentum is 1 − this one)`;
  const estimatorHint =
    other === 'unbiased'
      ? 'state.runningVar matches an update with the unbiased batch variance (divided by M − 1): runningVarEstimator is "biased", so the update uses the biased one (divided by M, np.var\'s default); send "runningVarEstimator": "unbiased" for PyTorch\'s update'
      : 'state.runningVar matches an update with the biased batch variance (divided by M): runningVarEstimator "unbiased" updates with the variance divided by M − 1 (np.var(x, ddof=1))';
  const variant = (params: Partial<BnParams>, keys: string[], hint: (key: string) => string): Mistake => ({
    keys,
    task: { ...task, params: { ...p, ...params }, dout: undefined },
    hint,
  });
  const mistakes: Mistake[] = [];
  if (canReverse) mistakes.push(variant({ momentum: reversed }, ['state.runningMean', 'state.runningVar'], momentumHint));
  if (canSwap) mistakes.push(variant({ runningVarEstimator: other }, ['state.runningVar'], () => estimatorHint));
  if (canReverse && canSwap) {
    mistakes.push(variant({ momentum: reversed, runningVarEstimator: other }, ['state.runningVar'], (key) => `${momentumHint(key)}. Also, ${estimatorHint}`));
  }
  return mistakes;
}
