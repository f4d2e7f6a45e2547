import { z } from 'zod';
import { groupnormForward, groupnormForwardBackward } from '../kernels/groupnorm.ts';
import { ProblemError } from '../errors/problems.ts';
import { channelGroupGroups, eps, expectFeatureVectors, vector } from './normalization.ts';
import { paramsObject } from './params.ts';
import { formatShape } from './shape-rules.ts';
import { defineLayer } from './types.ts';

export const spatialGroupnorm = defineLayer({
  name: 'spatial-groupnorm',
  summary: 'Group normalization: statistics per sample and channel group',
  description:
    'x (N, C, H, W); the C channels are split into `groups` consecutive groups, each normalized over its (C/groups)·H·W values per sample; ' +
    'gamma and beta are per channel (cs231n spatial_groupnorm, PyTorch GroupNorm). Gradients: x, gamma, beta.',
  inputs: [
    { name: 'x', kind: 'float', rank: 4, layout: '(N, C, H, W)' },
    { name: 'gamma', kind: 'float', rank: 1, layout: '(C) scale' },
    { name: 'beta', kind: 'float', rank: 1, layout: '(C) shift' },
  ],
  params: paramsObject({
    groups: z.int().min(1).meta({ description: 'number of channel groups (required); must divide C' }),
    eps,
  }),
  example: {
    inputs: { x: [[[[1, 2], [3, 4]], [[0, 1], [1, 0]], [[2, 2], [1, 1]], [[5, 1], [0, 2]]]], gamma: [1, 1, 1, 1], beta: [0, 0, 0, 0] },
    params: { groups: 2 },
    dout: [[[[1, 0], [0, 1]], [[1, 1], [0, 0]], [[0, 1], [1, 0]], [[1, 0], [1, 0]]]],
  },
  outShape(ctx) {
    const C = ctx.shapes.x[1];
    const { groups } = ctx.params;
    if (C % groups !== 0) {
      throw ProblemError.at('invalidParam', 'params.groups', `${groups} does not divide the C = ${C} channels of x ${formatShape(ctx.shapes.x)}; use a divisor of ${C}`);
    }
    expectFeatureVectors(ctx, C, 'C');
    return ctx.shapes.x;
  },
  compute({ inputs: { x, gamma, beta }, params, dout }) {
    if (!dout) return { out: groupnormForward(x, gamma.data, beta.data, params).out };
    const r = groupnormForwardBackward(x, gamma.data, beta.data, dout, params);
    return { out: r.out, grads: { x: r.dx, gamma: vector(r.dgamma), beta: vector(r.dbeta) } };
  },
  check: {
    example: {
      claimed: {
        out: [[[[-0.35355250671311184, 0.35355250671311184], [1.0606575201393353, 1.7677625335655591]], [[-1.0606575201393353, -0.35355250671311184], [-0.35355250671311184, -1.0606575201393353]], [[0.16800499689236806, 0.16800499689236806], [-0.5040149906771041, -0.5040149906771041]], [[2.1840649596007844, -0.5040149906771041], [-1.1760349782465762, 0.16800499689236806]]]],
      },
      shows: 'out normalized with the unbiased variance: hint',
    },
    factors(task) {
      const [, C, H, W] = task.inputs.x.shape;
      return [{ value: (C / task.params.groups) * H * W, label: '(C/G)·H·W (values per group)' }];
    },
  },
  normalization: {
    grouping: (shape, params) => channelGroupGroups(shape, params.groups),
    batchStatistics: () => true,
    eps: (p) => p.eps,
  },
});
