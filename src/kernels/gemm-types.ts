import type { FloatArray } from './types.ts';

/**
 * C = op(A) · op(B) + beta · C, row-major, BLAS-style (beta is 0 or 1).
 * op(A) is M×K (A is M×K with leading dimension lda, or K×M when transA);
 * op(B) is K×N (B is K×N with ldb, or N×K when transB); C is M×N with ldc.
 * A, B and C must share a dtype. Use `subarray` for offsets.
 *
 * Shared by the GEMMs (./gemm.ts, ./gemm-small.ts, ./wasm/engine.ts) and their oracle (./reference/gemm.ts).
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
