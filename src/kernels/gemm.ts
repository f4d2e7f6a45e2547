import type { FloatArray } from './types.ts';

/**
 * C = op(A) · op(B) + beta · C, row-major, BLAS-style (beta is 0 or 1).
 * op(A) is M×K (A is M×K with leading dimension lda, or K×M when transA);
 * op(B) is K×N (B is K×N with ldb, or N×K when transB); C is M×N with ldc.
 * A, B and C must share a dtype. Use `subarray` for offsets.
 *
 * This is the plain reference; the fast implementations must agree with it.
 */
export interface GemmArgs<A extends FloatArray = FloatArray> {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  A: A;
  lda: number;
  B: A;
  ldb: number;
  beta: 0 | 1;
  C: A;
  ldc: number;
}

export function gemmReference(g: GemmArgs): void {
  const { transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc } = g;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) {
        const a = transA ? A[p * lda + i] : A[i * lda + p];
        const b = transB ? B[j * ldb + p] : B[p * ldb + j];
        s += a * b;
      }
      C[i * ldc + j] = beta === 0 ? s : C[i * ldc + j] + s;
    }
  }
}

/** The GEMM the kernels call. Swapped for a faster implementation in one place. */
export function gemm(g: GemmArgs): void {
  gemmReference(g);
}
