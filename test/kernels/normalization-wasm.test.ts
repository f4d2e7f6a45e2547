/**
 * The WebAssembly normalization kernels (src/kernels/batchnorm.ts, layernorm.ts, groupnorm.ts → wasm/assembly/norm.ts)
 * against the plain JS versions they replaced (src/kernels/reference/), which the rest of the suite
 * checks against cs231n's staged graph:
 *  - forward, backward from the forward's cache, and the one-call forward + backward, float64 and
 *    float32, on random shapes with sizes that are not multiples of the SIMD width, both batchnorm
 *    layouts ((N, D): statistics down columns; (N, C, H, W): per plane) and both modes, forcing the
 *    chunked streaming (several chunks per sweep) as well as the resident case, and past the kernels'
 *    block sizes (256 rows, 4096 values) so that the pairwise merges run;
 *  - stability on values near ±1e6 with spread 1e-2, through the same merges and chunks;
 *  - the public functions take the wasm path for large tensors and agree with it exactly.
 * The Wasm functions are called directly because the public ones keep tensors under 2048 values in JS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import type { FloatArray } from '../../src/kernels/types.ts';
import {
  batchnormBackwardNCSWasm,
  batchnormForward,
  batchnormForwardBackward,
  batchnormForwardBackwardNCSWasm,
  batchnormForwardNCSWasm,
  BATCHNORM_MIN_WASM_ELEMENTS,
  type BatchnormOptions,
} from '../../src/kernels/batchnorm.ts';
import { spatialBatchnormBackward, spatialBatchnormForward, spatialBatchnormForwardBackward } from '../../src/kernels/spatial-batchnorm.ts';
import {
  layernormBackward,
  layernormBackwardWasm,
  layernormForward,
  layernormForwardBackward,
  layernormForwardBackwardWasm,
  layernormForwardWasm,
} from '../../src/kernels/layernorm.ts';
import {
  groupnormBackward,
  groupnormBackwardWasm,
  groupnormForward,
  groupnormForwardBackward,
  groupnormForwardBackwardWasm,
  groupnormForwardWasm,
} from '../../src/kernels/groupnorm.ts';
import { batchnormBackwardNCSJs, batchnormForwardNCSJs } from '../../src/kernels/batchnorm-js.ts';
import { groupnormBackwardJs, groupnormForwardJs } from '../../src/kernels/groupnorm-js.ts';
import { layernormBackwardJs, layernormForwardJs } from '../../src/kernels/layernorm-js.ts';
import { availableNormBuilds, normEngineStatus, useNormBuild } from '../../src/kernels/wasm/norm-engine.ts';
import { randn, TOL } from '../helpers/gradcheck.ts';
import { referenceNorm } from './normalization-helpers.ts';

type Dtype = 'float32' | 'float64';

const typed = (v: Float64Array, dtype: Dtype): FloatArray => (dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v));

/** max |got − want| relative to max(max |want|, floor); NaN must meet NaN. */
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

it('has the normalization modules (npm run build:wasm), so the wasm kernels are what is tested', () => {
  expect(normEngineStatus()).toMatch(/^wasm-/);
  expect(availableNormBuilds()).toContain('wasm-simd');
});

// Every property test below runs on each build this V8 can load: relaxed SIMD (fused multiply-adds)
// and plain SIMD (the fallback).
describe.each(availableNormBuilds())('%s build', (variant) => {
  beforeAll(() => useNormBuild(variant));
  afterAll(() => useNormBuild(undefined));

  describe('batchnorm: wasm kernels equal the JS reference', () => {
    const bnCase = fc.record({
      layout: fc.constantFrom('rows' as const, 'planes' as const, 'long rows' as const, 'big planes' as const),
      N: fc.integer({ min: 1, max: 7 }),
      C: fc.integer({ min: 1, max: 9 }),
      H: fc.integer({ min: 1, max: 7 }),
      W: fc.integer({ min: 1, max: 7 }),
      /** fraction of the tensor per chunk: 1 is resident, smaller values stream */
      chunk: fc.constantFrom(1, 0.5, 0.3, 0.01),
      /** fraction of a chunk per result block */
      out: fc.constantFrom(1, 0.4, 0.01),
      dtype: fc.constantFrom('float64' as const, 'float32' as const),
      mode: fc.constantFrom('train' as const, 'test' as const),
      eps: fc.double({ min: 1e-7, max: 1e-1, noNaN: true }),
      momentum: fc.double({ min: 0, max: 1, noNaN: true }),
      estimator: fc.constantFrom('biased' as const, 'unbiased' as const),
      withState: fc.boolean(),
      scale: fc.double({ min: 0.1, max: 10, noNaN: true }),
      shift: fc.double({ min: -50, max: 50, noNaN: true }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    });

    test.prop([bnCase], { numRuns: 150 })('forward, backward and forward + backward; chunked and resident, results in blocks', (c) => {
      // (N, D) with N past the 256-row blocks, or (N, C, H·W) with H·W past the 4096-value blocks
      const [N, C, S] = {
        rows: [c.N, c.C * c.W, 1],
        planes: [c.N, c.C, c.H * c.W],
        'long rows': [250 + 40 * c.N, c.C, 1],
        'big planes': [1 + (c.N % 2), 1 + (c.C % 3), 4100 + c.H * c.W],
      }[c.layout];
      const total = N * C * S;
      const unit = S === 1 ? C : S;
      const capElements = Math.max(unit, Math.floor(c.chunk * total));
      const stream = { capElements, outElements: Math.floor(c.out * capElements) };
      const x = typed(randn(total, c.seed, c.scale, c.shift), c.dtype);
      const dout = typed(randn(total, c.seed + 1), c.dtype);
      const gamma = typed(randn(C, c.seed + 2), c.dtype);
      const beta = typed(randn(C, c.seed + 3), c.dtype);
      const withState = c.withState || c.mode === 'test';
      const options: BatchnormOptions = {
        mode: c.mode, eps: c.eps, momentum: c.momentum, runningVarEstimator: c.estimator,
        runningMean: withState ? typed(randn(C, c.seed + 4), c.dtype) : undefined,
        runningVar: withState ? typed(randn(C, c.seed + 5).map(Math.abs), c.dtype) : undefined,
      };
      const inputs = [x, dout, gamma, beta, options.runningMean, options.runningVar];
      const before = inputs.map((v) => v && Array.from(v));
      const xt = { shape: [N, C, S], data: x };
      const gt = { shape: [N, C, S], data: dout };

      const want = batchnormForwardNCSJs(xt, N, C, S, gamma, beta, options);
      const wantGrads = batchnormBackwardNCSJs(gt, want.cache);
      const fwd = batchnormForwardNCSWasm(xt, N, C, S, gamma, beta, options, stream)!;
      const grads = batchnormBackwardNCSWasm(gt, fwd.cache, stream)!;
      const both = batchnormForwardBackwardNCSWasm(xt, N, C, S, gamma, beta, gt, options, stream)!;
      expect(fwd && grads && both, 'the wasm path ran').toBeTruthy();

      // Rounding scales (the results can cancel to ~0): the staged f64 reference's term magnitudes.
      const terms = referenceNorm(
        S === 1 ? 'batchnorm' : 'spatial-batchnorm', S === 1 ? [N, C] : [N, C, S, 1], x, gamma, beta, dout,
        { ...options, runningVarEstimator: c.estimator },
      ).scales;
      const tol = c.dtype === 'float32' ? TOL.normalizationWasm32 : TOL.fastVsReference64;
      for (const [name, r] of [['forward', fwd], ['forward+backward', both]] as const) {
        expect(r.out.shape).toEqual([N, C, S]);
        expect(r.out.data.constructor, name).toBe(x.constructor);
        expect(scaledError(r.out.data, want.out.data, terms.out), `${name} out`).toBeLessThan(tol);
        expect(scaledError(r.cache.mean, want.cache.mean, terms.runningMean), `${name} mean`).toBeLessThan(TOL.fastVsReference64);
        expect(scaledError(r.cache.invstd, want.cache.invstd), `${name} invstd`).toBeLessThan(TOL.fastVsReference64);
        if (c.mode === 'train') {
          expect(scaledError(r.runningMean!, want.runningMean!, terms.runningMean), `${name} runningMean`).toBeLessThan(tol);
          expect(scaledError(r.runningVar!, want.runningVar!, terms.runningVar), `${name} runningVar`).toBeLessThan(tol);
        } else {
          expect(r.runningMean).toBeUndefined();
        }
      }
      for (const [name, r] of [['backward', grads], ['forward+backward', both]] as const) {
        expect(r.dx.data.constructor, name).toBe(x.constructor);
        expect(scaledError(r.dx.data, wantGrads.dx.data, terms.dx), `${name} dx`).toBeLessThan(tol);
        expect(scaledError(r.dgamma, wantGrads.dgamma, terms.dgamma), `${name} dgamma`).toBeLessThan(tol);
        expect(scaledError(r.dbeta, wantGrads.dbeta, terms.dbeta), `${name} dbeta`).toBeLessThan(tol);
      }
      inputs.forEach((v, i) => expect(v && Array.from(v), `input ${i} mutated`).toEqual(before[i]));
    });

    it('one value per feature: biased variance 0, out = beta, dx = 0, unbiased running variance NaN', () => {
      const D = 3000;
      const x = { shape: [1, D], data: randn(D, 5) };
      const gamma = randn(D, 6);
      const beta = randn(D, 7);
      const options: BatchnormOptions = { mode: 'train', eps: 1e-5, momentum: 0.9, runningVarEstimator: 'unbiased' };
      const r = batchnormForwardBackwardNCSWasm(x, 1, D, 1, gamma, beta, { shape: [1, D], data: randn(D, 8) }, options)!;
      expect(Array.from(r.out.data)).toEqual(Array.from(beta));
      expect(r.dx.data.every((v) => v === 0)).toBe(true);
      expect(r.runningVar!.every(Number.isNaN)).toBe(true);
    });
  });

  describe('layernorm: wasm kernels equal the JS reference', () => {
    const lnCase = fc.record({
      lead: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 2 }),
      D: fc.oneof(fc.integer({ min: 1, max: 70 }), fc.integer({ min: 4090, max: 4200 })),
      chunk: fc.constantFrom(1, 0.5, 0.2),
      dtype: fc.constantFrom('float64' as const, 'float32' as const),
      eps: fc.double({ min: 1e-7, max: 1e-1, noNaN: true }),
      scale: fc.double({ min: 0.1, max: 10, noNaN: true }),
      shift: fc.double({ min: -50, max: 50, noNaN: true }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    });

    test.prop([lnCase], { numRuns: 120 })('forward, backward and forward + backward; several chunks of rows', (c) => {
      const shape = [...c.lead, c.D];
      const total = shape.reduce((a, b) => a * b, 1);
      const capElements = Math.max(c.D, Math.floor(c.chunk * total));
      const x = typed(randn(total, c.seed, c.scale, c.shift), c.dtype);
      const dout = typed(randn(total, c.seed + 1), c.dtype);
      const gamma = typed(randn(c.D, c.seed + 2), c.dtype);
      const beta = typed(randn(c.D, c.seed + 3), c.dtype);
      const before = [x, dout, gamma, beta].map((v) => Array.from(v));
      const options = { eps: c.eps };
      const xt = { shape, data: x };
      const gt = { shape, data: dout };

      const want = layernormForwardJs(xt, gamma, beta, options);
      const wantGrads = layernormBackwardJs(gt, want.cache);
      const fwd = layernormForwardWasm(xt, gamma, beta, options, { capElements })!;
      const grads = layernormBackwardWasm(gt, fwd.cache, { capElements })!;
      const both = layernormForwardBackwardWasm(xt, gamma, beta, gt, options, { capElements })!;
      expect(fwd && grads && both, 'the wasm path ran').toBeTruthy();

      const terms = referenceNorm('layernorm', shape, x, gamma, beta, dout, options).scales;
      const tol = c.dtype === 'float32' ? TOL.normalizationWasm32 : TOL.fastVsReference64;
      for (const [name, r] of [['forward', fwd], ['forward+backward', both]] as const) {
        expect(r.out.shape).toEqual(shape);
        expect(r.out.data.constructor).toBe(x.constructor);
        expect(scaledError(r.out.data, want.out.data, terms.out), `${name} out`).toBeLessThan(tol);
        expect(scaledError(r.cache.mean, want.cache.mean, c.scale + Math.abs(c.shift)), `${name} mean`).toBeLessThan(TOL.fastVsReference64);
        expect(scaledError(r.cache.invstd, want.cache.invstd), `${name} invstd`).toBeLessThan(TOL.fastVsReference64);
      }
      for (const [name, r] of [['backward', grads], ['forward+backward', both]] as const) {
        expect(scaledError(r.dx.data, wantGrads.dx.data, terms.dx), `${name} dx`).toBeLessThan(tol);
        expect(scaledError(r.dgamma, wantGrads.dgamma, terms.dgamma), `${name} dgamma`).toBeLessThan(tol);
        expect(scaledError(r.dbeta, wantGrads.dbeta, terms.dbeta), `${name} dbeta`).toBeLessThan(tol);
      }
      [x, dout, gamma, beta].forEach((v, i) => expect(Array.from(v), `input ${i} mutated`).toEqual(before[i]));
    });
  });

  describe('spatial groupnorm: wasm kernels equal the JS reference', () => {
    const gnCase = fc.record({
      N: fc.integer({ min: 1, max: 4 }),
      Cg: fc.integer({ min: 1, max: 4 }),
      G: fc.integer({ min: 1, max: 4 }),
      H: fc.integer({ min: 1, max: 9 }),
      W: fc.integer({ min: 1, max: 9 }),
      big: fc.boolean(),
      chunk: fc.constantFrom(1, 0.5, 0.2),
      dtype: fc.constantFrom('float64' as const, 'float32' as const),
      eps: fc.double({ min: 1e-7, max: 1e-1, noNaN: true }),
      scale: fc.double({ min: 0.1, max: 10, noNaN: true }),
      shift: fc.double({ min: -50, max: 50, noNaN: true }),
      seed: fc.integer({ min: 0, max: 2 ** 30 }),
    });

    test.prop([gnCase], { numRuns: 100 })('forward, backward and forward + backward; several chunks of groups', (c) => {
      // big: one group holds more than a 4096-value block
      const [H, W] = c.big ? [65, 64 + c.W] : [c.H, c.W];
      const C = c.Cg * c.G;
      const shape = [c.N, C, H, W];
      const total = c.N * C * H * W;
      const L = c.Cg * H * W;
      const capElements = Math.max(L, Math.floor(c.chunk * total));
      const x = typed(randn(total, c.seed, c.scale, c.shift), c.dtype);
      const dout = typed(randn(total, c.seed + 1), c.dtype);
      const gamma = typed(randn(C, c.seed + 2), c.dtype);
      const beta = typed(randn(C, c.seed + 3), c.dtype);
      const before = [x, dout, gamma, beta].map((v) => Array.from(v));
      const options = { groups: c.G, eps: c.eps };
      const xt = { shape, data: x };
      const gt = { shape, data: dout };

      const want = groupnormForwardJs(xt, gamma, beta, options);
      const wantGrads = groupnormBackwardJs(gt, want.cache);
      const fwd = groupnormForwardWasm(xt, gamma, beta, options, { capElements })!;
      const grads = groupnormBackwardWasm(gt, fwd.cache, { capElements })!;
      const both = groupnormForwardBackwardWasm(xt, gamma, beta, gt, options, { capElements })!;
      expect(fwd && grads && both, 'the wasm path ran').toBeTruthy();

      const terms = referenceNorm('spatial-groupnorm', shape, x, gamma, beta, dout, options).scales;
      const tol = c.dtype === 'float32' ? TOL.normalizationWasm32 : TOL.fastVsReference64;
      for (const [name, r] of [['forward', fwd], ['forward+backward', both]] as const) {
        expect(r.out.shape).toEqual(shape);
        expect(r.out.data.constructor).toBe(x.constructor);
        expect(scaledError(r.out.data, want.out.data, terms.out), `${name} out`).toBeLessThan(tol);
        expect(scaledError(r.cache.mean, want.cache.mean, c.scale + Math.abs(c.shift)), `${name} mean`).toBeLessThan(TOL.fastVsReference64);
        expect(scaledError(r.cache.invstd, want.cache.invstd), `${name} invstd`).toBeLessThan(TOL.fastVsReference64);
      }
      for (const [name, r] of [['backward', grads], ['forward+backward', both]] as const) {
        expect(scaledError(r.dx.data, wantGrads.dx.data, terms.dx), `${name} dx`).toBeLessThan(tol);
        expect(scaledError(r.dgamma, wantGrads.dgamma, terms.dgamma), `${name} dgamma`).toBeLessThan(tol);
        expect(scaledError(r.dbeta, wantGrads.dbeta, terms.dbeta), `${name} dbeta`).toBeLessThan(tol);
      }
      [x, dout, gamma, beta].forEach((v, i) => expect(Array.from(v), `input ${i} mutated`).toEqual(before[i]));
    });
  });

});

describe('stability through the block merges and chunks: values near ±1e6 with spread 1e-2', () => {
  // As normalization-stability.test.ts, at sizes that reach the wasm path's merges: a float64
  // reference run on the exactly shifted data is the truth.
  const offset = (f: number) => (f % 2 ? -1 : 1) * (1e6 + 125_000 * (f % 8));
  const cases = [
    { layer: 'batchnorm' as const, N: 700, C: 5, S: 1, cap: 2000 },
    { layer: 'spatial-batchnorm' as const, N: 2, C: 3, S: 9000, cap: 20_000 },
    { layer: 'layernorm' as const, N: 3, C: 1, S: 9000, cap: 9000 },
    { layer: 'spatial-groupnorm' as const, N: 2, C: 4, S: 4500, cap: 9000 },
  ];
  it.each(cases)('$layer', ({ layer, N, C, S, cap }) => {
    const total = N * C * S;
    const spread = randn(total, 3, 1e-2);
    const x = new Float64Array(total);
    const shifted = new Float64Array(total);
    // groupnorm: 2 groups of 2 channels, so a group (9000 values) spans two planes
    const featureOf = (i: number) =>
      layer === 'batchnorm' ? i % C : layer === 'spatial-batchnorm' ? Math.floor(i / S) % C : layer === 'layernorm' ? Math.floor(i / S) : Math.floor(i / (2 * S));
    for (let i = 0; i < total; i++) {
      x[i] = offset(featureOf(i)) + spread[i];
      // the first value of every 4096-value block of a plane or row is an outlier: the worst shift
      const unit = layer === 'spatial-groupnorm' ? 2 * S : S;
      if (layer !== 'batchnorm' && (i % unit) % 4096 === 0) x[i] += 0.5;
      shifted[i] = x[i] - offset(featureOf(i)); // exact: both within a factor 2 of each other
    }
    const F = layer === 'layernorm' ? S : C;
    const gnOptions = { groups: 2, eps: 1e-5 };
    const gamma = randn(F, 4);
    const beta = randn(F, 5);
    const dout = randn(total, 6);
    const options: BatchnormOptions = { mode: 'train', eps: 1e-5, momentum: 0.9, runningVarEstimator: 'unbiased' };
    let got;
    let shape;
    if (layer === 'layernorm') {
      shape = [N, S];
      got = layernormForwardBackwardWasm({ shape, data: x }, gamma, beta, { shape, data: dout }, options, { capElements: cap })!;
    } else if (layer === 'spatial-groupnorm') {
      shape = [N, C, S, 1];
      got = groupnormForwardBackwardWasm({ shape, data: x }, gamma, beta, { shape, data: dout }, gnOptions, { capElements: cap })!;
    } else {
      shape = layer === 'batchnorm' ? [N, C] : [N, C, S, 1];
      got = batchnormForwardBackwardNCSWasm({ shape, data: x }, N, C, S, gamma, beta, { shape, data: dout }, options, { capElements: cap })!;
    }
    const want = referenceNorm(layer, shape, shifted, gamma, beta, dout, layer === 'spatial-groupnorm' ? gnOptions : options);
    expect(scaledError(got.out.data, want.out), 'out').toBeLessThan(TOL.offsetStability64);
    expect(scaledError(got.dx.data, want.dx), 'dx').toBeLessThan(TOL.offsetStability64);
    expect(scaledError(got.dgamma, want.dgamma), 'dgamma').toBeLessThan(TOL.offsetStability64);
    expect(scaledError(got.dbeta, want.dbeta), 'dbeta').toBeLessThan(TOL.offsetStability64);
    if (want.runningVar) expect(scaledError((got as { runningVar: Float64Array }).runningVar, want.runningVar), 'runningVar').toBeLessThan(TOL.offsetStability64);
  });
});

describe('the public functions', () => {
  const options: BatchnormOptions = { mode: 'train', eps: 1e-5, momentum: 0.9, runningVarEstimator: 'biased' };

  it.each(['float64', 'float32'] as const)('take the wasm path from %s tensors of BATCHNORM_MIN_WASM_ELEMENTS values', (dtype) => {
    const N = 64;
    const D = Math.ceil(BATCHNORM_MIN_WASM_ELEMENTS / N) + 3;
    const x = { shape: [N, D], data: typed(randn(N * D, 1), dtype) };
    const g = { shape: [N, D], data: typed(randn(N * D, 2), dtype) };
    const gamma = typed(randn(D, 3), dtype);
    const beta = typed(randn(D, 4), dtype);
    const viaWasm = batchnormForwardNCSWasm(x, N, D, 1, gamma, beta, options)!;
    const fwd = batchnormForward(x, gamma, beta, options);
    expect(Array.from(fwd.out.data)).toEqual(Array.from(viaWasm.out.data));
    // forward + backward in one call equals forward then backward
    const both = batchnormForwardBackward(x, gamma, beta, g, options);
    const bwd = batchnormBackwardNCSWasm(g, fwd.cache)!;
    expect(Array.from(both.out.data)).toEqual(Array.from(fwd.out.data));
    expect(Array.from(both.dx.data)).toEqual(Array.from(bwd.dx.data));
    expect(Array.from(both.dgamma)).toEqual(Array.from(bwd.dgamma));

    const sx = { shape: [2, 3, 20, 21], data: typed(randn(2520, 5), dtype) };
    const sg = { shape: [2, 3, 20, 21], data: typed(randn(2520, 6), dtype) };
    const sf = spatialBatchnormForward(sx, gamma.subarray(0, 3), beta.subarray(0, 3), options);
    const sb = spatialBatchnormForwardBackward(sx, gamma.subarray(0, 3), beta.subarray(0, 3), sg, options);
    expect(Array.from(sb.out.data)).toEqual(Array.from(sf.out.data));
    expect(Array.from(sb.dx.data)).toEqual(Array.from(spatialBatchnormBackward(sg, sf.cache).dx.data));

    const gf = groupnormForward(sx, gamma.subarray(0, 3), beta.subarray(0, 3), { groups: 3, eps: 1e-5 });
    const gb = groupnormForwardBackward(sx, gamma.subarray(0, 3), beta.subarray(0, 3), sg, { groups: 3, eps: 1e-5 });
    expect(Array.from(gf.out.data)).toEqual(Array.from(groupnormForwardWasm(sx, gamma.subarray(0, 3), beta.subarray(0, 3), { groups: 3, eps: 1e-5 })!.out.data));
    expect(Array.from(gb.out.data)).toEqual(Array.from(gf.out.data));
    expect(Array.from(gb.dx.data)).toEqual(Array.from(groupnormBackward(sg, gf.cache).dx.data));

    const lf = layernormForward(x, gamma, beta, { eps: 1e-5 });
    const lb = layernormForwardBackward(x, gamma, beta, g, { eps: 1e-5 });
    expect(Array.from(lf.out.data)).toEqual(Array.from(layernormForwardWasm(x, gamma, beta, { eps: 1e-5 })!.out.data));
    expect(Array.from(lb.out.data)).toEqual(Array.from(lf.out.data));
    expect(Array.from(lb.dx.data)).toEqual(Array.from(layernormBackward(g, lf.cache).dx.data));
  });

  it('outputs are standalone arrays over their whole buffer (transferable), never views of wasm memory', () => {
    const x = { shape: [64, 64], data: randn(4096, 1) };
    const gamma = randn(64, 2);
    const r = batchnormForwardBackward(x, gamma, randn(64, 3), { shape: [64, 64], data: randn(4096, 4) }, options);
    for (const a of [r.out.data, r.dx.data, r.dgamma, r.dbeta, r.runningMean!, r.runningVar!]) {
      expect(a.byteOffset).toBe(0);
      expect(a.buffer.byteLength).toBe(a.byteLength);
      expect(a.buffer).toBeInstanceOf(ArrayBuffer);
    }
  });
});
