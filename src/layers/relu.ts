import { reluBackward, reluForward } from '../kernels/relu.ts';
import { paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

export const relu = defineLayer({
  name: 'relu',
  summary: 'Rectified linear unit: out = max(0, x)',
  description: 'Elementwise on any shape. The gradient at exactly 0 is 0, as in cs231n and PyTorch.',
  inputs: [{ name: 'x', kind: 'float', rank: 'any', layout: '(any shape)' }],
  params: paramsObject({}),
  example: { inputs: { x: [[1, -2], [0, 4]] }, dout: [[1, 1], [1, 1]] },
  outShape: ({ shapes: { x } }) => x,
  compute({ inputs: { x }, dout }) {
    const out = { shape: x.shape, data: reluForward(x.data) };
    if (!dout) return { out };
    return { out, grads: { x: { shape: x.shape, data: reluBackward(x.data, dout.data) } } };
  },
  check: {
    example: { claimed: { out: [[1, 0], [0, 4]], grads: { x: [[1, 0], [1, 1]] } }, shows: "relu's gradient taken as 1 at x == 0: hint" },
    local: [
      {
        key: 'grads.x',
        at: (task, i) => task.inputs.x.data[i] === 0,
        hint: (n) => `grads.x differs only where x == 0 (${n} element${n > 1 ? 's' : ''}): relu's gradient at 0 is 0 here (x > 0, not x >= 0)`,
      },
    ],
  },
});
