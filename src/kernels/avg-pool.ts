/**
 * Average pooling, fast path.
 *
 *   x (N, C, H, W)  →  out (N, C, Ho, Wo), Ho = floor((H + 2·pad_h − PH) / stride_h) + 1
 *   dout (N, C, Ho, Wo)  →  dx (N, C, H, W)
 *
 * Padded cells count as 0. The divisor (PyTorch semantics):
 *   countIncludePad true (default): the window's cells inside the padded input [−pad, H + pad), so
 *     PH·PW unless the window runs past the padded border;
 *   countIncludePad false: the window's cells inside the real input.
 *
 * Loops: the WebAssembly SIMD kernels for 2x2 stride 2 without padding (the common case; pool-wasm.ts,
 * from POOL_MIN_WASM_ELEMENTS values), the same case unrolled in JS (small tensors, no wasm module),
 * and a general JS loop over windows pre-clipped to the input. All agree bit for bit where they
 * overlap. Works on any slice of the batch.
 */
import { checkedPoolInfo, checkPoolDout, poolWindows, type AvgPoolParams, type PoolInfo } from './geometry.ts';
import { is2x2Stride2, pool2x2Wasm, POOL_MIN_WASM_ELEMENTS } from './pool-wasm.ts';
import { zerosLike, type FloatArray, type Tensor } from './types.ts';
import type { PoolForwardBackward } from './max-pool.ts';

export type { AvgPoolParams } from './geometry.ts';

export function avgPoolForward<A extends FloatArray>(x: Tensor<A>, params: AvgPoolParams): Tensor<A> {
  const g = checkedPoolInfo('avg-pool', x, params);
  const fast = x.data.length >= POOL_MIN_WASM_ELEMENTS ? pool2x2Wasm('avg', g, x.data, x.data, undefined, { out: true, dx: false }) : undefined;
  return { shape: [...g.outShape], data: fast?.out ?? forwardJs(x.data, g, params) };
}

export function avgPoolBackward<A extends FloatArray>(x: Tensor<A>, dout: Tensor<A>, params: AvgPoolParams): Tensor<A> {
  const g = checkedPoolInfo('avg-pool', x, params);
  checkPoolDout('avg-pool', g, dout);
  const fast = x.data.length >= POOL_MIN_WASM_ELEMENTS ? pool2x2Wasm('avg', g, x.data, undefined, dout.data, { out: false, dx: true }) : undefined;
  return { shape: [...x.shape], data: fast?.dx ?? backwardJs(x.data, dout.data, g, params) };
}

/** Forward and backward in one call (one pass over the planes). */
export function avgPoolForwardBackward<A extends FloatArray>(x: Tensor<A>, dout: Tensor<A>, params: AvgPoolParams): PoolForwardBackward<A> {
  const g = checkedPoolInfo('avg-pool', x, params);
  checkPoolDout('avg-pool', g, dout);
  const fast = x.data.length >= POOL_MIN_WASM_ELEMENTS ? pool2x2Wasm('avg', g, x.data, x.data, dout.data, { out: true, dx: true }) : undefined;
  return {
    out: { shape: [...g.outShape], data: fast?.out ?? forwardJs(x.data, g, params) },
    dx: { shape: [...x.shape], data: fast?.dx ?? backwardJs(x.data, dout.data, g, params) },
  };
}

function forwardJs<A extends FloatArray>(x: A, g: PoolInfo, params: AvgPoolParams): A {
  const out = zerosLike(x, g.N * g.C * g.Ho * g.Wo);
  if (is2x2Stride2(g)) forward2x2(x, g, out);
  else forwardGeneral(x, g, params.countIncludePad ?? true, out);
  return out;
}

function backwardJs<A extends FloatArray>(x: A, dout: A, g: PoolInfo, params: AvgPoolParams): A {
  const dx = zerosLike(x, x.length);
  if (is2x2Stride2(g)) backward2x2(dout, g, dx);
  else backwardGeneral(dout, g, params.countIncludePad ?? true, dx);
  return dx;
}

function forward2x2(x: FloatArray, g: PoolInfo, out: FloatArray): void {
  const { H, W, Ho, Wo } = g;
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let oh = 0; oh < Ho; oh++) {
      let top = (plane * H + 2 * oh) * W;
      for (let ow = 0; ow < Wo; ow++, top += 2) {
        out[o++] = (x[top] + x[top + 1] + x[top + W] + x[top + W + 1]) / 4;
      }
    }
  }
}

function backward2x2(dout: FloatArray, g: PoolInfo, dx: FloatArray): void {
  const { H, W, Ho, Wo } = g;
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let oh = 0; oh < Ho; oh++) {
      let top = (plane * H + 2 * oh) * W;
      for (let ow = 0; ow < Wo; ow++, top += 2) {
        const d = dout[o++] / 4;
        dx[top] = d;
        dx[top + 1] = d;
        dx[top + W] = d;
        dx[top + W + 1] = d;
      }
    }
  }
}

function forwardGeneral(x: FloatArray, g: PoolInfo, includePad: boolean, out: FloatArray): void {
  const rows = poolWindows(g.Ho, g.strideH, g.padH, g.PH, g.H);
  const cols = poolWindows(g.Wo, g.strideW, g.padW, g.PW, g.W);
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    const base = plane * g.H * g.W;
    for (let oh = 0; oh < g.Ho; oh++) {
      const hLo = rows[3 * oh], hHi = rows[3 * oh + 1];
      for (let ow = 0; ow < g.Wo; ow++) {
        const wLo = cols[3 * ow], wHi = cols[3 * ow + 1];
        let s = 0;
        for (let ih = hLo; ih < hHi; ih++) {
          const row = base + ih * g.W;
          for (let iw = wLo; iw < wHi; iw++) s += x[row + iw];
        }
        out[o++] = s / divisor(rows, cols, oh, ow, includePad);
      }
    }
  }
}

function backwardGeneral(dout: FloatArray, g: PoolInfo, includePad: boolean, dx: FloatArray): void {
  const rows = poolWindows(g.Ho, g.strideH, g.padH, g.PH, g.H);
  const cols = poolWindows(g.Wo, g.strideW, g.padW, g.PW, g.W);
  const HW = g.H * g.W;
  // Overlapping windows add several gradients to one cell: float32 sums them in double first.
  const overlap = g.strideH < g.PH || g.strideW < g.PW;
  const acc = overlap && !(dx instanceof Float64Array) ? new Float64Array(HW) : null;
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    const base = plane * HW;
    const target: FloatArray = acc ?? dx;
    const start = acc ? 0 : base;
    acc?.fill(0);
    for (let oh = 0; oh < g.Ho; oh++) {
      const hLo = rows[3 * oh], hHi = rows[3 * oh + 1];
      for (let ow = 0; ow < g.Wo; ow++) {
        const wLo = cols[3 * ow], wHi = cols[3 * ow + 1];
        const d = dout[o++] / divisor(rows, cols, oh, ow, includePad);
        for (let ih = hLo; ih < hHi; ih++) {
          const row = start + ih * g.W;
          for (let iw = wLo; iw < wHi; iw++) target[row + iw] += d;
        }
      }
    }
    if (acc) dx.set(acc, base);
  }
}

function divisor(rows: Int32Array, cols: Int32Array, oh: number, ow: number, includePad: boolean): number {
  if (includePad) return rows[3 * oh + 2] * cols[3 * ow + 2];
  return (rows[3 * oh + 1] - rows[3 * oh]) * (cols[3 * ow + 1] - cols[3 * ow]);
}
