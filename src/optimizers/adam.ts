import type { FloatArray } from '../kernels/types.ts';
import { adam as adamKernel } from '../kernels/optim.ts';
import { paramsObject } from '../layers/params.ts';
import { decay, epsilon, learningRate } from './params.ts';
import { defineRule } from './types.ts';

export const adam = defineRule({
  name: 'adam',
  summary: 'Adam with bias correction: t += 1; m, v moving averages of dw and dw²',
  description:
    "cs231n optim.py's adam: t += 1; m = b1·m + (1 − b1)·dw; v = b2·v + (1 − b2)·dw²; " +
    'w − lr·(m / (1 − b1^t)) / (sqrt(v / (1 − b2^t)) + eps). state m, v start at zeros and t at 0; ' +
    "send back the answer's state (t included) for the next step.",
  params: paramsObject({
    learningRate: learningRate(1e-3),
    beta1: decay(0.9, 'decay of the first moment m'),
    beta2: decay(0.999, 'decay of the second moment v'),
    epsilon,
  }),
  state: [
    { name: 'm', kind: 'tensor', description: 'first moment, shaped like w (zeros when omitted)' },
    { name: 'v', kind: 'tensor', nonNegative: true, description: 'second moment, shaped like w, >= 0 (zeros when omitted)' },
    { name: 't', kind: 'integer', description: 'steps taken so far, an integer >= 0 (0 when omitted); the answer has t + 1' },
  ],
  example: {
    inputs: { w: [[1, -2], [3, 0.5]], dw: [[0.1, -0.2], [0.3, 0]] },
    params: { learningRate: 0.001 },
    state: { m: [[0.01, -0.02], [0.03, 0]], v: [[0.0001, 0.0004], [0.0009, 0]], t: 1 },
  },
  step(w, dw, p, state) {
    const r = adamKernel(w, dw, state.m as FloatArray | undefined, state.v as FloatArray | undefined, (state.t as number | undefined) ?? 0, p.learningRate, p.beta1, p.beta2, p.epsilon);
    return { w: r.w, state: { m: r.m, v: r.v, t: r.t } };
  },
});
