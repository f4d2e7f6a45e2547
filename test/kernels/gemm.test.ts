/**
 * The fast GEMM against the reference: every backend this thread can run (relaxed-SIMD wasm, plain
 * SIMD wasm, JS), both dtypes, all four transpose combinations, beta 0 and 1, padded leading
 * dimensions and subarray offsets. Error bounds: TOL.gemm64 / TOL.gemm32PerTerm (see checkGemm).
 */
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { gemm, gemmArena, gemmBackend, gemmInArena } from '../../src/kernels/gemm.ts';
import { gemmReference } from '../../src/kernels/reference/gemm.ts';
import { availableGemmBackends, GEMM_BACKENDS, GemmEngine } from '../../src/kernels/wasm/engine.ts';
import { checkGemm, cloneArgs, makeCase, type GemmShape } from '../helpers/gemm-cases.ts';

const available = availableGemmBackends();

function shape(p: Partial<GemmShape> & Pick<GemmShape, 'M' | 'N' | 'K'>): GemmShape {
  return {
    dtype: 'float64', transA: false, transB: false, beta: 0,
    padA: 0, padB: 0, padC: 0, offA: 0, offB: 0, offC: 0, seed: 1, ...p,
  };
}

const arbShape = (maxDim: number): fc.Arbitrary<GemmShape> =>
  fc.record({
    dtype: fc.constantFrom('float64' as const, 'float32' as const),
    transA: fc.boolean(),
    transB: fc.boolean(),
    M: fc.integer({ min: 1, max: maxDim }),
    N: fc.integer({ min: 1, max: maxDim }),
    K: fc.integer({ min: 1, max: maxDim }),
    beta: fc.constantFrom(0 as const, 1 as const),
    padA: fc.integer({ min: 0, max: 3 }),
    padB: fc.integer({ min: 0, max: 3 }),
    padC: fc.integer({ min: 0, max: 3 }),
    offA: fc.integer({ min: 0, max: 5 }),
    offB: fc.integer({ min: 0, max: 5 }),
    offC: fc.integer({ min: 0, max: 5 }),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  });

/** Runs `engine.gemm` on a copy of the case and returns the failure, if any. */
function runCase(engine: GemmEngine, s: GemmShape): string | undefined {
  const g = makeCase(s);
  const out = cloneArgs(g);
  engine.gemm(out);
  return checkGemm(g, out.C);
}

it('has the plain SIMD build (npm run build:wasm), so the wasm kernels are what is tested', () => {
  expect(available).toContain('wasm-simd');
});

it('gemm() runs the best backend this thread has', () => {
  expect(gemmBackend()).toBe(available[0]);
});

for (const backend of GEMM_BACKENDS) {
  describe.skipIf(!available.includes(backend))(`gemm on ${backend}`, () => {
    // smallGemmWork 0: even 1×1×1 goes through the wasm kernels (edge tiles, packing).
    const engine = available.includes(backend) ? new GemmEngine(backend, { smallGemmWork: 0 }) : undefined!;

    const tiny: [number, number, number][] = [
      [1, 1, 1], [1, 17, 3], [2, 16, 8], [3, 9, 1], [5, 7, 11], [13, 31, 29], [16, 16, 16], [33, 8, 17],
    ];
    for (const dtype of ['float64', 'float32'] as const) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const tag = `${dtype} ${transA ? 'Aᵀ' : 'A'}·${transB ? 'Bᵀ' : 'B'}`;
          it(`${tag}: small and prime sizes, beta 0 and 1, padded lds and offsets`, () => {
            let seed = 10;
            for (const [M, N, K] of tiny) {
              for (const beta of [0, 1] as const) {
                const s = shape({ dtype, transA, transB, M, N, K, beta, padA: 1, padB: 2, padC: 3, offA: 1, offB: 2, offC: 3, seed: seed++ });
                expect(runCase(engine, s), JSON.stringify(s)).toBeUndefined();
              }
            }
          });
          it(`${tag}: a few hundred (97×130×301), several K blocks of the micro-panels`, () => {
            const s = shape({ dtype, transA, transB, M: 97, N: 130, K: 301, beta: transA ? 1 : 0, padC: 1, seed: 7 });
            expect(runCase(engine, s)).toBeUndefined();
          });
        }
        it(`${dtype}: shapes crossing the cache blocks (MC 128, NC 512, KC 384)`, () => {
          for (const [M, N, K] of [[259, 3, 5], [3, 1031, 4], [3, 5, 1153], [131, 517, 2]] as const) {
            for (const transA of [false, true]) {
              for (const beta of [0, 1] as const) {
                const s = shape({ dtype, transA, transB: !transA, M, N, K, beta, padA: 1, seed: M + N + K });
                expect(runCase(engine, s), JSON.stringify(s)).toBeUndefined();
              }
            }
          }
        });
      }
    }

    test.prop([arbShape(40)], { numRuns: 150 })('random shapes match the reference', (s) => {
      expect(runCase(engine, s)).toBeUndefined();
    });

    it('does not read C when beta is 0 (NaN in C stays out)', () => {
      const s = shape({ M: 5, N: 20, K: 3, beta: 0 });
      const g = makeCase(s);
      g.C.fill(Number.NaN);
      engine.gemm(g);
      for (let i = 0; i < s.M * s.N; i++) expect(Number.isFinite(g.C[i])).toBe(true);
    });
  });
}

describe('gemm() entry point', () => {
  test.prop([arbShape(24)], { numRuns: 60 })('matches the reference on both sides of the JS/wasm crossover', (s) => {
    const g = makeCase(s);
    const out = cloneArgs(g);
    gemm(out);
    expect(checkGemm(g, out.C)).toBeUndefined();
  });

  it('K = 0 gives beta·C; M = 0 or N = 0 is a no-op', () => {
    const C = new Float64Array([1, 2, 3, 4]);
    const base = { transA: false, transB: false, A: new Float64Array(0), B: new Float64Array(0), lda: 1, ldb: 2, ldc: 2 };
    gemm({ ...base, M: 2, N: 2, K: 0, beta: 1, C });
    expect([...C]).toEqual([1, 2, 3, 4]);
    gemm({ ...base, M: 2, N: 2, K: 0, beta: 0, C });
    expect([...C]).toEqual([0, 0, 0, 0]);
    gemm({ ...base, M: 0, N: 2, K: 3, beta: 0, B: new Float64Array(6), C: new Float64Array(0) });
  });

  it('rejects mixed dtypes and operands too short for their leading dimension', () => {
    const f64 = new Float64Array(64);
    const f32 = new Float32Array(64);
    const g = { transA: false, transB: false, M: 8, N: 8, K: 8, A: f64, lda: 8, B: f64, ldb: 8, beta: 0 as const, C: f64, ldc: 8 };
    expect(() => gemm({ ...g, B: f32 })).toThrow(TypeError);
    expect(() => gemm({ ...g, lda: 9 })).toThrow(RangeError);
    expect(() => gemm({ ...g, ldc: 7 })).toThrow(RangeError);
  });

  it('agrees with gemmReference exactly below the crossover (same summation order)', () => {
    const g = makeCase(shape({ M: 3, N: 4, K: 5, beta: 1, transB: true }));
    const a = cloneArgs(g);
    const b = cloneArgs(g);
    gemm(a);
    gemmReference(b);
    expect([...a.C]).toEqual([...b.C]);
  });

  it('gemmInArena runs on this thread’s arena', () => {
    const arena = gemmArena();
    arena.scope(() => {
      const A = arena.alloc('float32', 6);
      const B = arena.alloc('float32', 6);
      const C = arena.alloc('float32', 4);
      A.view.set([1, 2, 3, 4, 5, 6]); // 2×3
      B.view.set([1, 0, 0, 1, 1, 1]); // 3×2
      gemmInArena({ transA: false, transB: false, M: 2, N: 2, K: 3, A, lda: 3, B, ldb: 2, beta: 0, C, ldc: 2 });
      expect([...C.view]).toEqual([4, 5, 10, 11]);
    });
  });
});
