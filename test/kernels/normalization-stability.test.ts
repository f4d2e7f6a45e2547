/**
 * Numerical stability: values near ±1e6 with a spread near 1e-2 (so x² ~ 1e12 and the variance
 * ~ 1e-4 sits 16 orders of magnitude below it). The kernels must agree with a float64 reference
 * run on the *shifted* data x − offset, which is exact (Sterbenz) and well conditioned, and which
 * has the same out, dx, dgamma, dbeta and variance since normalization is shift invariant.
 * The last test shows the check has teeth: E[x²] − E[x]² fails it by orders of magnitude.
 */
import { describe, expect, test } from 'vitest';
import { randn, TOL } from '../helpers/gradcheck.ts';
import { featureGeometry, featureIndices, referenceNorm, runNorm, type NormLayer, type NormParams } from './normalization-helpers.ts';

interface StabilityCase {
  layer: NormLayer;
  shape: number[];
  F: number;
  params: NormParams;
}

const CASES: StabilityCase[] = [
  { layer: 'batchnorm', shape: [64, 8], F: 8, params: { runningVarEstimator: 'unbiased' } },
  { layer: 'spatial-batchnorm', shape: [4, 3, 5, 6], F: 3, params: {} },
  { layer: 'layernorm', shape: [2, 4, 48], F: 48, params: {} },
  { layer: 'spatial-groupnorm', shape: [2, 6, 4, 5], F: 6, params: { groups: 3 } },
];

/** A large offset per statistics group, alternating sign; all exact integers. */
const offset = (f: number) => (f % 2 ? -1 : 1) * (1e6 + 125_000 * (f % 8));

function offsetData(c: StabilityCase, seed: number) {
  const n = c.shape.reduce((a, b) => a * b, 1);
  const spread = randn(n, seed, 1e-2);
  const x = new Float64Array(n);
  const shifted = new Float64Array(n);
  const geo = featureGeometry(c.layer, c.shape, c.params.groups);
  for (let f = 0; f < geo.F; f++) {
    for (const i of featureIndices(geo, f)) {
      x[i] = offset(f) + spread[i];
      shifted[i] = x[i] - offset(f); // exact: both within a factor 2 of each other
    }
  }
  return { x, shifted, gamma: randn(c.F, seed + 1), beta: randn(c.F, seed + 2), dout: randn(n, seed + 3) };
}

/** max |got − want| relative to max |want|. */
function scaledError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

describe.each(CASES)('$layer near ±1e6 with spread 1e-2', (c) => {
  test('matches a float64 reference on the shifted data', () => {
    const { x, shifted, gamma, beta, dout } = offsetData(c, 11);
    const got = runNorm(c.layer, { shape: c.shape, data: x }, gamma, beta, c.params, dout);
    const want = referenceNorm(c.layer, c.shape, shifted, gamma, beta, dout, c.params);
    expect(scaledError(got.out.data, want.out), 'out').toBeLessThan(TOL.offsetStability64);
    expect(scaledError(got.grads!.x, want.dx), 'dx').toBeLessThan(TOL.offsetStability64);
    expect(scaledError(got.grads!.gamma, want.dgamma), 'dgamma').toBeLessThan(TOL.offsetStability64);
    expect(scaledError(got.grads!.beta, want.dbeta), 'dbeta').toBeLessThan(TOL.offsetStability64);
    if (want.runningVar) expect(scaledError(got.runningVar!, want.runningVar), 'runningVar').toBeLessThan(TOL.offsetStability64);
  });

  test('the naive E[x²] − E[x]² variance fails the same check', () => {
    const { x, shifted, gamma, beta, dout } = offsetData(c, 11);
    const naive = referenceNorm(c.layer, c.shape, x, gamma, beta, dout, c.params, 'naive');
    const want = referenceNorm(c.layer, c.shape, shifted, gamma, beta, dout, c.params);
    // NaN (a negative variance) also counts as failing.
    expect(scaledError(naive.out, want.out) > 1e-2 || Number.isNaN(scaledError(naive.out, want.out))).toBe(true);
  });
});
