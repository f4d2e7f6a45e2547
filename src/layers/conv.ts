import { z } from 'zod';
import { convForward, convForwardBackward } from '../kernels/conv.ts';
import { convInfo } from '../kernels/geometry.ts';
import { mergeBatch, splitBatch } from './batch-split.ts';
import { geometryProblem, pair, paramsObject } from './params.ts';
import type { Tensor } from '../kernels/types.ts';
import { defineLayer, type LayerResult, type LayerTask, type Mistake } from './types.ts';

/** w (F, C/groups, HH, WW) rotated by 180° in each HH × WW block. */
function rotate(w: Tensor): Tensor {
  const [, , HH, WW] = w.shape;
  const k = HH * WW;
  const data = new Float64Array(w.data.length);
  for (let b = 0; b < w.data.length; b += k) for (let i = 0; i < k; i++) data[b + i] = w.data[b + k - 1 - i];
  return { shape: w.shape, data };
}

/**
 * The flipped kernel (/check hints): a true convolution instead of cs231n's cross-correlation. The same
 * request with w rotated explains out and grads.x; the reference's dw rotated explains grads.w.
 */
function flippedKernel(task: LayerTask, reference: LayerResult): Mistake[] {
  const w = rotate(task.inputs.w);
  // A kernel equal to its rotation makes the flip invisible: nothing to tell apart.
  if (w.data.every((v, i) => v === task.inputs.w.data[i])) return [];
  const hints: Record<string, string> = {
    out: 'out matches a convolution with the kernel flipped (rotated 180°): this layer computes a cross-correlation, like cs231n and PyTorch; use w as it is',
    'grads.x':
      'grads.x matches the gradient for a flipped kernel: add w[f] · dout[n, f, i, j] back over the window that made out[n, f, i, j], with w as it is (as a full convolution of dout: with w rotated 180°)',
    'grads.w': 'grads.w is the reference rotated 180° (flipped along HH and WW): dw[f] sums each x window times dout[n, f, i, j], without a flip',
  };
  const dw = reference.grads?.w;
  return [
    { keys: ['out', 'grads.x'], task: { ...task, inputs: { ...task.inputs, w } }, hint: (key) => hints[key] },
    ...(dw ? [{ keys: ['grads.w'], values: { 'grads.w': rotate(dw).data }, hint: (key: string) => hints[key] }] : []),
  ];
}

/** Below this many multiply-adds a request runs whole: splitting would cost more than it saves. */
export const CONV_SPLIT_MIN_FLOPS = 50e6;

export const conv = defineLayer({
  name: 'conv',
  summary: '2-D convolution (cross-correlation) with stride, padding, dilation and groups',
  description:
    'out[n, f] = b[f] + Σ x[n, c] ⋆ w[f, c] over the channels of f\'s group (cs231n conv_forward, PyTorch Conv2d). ' +
    'Ho = floor((H + 2·pad_h − dilation_h·(HH − 1) − 1) / stride_h) + 1, likewise Wo. groups = C gives a depthwise convolution. ' +
    'Gradients: x, w, b.',
  inputs: [
    { name: 'x', kind: 'float', rank: 4, layout: '(N, C, H, W)' },
    { name: 'w', kind: 'float', rank: 4, layout: '(F, C/groups, HH, WW)' },
    { name: 'b', kind: 'float', rank: 1, layout: '(F)' },
  ],
  params: paramsObject({
      stride: pair(1, 'step between windows').default(1),
      pad: pair(0, 'zero padding on each side').default(0),
      dilation: pair(1, 'spacing between kernel taps').default(1),
      groups: z.int().min(1).default(1).meta({ description: 'channel groups; must divide C and F' }),
    }),
  example: {
    inputs: {
      x: [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]],
      w: [[[[0, 1, 0], [1, -4, 1], [0, 1, 0]]]],
      b: [0],
    },
    params: { stride: 1, pad: 1 },
    dout: [[[[1, 0, 0], [0, 1, 0], [0, 0, 1]]]],
  },
  outShape: ({ shapes: { x, w, b }, params }) => [...geometryProblem(() => convInfo(x, w, params, b)).outShape],
  compute({ inputs: { x, w, b }, params, dout }) {
    if (!dout) return { out: convForward(x, w, b, params) };
    const { out, dx, dw, db } = convForwardBackward(x, w, b, dout, params);
    return { out, grads: { x: dx, w: dw, b: db } };
  },
  // Forward and dx along N; dw and db are partial sums over each part's samples.
  split(task, workers) {
    const { x, w } = task.inputs;
    const info = convInfo(x.shape, w.shape, task.params);
    const flops = 2 * info.N * info.F * info.Ho * info.Wo * info.Cg * info.HH * info.WW * (task.dout ? 3 : 1);
    return workers > 1 && info.N > 1 && flops >= CONV_SPLIT_MIN_FLOPS ? splitBatch(task, workers) : undefined;
  },
  merge: (results) => mergeBatch(results, ['w', 'b']),
  check: {
    example: {
      claimed: {
        out: [[[[2, 1, -4], [-3, 0, -7], [-16, -11, -22]]]],
        grads: { x: [[[[-4, 2, 0], [2, -4, 2], [0, 2, -4]]]], w: [[[[6, 8, 3], [12, 15, 8], [7, 12, 14]]]], b: [3] },
      },
      shows: 'all correct: passes',
    },
    mistakes: flippedKernel,
  },
});
