/**
 * Issue 16 item 3: the float32 normalization kernels compute their elementwise passes in f32x4 while
 * the statistics (means, variances, Σdout, Σdout·xhat, dgamma, dbeta) keep float64 accumulation.
 * This measures what that costs in accuracy: the worst error of the float32 wasm path against the
 * float64 reference (the staged cs231n graph of normalization-helpers.ts, run in float64 on the same
 * float32-rounded inputs), over random shapes, magnitudes (10⁻³..10³) and common offsets (up to 100×
 * the spread, where x − mean cancels), and prints it in units of float32's unit roundoff u = 2⁻²⁴.
 *
 * Error: max |got − want| over a tensor, relative to the largest magnitude of the terms that tensor
 * is summed from (normalization-helpers.ts `scales`; the results themselves can cancel to ~0).
 * Budget: BUDGET_U units of u for every output, i.e. 4.8e-7, three orders of magnitude inside the
 * contract's float32 tolerance (rtol 2e-4, atol 2e-5). A float64 path computed in float64 and rounded
 * once at the store would reach about 1 u; each f32x4 operation adds at most about one more.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchnormForwardBackwardNCSWasm, batchnormForwardNCSWasm, type BatchnormOptions } from '../../src/kernels/batchnorm.ts';
import { layernormForwardBackwardWasm, layernormForwardWasm, layernormBackwardWasm } from '../../src/kernels/layernorm.ts';
import { groupnormBackwardWasm, groupnormForwardBackwardWasm, groupnormForwardWasm } from '../../src/kernels/groupnorm.ts';
import { availableNormBuilds, useNormBuild } from '../../src/kernels/wasm/norm-engine.ts';
import { randn } from '../helpers/gradcheck.ts';
import { referenceNorm } from './normalization-helpers.ts';

const U = 2 ** -24;
/** The budget, in units of u, for every output of every case. */
const BUDGET_U = 8;
const CASES = 60;

function worstOf(got: ArrayLike<number>, want: ArrayLike<number>, scale: number): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return scale === 0 ? (e === 0 ? 0 : Infinity) : e / scale;
}

/** A deterministic stream of case parameters (the same cases every run, so printed figures compare). */
function* cases(seed: number): Generator<{ N: number; D: number; scale: number; shift: number; seed: number }> {
  let s = seed;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let t = 0; t < CASES; t++) {
    const scale = 10 ** (next() * 6 - 3);
    // every third case without an offset; the others up to ±100 spreads away from zero
    const shift = t % 3 === 0 ? 0 : (next() - 0.5) * 200 * scale;
    yield { N: 2 + Math.floor(next() * 130), D: 1 + Math.floor(next() * 90), scale, shift, seed: 1000 + 7 * t };
  }
}

const f32 = (v: Float64Array) => Float32Array.from(v);
const worst = { out: 0, dx: 0, dgamma: 0, dbeta: 0 };
type Worst = typeof worst;

function record(into: Worst, r: { out?: ArrayLike<number>; dx?: ArrayLike<number>; dgamma?: ArrayLike<number>; dbeta?: ArrayLike<number> },
  want: ReturnType<typeof referenceNorm>): void {
  if (r.out) into.out = Math.max(into.out, worstOf(r.out, want.out, want.scales.out));
  if (r.dx) into.dx = Math.max(into.dx, worstOf(r.dx, want.dx, want.scales.dx));
  if (r.dgamma) into.dgamma = Math.max(into.dgamma, worstOf(r.dgamma, want.dgamma, want.scales.dgamma));
  if (r.dbeta) into.dbeta = Math.max(into.dbeta, worstOf(r.dbeta, want.dbeta, want.scales.dbeta));
}

let build = '';

function report(name: string, w: Worst): void {
  const parts = Object.entries(w).map(([k, v]) => `${k} ${(v / U).toFixed(2)} u (${v.toExponential(2)})`);
  console.log(`${build}: float32 ${name}, worst error vs the float64 reference over ${CASES} cases: ${parts.join(', ')}; budget ${BUDGET_U} u`);
  for (const [k, v] of Object.entries(w)) expect(v, `${name} ${k}`).toBeLessThan(BUDGET_U * U);
}

it('has both builds to measure (npm run build:wasm)', () => {
  expect(availableNormBuilds()).toContain('wasm-simd');
});

// Each build: relaxed SIMD (fused multiply-adds, one rounding) and plain SIMD (multiply then add).
describe.each(availableNormBuilds())('%s build: float32 normalization kernels, worst error against the float64 reference (printed)', (variant) => {
  beforeAll(() => {
    useNormBuild(variant);
    build = variant;
  });
  afterAll(() => useNormBuild(undefined));

  it('batchnorm (N, D), train: forward, and forward + backward in one call', () => {
    const fwdWorst = { ...worst };
    const bothWorst = { ...worst };
    for (const c of cases(1)) {
      const { N, D } = c;
      const x = f32(randn(N * D, c.seed, c.scale, c.shift));
      const dout = f32(randn(N * D, c.seed + 1, 10 ** ((c.seed % 5) - 2)));
      const gamma = f32(randn(D, c.seed + 2));
      const beta = f32(randn(D, c.seed + 3));
      const options: BatchnormOptions = { mode: 'train', eps: 1e-5, momentum: 0.9, runningVarEstimator: 'biased' };
      const shape = [N, D];
      const want = referenceNorm('batchnorm', shape, Float64Array.from(x), Float64Array.from(gamma), Float64Array.from(beta),
        Float64Array.from(dout), options);
      const fwd = batchnormForwardNCSWasm({ shape, data: x }, N, D, 1, gamma, beta, options)!;
      const both = batchnormForwardBackwardNCSWasm({ shape, data: x }, N, D, 1, gamma, beta, { shape, data: dout }, options)!;
      expect(fwd && both, 'the wasm path ran').toBeTruthy();
      record(fwdWorst, { out: fwd.out.data }, want);
      record(bothWorst, { out: both.out.data, dx: both.dx.data, dgamma: both.dgamma, dbeta: both.dbeta }, want);
    }
    report('batchnorm (N, D) forward', { out: fwdWorst.out } as Worst);
    report('batchnorm (N, D) forward+backward', bothWorst);
  });

  it('layernorm: forward, backward from the cache, and forward + backward in one call', () => {
    const fwdWorst = { ...worst };
    const bwdWorst = { ...worst };
    const bothWorst = { ...worst };
    for (const c of cases(2)) {
      // rows of D contiguous values: the statistics run along the row, so give the rows the length
      const rows = 1 + (c.N % 40);
      const D = 2 + c.D * 13;
      const x = f32(randn(rows * D, c.seed, c.scale, c.shift));
      const dout = f32(randn(rows * D, c.seed + 1, 10 ** ((c.seed % 5) - 2)));
      const gamma = f32(randn(D, c.seed + 2));
      const beta = f32(randn(D, c.seed + 3));
      const shape = [rows, D];
      const options = { eps: 1e-5 };
      const want = referenceNorm('layernorm', shape, Float64Array.from(x), Float64Array.from(gamma), Float64Array.from(beta),
        Float64Array.from(dout), options);
      const fwd = layernormForwardWasm({ shape, data: x }, gamma, beta, options)!;
      const bwd = layernormBackwardWasm({ shape, data: dout }, fwd.cache)!;
      const both = layernormForwardBackwardWasm({ shape, data: x }, gamma, beta, { shape, data: dout }, options)!;
      expect(fwd && bwd && both, 'the wasm path ran').toBeTruthy();
      record(fwdWorst, { out: fwd.out.data }, want);
      record(bwdWorst, { dx: bwd.dx.data, dgamma: bwd.dgamma, dbeta: bwd.dbeta }, want);
      record(bothWorst, { out: both.out.data, dx: both.dx.data, dgamma: both.dgamma, dbeta: both.dbeta }, want);
    }
    report('layernorm forward', { out: fwdWorst.out } as Worst);
    report('layernorm backward', { dx: bwdWorst.dx, dgamma: bwdWorst.dgamma, dbeta: bwdWorst.dbeta } as Worst);
    report('layernorm forward+backward', bothWorst);
  });

  it('spatial groupnorm: forward, backward from the cache, and forward + backward in one call (f32x4 affine and dx)', () => {
    const fwdWorst = { ...worst };
    const bwdWorst = { ...worst };
    const bothWorst = { ...worst };
    for (const c of cases(3)) {
      const groups = 1 + (c.seed % 3);
      const N = 1 + (c.N % 4);
      const C = groups * (1 + (c.D % 4));
      const H = 2 + (c.N % 7);
      const W = 3 + (c.D % 9);
      const shape = [N, C, H, W];
      const n = N * C * H * W;
      const x = f32(randn(n, c.seed, c.scale, c.shift));
      const dout = f32(randn(n, c.seed + 1, 10 ** ((c.seed % 5) - 2)));
      const gamma = f32(randn(C, c.seed + 2));
      const beta = f32(randn(C, c.seed + 3));
      const options = { groups, eps: 1e-5 };
      const want = referenceNorm('spatial-groupnorm', shape, Float64Array.from(x), Float64Array.from(gamma), Float64Array.from(beta),
        Float64Array.from(dout), options);
      const fwd = groupnormForwardWasm({ shape, data: x }, gamma, beta, options)!;
      const both = groupnormForwardBackwardWasm({ shape, data: x }, gamma, beta, { shape, data: dout }, options)!;
      const bwd = groupnormBackwardWasm({ shape, data: dout }, fwd.cache)!;
      expect(fwd && bwd && both, 'the wasm path ran').toBeTruthy();
      expect(Array.from(both.out.data)).toEqual(Array.from(fwd.out.data));
      record(fwdWorst, { out: fwd.out.data }, want);
      record(bwdWorst, { dx: bwd.dx.data, dgamma: bwd.dgamma, dbeta: bwd.dbeta }, want);
      record(bothWorst, { out: both.out.data, dx: both.dx.data, dgamma: both.dgamma, dbeta: both.dbeta }, want);
    }
    report('groupnorm forward', { out: fwdWorst.out } as Worst);
    report('groupnorm backward', { dx: bwdWorst.dx, dgamma: bwdWorst.dgamma, dbeta: bwdWorst.dbeta } as Worst);
    report('groupnorm forward+backward', bothWorst);
  });
});
