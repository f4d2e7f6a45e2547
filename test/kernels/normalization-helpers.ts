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

/** Flat index → gamma/beta index, per layer. */
export function affineIndex(layer: NormLayer, shape: number[]): (i: number) => number {
  const [, C, H = 1, W = 1] = shape;
  const D = shape[shape.length - 1];
  switch (layer) {
    case 'batchnorm':
    case 'layernorm':
      return (i) => i % D;
    case 'spatial-batchnorm':
    case 'spatial-groupnorm':
      return (i) => Math.floor(i / (H * W)) % C;
  }
}

export interface ReferenceResult {
  out: Float64Array;
  dx: Float64Array;
  dgamma: Float64Array;
  dbeta: Float64Array;
  runningMean?: Float64Array;
  runningVar?: Float64Array;
  /**
   * Per output, the largest magnitude of the terms it is summed from (e.g. |dout · gamma · ivar| for
   * dx). Rounding errors scale with these, not with the result, which can cancel to ~0 (dx when a
   * statistic covers 2 values, dgamma when dout · xhat sums to ~0): compare relative to them.
   */
  scales: { out: number; dx: number; dgamma: number; dbeta: number; runningMean: number; runningVar: number };
}

/**
 * The plain reference, float64: for each statistics group the textbook mean and variance, then
 * cs231n's staged backward (`batchnorm_backward`, node by node: xmu, ivar, sqrtvar, var, mu), with
 * no closed-form shortcut and no care for speed. `variance: 'naive'` swaps in E[x²] − E[x]² so the
 * stability test can show that it fails.
 */
export function referenceNorm(
  layer: NormLayer,
  shape: number[],
  x: ArrayLike<number>,
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  dout: ArrayLike<number>,
  p: NormParams,
  variance: 'two-pass' | 'naive' = 'two-pass',
): ReferenceResult {
  const eps = p.eps ?? DEFAULTS.eps;
  const momentum = p.momentum ?? DEFAULTS.momentum;
  const mode = layer === 'batchnorm' || layer === 'spatial-batchnorm' ? (p.mode ?? 'train') : 'train';
  const geo = featureGeometry(layer, shape, p.groups ?? 1);
  const ai = affineIndex(layer, shape);
  const n = x.length;
  const out = new Float64Array(n);
  const dx = new Float64Array(n);
  const dgamma = new Float64Array(gamma.length);
  const dbeta = new Float64Array(gamma.length);
  const perFeature = layer === 'batchnorm' || layer === 'spatial-batchnorm';
  const runningMean = perFeature && mode === 'train' ? new Float64Array(geo.F) : undefined;
  const runningVar = perFeature && mode === 'train' ? new Float64Array(geo.F) : undefined;
  const scales = { out: 0, dx: 0, dgamma: 0, dbeta: 0, runningMean: 0, runningVar: 0 };
  const sumAbsDoutXhat = new Float64Array(gamma.length);
  const sumAbsDout = new Float64Array(gamma.length);
  for (let f = 0; f < geo.F; f++) {
    const idx = Array.from(featureIndices(geo, f));
    const M = idx.length;
    let mu: number;
    let v: number;
    if (mode === 'test') {
      mu = p.runningMean![f];
      v = p.runningVar![f];
    } else {
      mu = idx.reduce((a, i) => a + x[i], 0) / M;
      v =
        variance === 'naive'
          ? idx.reduce((a, i) => a + x[i] * x[i], 0) / M - mu * mu
          : idx.reduce((a, i) => a + (x[i] - mu) ** 2, 0) / M;
      if (runningMean && runningVar) {
        const unbiased = p.runningVarEstimator === 'unbiased' ? (v * M) / (M - 1) : v;
        runningMean[f] = momentum * (p.runningMean?.[f] ?? 0) + (1 - momentum) * mu;
        runningVar[f] = momentum * (p.runningVar?.[f] ?? 0) + (1 - momentum) * unbiased;
        const rm = Math.abs(momentum * (p.runningMean?.[f] ?? 0)) + Math.abs((1 - momentum) * mu);
        scales.runningMean = Math.max(scales.runningMean, rm);
        scales.runningVar = Math.max(scales.runningVar, Math.abs(runningVar[f]));
      }
    }
    const sqrtvar = Math.sqrt(v + eps);
    const ivar = 1 / sqrtvar;
    const xmu = idx.map((i) => x[i] - mu);
    const xhat = xmu.map((a) => a * ivar);
    idx.forEach((i, k) => {
      out[i] = gamma[ai(i)] * xhat[k] + beta[ai(i)];
      dgamma[ai(i)] += dout[i] * xhat[k];
      dbeta[ai(i)] += dout[i];
      sumAbsDoutXhat[ai(i)] += Math.abs(dout[i] * xhat[k]);
      sumAbsDout[ai(i)] += Math.abs(dout[i]);
      scales.out = Math.max(scales.out, Math.abs(gamma[ai(i)] * xhat[k]) + Math.abs(beta[ai(i)]));
    });
    const dxhat = idx.map((i) => dout[i] * gamma[ai(i)]);
    for (const d of dxhat) scales.dx = Math.max(scales.dx, Math.abs(d * ivar));
    if (mode === 'test') {
      idx.forEach((i, k) => (dx[i] = dxhat[k] * ivar));
      continue;
    }
    const divar = dxhat.reduce((a, d, k) => a + d * xmu[k], 0);
    const dsqrtvar = (-1 / (sqrtvar * sqrtvar)) * divar;
    const dvar = (0.5 / sqrtvar) * dsqrtvar;
    const dxmu = xmu.map((a, k) => dxhat[k] * ivar + (2 * a * dvar) / M);
    const dmu = -dxmu.reduce((a, b) => a + b, 0);
    idx.forEach((i, k) => (dx[i] = dxmu[k] + dmu / M));
  }
  scales.dgamma = Math.max(...sumAbsDoutXhat);
  scales.dbeta = Math.max(...sumAbsDout);
  return { out, dx, dgamma, dbeta, runningMean, runningVar, scales };
}
