/**
 * Convolution (cross-correlation, as cs231n's conv_forward_naive and PyTorch's conv2d), fast path:
 * im2col + gemm() forward, gemm() + col2im backward, with groups, dilation and per-axis stride and pad.
 *
 *   x    (N, C, H, W)
 *   w    (F, C/groups, HH, WW)
 *   b    (F)
 *   out  (N, F, Ho, Wo), Ho = floor((H + 2·pad_h − dilation_h·(HH − 1) − 1) / stride_h) + 1
 *   dout (N, F, Ho, Wo)  →  dx (N, C, H, W), dw (F, C/groups, HH, WW), db (F)
 *
 * Work is split per image and, within an image, into tiles of output rows, so the im2col buffer stays
 * under `maxColElements` whatever N, H and W are. Nothing assumes the full batch: run forward on any
 * slice of the batch, and backward on a slice to get that slice's dx and partial dw, db (sum the
 * partials over slices for the whole batch).
 *
 * Layout: for image n and group g, out[n, g] (Fg × P) = w[g] (Fg × K) · col[g] (K × P), where
 * K = Cg·HH·WW, P = Ho·Wo and col's row (c, kh, kw) holds x[n, c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw]
 * (0 outside the input). A 1x1, stride-1, pad-0 conv skips im2col: x[n] already is col.
 *
 * float32: gemm works on Float32Array; partial sums across images and across taps of col2im are
 * accumulated in double and rounded once at the store.
 */
import { gemm } from './gemm.ts';
import { checkDout, checkLength, convInfo, insideEnd, insideStart, type ConvInfo, type ConvParams } from './geometry.ts';
import { zerosLike, type FloatArray, type Tensor } from './types.ts';

export type { ConvParams } from './geometry.ts';

export interface ConvOptions {
  /** Upper bound on the im2col buffer, in elements (at least one output row is always used). */
  maxColElements?: number;
}

export interface ConvGrads<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dw: Tensor<A>;
  db: Tensor<A>;
}

const DEFAULT_MAX_COL_ELEMENTS = 1 << 21;

/** Forward: out (N, F, Ho, Wo) = conv(x, w) + b. */
export function convForward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A>,
  params: ConvParams = {},
  options: ConvOptions = {},
): Tensor<A> {
  const g = prepare(x, w, params, b);
  const { N, F, Fg, groups, Ho, Wo } = g;
  const Po = Ho * Wo;
  const out = zerosLike(x.data, N * F * Po);
  const plan = tilePlan(g, options);
  const col = plan.direct ? null : zerosLike(x.data, plan.colLength);

  for (let n = 0; n < N; n++) {
    const outImg = n * F * Po;
    for (let f = 0; f < F; f++) out.fill(b.data[f], outImg + f * Po, outImg + (f + 1) * Po);
    for (let oh0 = 0; oh0 < Ho; oh0 += plan.rows) {
      const oh1 = Math.min(Ho, oh0 + plan.rows);
      const P = (oh1 - oh0) * Wo;
      const cols = col ?? x.data;
      if (col) im2col(x.data, n, g, oh0, oh1, col);
      const colBase = col ? 0 : n * g.C * Po;
      for (let gi = 0; gi < groups; gi++) {
        gemm({
          transA: false, transB: false, M: Fg, N: P, K: plan.K,
          A: view(w.data, gi * Fg * plan.K, Fg, plan.K, plan.K), lda: plan.K,
          B: view(cols, colBase + gi * plan.K * P, plan.K, P, P), ldb: P,
          beta: 1,
          C: view(out, outImg + gi * Fg * Po + oh0 * Wo, Fg, Po, P), ldc: Po,
        });
      }
    }
  }
  return { shape: [...g.outShape], data: out };
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
  checkDout('conv', g.outShape, dout.shape);
  checkLength('conv', 'dout', dout.shape, dout.data.length);
  if (dout.data.constructor !== x.data.constructor) throw new TypeError('conv: dout must have the dtype of x');
  const { N, C, H, W, F, Fg, groups, Ho, Wo } = g;
  const Po = Ho * Wo;
  const HWin = H * W;
  const plan = tilePlan(g, options);
  const { K } = plan;
  const f64 = x.data instanceof Float64Array;

  const dx = zerosLike(x.data, N * C * HWin);
  const dw = zerosLike(x.data, F * K);
  const db = zerosLike(x.data, F);
  const col = plan.direct ? null : zerosLike(x.data, plan.colLength);
  const dcol = plan.direct ? null : zerosLike(x.data, plan.colLength);
  // float32: dw is summed over images and tiles in double, dx over col2im taps in double.
  const dwPart = f64 ? dw : zerosLike(x.data, F * K);
  const dwSum = f64 ? null : new Float64Array(F * K);
  const dxImg = f64 || plan.direct ? null : new Float64Array(C * HWin);
  const dbSum = new Float64Array(F);

  for (let n = 0; n < N; n++) {
    const doutImg = n * F * Po;
    for (let f = 0; f < F; f++) {
      let s = 0;
      for (let p = doutImg + f * Po, end = p + Po; p < end; p++) s += dout.data[p];
      dbSum[f] += s;
    }
    dxImg?.fill(0);
    for (let oh0 = 0; oh0 < Ho; oh0 += plan.rows) {
      const oh1 = Math.min(Ho, oh0 + plan.rows);
      const P = (oh1 - oh0) * Wo;
      const cols = col ?? x.data;
      if (col) im2col(x.data, n, g, oh0, oh1, col);
      const colBase = col ? 0 : n * C * Po;
      // 1x1 direct: dcol is dx[n] itself, each element written once.
      const dcols = dcol ?? dx;
      const dcolBase = dcol ? 0 : n * C * HWin;
      for (let gi = 0; gi < groups; gi++) {
        const doutG = view(dout.data, doutImg + gi * Fg * Po + oh0 * Wo, Fg, Po, P);
        const colG = view(cols, colBase + gi * K * P, K, P, P);
        // dw[g] (Fg × K) (+)= dout[n, g] (Fg × P) · col[g]ᵀ (P × K)
        gemm({
          transA: false, transB: true, M: Fg, N: K, K: P,
          A: doutG, lda: Po, B: colG, ldb: P,
          beta: f64 ? 1 : 0,
          C: view(dwPart, gi * Fg * K, Fg, K, K), ldc: K,
        });
        // dcol[g] (K × P) = w[g]ᵀ (K × Fg) · dout[n, g] (Fg × P)
        gemm({
          transA: true, transB: false, M: K, N: P, K: Fg,
          A: view(w.data, gi * Fg * K, Fg, K, K), lda: K, B: doutG, ldb: Po,
          beta: 0,
          C: view(dcols, dcolBase + gi * K * P, K, P, P), ldc: P,
        });
      }
      if (dwSum) for (let i = 0; i < dwSum.length; i++) dwSum[i] += dwPart[i];
      if (dcol) {
        if (dxImg) col2im(dcol, g, oh0, oh1, dxImg, 0);
        else col2im(dcol, g, oh0, oh1, dx, n * C * HWin);
      }
    }
    if (dxImg) dx.set(dxImg, n * C * HWin);
  }
  if (dwSum) dw.set(dwSum);
  db.set(dbSum);
  return {
    dx: { shape: [...x.shape], data: dx },
    dw: { shape: [...w.shape], data: dw },
    db: { shape: [F], data: db },
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

interface TilePlan {
  /** rows of K per group */
  K: number;
  /** 1x1, stride 1, pad 0: x[n] is the col matrix */
  direct: boolean;
  /** output rows per tile */
  rows: number;
  colLength: number;
}

function tilePlan(g: ConvInfo, options: ConvOptions): TilePlan {
  const K = g.Cg * g.HH * g.WW;
  const direct = g.HH === 1 && g.WW === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
  if (direct) return { K, direct, rows: g.Ho, colLength: 0 };
  const perRow = g.C * g.HH * g.WW * g.Wo;
  const budget = options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS;
  const rows = Math.max(1, Math.min(g.Ho, Math.floor(budget / perRow)));
  return { K, direct, rows, colLength: perRow * rows };
}

/** The exact extent of a rows × cols matrix with leading dimension ld starting at `start`. */
function view<A extends FloatArray>(a: A, start: number, rows: number, ld: number, cols: number): A {
  return a.subarray(start, start + (rows - 1) * ld + cols) as A;
}

/**
 * When both strides are 1 and Wo = W ("same" width), the col row of tap (c, kh, kw) over output rows
 * [ohLo, ohHi) is one contiguous run of x shifted by a constant: copy it in one `set` and zero the
 * padded columns, instead of copying row by row.
 */
function contiguousRows(g: ConvInfo): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.Wo === g.W;
}

/** col (C·HH·WW × P, P = (oh1 − oh0)·Wo) ← the patches of image n for output rows [oh0, oh1). */
function im2col(x: FloatArray, n: number, g: ConvInfo, oh0: number, oh1: number, col: FloatArray): void {
  const { C, H, W, HH, WW, Ho, Wo, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const P = (oh1 - oh0) * Wo;
  const contiguous = contiguousRows(g);
  let dst = 0;
  for (let c = 0; c < C; c++) {
    const xc = (n * C + c) * H * W;
    for (let kh = 0; kh < HH; kh++) {
      const offH = kh * dh - ph;
      const ohLo = Math.min(oh1, Math.max(oh0, insideStart(offH, sh, Ho)));
      const ohHi = Math.max(ohLo, Math.min(oh1, insideEnd(offH, sh, H, Ho)));
      for (let kw = 0; kw < WW; kw++) {
        const offW = kw * dw - pw;
        const owLo = insideStart(offW, sw, Wo);
        const owHi = insideEnd(offW, sw, W, Wo);
        const rowEnd = dst + P;
        col.fill(0, dst, dst + (ohLo - oh0) * Wo);
        dst += (ohLo - oh0) * Wo;
        if (contiguous && ohHi > ohLo) {
          // col[dst + i] = x[src + i] for the whole block, clipped to the plane; then zero the padding
          const len = (ohHi - ohLo) * Wo;
          const src = xc + (ohLo + offH) * W + offW;
          // [lo, hi) of the block lies inside the plane; the rest is padding (empty when the tap misses it)
          const lo = Math.min(len, Math.max(0, xc - src));
          const hi = Math.max(lo, Math.min(len, xc + H * W - src));
          col.set(x.subarray(src + lo, src + hi), dst + lo);
          col.fill(0, dst, dst + lo);
          col.fill(0, dst + hi, dst + len);
          zeroColumns(col, dst, len, Wo, owLo, owHi);
          dst += len;
        } else {
          for (let oh = ohLo; oh < ohHi; oh++) {
            const src = xc + (oh * sh + offH) * W + offW;
            let ow = 0;
            for (; ow < owLo; ow++) col[dst + ow] = 0;
            if (sw === 1) for (; ow < owHi; ow++) col[dst + ow] = x[src + ow];
            else for (; ow < owHi; ow++) col[dst + ow] = x[src + ow * sw];
            for (; ow < Wo; ow++) col[dst + ow] = 0;
            dst += Wo;
          }
        }
        col.fill(0, dst, rowEnd);
        dst = rowEnd;
      }
    }
  }
}

/**
 * target[off + (c, ih, iw)] += dcol[(c, kh, kw), p] over output rows [oh0, oh1): the adjoint of im2col.
 * The contiguous path first zeroes dcol's padded columns (dcol is scratch) so one shifted add covers the block.
 */
function col2im(dcol: FloatArray, g: ConvInfo, oh0: number, oh1: number, target: FloatArray, off: number): void {
  const { C, H, W, HH, WW, Ho, Wo, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const P = (oh1 - oh0) * Wo;
  const contiguous = contiguousRows(g);
  let row = 0;
  for (let c = 0; c < C; c++) {
    const tc = off + c * H * W;
    for (let kh = 0; kh < HH; kh++) {
      const offH = kh * dh - ph;
      const ohLo = Math.min(oh1, Math.max(oh0, insideStart(offH, sh, Ho)));
      const ohHi = Math.max(ohLo, Math.min(oh1, insideEnd(offH, sh, H, Ho)));
      for (let kw = 0; kw < WW; kw++, row += P) {
        const offW = kw * dw - pw;
        const owLo = insideStart(offW, sw, Wo);
        const owHi = insideEnd(offW, sw, W, Wo);
        if (contiguous) {
          if (ohHi <= ohLo) continue;
          const start = row + (ohLo - oh0) * Wo;
          const len = (ohHi - ohLo) * Wo;
          zeroColumns(dcol, start, len, Wo, owLo, owHi);
          const t = tc + (ohLo + offH) * W + offW - start;
          addShifted(target, t, dcol, Math.max(start, tc - t), Math.min(start + len, tc + H * W - t));
          continue;
        }
        for (let oh = ohLo; oh < ohHi; oh++) {
          const src = row + (oh - oh0) * Wo;
          const t = tc + (oh * sh + offH) * W + offW;
          if (sw === 1) for (let ow = owLo; ow < owHi; ow++) target[t + ow] += dcol[src + ow];
          else for (let ow = owLo; ow < owHi; ow++) target[t + ow * sw] += dcol[src + ow];
        }
      }
    }
  }
}

/** Zeroes columns [0, owLo) and [owHi, Wo) of the len / Wo rows of width Wo starting at `start`. */
function zeroColumns(a: FloatArray, start: number, len: number, Wo: number, owLo: number, owHi: number): void {
  if (owLo === 0 && owHi === Wo) return;
  for (let r = start; r < start + len; r += Wo) {
    for (let ow = 0; ow < owLo; ow++) a[r + ow] = 0;
    for (let ow = owHi; ow < Wo; ow++) a[r + ow] = 0;
  }
}

/** target[t + i] += src[i] for i in [lo, hi). */
function addShifted(target: FloatArray, t: number, src: FloatArray, lo: number, hi: number): void {
  for (let i = lo, j = t + lo; i < hi; i++, j++) target[j] += src[i];
}
