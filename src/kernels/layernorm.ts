import type { FloatArray, Tensor } from './types.ts';
import { zerosLike } from './types.ts';

/**
 * Layer normalization (cs231n `layernorm_forward` / `layernorm_backward`), over the last axis.
 *
 * x has rank >= 2 and is treated as rows × D, rows = the product of the leading dimensions.
 * Forward: x (…, D), gamma (D), beta (D) →
 *   out = gamma · (x − mean) / sqrt(var + eps) + beta    (…, D)
 *   with mean and the biased var per row over its D values. Identical in train and test.
 * Backward, dout (…, D) → dx (…, D), dgamma (D), dbeta (D), in closed form per row:
 *   dx = invstd · (dy − mean(dy) − xhat · mean(dy · xhat)),  dy = dout · gamma
 *   dgamma = Σ_rows dout · xhat,  dbeta = Σ_rows dout.
 *
 * Numerics: per-row corrected two-pass statistics in float64 (see `batchnorm.ts`); float32
 * inputs are computed in doubles and rounded once at the store. D = 1 gives var 0, out = beta, dx = 0.
 *
 * The cache keeps references to x and gamma (no copies): do not mutate them before backward.
 */

export interface LayernormOptions {
  /** > 0 */
  eps: number;
}

export interface LayernormCache<A extends FloatArray = FloatArray> {
  shape: number[];
  rows: number;
  D: number;
  x: A;
  gamma: A;
  /** Per row. */
  mean: Float64Array;
  invstd: Float64Array;
}

export interface LayernormForward<A extends FloatArray = FloatArray> {
  out: Tensor<A>;
  cache: LayernormCache<A>;
}

export interface LayernormGrads<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dgamma: A;
  dbeta: A;
}

/** Layernorm forward on x (…, D), rank >= 2. */
export function layernormForward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: LayernormOptions,
): LayernormForward<A> {
  const { eps } = options;
  if (x.shape.length < 2) throw new RangeError(`layernorm: x must have rank >= 2, got [${x.shape}]`);
  const D = x.shape[x.shape.length - 1];
  const xd = x.data;
  const rows = D === 0 ? 0 : xd.length / D;
  if (!Number.isInteger(rows) || rows * D !== xd.length) throw new RangeError('layernorm: x data does not fit its shape');
  if (gamma.length !== D || beta.length !== D) throw new RangeError(`layernorm: gamma and beta must have length ${D}`);

  const mean = new Float64Array(rows);
  const invstd = new Float64Array(rows);
  const out = zerosLike(xd, xd.length);
  for (let r = 0; r < rows; r++) {
    const base = r * D;
    const end = base + D;
    // Two passes over the row: sum of x − x[0] (immune to a common offset), then the
    // corrected sum of squared deviations.
    const origin = xd[base];
    let s0 = 0;
    for (let i = base; i < end; i++) s0 += xd[i] - origin;
    let m = origin + s0 / D;
    let s1 = 0;
    let s2 = 0;
    for (let i = base; i < end; i++) {
      const d = xd[i] - m;
      s1 += d;
      s2 += d * d;
    }
    const variance = Math.max(0, s2 - (s1 * s1) / D) / D;
    m += s1 / D;
    const k = 1 / Math.sqrt(variance + eps);
    mean[r] = m;
    invstd[r] = k;
    for (let i = base, j = 0; i < end; i++, j++) out[i] = (xd[i] - m) * k * gamma[j] + beta[j];
  }
  return {
    out: { shape: x.shape.slice(), data: out },
    cache: { shape: x.shape.slice(), rows, D, x: xd, gamma, mean, invstd },
  };
}

/** Layernorm backward: dout (…, D) → dx (…, D), dgamma (D), dbeta (D). */
export function layernormBackward<A extends FloatArray>(dout: Tensor<A>, cache: LayernormCache<A>): LayernormGrads<A> {
  const { rows, D, x, gamma, mean, invstd } = cache;
  const g = dout.data;
  if (g.length !== rows * D) throw new RangeError(`layernorm: dout has ${g.length} values, x has ${rows * D}`);
  const dx = zerosLike(g, g.length);
  const dgammaAcc = new Float64Array(D);
  const dbetaAcc = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const base = r * D;
    const end = base + D;
    const m = mean[r];
    const k = invstd[r];
    // Σ dy and Σ dy · xhat with dy = dout · gamma; dgamma and dbeta accumulate on the way.
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let i = base, j = 0; i < end; i++, j++) {
      const gi = g[i];
      const xhat = (x[i] - m) * k;
      const dy = gi * gamma[j];
      sumDy += dy;
      sumDyXhat += dy * xhat;
      dgammaAcc[j] += gi * xhat;
      dbetaAcc[j] += gi;
    }
    const a = sumDy / D;
    const b = sumDyXhat / D;
    for (let i = base, j = 0; i < end; i++, j++) dx[i] = k * (g[i] * gamma[j] - a - (x[i] - m) * k * b);
  }
  const dgamma = zerosLike(g, D);
  const dbeta = zerosLike(g, D);
  dgamma.set(dgammaAcc);
  dbeta.set(dbetaAcc);
  return { dx: { shape: cache.shape.slice(), data: dx }, dgamma, dbeta };
}
