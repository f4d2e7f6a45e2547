import type { FloatArray, Tensor } from './types.ts';
import { zerosLike } from './types.ts';
import { affineNCS, gradientNCS, sumDeviationsNCS, sumGradientsNCS, sumMinusNCS } from './normalization-loops.ts';
import type { BatchnormCache, BatchnormForward, BatchnormGrads, BatchnormOptions } from './normalization-types.ts';

/**
 * Batchnorm and spatial batchnorm in plain JS: the path ./batchnorm.ts runs for small tensors or without the
 * wasm module (production code, not an oracle: the tests check both paths against the staged
 * cs231n graph of test/kernels/normalization-helpers.ts, and the wasm path against this one).
 * Same contract, numerics and cache as ./batchnorm.ts (see its file comment); the
 * statistics here are the corrected two-pass ones: Σ(x − x[0, c]) for a first mean, then
 * var = (Σd² − (Σd)²/M) / M with d = x − mean, moving the mean by Σd/M. Hot loops: ./normalization-loops.ts.
 */

/**
 * The shared forward: x viewed as (N, C, S), statistics per c over the N·S values
 * x[(n·C + c)·S + s]. gamma, beta and the running statistics have length C.
 */
export function batchnormForwardNCSJs<A extends FloatArray>(
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
export function batchnormBackwardNCSJs<A extends FloatArray>(dout: Tensor<A>, cache: BatchnormCache<A>): BatchnormGrads<A> {
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
