import type { FloatArray, Tensor } from './types.ts';
import { zerosLike } from './types.ts';
import { pair, sumDeviations, sumMinus } from './normalization-loops.ts';
import type { LayernormCache, LayernormForward, LayernormGrads, LayernormOptions } from './normalization-types.ts';

/**
 * Layernorm in plain JS: the path ./layernorm.ts runs for small tensors or without the
 * wasm module (production code, not an oracle: the tests check both paths against the staged
 * cs231n graph of test/kernels/normalization-helpers.ts, and the wasm path against this one).
 * Same contract, numerics and cache as ./layernorm.ts; per-row corrected two-pass statistics.
 */

/** Layernorm forward on x (…, D), rank >= 2. */
export function layernormForwardJs<A extends FloatArray>(
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
    let m = origin + sumMinus(xd, base, end, origin) / D;
    sumDeviations(xd, base, end, m);
    const s1 = pair[0];
    const variance = Math.max(0, pair[1] - (s1 * s1) / D) / D;
    m += s1 / D;
    const k = 1 / Math.sqrt(variance + eps);
    mean[r] = m;
    invstd[r] = k;
    normalizeRow(xd, out, base, D, m, k, gamma, beta);
  }
  return {
    out: { shape: x.shape.slice(), data: out },
    cache: { shape: x.shape.slice(), rows, D, x: xd, gamma, mean, invstd },
  };
}

/** Layernorm backward: dout (…, D) → dx (…, D), dgamma (D), dbeta (D). */
export function layernormBackwardJs<A extends FloatArray>(dout: Tensor<A>, cache: LayernormCache<A>): LayernormGrads<A> {
  const { rows, D, x, gamma, mean, invstd } = cache;
  const g = dout.data;
  if (g.length !== rows * D) throw new RangeError(`layernorm: dout has ${g.length} values, x has ${rows * D}`);
  if (g.constructor !== x.constructor) throw new TypeError('layernorm: dout must have the dtype of x');
  const dx = zerosLike(x, g.length);
  const dgammaAcc = new Float64Array(D);
  const dbetaAcc = new Float64Array(D);
  for (let r = 0; r < rows; r++) {
    const base = r * D;
    const m = mean[r];
    const k = invstd[r];
    accumulateRow(g, x, base, D, m, k, gamma, dgammaAcc, dbetaAcc);
    const a = pair[0] / D;
    // mean(dy · xhat) · k, so that (x − mean) · b is xhat · mean(dy · xhat)
    const b = (pair[1] * k * k) / D;
    gradientRow(g, x, dx, base, D, m, k, gamma, a, b);
  }
  const dgamma = zerosLike(x, D);
  const dbeta = zerosLike(x, D);
  dgamma.set(dgammaAcc);
  dbeta.set(dbetaAcc);
  return { dx: { shape: cache.shape.slice(), data: dx }, dgamma, dbeta };
}

// The row loops live in small functions of their own: V8 optimizes a one-loop function well and
// kept deoptimizing the kernels when all loops shared one body (see ./normalization-loops.ts).

/** out = (x − mean) · invstd · gamma + beta over one row. */
function normalizeRow(x: FloatArray, out: FloatArray, base: number, D: number, m: number, k: number, gamma: FloatArray, beta: FloatArray): void {
  for (let i = base, j = 0; j < D; i++, j++) out[i] = (x[i] - m) * k * gamma[j] + beta[j];
}

/**
 * One row of the backward: pair = [Σ dy, Σ dy · (x − mean)] with dy = dout · gamma (two chains
 * each), and dgamma += dout · xhat, dbeta += dout.
 */
function accumulateRow(
  g: FloatArray,
  x: FloatArray,
  base: number,
  D: number,
  m: number,
  k: number,
  gamma: FloatArray,
  dgamma: Float64Array,
  dbeta: Float64Array,
): void {
  let dy0 = 0;
  let dy1 = 0;
  let dd0 = 0;
  let dd1 = 0;
  let j = 0;
  for (; j + 1 < D; j += 2) {
    const u = g[base + j];
    const v = g[base + j + 1];
    const du = x[base + j] - m;
    const dv = x[base + j + 1] - m;
    const yu = u * gamma[j];
    const yv = v * gamma[j + 1];
    dy0 += yu;
    dy1 += yv;
    dd0 += yu * du;
    dd1 += yv * dv;
    dgamma[j] += u * du * k;
    dgamma[j + 1] += v * dv * k;
    dbeta[j] += u;
    dbeta[j + 1] += v;
  }
  if (j < D) {
    const u = g[base + j];
    const du = x[base + j] - m;
    const yu = u * gamma[j];
    dy0 += yu;
    dd0 += yu * du;
    dgamma[j] += u * du * k;
    dbeta[j] += u;
  }
  pair[0] = dy0 + dy1;
  pair[1] = dd0 + dd1;
}

/** dx = invstd · (dout · gamma − a − (x − mean) · b) over one row. */
function gradientRow(
  g: FloatArray,
  x: FloatArray,
  dx: FloatArray,
  base: number,
  D: number,
  m: number,
  k: number,
  gamma: FloatArray,
  a: number,
  b: number,
): void {
  for (let i = base, j = 0; j < D; i++, j++) dx[i] = k * (g[i] * gamma[j] - a - (x[i] - m) * b);
}
