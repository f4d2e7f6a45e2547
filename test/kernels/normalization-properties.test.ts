/**
 * Property tests of the normalization kernels (fast-check; a failure prints its seed and path,
 * which replay it via `test.prop(arbs, { seed, path })`):
 *  - the fast closed forms equal the staged reference on random shapes and params, in float64 and
 *    float32, and never mutate their inputs;
 *  - train mode normalizes: per statistics group, mean(out) = beta and std(out) ≈ |gamma|;
 *  - cs231n's running-average check: after 50 train calls the running stats normalize a fresh batch;
 * plus the decisions the contract leaves open (one value per feature, missing state).
 */
import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import type { FloatArray } from '../../src/kernels/types.ts';
import { batchnormBackward, batchnormForward, type BatchnormOptions } from '../../src/kernels/batchnorm.ts';
import { spatialBatchnormForward } from '../../src/kernels/spatial-batchnorm.ts';
import { groupnormForward } from '../../src/kernels/groupnorm.ts';
import { randn, TOL } from '../helpers/gradcheck.ts';
import {
  affineIndex,
  featureGeometry,
  featureIndices,
  meanStd,
  referenceNorm,
  runNorm,
  type NormLayer,
  type NormParams,
} from './normalization-helpers.ts';

const LAYERS: NormLayer[] = ['batchnorm', 'spatial-batchnorm', 'layernorm', 'spatial-groupnorm'];
const isBatchnorm = (layer: NormLayer) => layer === 'batchnorm' || layer === 'spatial-batchnorm';

/**
 * max |got − want| relative to the larger of max |want| and `scale` (the size of the terms the
 * result is summed from); NaN must meet NaN (the unbiased M = 1 case).
 */
function scaledError(got: ArrayLike<number>, want: ArrayLike<number>, floor = 0): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(want[i])) {
      if (!Number.isNaN(got[i])) return Infinity;
      continue;
    }
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff === 0 ? 0 : diff / scale;
}

/** A layer with a shape that fits it and the length of gamma / running stats. */
const layerCase = fc
  .record({
    layer: fc.constantFrom(...LAYERS),
    dims: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 4, maxLength: 4 }),
    rank: fc.integer({ min: 2, max: 4 }),
    groupsOf: fc.integer({ min: 1, max: 3 }),
  })
  .map(({ layer, dims, rank, groupsOf }) => {
    const [a, b, c, d] = dims;
    switch (layer) {
      case 'batchnorm':
        return { layer, shape: [a, b], F: b, groups: undefined };
      case 'spatial-batchnorm':
        return { layer, shape: [a, b, c, d], F: b, groups: undefined };
      case 'layernorm':
        return { layer, shape: dims.slice(0, rank), F: dims[rank - 1], groups: undefined };
      case 'spatial-groupnorm':
        return { layer, shape: [a, b * groupsOf, c, d], F: b * groupsOf, groups: groupsOf };
    }
  });

const paramsArb = fc.record({
  mode: fc.constantFrom('train' as const, 'test' as const),
  eps: fc.double({ min: 1e-7, max: 1e-1, noNaN: true }),
  // the ends, and the interior without subnormals (which float32 running stats flush to 0)
  momentum: fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 1e-3, max: 1, noNaN: true })),
  runningVarEstimator: fc.constantFrom('biased' as const, 'unbiased' as const),
  withState: fc.boolean(),
  scale: fc.double({ min: 0.1, max: 10, noNaN: true }),
  shift: fc.double({ min: -50, max: 50, noNaN: true }),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
});

describe('fast kernels equal the staged reference', () => {
  test.prop([layerCase, paramsArb, fc.constantFrom('float64' as const, 'float32' as const)], { numRuns: 300 })(
    'random shapes, modes and params; inputs are not mutated',
    ({ layer, shape, F, groups }, p, dtype) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const round = (v: Float64Array) => (dtype === 'float32' ? v.map(Math.fround) : v);
      const x = round(randn(n, p.seed, p.scale, p.shift));
      const gamma = round(randn(F, p.seed + 1));
      const beta = round(randn(F, p.seed + 2));
      const dout = round(randn(n, p.seed + 3));
      const mode = isBatchnorm(layer) ? p.mode : 'train';
      const withState = isBatchnorm(layer) && (p.withState || mode === 'test');
      const runningMean = withState ? round(randn(F, p.seed + 4)) : undefined;
      const runningVar = withState ? round(randn(F, p.seed + 5).map(Math.abs)) : undefined;
      const params: NormParams = { ...p, mode, groups, runningMean, runningVar };
      const want = referenceNorm(layer, shape, x, gamma, beta, dout, params);

      const typed = (v: Float64Array | undefined): FloatArray | undefined =>
        v && (dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v));
      const inputs = [x, gamma, beta, dout, runningMean, runningVar].map(typed);
      const before = inputs.map((v) => v && Array.from(v));
      const [tx, tgamma, tbeta, tdout, trm, trv] = inputs;
      const got = runNorm(layer, { shape, data: tx! }, tgamma!, tbeta!, { ...params, runningMean: trm, runningVar: trv }, tdout);

      const tol = dtype === 'float32' ? TOL.fastVsReference32 : TOL.fastVsReference64;
      expect(got.out.shape).toEqual(shape);
      expect(scaledError(got.out.data, want.out, want.scales.out), 'out').toBeLessThan(tol);
      expect(scaledError(got.grads!.x, want.dx, want.scales.dx), 'dx').toBeLessThan(tol);
      expect(scaledError(got.grads!.gamma, want.dgamma, want.scales.dgamma), 'dgamma').toBeLessThan(tol);
      expect(scaledError(got.grads!.beta, want.dbeta, want.scales.dbeta), 'dbeta').toBeLessThan(tol);
      if (want.runningMean && want.runningVar) {
        expect(scaledError(got.runningMean!, want.runningMean, want.scales.runningMean), 'runningMean').toBeLessThan(tol);
        expect(scaledError(got.runningVar!, want.runningVar, want.scales.runningVar), 'runningVar').toBeLessThan(tol);
      } else {
        expect(got.runningMean).toBeUndefined();
      }
      for (const out of [got.out.data, got.grads!.x, got.grads!.gamma, got.runningVar]) {
        if (out) expect(out.constructor).toBe(tx!.constructor);
      }
      inputs.forEach((v, i) => expect(v && Array.from(v), `input ${i} mutated`).toEqual(before[i]));
    },
  );
});

describe('train mode normalizes each statistics group to mean beta and std |gamma|', () => {
  // At least 8 values per group with spread >= 1, so eps = 1e-5 moves std by < 1e-3 relative.
  const normCase = fc
    .record({
      layer: fc.constantFrom(...LAYERS),
      n: fc.integer({ min: 8, max: 24 }),
      c: fc.integer({ min: 1, max: 4 }),
      g: fc.integer({ min: 1, max: 3 }),
      hw: fc.constantFrom([1, 8], [2, 4], [3, 3], [4, 5]),
      scale: fc.double({ min: 1, max: 100, noNaN: true }),
      shift: fc.double({ min: -100, max: 100, noNaN: true }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    })
    .map(({ layer, n, c, g, hw: [h, w], ...rest }) => {
      switch (layer) {
        case 'batchnorm':
          return { layer, shape: [n, c], F: c, groups: undefined, ...rest };
        case 'spatial-batchnorm':
          return { layer, shape: [1 + (n % 3), c, h, w], F: c, groups: undefined, ...rest };
        case 'layernorm':
          return { layer, shape: [c, 2, n], F: n, groups: undefined, ...rest };
        case 'spatial-groupnorm':
          return { layer, shape: [1 + (n % 3), c * g, h, w], F: c * g, groups: g, ...rest };
      }
    });

  test.prop([normCase], { numRuns: 100 })('per feature / channel / row / (n, group)', (c) => {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = randn(n, c.seed, c.scale, c.shift);
    // Groupnorm's gamma and beta are per channel: hold them constant within a group.
    const perGroup = (v: Float64Array) =>
      c.groups ? v.map((_, ch) => v[Math.floor(ch / (c.F / c.groups!)) * (c.F / c.groups!)]) : v;
    const gamma = perGroup(randn(c.F, c.seed + 1));
    const beta = perGroup(randn(c.F, c.seed + 2));
    const { out } = runNorm(c.layer, { shape: c.shape, data: x }, gamma, beta, { groups: c.groups });
    const geo = featureGeometry(c.layer, c.shape, c.groups);
    const ai = affineIndex(c.layer, c.shape);
    for (let f = 0; f < geo.F; f++) {
      const idx = Array.from(featureIndices(geo, f));
      const { mean, std } = meanStd(idx.map((i) => out.data[i]));
      // layernorm's gamma varies along the row: check xhat = (out − beta) / gamma instead
      const xhat = meanStd(idx.map((i) => (out.data[i] - beta[ai(i)]) / gamma[ai(i)]));
      if (c.layer === 'layernorm') {
        expect(Math.abs(xhat.mean)).toBeLessThan(TOL.normalizedMean64);
        expect(Math.abs(xhat.std - 1)).toBeLessThan(TOL.normalizedStd);
      } else {
        const k = ai(idx[0]);
        expect(Math.abs(mean - beta[k])).toBeLessThan(TOL.normalizedMean64 * (1 + Math.abs(gamma[k])));
        expect(Math.abs(std - Math.abs(gamma[k]))).toBeLessThan(TOL.normalizedStd * Math.abs(gamma[k]));
      }
    }
  });
});

describe("cs231n's running-average check", () => {
  // 50 train calls (momentum 0.9, running stats fed forward from zeros), then one test call on a
  // new, larger batch. Bias left after 50 steps: 0.9^50 ≈ 0.005·μ with |μ| <= 3σ; sampling error of
  // the test batch ~ σ/√4096; so 0.1 relative to |gamma| is ~4 standard errors beyond the bias.
  const driftCase = fc.record({
    layer: fc.constantFrom('batchnorm' as const, 'spatial-batchnorm' as const),
    C: fc.integer({ min: 1, max: 4 }),
    seed: fc.integer({ min: 0, max: 2 ** 30 }),
    estimator: fc.constantFrom('biased' as const, 'unbiased' as const),
  });

  test.prop([driftCase], { numRuns: 8 })('test-mode output on a fresh batch has mean ≈ beta, std ≈ |gamma|', (c) => {
    const mu = randn(c.C, c.seed, 2).map((v) => Math.max(-3, Math.min(3, v)));
    const sigma = randn(c.C, c.seed + 1).map((v) => 0.5 + Math.abs(v));
    const gamma = randn(c.C, c.seed + 2).map((v) => Math.sign(v || 1) * (0.5 + Math.abs(v)));
    const beta = randn(c.C, c.seed + 3);
    const shapeOf = (batch: number) => (c.layer === 'batchnorm' ? [batch, c.C] : [batch / 64, c.C, 8, 8]);
    const forward = c.layer === 'batchnorm' ? batchnormForward : spatialBatchnormForward;
    const draw = (shape: number[], seed: number) => {
      const z = randn(shape.reduce((a, b) => a * b, 1), seed);
      const ch = affineIndex(c.layer, shape);
      return { shape, data: z.map((v, i) => mu[ch(i)] * sigma[ch(i)] + sigma[ch(i)] * v) };
    };
    const options: BatchnormOptions = { mode: 'train', eps: 1e-5, momentum: 0.9, runningVarEstimator: c.estimator };
    for (let t = 0; t < 50; t++) {
      const f = forward(draw(shapeOf(1024), c.seed + 100 + t), gamma, beta, options);
      options.runningMean = f.runningMean;
      options.runningVar = f.runningVar;
    }
    const x = draw(shapeOf(4096), c.seed + 99);
    const { out } = forward(x, gamma, beta, { ...options, mode: 'test' });
    const geo = featureGeometry(c.layer, x.shape);
    for (let f = 0; f < c.C; f++) {
      const { mean, std } = meanStd(Array.from(featureIndices(geo, f), (i) => out.data[i]));
      expect(Math.abs(mean - beta[f]) / Math.abs(gamma[f])).toBeLessThan(0.1);
      expect(Math.abs(std / Math.abs(gamma[f]) - 1)).toBeLessThan(0.1);
    }
  });
});

describe('choices the contract leaves open', () => {
  const opts = (o: Partial<BatchnormOptions>): BatchnormOptions => ({
    mode: 'train',
    eps: 1e-5,
    momentum: 0.9,
    runningVarEstimator: 'biased',
    ...o,
  });

  test.each(['biased', 'unbiased'] as const)(
    'one value per feature (%s): out = beta, dx = 0, never a throw; the unbiased running var is NaN (0/0, as ATen)',
    (runningVarEstimator) => {
      const x = { shape: [1, 3], data: new Float64Array([4, -2, 7]) };
      const gamma = new Float64Array([1.5, -2, 0.5]);
      const beta = new Float64Array([0.25, 1, -3]);
      const runningVar = new Float64Array([1, 2, 3]);
      const f = batchnormForward(x, gamma, beta, opts({ runningVarEstimator, runningVar }));
      expect(Array.from(f.out.data)).toEqual(Array.from(beta));
      [0.4, -0.2, 0.7].forEach((want, i) => expect(f.runningMean![i]).toBeCloseTo(want, 14));
      if (runningVarEstimator === 'unbiased') expect(Array.from(f.runningVar!).every(Number.isNaN)).toBe(true);
      else [0.9, 1.8, 2.7].forEach((want, i) => expect(f.runningVar![i]).toBeCloseTo(want, 14));
      const g = batchnormBackward({ shape: [1, 3], data: new Float64Array([1, 2, 3]) }, f.cache);
      expect(Array.from(g.dx.data).every((v) => v === 0)).toBe(true);
      expect(Array.from(g.dbeta)).toEqual([1, 2, 3]);
      expect(Array.from(g.dgamma).every((v) => v === 0)).toBe(true);
    },
  );

  test('spatial batchnorm with N·H·W = 1 behaves the same', () => {
    const f = spatialBatchnormForward(
      { shape: [1, 2, 1, 1], data: new Float32Array([3, 5]) },
      new Float32Array([2, 2]),
      new Float32Array([1, -1]),
      opts({ runningVarEstimator: 'unbiased' }),
    );
    expect(Array.from(f.out.data)).toEqual([1, -1]);
    expect(Number.isNaN(f.runningVar![0])).toBe(true);
  });

  test('missing state in train mode means zeros', () => {
    const x = { shape: [5, 2], data: randn(10, 3) };
    const gamma = new Float64Array([1, 2]);
    const beta = new Float64Array([0, 1]);
    const none = batchnormForward(x, gamma, beta, opts({ momentum: 0.7 }));
    const zeros = batchnormForward(x, gamma, beta, opts({ momentum: 0.7, runningMean: new Float64Array(2), runningVar: new Float64Array(2) }));
    expect(none.runningMean).toEqual(zeros.runningMean);
    expect(none.runningVar).toEqual(zeros.runningVar);
  });

  test('test mode without running stats is a programming error (RangeError), not NaNs', () => {
    const x = { shape: [2, 2], data: new Float64Array(4) };
    expect(() => batchnormForward(x, new Float64Array(2), new Float64Array(2), opts({ mode: 'test' }))).toThrow(RangeError);
  });

  test('shapes the kernels cannot use are RangeErrors', () => {
    const x = { shape: [1, 6, 2, 2], data: new Float64Array(24) };
    expect(() => groupnormForward(x, new Float64Array(6), new Float64Array(6), { groups: 4, eps: 1e-5 })).toThrow(RangeError);
    expect(() => batchnormForward({ shape: [2, 3], data: new Float64Array(6) }, new Float64Array(2), new Float64Array(3), opts({}))).toThrow(
      RangeError,
    );
  });
});
