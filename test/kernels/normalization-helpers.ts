/**
 * Shared pieces of the normalization-kernel tests: a dispatcher from a layer name and a
 * reference-vector request to the kernels, and plain staged reference implementations
 * (cs231n's computation graph, no shortcuts) used as oracles for the fast closed forms.
 */
import type { FloatArray, Tensor } from '../../src/kernels/types.ts';
import { batchnormBackward, batchnormForward, type BatchnormOptions } from '../../src/kernels/batchnorm.ts';
import { spatialBatchnormBackward, spatialBatchnormForward } from '../../src/kernels/spatial-batchnorm.ts';
import { layernormBackward, layernormForward } from '../../src/kernels/layernorm.ts';
import { groupnormBackward, groupnormForward } from '../../src/kernels/groupnorm.ts';

export type NormLayer = 'batchnorm' | 'spatial-batchnorm' | 'layernorm' | 'spatial-groupnorm';

export interface NormParams {
  mode?: 'train' | 'test';
  eps?: number;
  momentum?: number;
  runningVarEstimator?: 'biased' | 'unbiased';
  groups?: number;
  runningMean?: FloatArray;
  runningVar?: FloatArray;
}

export interface NormRun<A extends FloatArray> {
  out: Tensor<A>;
  runningMean?: A;
  runningVar?: A;
  grads?: { x: A; gamma: A; beta: A };
}

/** The API's defaults (API.md, layer table). */
export const DEFAULTS = { eps: 1e-5, momentum: 0.9, runningVarEstimator: 'biased', mode: 'train' } as const;

function batchnormOptions(p: NormParams): BatchnormOptions {
  return {
    mode: p.mode ?? DEFAULTS.mode,
    eps: p.eps ?? DEFAULTS.eps,
    momentum: p.momentum ?? DEFAULTS.momentum,
    runningVarEstimator: p.runningVarEstimator ?? DEFAULTS.runningVarEstimator,
    runningMean: p.runningMean,
    runningVar: p.runningVar,
  };
}

/** Forward, and backward when dout is given, of one layer. */
export function runNorm<A extends FloatArray>(
  layer: NormLayer,
  x: Tensor<A>,
  gamma: A,
  beta: A,
  params: NormParams,
  dout?: A,
): NormRun<A> {
  const d = dout ? { shape: x.shape, data: dout } : undefined;
  switch (layer) {
    case 'batchnorm':
    case 'spatial-batchnorm': {
      const fwd = layer === 'batchnorm' ? batchnormForward : spatialBatchnormForward;
      const bwd = layer === 'batchnorm' ? batchnormBackward : spatialBatchnormBackward;
      const f = fwd(x, gamma, beta, batchnormOptions(params));
      const g = d ? bwd(d, f.cache) : undefined;
      return {
        out: f.out,
        runningMean: f.runningMean,
        runningVar: f.runningVar,
        grads: g && { x: g.dx.data, gamma: g.dgamma, beta: g.dbeta },
      };
    }
    case 'layernorm': {
      const f = layernormForward(x, gamma, beta, { eps: params.eps ?? DEFAULTS.eps });
      const g = d ? layernormBackward(d, f.cache) : undefined;
      return { out: f.out, grads: g && { x: g.dx.data, gamma: g.dgamma, beta: g.dbeta } };
    }
    case 'spatial-groupnorm': {
      if (params.groups === undefined) throw new Error('groups is required');
      const f = groupnormForward(x, gamma, beta, { groups: params.groups, eps: params.eps ?? DEFAULTS.eps });
      const g = d ? groupnormBackward(d, f.cache) : undefined;
      return { out: f.out, grads: g && { x: g.dx.data, gamma: g.dgamma, beta: g.dbeta } };
    }
  }
}

/**
 * How each layer groups x (shape `shape`) for its statistics: x viewed as (outer, F, inner) with
 * statistics over (outer, inner) for each f, and the per-feature gamma index of a flat position.
 */
export function featureGeometry(layer: NormLayer, shape: number[], groups = 1) {
  const [N, C, H = 1, W = 1] = shape;
  switch (layer) {
    case 'batchnorm':
      return { outer: N, F: C, inner: 1 };
    case 'spatial-batchnorm':
      return { outer: N, F: C, inner: H * W };
    case 'layernorm': {
      const D = shape[shape.length - 1];
      return { outer: 1, F: shape.reduce((a, b) => a * b, 1) / D, inner: D };
    }
    case 'spatial-groupnorm':
      return { outer: 1, F: N * groups, inner: (C / groups) * H * W };
  }
}

/** Indices of the flat positions of feature f under `featureGeometry`. */
export function* featureIndices(geo: { outer: number; F: number; inner: number }, f: number): Generator<number> {
  for (let o = 0; o < geo.outer; o++) {
    const base = (o * geo.F + f) * geo.inner;
    for (let i = 0; i < geo.inner; i++) yield base + i;
  }
}

/** Mean and (biased) standard deviation of values, two-pass in float64. */
export function meanStd(values: Iterable<number>): { mean: number; std: number; count: number } {
  const v = Array.from(values);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) * (b - mean), 0) / v.length;
  return { mean, std: Math.sqrt(variance), count: v.length };
}

/**
 * cs231n's staged batchnorm on (N, D) in float64: the computation graph of `batchnorm_backward`,
 * node by node. `variance` picks the statistic: 'two-pass' (the textbook definition) or
 * 'naive' E[x²] − E[x]², which the stability test shows to be unusable.
 */
export function stagedBatchnorm(
  x: Float64Array,
  N: number,
  D: number,
  gamma: Float64Array,
  beta: Float64Array,
  eps: number,
  dout: Float64Array,
  variance: 'two-pass' | 'naive' = 'two-pass',
): { out: Float64Array; dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array; var: Float64Array } {
  const mu = new Float64Array(D);
  const v = new Float64Array(D);
  for (let j = 0; j < D; j++) {
    let s = 0;
    let sq = 0;
    for (let i = 0; i < N; i++) {
      s += x[i * D + j];
      sq += x[i * D + j] * x[i * D + j];
    }
    mu[j] = s / N;
    if (variance === 'naive') v[j] = sq / N - mu[j] * mu[j];
    else {
      let t = 0;
      for (let i = 0; i < N; i++) t += (x[i * D + j] - mu[j]) ** 2;
      v[j] = t / N;
    }
  }
  const out = new Float64Array(N * D);
  const dx = new Float64Array(N * D);
  const dgamma = new Float64Array(D);
  const dbeta = new Float64Array(D);
  for (let j = 0; j < D; j++) {
    const sqrtvar = Math.sqrt(v[j] + eps);
    const ivar = 1 / sqrtvar;
    const xmu = Array.from({ length: N }, (_, i) => x[i * D + j] - mu[j]);
    const xhat = xmu.map((a) => a * ivar);
    for (let i = 0; i < N; i++) out[i * D + j] = gamma[j] * xhat[i] + beta[j];
    // backward, node by node
    const dxhat = xmu.map((_, i) => dout[i * D + j] * gamma[j]);
    for (let i = 0; i < N; i++) {
      dbeta[j] += dout[i * D + j];
      dgamma[j] += dout[i * D + j] * xhat[i];
    }
    let divar = 0;
    for (let i = 0; i < N; i++) divar += dxhat[i] * xmu[i];
    const dsqrtvar = (-1 / (sqrtvar * sqrtvar)) * divar;
    const dvar = (0.5 * 1) / Math.sqrt(v[j] + eps) * dsqrtvar;
    const dxmu = xmu.map((a, i) => dxhat[i] * ivar + (2 * a * dvar) / N);
    const dmu = -dxmu.reduce((a, b) => a + b, 0);
    for (let i = 0; i < N; i++) dx[i * D + j] = dxmu[i] + dmu / N;
  }
  return { out, dx, dgamma, dbeta, var: v };
}
