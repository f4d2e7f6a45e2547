import { gemm } from './gemm.ts';
import { zerosLike, type FloatArray } from './types.ts';

/**
 * Fully connected layer (cs231n affine_forward / affine_backward).
 * x: (N, D) — any (N, d1..dk) flattened row-major to D = d1·…·dk; w: (D, M); b: (M).
 * out = x·w + b: (N, M).
 */
export function affineForward<A extends FloatArray>(x: A, w: A, b: A, N: number, D: number, M: number): A {
  const out = zerosLike(x, N * M);
  for (let i = 0; i < N; i++) out.set(b, i * M);
  gemm({ transA: false, transB: false, M: N, N: M, K: D, A: x, lda: D, B: w, ldb: M, beta: 1, C: out, ldc: M });
  return out;
}

/** dout: (N, M) → dx (N, D) = dout·wᵀ, dw (D, M) = xᵀ·dout, db (M) = Σₙ dout. */
export function affineBackward<A extends FloatArray>(
  x: A, w: A, dout: A, N: number, D: number, M: number,
): { dx: A; dw: A; db: A } {
  const dx = zerosLike(x, N * D);
  const dw = zerosLike(x, D * M);
  gemm({ transA: false, transB: true, M: N, N: D, K: M, A: dout, lda: M, B: w, ldb: M, beta: 0, C: dx, ldc: D });
  gemm({ transA: true, transB: false, M: D, N: M, K: N, A: x, lda: D, B: dout, ldb: M, beta: 0, C: dw, ldc: M });
  const acc = new Float64Array(M);
  for (let i = 0; i < N; i++) for (let j = 0; j < M; j++) acc[j] += dout[i * M + j];
  const db = zerosLike(x, M);
  db.set(acc);
  return { dx, dw, db };
}
