import type { FloatArray } from '../kernels/types.ts';
import { sgdMomentum as sgdMomentumKernel } from '../kernels/optim.ts';
import { paramsObject } from '../layers/params.ts';
import { decay, learningRate } from './params.ts';
import { defineRule } from './types.ts';

export const sgdMomentum = defineRule({
  name: 'sgd-momentum',
  summary: 'SGD with momentum: v = momentum·v − lr·dw; w + v',
  description: "cs231n optim.py's sgd_momentum. state.velocity starts at zeros; send back the answer's state for the next step.",
  params: paramsObject({ learningRate: learningRate(1e-2), momentum: decay(0.9, 'momentum') }),
  state: [{ name: 'velocity', kind: 'tensor', description: 'velocity, shaped like w (zeros when omitted)' }],
  example: {
    inputs: { w: [[1, -2], [3, 0.5]], dw: [[0.1, -0.2], [0.3, 0]] },
    params: { learningRate: 0.1, momentum: 0.9 },
    state: { velocity: [[0.01, 0], [0, -0.01]] },
  },
  step(w, dw, p, state) {
    const r = sgdMomentumKernel(w, dw, state.velocity as FloatArray | undefined, p.learningRate, p.momentum);
    return { w: r.w, state: { velocity: r.velocity } };
  },
});
