import type { FloatArray } from '../kernels/types.ts';
import { rmsprop as rmspropKernel } from '../kernels/optim.ts';
import { paramsObject } from '../layers/params.ts';
import { decay, epsilon, learningRate } from './params.ts';
import { defineRule } from './types.ts';

export const rmsprop = defineRule({
  name: 'rmsprop',
  summary: 'RMSProp: cache = dr·cache + (1 − dr)·dw²; w − lr·dw / (sqrt(cache) + eps)',
  description: "cs231n optim.py's rmsprop. state.cache (>= 0) starts at zeros; send back the answer's state for the next step.",
  params: paramsObject({ learningRate: learningRate(1e-2), decayRate: decay(0.99, 'decay of the squared-gradient cache'), epsilon }),
  state: [{ name: 'cache', kind: 'tensor', nonNegative: true, description: 'moving average of dw², shaped like w, >= 0 (zeros when omitted)' }],
  example: {
    inputs: { w: [[1, -2], [3, 0.5]], dw: [[0.1, -0.2], [0.3, 0]] },
    params: { learningRate: 0.01, decayRate: 0.99 },
    state: { cache: [[0.01, 0.04], [0.09, 0]] },
  },
  step(w, dw, p, state) {
    const r = rmspropKernel(w, dw, state.cache as FloatArray | undefined, p.learningRate, p.decayRate, p.epsilon);
    return { w: r.w, state: { cache: r.cache } };
  },
});
