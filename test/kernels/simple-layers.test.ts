import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { affineBackward, affineForward } from '../../src/kernels/affine.ts';
import { reluBackward, reluForward } from '../../src/kernels/relu.ts';
import { reluBackwardReference, reluForwardReference } from '../../src/kernels/reference/relu.ts';
import { softmaxLoss } from '../../src/kernels/softmax-loss.ts';
import { svmLoss } from '../../src/kernels/svm-loss.ts';
import { expectGradients, randn, TOL } from '../helpers/gradcheck.ts';

// Numeric gradient checks (centered differences, float64) on random shapes, replayable by seed.
const dims = fc.integer({ min: 1, max: 6 });

describe('affine backward matches numeric gradients', () => {
  test.prop([dims, dims, dims, fc.integer()], { numRuns: 25 })('N=%d D=%d M=%d seed=%d', (N, D, M, seed) => {
    const x = randn(N * D, seed);
    const w = randn(D * M, seed + 1);
    const b = randn(M, seed + 2);
    const dout = randn(N * M, seed + 3);
    const { dx, dw, db } = affineBackward(x, w, dout, N, D, M);
    const f = () => affineForward(x, w, b, N, D, M);
    expectGradients(f, { x: [dx, x], w: [dw, w], b: [db, b] }, dout);
  });
});

describe('relu backward matches numeric gradients', () => {
  test.prop([fc.integer({ min: 1, max: 50 }), fc.integer()], { numRuns: 25 })('n=%d seed=%d', (n, seed) => {
    // Keep values away from the kink at 0, where the numeric gradient is undefined.
    const x = randn(n, seed).map((v) => (Math.abs(v) < 1e-3 ? v + 0.01 : v));
    const dout = randn(n, seed + 1);
    expectGradients(() => reluForward(x), { x: [reluBackward(x, dout), x] }, dout);
  });

  test.prop([fc.integer({ min: 1, max: 20 })])('the gradient at exactly 0 is 0', (n) => {
    expect([...reluBackward(new Float64Array(n), new Float64Array(n).fill(1))]).toEqual(new Array(n).fill(0));
  });
});

describe('relu: the branch-free kernel equals the plain reference bit for bit', () => {
  // ±0, denormals, the extremes of each type, and random values of both signs
  const special = [0, -0, 5e-324, -5e-324, 1e-45, -1e-45, 1.4e-45, -3.4e38, 3.4e38, 1.7e308, -1.7e308, 1, -1];
  const value = fc.oneof(fc.constantFrom(...special), fc.double({ noNaN: true, noDefaultInfinity: true }));
  const bits = (a: Float32Array | Float64Array) => Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  for (const T of [Float32Array, Float64Array]) {
    test.prop([fc.array(fc.tuple(value, value), { minLength: 1, maxLength: 300 })])(`${T.name}`, (pairs) => {
      const x = T.from(pairs.map((p) => p[0]));
      const dout = T.from(pairs.map((p) => p[1]));
      expect(bits(reluForward(x))).toEqual(bits(reluForwardReference(x)));
      expect(bits(reluBackward(x, dout))).toEqual(bits(reluBackwardReference(x, dout)));
    });
    // From 4096 values the wasm kernel runs, in blocks of 64 KiB: lengths around and across blocks.
    test.prop([fc.integer({ min: 4096, max: 40_000 }), fc.array(fc.tuple(value, value), { minLength: 1, maxLength: 64 })], { numRuns: 12 })(
      `${T.name}, wasm (n=%d)`,
      (n, pairs) => {
        const x = T.from(Array.from({ length: n }, (_, i) => pairs[i % pairs.length][0] * (i % 3 === 0 ? -1 : 1)));
        const dout = T.from(Array.from({ length: n }, (_, i) => pairs[(i * 7) % pairs.length][1]));
        expect(bits(reluForward(x))).toEqual(bits(reluForwardReference(x)));
        expect(bits(reluBackward(x, dout))).toEqual(bits(reluBackwardReference(x, dout)));
      },
    );
  }
});

const labels = (N: number, C: number, seed: number) => Int32Array.from({ length: N }, (_, i) => Math.abs((seed * 31 + i * 17) % C));

describe('loss gradients match numeric gradients', () => {
  test.prop([dims, fc.integer({ min: 2, max: 7 }), fc.integer()], { numRuns: 25 })('softmax N=%d C=%d seed=%d', (N, C, seed) => {
    const x = randn(N * C, seed);
    const y = labels(N, C, seed);
    const { dx } = softmaxLoss(x, y, N, C);
    expectGradients(() => softmaxLoss(x, y, N, C).loss, { x: [dx, x] });
  });

  test.prop([dims, fc.integer({ min: 2, max: 7 }), fc.integer(), fc.double({ min: 0.1, max: 2, noNaN: true })], { numRuns: 25 })(
    'svm N=%d C=%d seed=%d margin=%f',
    (N, C, seed, margin) => {
      const x = randn(N * C, seed, 3);
      const y = labels(N, C, seed);
      // Skip draws with a hinge within h of its kink: the numeric gradient is undefined there.
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) if (Math.abs(x[n * C + c] - x[n * C + y[n]] + margin) < 1e-4) return;
      const { dx } = svmLoss(x, y, N, C, margin);
      expectGradients(() => svmLoss(x, y, N, C, margin).loss, { x: [dx, x] });
    },
  );

  test.prop([fc.integer({ min: 1, max: 5 }), fc.integer({ min: 2, max: 6 }), fc.double({ min: 100, max: 1e6, noNaN: true })])(
    'softmax stays finite for huge scores (log-sum-exp)',
    (N, C, scale) => {
      const x = randn(N * C, 7, scale);
      const { loss, dx } = softmaxLoss(x, labels(N, C, 3), N, C);
      expect(Number.isFinite(loss)).toBe(true);
      expect(dx.every(Number.isFinite)).toBe(true);
    },
  );
});

describe('float32 inputs give float32 outputs computed in double', () => {
  test.prop([dims, dims, dims, fc.integer()], { numRuns: 10 })('affine N=%d D=%d M=%d', (N, D, M, seed) => {
    const x64 = Float64Array.from(Float32Array.from(randn(N * D, seed)));
    const w64 = Float64Array.from(Float32Array.from(randn(D * M, seed + 1)));
    const b64 = Float64Array.from(Float32Array.from(randn(M, seed + 2)));
    const out32 = affineForward(Float32Array.from(x64), Float32Array.from(w64), Float32Array.from(b64), N, D, M);
    expect(out32).toBeInstanceOf(Float32Array);
    const out64 = affineForward(x64, w64, b64, N, D, M);
    for (let i = 0; i < out64.length; i++) expect(Math.abs(out32[i] - out64[i])).toBeLessThanOrEqual(TOL.float32VsFloat64 * (1 + Math.abs(out64[i])));
  });
});
