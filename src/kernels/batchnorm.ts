import type { FloatArray, Tensor } from './types.ts';
import { zerosLike } from './types.ts';
import { affineNCS, gradientNCS, sumDeviationsNCS, sumGradientsNCS, sumMinusNCS } from './normalization-loops.ts';

/**
 * Batch normalization (cs231n `batchnorm_forward` / `batchnorm_backward_alt`).
 *
 * Forward, x (N, D), gamma (D), beta (D):
 *   train: mean, var = per-feature batch mean and biased variance over N
 *          out = gamma · (x − mean) / sqrt(var + eps) + beta                    (N, D)
 *          runningMean = momentum · runningMean + (1 − momentum) · mean          (D)
 *          runningVar  = momentum · runningVar  + (1 − momentum) · var'          (D)
 *          where var' is var, or the N−1 variance when runningVarEstimator is 'unbiased'
 *          (the estimator affects the running update only, as in PyTorch).
 *          A missing runningMean / runningVar starts at zeros (cs231n).
 *   test:  out = gamma · (x − runningMean) / sqrt(runningVar + eps) + beta       (N, D)
 *          no running stats are returned.
 * Backward, dout (N, D) → dx (N, D), dgamma (D), dbeta (D), in closed form:
 *   train: dx = gamma · invstd · (dout − mean(dout) − xhat · mean(dout · xhat))
 *   test:  dx = gamma · invstd · dout   (the running statistics are constants)
 *   both:  dgamma = Σ_n dout · xhat,  dbeta = Σ_n dout, xhat from the statistics the forward used.
 *
 * The same code serves spatial batchnorm: `batchnormForwardNCS` views x as (N, C, S) with
 * statistics per c over N·S, so (N, D) is (N, D, 1) and NCHW is (N, C, H·W); no transposes.
 *
 * Numerics: statistics are two-pass in float64, never E[x²] − E[x]². The first pass sums
 * x − x[0, c], so a large common offset costs no precision; the second uses the corrected
 * two-pass formula var = (Σd² − (Σd)²/M) / M with d = x − mean and moves the mean by Σd/M, so
 * the first pass only has to be close. float32 inputs are read into doubles and every result
 * is rounded once, at the store. Hot loops: normalization-loops.ts.
 *
 * Degenerate batch: with one value per feature (M = N·S = 1) the biased variance is 0 and
 * out = beta, dx = 0 (cs231n). The unbiased running update is then 0/0 and the kernel returns
 * NaN in runningVar, which is what PyTorch's ATen kernel computes (PyTorch's Python layer refuses
 * such a batch in training: "Expected more than 1 value per channel"). The service should refuse
 * it before dispatch.
 *
 * The cache keeps references to x and gamma (no copies): do not mutate them before backward.
 */

export type BatchnormMode = 'train' | 'test';
export type RunningVarEstimator = 'biased' | 'unbiased';

export interface BatchnormOptions {
  mode: BatchnormMode;
  /** > 0 */
  eps: number;
  /** cs231n momentum in [0, 1]: the weight of the old running value. */
  momentum: number;
  runningVarEstimator: RunningVarEstimator;
  /** Per-feature (D or C) running mean; required in test mode, zeros if absent in train mode. Never mutated. */
  runningMean?: FloatArray;
  /** Per-feature running variance (>= 0); as runningMean. Never mutated. */
  runningVar?: FloatArray;
}

/** What backward needs. mean / invstd are the batch statistics (train) or the running ones (test). */
export interface BatchnormCache<A extends FloatArray = FloatArray> {
  mode: BatchnormMode;
  shape: number[];
  /** x viewed as (N, C, S). */
  N: number;
  C: number;
  S: number;
  x: A;
  gamma: A;
  mean: Float64Array;
  invstd: Float64Array;
}

export interface BatchnormForward<A extends FloatArray = FloatArray> {
  out: Tensor<A>;
  cache: BatchnormCache<A>;
  /** Train mode only: the updated statistics, new arrays of x's dtype. */
  runningMean?: A;
  runningVar?: A;
}

export interface BatchnormGrads<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dgamma: A;
  dbeta: A;
}

/** Batchnorm forward on x (N, D); see the file comment. */
export function batchnormForward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: BatchnormOptions,
): BatchnormForward<A> {
  if (x.shape.length !== 2) throw new RangeError(`batchnorm: x must be (N, D), got [${x.shape}]`);
  const [N, D] = x.shape;
  return batchnormForwardNCS(x, N, D, 1, gamma, beta, options);
}

/** Batchnorm backward: dout (N, D) → dx (N, D), dgamma (D), dbeta (D). */
export function batchnormBackward<A extends FloatArray>(dout: Tensor<A>, cache: BatchnormCache<A>): BatchnormGrads<A> {
  return batchnormBackwardNCS(dout, cache);
}

/**
 * The shared forward: x viewed as (N, C, S), statistics per c over the N·S values
 * x[(n·C + c)·S + s]. gamma, beta and the running statistics have length C.
 */
export function batchnormForwardNCS<A extends FloatArray>(
  x: Tensor<A>,
  N: number,
  C: number,
  S: number,
  gamma: A,
  beta: A,
  options: BatchnormOptions,
): BatchnormForward<A> {
  const { mode, eps, momentum, runningVarEstimator, runningMean, runningVar } = options;
  const xd = x.data;
  const total = N * C * S;
  if (xd.length !== total) throw new RangeError(`batchnorm: x has ${xd.length} values, shape says ${total}`);
  if (gamma.length !== C || beta.length !== C) throw new RangeError(`batchnorm: gamma and beta must have length ${C}`);
  for (const [name, r] of [['runningMean', runningMean], ['runningVar', runningVar]] as const) {
    if (r !== undefined && r.length !== C) throw new RangeError(`batchnorm: ${name} must have length ${C}`);
  }

  const mean = new Float64Array(C);
  const invstd = new Float64Array(C);
  let newMean: A | undefined;
  let newVar: A | undefined;

  if (mode === 'test') {
    if (runningMean === undefined || runningVar === undefined) {
      throw new RangeError('batchnorm: test mode needs runningMean and runningVar');
    }
    for (let c = 0; c < C; c++) {
      mean[c] = runningMean[c];
      invstd[c] = 1 / Math.sqrt(runningVar[c] + eps);
    }
  } else {
    const M = N * S;
    const sumSq = batchStatistics(xd, N, C, S, mean);
    newMean = zerosLike(xd, C);
    newVar = zerosLike(xd, C);
    for (let c = 0; c < C; c++) {
      const biased = sumSq[c] / M;
      // M = 1 gives 0/0 = NaN for the unbiased estimate, as PyTorch's kernel does; see the file comment.
      const forRunning = runningVarEstimator === 'unbiased' ? sumSq[c] / (M - 1) : biased;
      invstd[c] = 1 / Math.sqrt(biased + eps);
      newMean[c] = momentum * (runningMean ? runningMean[c] : 0) + (1 - momentum) * mean[c];
      newVar[c] = momentum * (runningVar ? runningVar[c] : 0) + (1 - momentum) * forRunning;
    }
  }

  const scale = new Float64Array(C);
  const shift = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    scale[c] = gamma[c] * invstd[c];
    shift[c] = beta[c];
  }
  const out = zerosLike(xd, total);
  affineNCS(xd, out, N, C, S, mean, scale, shift);

  const cache: BatchnormCache<A> = { mode, shape: x.shape.slice(), N, C, S, x: xd, gamma, mean, invstd };
  const result: BatchnormForward<A> = { out: { shape: x.shape.slice(), data: out }, cache };
  if (newMean && newVar) {
    result.runningMean = newMean;
    result.runningVar = newVar;
  }
  return result;
}

/**
 * Fills `mean` (length C) with the per-c mean of x viewed as (N, C, S) and returns Σ(x − mean)²
 * per c, both in float64 (corrected two-pass; see the file comment).
 */
function batchStatistics(xd: FloatArray, N: number, C: number, S: number, mean: Float64Array): Float64Array {
  const M = N * S;
  const origin = new Float64Array(C);
  for (let c = 0; c < C; c++) origin[c] = xd[c * S];
  const sum = new Float64Array(C);
  sumMinusNCS(xd, N, C, S, origin, sum);
  for (let c = 0; c < C; c++) mean[c] = origin[c] + sum[c] / M;

  const dev = sum.fill(0);
  const sq = new Float64Array(C);
  sumDeviationsNCS(xd, N, C, S, mean, dev, sq);
  for (let c = 0; c < C; c++) {
    sq[c] = Math.max(0, sq[c] - (dev[c] * dev[c]) / M);
    mean[c] += dev[c] / M;
  }
  return sq;
}

/** The shared backward for x viewed as (N, C, S); dout has x's shape. */
export function batchnormBackwardNCS<A extends FloatArray>(dout: Tensor<A>, cache: BatchnormCache<A>): BatchnormGrads<A> {
  const { mode, N, C, S, x, gamma, mean, invstd } = cache;
  const g = dout.data;
  const total = N * C * S;
  if (g.length !== total) throw new RangeError(`batchnorm: dout has ${g.length} values, x has ${total}`);
  if (g.constructor !== x.constructor) throw new TypeError('batchnorm: dout must have the dtype of x');
  const M = N * S;

  // Per feature: Σ dout and Σ dout · (x − mean).
  const sumDout = new Float64Array(C);
  const sumDoutDev = new Float64Array(C);
  sumGradientsNCS(g, x, N, C, S, mean, sumDout, sumDoutDev);

  const dgamma = zerosLike(x, C);
  const dbeta = zerosLike(x, C);
  // dx = p · dout + q · (x − mean) + r with p = gamma · invstd and, in train mode,
  // r = −p · mean(dout), q = −p · invstd² · mean(dout · (x − mean)); q = r = 0 in test mode.
  const p = new Float64Array(C);
  const q = new Float64Array(C);
  const r = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    dgamma[c] = sumDoutDev[c] * invstd[c];
    dbeta[c] = sumDout[c];
    p[c] = gamma[c] * invstd[c];
    if (mode === 'train') {
      q[c] = (-p[c] * invstd[c] * invstd[c] * sumDoutDev[c]) / M;
      r[c] = (-p[c] * sumDout[c]) / M;
    }
  }
  const dx = zerosLike(x, total);
  gradientNCS(g, x, dx, N, C, S, mean, p, q, r);
  return { dx: { shape: cache.shape.slice(), data: dx }, dgamma, dbeta };
}
