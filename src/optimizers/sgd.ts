import { sgd as sgdKernel } from '../kernels/optim.ts';
import { paramsObject } from '../layers/params.ts';
import { learningRate } from './params.ts';
import { defineRule } from './types.ts';

export const sgd = defineRule({
  name: 'sgd',
  summary: 'Vanilla stochastic gradient descent: w − lr·dw',
  description: "cs231n optim.py's sgd. No state: the answer's state is {}.",
  params: paramsObject({ learningRate: learningRate(1e-2) }),
  state: [],
  example: { inputs: { w: [[1, -2], [3, 0.5]], dw: [[0.1, -0.2], [0.3, 0]] }, params: { learningRate: 0.1 } },
  step: (w, dw, p) => ({ ...sgdKernel(w, dw, p.learningRate), state: {} }),
});
