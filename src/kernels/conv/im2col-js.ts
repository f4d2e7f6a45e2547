/**
 * im2col and col2im as JS loops, for the im2col/GEMM algorithm (./im2col-gemm.ts) when the wasm helpers
 * are off or an image does not fit the budget in the arena.
 */
import { insideEnd, insideStart, type ConvInfo } from '../geometry.ts';
import type { FloatArray } from '../types.ts';

/**
 * When both strides are 1 and Wo = W ("same" width), the col row of tap (c, kh, kw) over output rows
 * [ohLo, ohHi) is one contiguous run of x shifted by a constant: copy it in one `set` and zero the
 * padded columns, instead of copying row by row.
 */
function contiguousRows(g: ConvInfo): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.Wo === g.W;
}

/** col (C·HH·WW × P, P = (oh1 − oh0)·Wo) ← the patches of image n for output rows [oh0, oh1). */
export function im2col(x: FloatArray, n: number, g: ConvInfo, oh0: number, oh1: number, col: FloatArray): void {
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
export function col2im(dcol: FloatArray, g: ConvInfo, oh0: number, oh1: number, target: FloatArray, off: number): void {
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
