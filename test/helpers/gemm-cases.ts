/** Random GEMM problems and the error bound used by the gemm tests. */
import type { GemmArgs } from '../../src/kernels/gemm-types.ts';
import { gemmReference } from '../../src/kernels/reference/gemm.ts';
import type { Dtype, FloatArray } from '../../src/kernels/types.ts';
import { randn, TOL } from './gradcheck.ts';

export interface GemmShape {
  dtype: Dtype;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  beta: 0 | 1;
  /** Extra leading-dimension padding of A, B, C (elements). */
  padA: number;
  padB: number;
  padC: number;
  /** Offset of each operand inside a larger array, so subarray views are exercised. */
  offA: number;
  offB: number;
  offC: number;
  seed: number;
}

export const SENTINEL = -777.5;

/** Operands for a shape: C's padding and every element before the offset hold SENTINEL. */
export function makeCase(s: GemmShape): GemmArgs {
  const { M, N, K } = s;
  const [aRows, aCols] = s.transA ? [K, M] : [M, K];
  const [bRows, bCols] = s.transB ? [N, K] : [K, N];
  const lda = aCols + s.padA;
  const ldb = bCols + s.padB;
  const ldc = N + s.padC;
  const A = operand(s.dtype, s.offA, aRows, lda, s.seed);
  const B = operand(s.dtype, s.offB, bRows, ldb, s.seed + 1);
  const C = operand(s.dtype, s.offC, M, ldc, s.seed + 2);
  // C's padding columns must survive untouched.
  for (let i = 0; i < M; i++) C.fill(SENTINEL, i * ldc + N, (i + 1) * ldc);
  // With beta = 0, C must not be read: poison it.
  if (s.beta === 0) for (let i = 0; i < M; i++) C.fill(Number.NaN, i * ldc, i * ldc + N);
  return { transA: s.transA, transB: s.transB, M, N, K, A, lda, B, ldb, beta: s.beta, C, ldc };
}

function operand(dtype: Dtype, offset: number, rows: number, ld: number, seed: number): FloatArray {
  const n = offset + rows * ld;
  const data = randn(n, seed);
  const whole = dtype === 'float32' ? Float32Array.from(data) : data;
  whole.fill(SENTINEL, 0, offset);
  return whole.subarray(offset);
}

/** A deep copy of the arguments: fresh buffers with the same layout (offsets included). */
export function cloneArgs(g: GemmArgs): GemmArgs {
  return { ...g, A: cloneView(g.A), B: cloneView(g.B), C: cloneView(g.C) };
}

function cloneView<A extends FloatArray>(a: A): A {
  const Ctor = a.constructor as Float64ArrayConstructor | Float32ArrayConstructor;
  return new Ctor((a.buffer as ArrayBuffer).slice(0), a.byteOffset, a.length) as A;
}

/**
 * Checks `got` (C after a fast GEMM on a clone of `g`; g itself untouched) against a float64
 * reference on the same inputs within TOL.gemm64 / TOL.gemm32PerTerm, and that nothing outside C's
 * live region changed. Returns a description of the first failure, or undefined.
 */
export function checkGemm(g: GemmArgs, got: FloatArray): string | undefined {
  const { M, N, K, ldc } = g;
  const f64 = (a: FloatArray) => Float64Array.from(a);
  const ref = f64(g.C);
  gemmReference({ ...g, A: f64(g.A), B: f64(g.B), C: ref });
  // Σₚ|a·b| (+ |C₀| when beta = 1): the scale of the rounding error.
  const scale = f64(g.C).map(Math.abs);
  gemmReference({ ...g, A: f64(g.A).map(Math.abs), B: f64(g.B).map(Math.abs), C: scale });
  const tol = g.C instanceof Float32Array ? (K + 2) * TOL.gemm32PerTerm : TOL.gemm64;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < ldc; j++) {
      const k = i * ldc + j;
      if (k >= got.length) break;
      if (j >= N) {
        if (got[k] !== SENTINEL) return `padding C[${i}][${j}] changed to ${got[k]}`;
        continue;
      }
      const err = Math.abs(got[k] - ref[k]);
      if (!(err <= tol * scale[k])) {
        return `C[${i}][${j}] = ${got[k]}, reference ${ref[k]}: error ${err} > ${tol} × ${scale[k]}`;
      }
    }
  }
  const size = got.BYTES_PER_ELEMENT;
  const Ctor = got.constructor as Float64ArrayConstructor | Float32ArrayConstructor;
  const before = new Ctor(got.buffer as ArrayBuffer, 0, got.byteOffset / size);
  if (before.some((v) => v !== SENTINEL)) return 'memory before C changed';
  return undefined;
}
