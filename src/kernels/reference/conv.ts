/**
 * Plain direct-loop convolution, as cs231n's conv_forward_naive / conv_backward_naive: the test oracle
 * for the fast kernels in ../conv.ts. Slow on purpose; keep it obviously correct.
 *
 *   x (N, C, H, W), w (F, C/groups, HH, WW), b (F)  →  out (N, F, Ho, Wo)
 *   out[n, f, oh, ow] = b[f] + Σ_{c, kh, kw} x[n, g·Cg + c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] · w[f, c, kh, kw]
 *   where g = floor(f / Fg) is the group of filter f; x outside the input is 0.
 *
 * Sums are in double; float32 inputs give float32 outputs rounded once.
 */
import { convInfo, type ConvParams } from '../geometry.ts';
import { zerosLike, type FloatArray, type Tensor } from '../types.ts';

export function convForwardReference<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A>,
  params: ConvParams = {},
): Tensor<A> {
  const g = convInfo(x.shape, w.shape, params, b.shape);
  const { N, C, H, W, F, HH, WW, Cg, Fg, Ho, Wo } = g;
  const out = zerosLike(x.data, N * F * Ho * Wo);
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      const group = Math.floor(f / Fg);
      for (let oh = 0; oh < Ho; oh++) {
        for (let ow = 0; ow < Wo; ow++) {
          let s = b.data[f];
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < HH; kh++) {
              for (let kw = 0; kw < WW; kw++) {
                const ih = oh * g.strideH - g.padH + kh * g.dilationH;
                const iw = ow * g.strideW - g.padW + kw * g.dilationW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const xi = ((n * C + group * Cg + c) * H + ih) * W + iw;
                const wi = ((f * Cg + c) * HH + kh) * WW + kw;
                s += x.data[xi] * w.data[wi];
              }
            }
          }
          out[((n * F + f) * Ho + oh) * Wo + ow] = s;
        }
      }
    }
  }
  return { shape: [N, F, Ho, Wo], data: out };
}

/** dx (N, C, H, W), dw (F, C/groups, HH, WW), db (F) of sum(out · dout). */
export function convBackwardReference<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  dout: Tensor<A>,
  params: ConvParams = {},
): { dx: Tensor<A>; dw: Tensor<A>; db: Tensor<A> } {
  const g = convInfo(x.shape, w.shape, params);
  const { N, C, H, W, F, HH, WW, Cg, Fg, Ho, Wo } = g;
  const dx = new Float64Array(N * C * H * W);
  const dw = new Float64Array(F * Cg * HH * WW);
  const db = new Float64Array(F);
  for (let n = 0; n < N; n++) {
    for (let f = 0; f < F; f++) {
      const group = Math.floor(f / Fg);
      for (let oh = 0; oh < Ho; oh++) {
        for (let ow = 0; ow < Wo; ow++) {
          const d = dout.data[((n * F + f) * Ho + oh) * Wo + ow];
          db[f] += d;
          for (let c = 0; c < Cg; c++) {
            for (let kh = 0; kh < HH; kh++) {
              for (let kw = 0; kw < WW; kw++) {
                const ih = oh * g.strideH - g.padH + kh * g.dilationH;
                const iw = ow * g.strideW - g.padW + kw * g.dilationW;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const xi = ((n * C + group * Cg + c) * H + ih) * W + iw;
                const wi = ((f * Cg + c) * HH + kh) * WW + kw;
                dx[xi] += w.data[wi] * d;
                dw[wi] += x.data[xi] * d;
              }
            }
          }
        }
      }
    }
  }
  return {
    dx: { shape: [...x.shape], data: toDtype(x.data, dx) },
    dw: { shape: [...w.shape], data: toDtype(x.data, dw) },
    db: { shape: [F], data: toDtype(x.data, db) },
  };
}

function toDtype<A extends FloatArray>(like: A, values: Float64Array): A {
  const out = zerosLike(like, values.length);
  out.set(values);
  return out;
}
