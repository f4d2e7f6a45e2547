import type { GemmArgs } from './gemm-types.ts';

/**
 * Plain-JS GEMM for problems too small to pay for copying into wasm memory (and the fallback when
 * wasm SIMD is unavailable). Dot-product order with double accumulation, rounded once at the store:
 * it sums in the same order as gemmReference, so it matches it bit for bit.
 */
export function gemmSmall(g: GemmArgs): void {
  const { transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc } = g;
  const aRow = transA ? 1 : lda;
  const aStep = transA ? lda : 1;
  const bCol = transB ? ldb : 1;
  const bStep = transB ? 1 : ldb;
  for (let i = 0; i < M; i++) {
    const c0 = i * ldc;
    for (let j = 0; j < N; j++) {
      let s = 0;
      let a = i * aRow;
      let b = j * bCol;
      for (let p = 0; p < K; p++) {
        s += A[a] * B[b];
        a += aStep;
        b += bStep;
      }
      C[c0 + j] = beta === 0 ? s : C[c0 + j] + s;
    }
  }
}
