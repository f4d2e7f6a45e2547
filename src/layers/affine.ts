import { affineBackward, affineForward } from '../kernels/affine.ts';
import { formatShape, shapeProblem } from './shape-rules.ts';
import { paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

export const affine = defineLayer({
  name: 'affine',
  summary: 'Fully connected layer: out = x·w + b',
  description:
    'x (N, d1, …, dk) is flattened row-major to (N, D) with D = d1·…·dk (cs231n affine_forward). ' +
    'Gradients: x (shaped like x), w (D, M), b (M).',
  inputs: [
    { name: 'x', kind: 'float', rank: { min: 2 }, layout: '(N, d1, …, dk)' },
    { name: 'w', kind: 'float', rank: 2, layout: '(D, M)' },
    { name: 'b', kind: 'float', rank: 1, layout: '(M)' },
  ],
  params: paramsObject({}),
  example: {
    inputs: { x: [[1, 2, 3], [-1, 0, 1]], w: [[0.5, -1], [1, 0], [0, 2]], b: [0.1, -0.1] },
    dout: [[1, 0], [0, 1]],
  },
  outShape({ shapes: { x, w, b } }) {
    const D = x.slice(1).reduce((a, d) => a * d, 1);
    if (w[0] !== D) {
      throw shapeProblem('inputs.w', `inputs.w has shape ${formatShape(w)}; x ${formatShape(x)} flattens to D = ${D} per row, so w must be [${D}, M]`);
    }
    if (b[0] !== w[1]) {
      throw shapeProblem('inputs.b', `inputs.b has shape ${formatShape(b)}; with w ${formatShape(w)} it must be [${w[1]}]`);
    }
    return [x[0], w[1]];
  },
  compute({ inputs: { x, w, b }, dout }) {
    const N = x.shape[0];
    const [D, M] = w.shape;
    const out = { shape: [N, M], data: affineForward(x.data, w.data, b.data, N, D, M) };
    if (!dout) return { out };
    const g = affineBackward(x.data, w.data, dout.data, N, D, M);
    return {
      out,
      grads: { x: { shape: x.shape, data: g.dx }, w: { shape: w.shape, data: g.dw }, b: { shape: b.shape, data: g.db } },
    };
  },
  check: {
    example: {
      claimed: { out: [[2.6, 4.9], [-0.4, 2.9]], grads: { x: [[0.5, 1, 0], [-1, 0, 2]], w: [[1, 2, 3], [-1, 0, 1]], b: [1, 1] } },
      shows: 'grads.w transposed: hint',
    },
  },
});
