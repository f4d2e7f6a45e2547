import { layernormForward, layernormForwardBackward } from '../kernels/layernorm.ts';
import { eps, expectFeatureVectors, vector } from './normalization.ts';
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
});
