import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { adam, rmsprop, sgd, sgdMomentum } from '../../src/kernels/optim.ts';
import { adamReference, rmspropReference, sgdMomentumReference, sgdReference } from '../../src/kernels/reference/optim.ts';
import { maxAbsDiff, randn, TOL } from '../helpers/gradcheck.ts';

// The update rules against cs231n's optim.py transcribed (reference/optim.ts), on random sizes, params
// and states, in both dtypes; replayable by seed.
const n = fc.integer({ min: 1, max: 40 });
const unit = fc.double({ min: 0, max: 0.999, noNaN: true });
const lr = fc.double({ min: 0, max: 0.5, noNaN: true });
const eps = fc.double({ min: 1e-9, max: 1e-3, noNaN: true });
const dtypes = ['float64', 'float32'] as const;

const as = (dtype: (typeof dtypes)[number], a: Float64Array) => (dtype === 'float32' ? Float32Array.from(a) : a);
/** float32 results against a double reference on the same float32 inputs: a few roundings of the scale. */
const close = (got: ArrayLike<number>, want: ArrayLike<number>, dtype: (typeof dtypes)[number]) => {
  const scale = Math.max(1, ...Array.from(want, Math.abs));
  expect(maxAbsDiff(got, want)).toBeLessThanOrEqual((dtype === 'float32' ? TOL.fastVsReference32 : TOL.fastVsReference64) * scale);
};

describe.each(dtypes)('update rules equal optim.py (%s)', (dtype) => {
  test.prop([n, lr, fc.integer()], { numRuns: 25 })('sgd n=%d lr=%d seed=%d', (size, learningRate, seed) => {
    const w = as(dtype, randn(size, seed));
    const dw = as(dtype, randn(size, seed + 1));
    close(sgd(w, dw, learningRate).w, sgdReference([...w], [...dw], { learningRate }).w, dtype);
  });

  test.prop([n, lr, unit, fc.boolean(), fc.integer()], { numRuns: 25 })('sgd-momentum n=%d lr=%d momentum=%d fresh=%s seed=%d', (size, learningRate, momentum, fresh, seed) => {
    const w = as(dtype, randn(size, seed));
    const dw = as(dtype, randn(size, seed + 1));
    const velocity = fresh ? undefined : as(dtype, randn(size, seed + 2, 0.1));
    const got = sgdMomentum(w, dw, velocity, learningRate, momentum);
    const want = sgdMomentumReference([...w], [...dw], { learningRate, momentum, velocity: velocity && [...velocity] });
    close(got.w, want.w, dtype);
    close(got.velocity, want.velocity, dtype);
  });

  test.prop([n, lr, unit, eps, fc.boolean(), fc.integer()], { numRuns: 25 })('rmsprop n=%d lr=%d dr=%d eps=%d fresh=%s seed=%d', (size, learningRate, decayRate, epsilon, fresh, seed) => {
    const w = as(dtype, randn(size, seed));
    const dw = as(dtype, randn(size, seed + 1));
    const cache = fresh ? undefined : as(dtype, randn(size, seed + 2).map((v) => v * v));
    const got = rmsprop(w, dw, cache, learningRate, decayRate, epsilon);
    const want = rmspropReference([...w], [...dw], { learningRate, decayRate, epsilon, cache: cache && [...cache] });
    close(got.w, want.w, dtype);
    close(got.cache, want.cache, dtype);
  });

  test.prop([n, lr, unit, unit, eps, fc.integer({ min: 0, max: 1000 }), fc.integer()], { numRuns: 25 })(
    'adam n=%d lr=%d b1=%d b2=%d eps=%d t=%d seed=%d',
    (size, learningRate, beta1, beta2, epsilon, t, seed) => {
      const w = as(dtype, randn(size, seed));
      const dw = as(dtype, randn(size, seed + 1));
      const fresh = t === 0;
      const m = fresh ? undefined : as(dtype, randn(size, seed + 2, 0.1));
      const v = fresh ? undefined : as(dtype, randn(size, seed + 3, 0.1).map((x) => x * x));
      const got = adam(w, dw, m, v, t, learningRate, beta1, beta2, epsilon);
      const want = adamReference([...w], [...dw], { learningRate, beta1, beta2, epsilon, m: m && [...m], v: v && [...v], t });
      expect(got.t).toBe(t + 1);
      close(got.m, want.m, dtype);
      close(got.v, want.v, dtype);
      // lr·m̂/(sqrt(v̂) + eps) can reach lr/eps where v̂ ≈ 0: compare relative to that scale.
      close(got.w, want.w, dtype);
    },
  );
});

describe('update rules are pure', () => {
  test.prop([n, fc.integer()], { numRuns: 10 })('n=%d seed=%d: no argument is written', (size, seed) => {
    const w = randn(size, seed);
    const dw = randn(size, seed + 1);
    const m = randn(size, seed + 2);
    const v = randn(size, seed + 3).map((x) => x * x);
    const copies = [w, dw, m, v].map((a) => a.slice());
    adam(w, dw, m, v, 3, 0.1, 0.9, 0.99, 1e-8);
    rmsprop(w, dw, v, 0.1, 0.9, 1e-8);
    sgdMomentum(w, dw, m, 0.1, 0.9);
    sgd(w, dw, 0.1);
    [w, dw, m, v].forEach((a, i) => expect(a).toEqual(copies[i]));
  });
});
