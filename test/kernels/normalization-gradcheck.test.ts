/**
 * Centered-difference gradient checks (float64) of dx, dgamma and dbeta for the four
 * normalization layers, train and test mode for the batchnorm family, on seeded random shapes.
 *
 * Inputs are chosen so the relative error measures the formula, not round-off: every statistic
 * covers at least 4 values (with 2, xhat is ±1 up to eps and dx collapses to ~0, where
 * max(1e-8, |a| + |b|) makes round-off look like an error), beta is small (it only adds
 * round-off to sum(out · dout)), and x has unit spread around a non-zero mean.
 */
import { describe, test } from 'vitest';
import { expectGradients, randn, rng } from '../helpers/gradcheck.ts';
import { runNorm, type NormLayer } from './normalization-helpers.ts';

interface GradCase {
  shape: number[];
  /** gamma / beta length */
  F: number;
  /** statistics length for the running stats (batchnorm family) */
  stats: number;
  groups?: number;
}

function randomShape(layer: NormLayer, seed: number): GradCase {
  const r = rng(seed);
  const int = (a: number, b: number) => a + Math.floor(r() * (b - a + 1));
  switch (layer) {
    case 'batchnorm': {
      const D = int(1, 4);
      return { shape: [int(4, 6), D], F: D, stats: D };
    }
    case 'spatial-batchnorm': {
      const [N, C, H, W] = [int(1, 3), int(1, 3), int(1, 3), int(2, 3)];
      const shape = N * H * W >= 4 ? [N, C, H, W] : [2, C, 2, W];
      return { shape, F: C, stats: C };
    }
    case 'layernorm': {
      const lead = int(1, 2) === 1 ? [int(1, 3)] : [int(1, 3), int(1, 2)];
      const D = int(4, 6);
      return { shape: [...lead, D], F: D, stats: 0 };
    }
    case 'spatial-groupnorm': {
      const [G, Cg, N, H, W] = [int(1, 3), int(1, 2), int(1, 2), int(1, 3), int(2, 3)];
      return { shape: [N, G * Cg, Cg * H * W >= 4 ? H : 2, W], F: G * Cg, stats: 0, groups: G };
    }
  }
}

const CONFIGS: Array<[NormLayer, 'train' | 'test']> = [
  ['batchnorm', 'train'],
  ['batchnorm', 'test'],
  ['spatial-batchnorm', 'train'],
  ['spatial-batchnorm', 'test'],
  ['layernorm', 'train'],
  ['spatial-groupnorm', 'train'],
];
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

describe.each(CONFIGS)('%s (%s mode): analytic gradients match centered differences', (layer, mode) => {
  test.each(SEEDS)('seed %i', (seed) => {
    const { shape, F, stats, groups } = randomShape(layer, seed);
    const n = shape.reduce((a, b) => a * b, 1);
    const s = seed * 16;
    const x = randn(n, s + 1, 1, 0.5);
    const gamma = randn(F, s + 2);
    const beta = randn(F, s + 3, 0.1);
    const dout = randn(n, s + 4);
    const runningMean = stats ? randn(stats, s + 5) : undefined;
    const runningVar = stats ? randn(stats, s + 6).map((v) => 0.5 + Math.abs(v)) : undefined;
    const params = { mode, groups, runningMean, runningVar, eps: 1e-5, momentum: 0.9 };

    const analytic = runNorm(layer, { shape, data: x }, gamma, beta, params, dout).grads!;
    const f = () => runNorm(layer, { shape, data: x }, gamma, beta, params).out.data as Float64Array;
    expectGradients(f, { x: [analytic.x, x], gamma: [analytic.gamma, gamma], beta: [analytic.beta, beta] }, dout);
  });
});
