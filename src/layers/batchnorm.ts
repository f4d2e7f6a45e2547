import { batchnormForward, batchnormForwardBackward } from '../kernels/batchnorm.ts';
import { spatialBatchnormForward, spatialBatchnormForwardBackward } from '../kernels/spatial-batchnorm.ts';
import {
  batchnormNormalization,
  batchnormParams,
  channelGroups,
  expectFeatureVectors,
  featureGroups,
  RUNNING_STATS,
  runningStatsMistakes,
  validateBatchnorm,
  vector,
} from './normalization.ts';
import { defineLayer, type LayerResult, type LayerTask, type ModesSpec, type StateSpec } from './types.ts';

const BN_DOC =
  'train: normalize with the biased batch statistics and return state updated as running = momentum·running + (1 − momentum)·batch ' +
  '(cs231n; missing state starts at zeros). test: gamma·(x − runningMean)/sqrt(runningVar + eps) + beta, and its gradient. ' +
  'Gradients: x, gamma, beta.';

type BnTask = LayerTask<{ eps: number; momentum: number; runningVarEstimator: 'biased' | 'unbiased' }>;

/**
 * The shared compute of both batchnorms: forward, or forward and backward in one kernel call when dout
 * is sent; state in train mode.
 */
function runBatchnorm(task: BnTask, forward: typeof batchnormForward, forwardBackward: typeof batchnormForwardBackward): LayerResult {
  const { inputs, state, params, mode, dout } = task;
  const options = { mode, ...params, runningMean: state.runningMean?.data, runningVar: state.runningVar?.data };
  const { x, gamma, beta } = inputs;
  const both = dout ? forwardBackward(x, gamma.data, beta.data, dout, options) : undefined;
  const fwd = both ?? forward(x, gamma.data, beta.data, options);
  const result: LayerResult = { out: fwd.out };
  if (mode === 'train') result.state = { runningMean: vector(fwd.runningMean!), runningVar: vector(fwd.runningVar!) };
  if (both) result.grads = { x: both.dx, gamma: vector(both.dgamma), beta: vector(both.dbeta) };
  return result;
}

const modes: ModesSpec = { train: 'batch statistics, returns updated state', test: 'running statistics' };

const state: StateSpec = {
  what: 'running statistics',
  keys: RUNNING_STATS,
  description: 'running statistics (D) or (C); zeros when omitted in train mode; required in test mode',
  returnedIn: ['train'],
  required: { mode: 'test', why: 'normalizes with the running statistics' },
};

const inputs = (rank: number, xLayout: string, features: string) =>
  [
    { name: 'x', kind: 'float', rank, layout: xLayout },
    { name: 'gamma', kind: 'float', rank: 1, layout: `(${features}) scale` },
    { name: 'beta', kind: 'float', rank: 1, layout: `(${features}) shift` },
  ] as const;

export const batchnorm = defineLayer({
  name: 'batchnorm',
  summary: 'Batch normalization over N for each of D features',
  description: BN_DOC,
  inputs: inputs(2, '(N, D)', 'D'),
  params: batchnormParams,
  modes,
  state,
  example: {
    mode: 'train',
    inputs: { x: [[1, 2], [3, 6], [5, 10]], gamma: [1, 1], beta: [0, 0] },
    state: { runningMean: [0, 0], runningVar: [1, 1] },
    params: { momentum: 0.9, eps: 1e-5 },
    dout: [[1, 0], [0, 1], [1, 1]],
  },
  outShape(ctx) {
    expectFeatureVectors(ctx, ctx.shapes.x[1], 'D');
    return ctx.shapes.x;
  },
  validate: (task) => validateBatchnorm(task, task.inputs.x.shape[0]),
  compute: (task) => runBatchnorm(task, batchnormForward, batchnormForwardBackward),
  check: {
    example: {
      claimed: { out: [[-1.2247425750014138, -1.2247442972928344], [0, 0], [1.2247425750014138, 1.2247442972928344]], state: { runningMean: [2.7, 5.4], runningVar: [2.5, 9.7] } },
      shows: 'state with momentum 0.1 instead of 0.9: hint',
    },
    mistakes: (task) => runningStatsMistakes(task, task.inputs.x.shape[0]),
  },
  normalization: batchnormNormalization(featureGroups),
});

export const spatialBatchnorm = defineLayer({
  name: 'spatial-batchnorm',
  summary: 'Batch normalization per channel over N, H and W',
  description: `x (N, C, H, W); statistics per channel over N·H·W. ${BN_DOC}`,
  inputs: inputs(4, '(N, C, H, W)', 'C'),
  params: batchnormParams,
  modes,
  state,
  example: {
    mode: 'train',
    inputs: { x: [[[[1, 2], [3, 4]], [[0, 0], [1, 1]]]], gamma: [1, 2], beta: [0, 0.5] },
    params: { momentum: 0.9 },
    dout: [[[[1, 0], [0, 1]], [[1, 1], [0, 0]]]],
  },
  outShape(ctx) {
    expectFeatureVectors(ctx, ctx.shapes.x[1], 'C');
    return ctx.shapes.x;
  },
  validate: (task) => {
    const [N, , H, W] = task.inputs.x.shape;
    validateBatchnorm(task, N * H * W);
  },
  compute: (task) => runBatchnorm(task, spatialBatchnormForward, spatialBatchnormForwardBackward),
  check: {
    example: {
      claimed: {
        out: [[[[-1.3416354199689269, -0.447211806656309], [0.447211806656309, 1.3416354199689269]], [[-1.4999600011999599, -1.4999600011999599], [2.49996000119996, 2.49996000119996]]]],
        state: { runningVar: [0.16666666666666663, 0.033333333333333326] },
      },
      shows: 'runningVar updated with the unbiased variance: hint',
    },
    factors(task) {
      const [N, , H, W] = task.inputs.x.shape;
      return [
        { value: N * H * W, label: 'N·H·W (values per channel)' },
        { value: H * W, label: 'H·W' },
      ];
    },
    mistakes: (task) => {
      const [N, , H, W] = task.inputs.x.shape;
      return runningStatsMistakes(task, N * H * W);
    },
  },
  normalization: batchnormNormalization(channelGroups),
});
