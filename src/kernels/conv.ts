/**
 * Convolution (cross-correlation, as cs231n's conv_forward_naive and PyTorch's conv2d), fast paths,
 * with groups, dilation and per-axis stride and pad:
 *
 *   x    (N, C, H, W)
 *   w    (F, C/groups, HH, WW)
 *   b    (F)
 *   out  (N, F, Ho, Wo), Ho = floor((H + 2·pad_h − dilation_h·(HH − 1) − 1) / stride_h) + 1
 *   dout (N, F, Ho, Wo)  →  dx (N, C, H, W), dw (F, C/groups, HH, WW), db (F)
 *
 * Entry points: convForward, convBackward, and convForwardBackward (both passes from one set of
 * im2col columns or input transforms: what a request with dout needs). All three check their inputs
 * here and run one frame (./conv/frame.ts), which picks the algorithm (./conv/im2col-gemm.ts,
 * ./conv/winograd.ts, ./conv/winograd4.ts, ./conv/winograd-s2.ts for 3×3 stride 2, ./conv/depthwise.ts;
 * dilated stride-1 convs may first be split into their dilation phases, ./conv/phases.ts), so the fused
 * call equals the two separate calls bit for bit.
 *
 * Nothing assumes the full batch: run forward on any slice of the batch, and backward on a slice to get
 * that slice's dx and partial dw, db (sum the partials over slices for the whole batch).
 *
 * float32: the GEMMs accumulate in float32 (as PyTorch's and OpenBLAS's sgemm do), and so do dw across
 * images (GEMM with beta = 1) and dx across the taps of col2im / the Winograd patches (the Winograd
 * filter transforms and their adjoints sum in double and round once); db and the depthwise dw are
 * summed in double. Each algorithm's worst error is measured and budgeted in ./conv/accuracy.ts. Measured error against the double-precision reference on conv A:
 * ~1e-6 of the largest value, the tests allow 1e-4.
 */
import { checkDout, checkLength, convInfo, type ConvInfo, type ConvParams } from './geometry.ts';
import type { FloatArray, Tensor } from './types.ts';
import { runConv, type ConvResult } from './conv/frame.ts';
import type { ConvForwardBackward, ConvGrads, ConvOptions } from './conv/types.ts';

export type { ConvParams } from './geometry.ts';
export type { ConvForwardBackward, ConvGrads, ConvOptions } from './conv/types.ts';
export { WINOGRAD_MIN_CHANNELS } from './conv/winograd.ts';
export { WINOGRAD_S2_MIN_CHANNELS } from './conv/winograd-s2.ts';
export { chooseConvAlgorithm } from './conv/frame.ts';

/** Forward: out (N, F, Ho, Wo) = conv(x, w) + b. */
export function convForward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A>,
  params: ConvParams = {},
  options: ConvOptions = {},
): Tensor<A> {
  const g = prepare(x, w, params, b);
  const r = runConv(x, w, b, undefined, g, options);
  return { shape: [...g.outShape], data: r.out! };
}

/** Backward: dx for the images of x, and dw, db summed over those images. */
export function convBackward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  dout: Tensor<A>,
  params: ConvParams = {},
  options: ConvOptions = {},
): ConvGrads<A> {
  const g = prepare(x, w, params);
  checkDoutTensor(g, x, dout);
  const r = runConv(x, w, undefined, dout, g, options);
  return grads(x, w, g, r);
}

/**
 * Forward and backward in one pass (what a request with dout needs): the im2col columns of each
 * image (tile) serve the forward GEMM and dw, so they are built once instead of twice.
 */
export function convForwardBackward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A>,
  dout: Tensor<A>,
  params: ConvParams = {},
  options: ConvOptions = {},
): ConvForwardBackward<A> {
  const g = prepare(x, w, params, b);
  checkDoutTensor(g, x, dout);
  const r = runConv(x, w, b, dout, g, options);
  return { out: { shape: [...g.outShape], data: r.out! }, ...grads(x, w, g, r) };
}

function checkDoutTensor(g: ConvInfo, x: Tensor, dout: Tensor): void {
  checkDout('conv', g.outShape, dout.shape);
  checkLength('conv', 'dout', dout.shape, dout.data.length);
  if (dout.data.constructor !== x.data.constructor) throw new TypeError('conv: dout must have the dtype of x');
}

function grads<A extends FloatArray>(x: Tensor<A>, w: Tensor<A>, g: ConvInfo, r: ConvResult<A>): ConvGrads<A> {
  return {
    dx: { shape: [...x.shape], data: r.dx! },
    dw: { shape: [...w.shape], data: r.dw! },
    db: { shape: [g.F], data: r.db! },
  };
}

function prepare(x: Tensor, w: Tensor, params: ConvParams, b?: Tensor): ConvInfo {
  const info = convInfo(x.shape, w.shape, params, b?.shape);
  checkLength('conv', 'inputs.x', x.shape, x.data.length);
  checkLength('conv', 'inputs.w', w.shape, w.data.length);
  if (b) checkLength('conv', 'inputs.b', b.shape, b.data.length);
  const kind = x.data.constructor;
  if (w.data.constructor !== kind || (b && b.data.constructor !== kind)) {
    throw new TypeError('conv: x, w and b must share a dtype');
  }
  return info;
}
