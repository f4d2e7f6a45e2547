import { z } from 'zod';
import { convForward, convForwardBackward } from '../kernels/conv.ts';
import { convInfo } from '../kernels/geometry.ts';
import { mergeBatch, splitBatch } from './batch-split.ts';
import { geometryProblem, pair, paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

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
});
