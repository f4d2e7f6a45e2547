import { softmaxLoss as softmaxLossKernel } from '../kernels/softmax-loss.ts';
import { lossOutShape, validateLabels } from './losses.ts';
import { paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

export const softmaxLoss = defineLayer({
  name: 'softmax-loss',
  summary: 'Softmax cross-entropy loss, mean over N',
  description: 'loss = −(1/N)·Σ log softmax(x)[y], computed with a stable log-sum-exp. Always returns grads.x; refuses dout.',
  inputs: [
    { name: 'x', kind: 'float', rank: 2, layout: '(N, C) scores' },
    { name: 'y', kind: 'labels', layout: '(N) integer labels in [0, C)' },
  ],
  params: paramsObject({}),
  loss: true,
  example: { inputs: { x: [[2, 1, 0.1], [0.5, 2.5, 0.3]], y: [0, 1] } },
  outShape: lossOutShape,
  validate: validateLabels,
  compute({ inputs: { x }, labels: { y } }) {
    const [N, C] = x.shape;
    const { loss, dx } = softmaxLossKernel(x.data, y, N, C);
    return { loss, grads: { x: { shape: x.shape, data: dx } } };
  },
  check: {
    example: {
      claimed: { loss: 0.6370795392983715, grads: { x: [[-0.17049943055701605, 0.12121648535235695, 0.0492829452046591], [0.054301865153506185, -0.09876047210417538, 0.04445860695066913]] } },
      shows: 'loss summed over N instead of averaged: hint',
    },
  },
});
