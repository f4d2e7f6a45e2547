import type { FloatArray, Tensor } from './types.ts';
import { zerosLike } from './types.ts';

/**
 * Spatial group normalization, layer `spatial-groupnorm` (cs231n `spatial_groupnorm_forward` /
 * `_backward`, PyTorch `F.group_norm`).
 *
 * Forward: x (N, C, H, W), gamma (C), beta (C), G groups dividing C →
 *   out (N, C, H, W) = gamma[c] · (x − mean[n, g]) / sqrt(var[n, g] + eps) + beta[c]
 *   with the mean and biased var of each (n, g) over its L = (C/G)·H·W values; channel c is in
 *   group g = floor(c / (C/G)). Identical in train and test. In NCHW the L values of a group are
 *   one contiguous block, so each (n, g) is a "row" as in layernorm, with gamma, beta per channel.
 * Backward, dout (N, C, H, W) → dx (N, C, H, W), dgamma (C), dbeta (C), in closed form per (n, g):
 *   dx = invstd · (dy − mean(dy) − xhat · mean(dy · xhat)),  dy = dout · gamma[c]
 *   dgamma[c] = Σ_{n,h,w} dout · xhat,  dbeta[c] = Σ_{n,h,w} dout.
 *
 * Numerics: corrected two-pass statistics in float64 per (n, g) (see `batchnorm.ts`); float32
 * inputs are computed in doubles and rounded once at the store. L = 1 gives var 0, out = beta, dx = 0.
 *
 * The cache keeps references to x and gamma (no copies): do not mutate them before backward.
 */

export interface GroupnormOptions {
  /** >= 1 and divides C. */
  groups: number;
  /** > 0 */
  eps: number;
}

export interface GroupnormCache<A extends FloatArray = FloatArray> {
  shape: number[];
  N: number;
  C: number;
  /** H·W */
  S: number;
  G: number;
  x: A;
  gamma: A;
  /** Per (n, g), index n·G + g. */
  mean: Float64Array;
  invstd: Float64Array;
}

export interface GroupnormForward<A extends FloatArray = FloatArray> {
  out: Tensor<A>;
  cache: GroupnormCache<A>;
}

export interface GroupnormGrads<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dgamma: A;
  dbeta: A;
}

/** Spatial groupnorm forward on x (N, C, H, W). */
export function groupnormForward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: GroupnormOptions,
): GroupnormForward<A> {
  const { groups: G, eps } = options;
  if (x.shape.length !== 4) throw new RangeError(`spatial-groupnorm: x must be (N, C, H, W), got [${x.shape}]`);
  const [N, C, H, W] = x.shape;
  const S = H * W;
  const xd = x.data;
  if (xd.length !== N * C * S) throw new RangeError('spatial-groupnorm: x data does not fit its shape');
  if (!Number.isInteger(G) || G < 1 || C % G !== 0) throw new RangeError(`spatial-groupnorm: groups ${G} must divide C = ${C}`);
  if (gamma.length !== C || beta.length !== C) throw new RangeError(`spatial-groupnorm: gamma and beta must have length ${C}`);
  const Cg = C / G;
  const L = Cg * S;

  const mean = new Float64Array(N * G);
  const invstd = new Float64Array(N * G);
  const out = zerosLike(xd, xd.length);
  for (let r = 0; r < N * G; r++) {
    const base = r * L;
    const end = base + L;
    const origin = xd[base];
    let s0 = 0;
    for (let i = base; i < end; i++) s0 += xd[i] - origin;
    let m = origin + s0 / L;
    let s1 = 0;
    let s2 = 0;
    for (let i = base; i < end; i++) {
      const d = xd[i] - m;
      s1 += d;
      s2 += d * d;
    }
    const variance = Math.max(0, s2 - (s1 * s1) / L) / L;
    m += s1 / L;
    const k = 1 / Math.sqrt(variance + eps);
    mean[r] = m;
    invstd[r] = k;
    const c0 = (r % G) * Cg;
    for (let j = 0; j < Cg; j++) {
      const kc = k * gamma[c0 + j];
      const bc = beta[c0 + j];
      const start = base + j * S;
      for (let i = start, stop = start + S; i < stop; i++) out[i] = (xd[i] - m) * kc + bc;
    }
  }
  return {
    out: { shape: x.shape.slice(), data: out },
    cache: { shape: x.shape.slice(), N, C, S, G, x: xd, gamma, mean, invstd },
  };
}

/** Spatial groupnorm backward: dout (N, C, H, W) → dx (N, C, H, W), dgamma (C), dbeta (C). */
export function groupnormBackward<A extends FloatArray>(dout: Tensor<A>, cache: GroupnormCache<A>): GroupnormGrads<A> {
  const { N, C, S, G, x, gamma, mean, invstd } = cache;
  const g = dout.data;
  if (g.length !== N * C * S) throw new RangeError(`spatial-groupnorm: dout has ${g.length} values, x has ${N * C * S}`);
  const Cg = C / G;
  const L = Cg * S;
  const dx = zerosLike(g, g.length);
  const dgammaAcc = new Float64Array(C);
  const dbetaAcc = new Float64Array(C);
  for (let r = 0; r < N * G; r++) {
    const m = mean[r];
    const k = invstd[r];
    const c0 = (r % G) * Cg;
    // Per channel of the group: Σ dout and Σ dout · (x − mean); from them Σ dy and Σ dy · xhat.
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let j = 0; j < Cg; j++) {
      const start = r * L + j * S;
      let s0 = 0;
      let s1 = 0;
      for (let i = start, stop = start + S; i < stop; i++) {
        const gi = g[i];
        s0 += gi;
        s1 += gi * (x[i] - m);
      }
      const c = c0 + j;
      dbetaAcc[c] += s0;
      dgammaAcc[c] += s1 * k;
      sumDy += gamma[c] * s0;
      sumDyXhat += gamma[c] * s1 * k;
    }
    const a = sumDy / L;
    const b = (sumDyXhat * k) / L;
    for (let j = 0; j < Cg; j++) {
      const gc = gamma[c0 + j];
      const start = r * L + j * S;
      for (let i = start, stop = start + S; i < stop; i++) dx[i] = k * (g[i] * gc - a - (x[i] - m) * b);
    }
  }
  const dgamma = zerosLike(g, C);
  const dbeta = zerosLike(g, C);
  dgamma.set(dgammaAcc);
  dbeta.set(dbetaAcc);
  return { dx: { shape: cache.shape.slice(), data: dx }, dgamma, dbeta };
}
