import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { dropoutBackward, dropoutForward, dropoutMask, dropoutUniform } from '../../src/kernels/dropout.ts';
import {
  dropoutBackwardReference,
  dropoutForwardReference,
  dropoutMaskReference,
  dropoutUniformReference,
} from '../../src/kernels/reference/dropout.ts';
import { dropout } from '../../src/layers/dropout.ts';
import type { LayerTask } from '../../src/layers/types.ts';
import { expectGradients, randn } from '../helpers/gradcheck.ts';

const seed32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const keep = fc.double({ min: 0.05, max: 1, noNaN: true });

describe('dropout mask: the documented generator', () => {
  test.prop([seed32, fc.integer({ min: 0, max: 2 ** 32 - 1 })], { numRuns: 200 })('u(seed=%d, i=%d) equals the BigInt transcription', (seed, i) => {
    expect(dropoutUniform(seed, i)).toBe(dropoutUniformReference(seed, i));
  });

  test.prop([fc.integer({ min: 1, max: 300 }), keep, seed32], { numRuns: 60 })('n=%d p=%d seed=%d: mask = (u < p) / p, in float64 and float32', (n, p, seed) => {
    const want = dropoutMaskReference(n, p, seed);
    expect(Array.from(dropoutMask(new Float64Array(0), n, p, seed))).toEqual(want);
    expect(Array.from(dropoutMask(new Float32Array(0), n, p, seed))).toEqual(want.map(Math.fround));
  });

  test.prop([fc.integer({ min: 1, max: 500 }), keep, seed32, fc.array(fc.integer({ min: 0, max: 500 }), { maxLength: 5 })], { numRuns: 60 })(
    'n=%d p=%d seed=%d: the same mask however the elements are split (cuts %j)',
    (n, p, seed, cuts) => {
      const whole = dropoutMask(new Float64Array(0), n, p, seed);
      const bounds = [0, ...cuts.map((c) => c % (n + 1)).sort((a, b) => a - b), n];
      const pieces = bounds.slice(1).flatMap((to, k) => Array.from(dropoutMask(new Float64Array(0), to - bounds[k], p, seed, bounds[k])));
      expect(pieces).toEqual(Array.from(whole));
    },
  );

  test.prop([fc.integer({ min: 1, max: 100 }), keep, seed32], { numRuns: 40 })('forward and backward equal cs231n\'s on number arrays', (n, p, seed) => {
    const x = randn(n, seed % 1000);
    const dout = randn(n, (seed % 1000) + 1);
    const mask = dropoutMask(x, n, p, seed);
    expect(Array.from(dropoutForward(x, mask))).toEqual(dropoutForwardReference([...x], [...mask], 'train'));
    expect(Array.from(dropoutBackward(dout, mask))).toEqual(dropoutBackwardReference([...dout], [...mask], 'train'));
  });
});

const task = (x: Float64Array, shape: number[], mode: 'train' | 'test', p: number, dout?: Float64Array): LayerTask<{ p: number; seed: number }> => ({
  layer: 'dropout',
  dtype: 'float64',
  mode,
  params: { p, seed: 3 },
  inputs: { x: { shape, data: x } },
  labels: {},
  state: {},
  dout: dout && { shape, data: dout },
});

describe('dropout backward matches numeric gradients (the mask fixed by the seed)', () => {
  test.prop([fc.integer({ min: 1, max: 60 }), keep, fc.constantFrom('train' as const, 'test' as const), fc.integer()], { numRuns: 30 })(
    'n=%d p=%d %s seed=%d',
    (n, p, mode, seed) => {
      const x = randn(n, seed);
      const dout = randn(n, seed + 1);
      const analytic = dropout.compute(task(x, [n], mode, p, dout)).grads!.x.data;
      expectGradients(() => dropout.compute(task(x, [n], mode, p)).out!.data as Float64Array, { x: [analytic, x] }, dout);
    },
  );
});

describe('a large dropout request split across workers answers like the whole', () => {
  const n = 1 << 21;
  const x = randn(n, 1);
  const dout = randn(n, 2);
  test.prop([fc.integer({ min: 2, max: 4 }), keep], { numRuns: 3 })('%d parts, p=%d', (workers, p) => {
    const whole = dropout.compute(task(x, [1 << 11, 1 << 10], 'train', p, dout));
    const parts = dropout.split!(task(x, [1 << 11, 1 << 10], 'train', p, dout), workers)!;
    expect(parts).toHaveLength(workers);
    const merged = dropout.merge!(parts.map((t) => dropout.compute(t)), task(x, [1 << 11, 1 << 10], 'train', p, dout));
    for (const [got, want] of [
      [merged.out!, whole.out!],
      [merged.grads!.x, whole.grads!.x],
      [merged.outputs!.mask, whole.outputs!.mask],
    ]) {
      expect(got.shape).toEqual([1 << 11, 1 << 10]);
      expect(Buffer.compare(Buffer.from(got.data.buffer), Buffer.from(want.data.buffer))).toBe(0);
    }
  });
});
