import { z } from 'zod';
import { svmLoss as svmLossKernel } from '../kernels/svm-loss.ts';
import { lossOutShape, validateLabels } from './losses.ts';
import { paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

export const svmLoss = defineLayer({
  name: 'svm-loss',
  summary: 'Multiclass SVM (hinge) loss, mean over N',
  description:
    'loss = (1/N)·Σₙ Σ_{c≠yₙ} max(0, x[n,c] − x[n,yₙ] + margin). A margin term of exactly 0 is inactive. ' +
    'Always returns grads.x; refuses dout.',
  inputs: [
    { name: 'x', kind: 'float', rank: 2, layout: '(N, C) scores' },
    { name: 'y', kind: 'labels', layout: '(N) integer labels in [0, C)' },
  ],
  params: paramsObject({ margin: z.number().min(0).default(1).meta({ description: 'hinge margin Δ (>= 0)' }) }),
  loss: true,
  example: { inputs: { x: [[2, 1, 0.1], [0.5, 2.5, 0.3]], y: [0, 1] }, params: { margin: 1 } },
  outShape: lossOutShape,
  validate: validateLabels,
  compute({ inputs: { x }, labels: { y }, params }) {
    const [N, C] = x.shape;
    const { loss, dx } = svmLossKernel(x.data, y, N, C, params.margin);
    return { loss, grads: { x: { shape: x.shape, data: dx } } };
  },
  check: {
    example: { claimed: { loss: 0, grads: { x: [[0, 0, 0], [0, 0, 0]] } }, shows: 'all correct: passes' },
    // The example's margin terms sit at exactly 0 on purpose (a kink); the gradcheck example avoids it.
    gradcheckInputs: { x: [[2, 1.5, 0.1], [0.5, 2.5, 2]], y: [0, 1] },
  },
});
