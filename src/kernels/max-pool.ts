/**
 * Max pooling, fast path.
 *
 *   x (N, C, H, W)  →  out (N, C, Ho, Wo), Ho = floor((H + 2·pad_h − PH) / stride_h) + 1
 *   dout (N, C, Ho, Wo)  →  dx (N, C, H, W)
 *
 * Padded cells count as −∞, so they are never the maximum (pad <= half the pool side guarantees every
 * window holds a real cell). The gradient of a window goes to its FIRST maximum in row-major order
 * (strict `>` while scanning), as PyTorch. Backward recomputes the argmax from x: no state is kept.
 *
 * Loops: the WebAssembly SIMD kernels for 2x2 stride 2 without padding (the common case; pool-wasm.ts,
 * from POOL_MIN_WASM_ELEMENTS values), the same case unrolled in JS (small tensors, no wasm module),
 * and a general JS loop over windows pre-clipped to the input. All agree bit for bit where they
 * overlap. `maxPoolForwardBackward` (the service's path when dout is sent) finds each argmax once.
 * Works on any slice of the batch.
 */
import { checkedPoolInfo, checkPoolDout, poolWindows, type PoolInfo, type PoolParams } from './geometry.ts';
import { is2x2Stride2, pool2x2Wasm, POOL_MIN_WASM_ELEMENTS } from './pool-wasm.ts';
import { zerosLike, type FloatArray, type Tensor } from './types.ts';

export type { PoolParams } from './geometry.ts';

export interface PoolForwardBackward<A extends FloatArray = FloatArray> {
  out: Tensor<A>;
  dx: Tensor<A>;
}

export function maxPoolForward<A extends FloatArray>(x: Tensor<A>, params: PoolParams): Tensor<A> {
  const g = checkedPoolInfo('max-pool', x, params);
  const fast = x.data.length >= POOL_MIN_WASM_ELEMENTS ? pool2x2Wasm('max', g, x.data, x.data, undefined, { out: true, dx: false }) : undefined;
  return { shape: [...g.outShape], data: fast?.out ?? forwardJs(x.data, g) };
}

export function maxPoolBackward<A extends FloatArray>(x: Tensor<A>, dout: Tensor<A>, params: PoolParams): Tensor<A> {
  const g = checkedPoolInfo('max-pool', x, params);
  checkPoolDout('max-pool', g, dout);
  const fast = x.data.length >= POOL_MIN_WASM_ELEMENTS ? pool2x2Wasm('max', g, x.data, x.data, dout.data, { out: false, dx: true }) : undefined;
  return { shape: [...x.shape], data: fast?.dx ?? backwardJs(x.data, dout.data, g) };
}

/** Forward and backward in one call: each window's maximum is found once. */
export function maxPoolForwardBackward<A extends FloatArray>(x: Tensor<A>, dout: Tensor<A>, params: PoolParams): PoolForwardBackward<A> {
  const g = checkedPoolInfo('max-pool', x, params);
  checkPoolDout('max-pool', g, dout);
  const fast = x.data.length >= POOL_MIN_WASM_ELEMENTS ? pool2x2Wasm('max', g, x.data, x.data, dout.data, { out: true, dx: true }) : undefined;
  return {
    out: { shape: [...g.outShape], data: fast?.out ?? forwardJs(x.data, g) },
    dx: { shape: [...x.shape], data: fast?.dx ?? backwardJs(x.data, dout.data, g) },
  };
}

function forwardJs<A extends FloatArray>(x: A, g: PoolInfo): A {
  const out = zerosLike(x, g.N * g.C * g.Ho * g.Wo);
  if (is2x2Stride2(g)) forward2x2(x, g, out);
  else forwardGeneral(x, g, out);
  return out;
}

function backwardJs<A extends FloatArray>(x: A, dout: A, g: PoolInfo): A {
  const dx = zerosLike(x, x.length);
  if (is2x2Stride2(g)) backward2x2(x, dout, g, dx);
  else backwardGeneral(x, dout, g, dx);
  return dx;
}

function forward2x2(x: FloatArray, g: PoolInfo, out: FloatArray): void {
  const { H, W, Ho, Wo } = g;
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let oh = 0; oh < Ho; oh++) {
      let top = (plane * H + 2 * oh) * W;
      for (let ow = 0; ow < Wo; ow++, top += 2) {
        const a = x[top], b = x[top + 1], c = x[top + W], d = x[top + W + 1];
        const ab = b > a ? b : a;
        const cd = d > c ? d : c;
        out[o++] = cd > ab ? cd : ab;
      }
    }
  }
}

function backward2x2(x: FloatArray, dout: FloatArray, g: PoolInfo, dx: FloatArray): void {
  const { H, W, Ho, Wo } = g;
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let oh = 0; oh < Ho; oh++) {
      let top = (plane * H + 2 * oh) * W;
      for (let ow = 0; ow < Wo; ow++, top += 2) {
        // first maximum in row-major order a, b, c, d: a later cell wins only if strictly greater
        let i = top;
        let best = x[top];
        if (x[top + 1] > best) { i = top + 1; best = x[i]; }
        if (x[top + W] > best) { i = top + W; best = x[i]; }
        if (x[top + W + 1] > best) i = top + W + 1;
        dx[i] = dout[o++]; // windows do not overlap: one write per cell
      }
    }
  }
}

function forwardGeneral(x: FloatArray, g: PoolInfo, out: FloatArray): void {
  const rows = poolWindows(g.Ho, g.strideH, g.padH, g.PH, g.H);
  const cols = poolWindows(g.Wo, g.strideW, g.padW, g.PW, g.W);
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    const base = plane * g.H * g.W;
    for (let oh = 0; oh < g.Ho; oh++) {
      for (let ow = 0; ow < g.Wo; ow++) out[o++] = x[argmax(x, g.W, base, rows, cols, oh, ow)];
    }
  }
}

function backwardGeneral(x: FloatArray, dout: FloatArray, g: PoolInfo, dx: FloatArray): void {
  const rows = poolWindows(g.Ho, g.strideH, g.padH, g.PH, g.H);
  const cols = poolWindows(g.Wo, g.strideW, g.padW, g.PW, g.W);
  const HW = g.H * g.W;
  // Overlapping windows can send several gradients to one cell: float32 sums them in double first.
  const overlap = g.strideH < g.PH || g.strideW < g.PW;
  const acc = overlap && !(dx instanceof Float64Array) ? new Float64Array(HW) : null;
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    const base = plane * HW;
    const target: FloatArray = acc ?? dx;
    const shift = acc ? base : 0;
    acc?.fill(0);
    for (let oh = 0; oh < g.Ho; oh++) {
      for (let ow = 0; ow < g.Wo; ow++) target[argmax(x, g.W, base, rows, cols, oh, ow) - shift] += dout[o++];
    }
    if (acc) dx.set(acc, base);
  }
}

/** Flat index of the first maximum of window (oh, ow) of the plane starting at `base`. */
function argmax(x: FloatArray, W: number, base: number, rows: Int32Array, cols: Int32Array, oh: number, ow: number): number {
  const hLo = rows[3 * oh], hHi = rows[3 * oh + 1];
  const wLo = cols[3 * ow], wHi = cols[3 * ow + 1];
  let best = base + hLo * W + wLo;
  let bestValue = x[best];
  for (let ih = hLo; ih < hHi; ih++) {
    const row = base + ih * W;
    for (let iw = wLo; iw < wHi; iw++) {
      const v = x[row + iw];
      if (v > bestValue) {
        bestValue = v;
        best = row + iw;
      }
    }
  }
  return best;
}
