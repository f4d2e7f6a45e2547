import type { GemmArgs } from '../gemm-types.ts';

/** The plain GEMM (see GemmArgs): the oracle the fast implementations are tested against. */
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
