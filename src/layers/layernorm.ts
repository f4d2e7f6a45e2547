import { layernormForward, layernormForwardBackward } from '../kernels/layernorm.ts';
import { eps, expectFeatureVectors, rowGroups, vector } from './normalization.ts';
import { paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

export const layernorm = defineLayer({
  name: 'layernorm',
  summary: 'Layer normalization over the last axis',
  description: 'x (…, D) of rank >= 2: each row over its D values is normalized with its own mean and biased variance, then scaled by gamma and shifted by beta. Same in training and test. Gradients: x, gamma, beta.',
  inputs: [
    { name: 'x', kind: 'float', rank: { min: 2 }, layout: '(…, D)' },
    { name: 'gamma', kind: 'float', rank: 1, layout: '(D) scale' },
    { name: 'beta', kind: 'float', rank: 1, layout: '(D) shift' },
  ],
  params: paramsObject({ eps }),
  example: { inputs: { x: [[1, 2, 3], [2, 4, 8]], gamma: [1, 1, 1], beta: [0, 0, 0] }, dout: [[1, 0, 0], [0, 1, 0]] },
  outShape(ctx) {
    expectFeatureVectors(ctx, ctx.shapes.x.at(-1)!, 'D (the last axis)');
    return ctx.shapes.x;
  },
  compute({ inputs: { x, gamma, beta }, params, dout }) {
    if (!dout) return { out: layernormForward(x, gamma.data, beta.data, params).out };
    const r = layernormForwardBackward(x, gamma.data, beta.data, dout, params);
    return { out: r.out, grads: { x: r.dx, gamma: vector(r.dgamma), beta: vector(r.dbeta) } };
  },
  check: {
    example: {
      claimed: {
        out: [[-1.2247298715752986, 0, 1.2247298715752986], [-1.069040681952593, -0.2672601704881483, 1.336300852440741]],
        grads: { x: [[0.2041317996979287, -0.40824522863613005, 0.2041134289382015], [-0.1718105989493391, 0.25771600580549875, -0.08590540685615962]] },
      },
      shows: 'out with eps outside the square root: hint',
    },
    factors: (task) => [{ value: task.inputs.x.shape.at(-1)!, label: 'D (features per row)' }],
  },
  normalization: { grouping: rowGroups, batchStatistics: () => true, eps: (p) => p.eps },
});
