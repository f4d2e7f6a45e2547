import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { softmaxLoss, softmaxLossJs } from '../../src/kernels/softmax-loss.ts';
import { pointwiseEngine } from '../../src/kernels/wasm/pointwise-engine.ts';
import { randn, TOL } from '../helpers/gradcheck.ts';
import { readFileSync } from 'node:fs';
import { convForward } from '../../src/kernels/conv.ts';

// The wasm softmax (a two-lane polynomial exp) against the JS loop on Math.exp, and its exp against Math.exp.
const EXP_BUDGET = 1e-14; // relative, on t in [−745, 0]
const labels = (N: number, C: number, seed: number) => Int32Array.from({ length: N }, (_, i) => Math.abs((seed * 31 + i * 17) % C));

describe('softmax loss in WebAssembly', () => {
  it('loads (the build is part of npm test)', () => {
    expect(pointwiseEngine()).toBeDefined();
  });

  // Its memory is the GEMM arena, whose low bytes are the GEMM's workspace: a data segment (Math.log's
  // tables, once) would be overwritten by the next convolution, silently.
  it('carries no data segment', () => {
    for (const file of ['pointwise-simd.wasm', 'pointwise-relaxed-simd.wasm']) {
      const b = readFileSync(new URL(`../../src/kernels/wasm/build/${file}`, import.meta.url));
      const ids: number[] = [];
      for (let o = 8; o < b.length; ) {
        ids.push(b[o]);
        let size = 0;
        let shift = 0;
        let byte: number;
        o++;
        do {
          byte = b[o++];
          size |= (byte & 0x7f) << shift;
          shift += 7;
        } while (byte & 0x80);
        o += size;
      }
      expect(ids).toContain(10); // code
      expect(ids).not.toContain(11); // data
    }
  });

  it('answers the same after a convolution has used the arena', () => {
    const N = 6;
    const C = 10;
    const x = randn(N * C, 5, 3);
    const y = labels(N, C, 5);
    const before = softmaxLoss(x, y, N, C).loss;
    convForward({ shape: [2, 8, 12, 12], data: randn(2 * 8 * 144, 1) }, { shape: [16, 8, 3, 3], data: randn(16 * 72, 2) }, { shape: [16], data: randn(16, 3) }, { pad: 1 });
    expect(softmaxLoss(x, y, N, C).loss).toBe(before);
    expect(before).toBeCloseTo(softmaxLossJs(x, y, N, C).loss, 12);
  });

  it(`its exp stays within ${EXP_BUDGET} of Math.exp, relative, down to underflow`, () => {
    const { k, arena } = pointwiseEngine()!;
    const n = 200_000;
    const t = Float64Array.from({ length: n }, (_, i) => (i === 0 ? 0 : i === 1 ? -745 : -(((i * 7919) % 100_003) / 100_003) * (i % 3 === 0 ? 745 : 40)));
    let worst = 0;
    arena.scope(() => {
      const src = arena.alloc('float64', n);
      const dst = arena.alloc('float64', n);
      src.view.set(t);
      k.expF64(src.byteOffset, dst.byteOffset, n);
      const got = dst.view;
      for (let i = 0; i < n; i++) {
        const want = Math.exp(t[i]);
        if (t[i] < -708) expect(got[i]).toBeLessThan(1e-307); // taken as exp(−708)
        else worst = Math.max(worst, Math.abs(got[i] - want) / want);
      }
    });
    console.log(`softmax exp: worst relative error against Math.exp ${worst.toExponential(2)} (budget ${EXP_BUDGET})`);
    expect(worst).toBeLessThan(EXP_BUDGET);
  });

  test.prop([fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 1100 }), fc.integer(), fc.double({ min: 0.01, max: 1e4, noNaN: true })], { numRuns: 40 })(
    'float64 equals the JS loop: N=%d C=%d seed=%d scale=%f',
    (N, C, seed, scale) => {
      const x = randn(N * C, seed, scale);
      const y = labels(N, C, seed);
      const got = softmaxLoss(x, y, N, C);
      const want = softmaxLossJs(x, y, N, C);
      expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want.loss)));
      // dx = (p − onehot)/N: near p = 1 the subtraction cancels, so the error is measured on the 1/N scale
      for (let i = 0; i < want.dx.length; i++) expect(Math.abs(got.dx[i] - want.dx[i])).toBeLessThanOrEqual(1e-13 * (Math.abs(want.dx[i]) + 1 / N));
    },
  );

  test.prop([fc.integer({ min: 1, max: 40 }), fc.integer({ min: 2, max: 600 }), fc.integer()], { numRuns: 25 })(
    'float32 stays within the float32 tolerance of the float64 loop: N=%d C=%d seed=%d',
    (N, C, seed) => {
      const x32 = Float32Array.from(randn(N * C, seed, 5));
      const y = labels(N, C, seed);
      const got = softmaxLoss(x32, y, N, C);
      expect(got.dx).toBeInstanceOf(Float32Array);
      const want = softmaxLossJs(Float64Array.from(x32), y, N, C);
      expect(Math.abs(got.loss - want.loss)).toBeLessThanOrEqual(TOL.float32VsFloat64 * (1 + Math.abs(want.loss)));
      for (let i = 0; i < want.dx.length; i++) expect(Math.abs(got.dx[i] - want.dx[i])).toBeLessThanOrEqual(TOL.float32VsFloat64 * (1 + Math.abs(want.dx[i])));
    },
  );
});
