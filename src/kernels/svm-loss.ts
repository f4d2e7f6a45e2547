import { zerosLike, type FloatArray } from './types.ts';

/**
 * Multiclass SVM hinge loss (cs231n svm_loss). x: (N, C) scores, y: (N) labels in [0, C).
 * loss = (1/N) Σₙ Σ_{c≠yₙ} max(0, x[n,c] − x[n,yₙ] + margin); dx: (N, C).
 * A margin of exactly 0 counts as inactive (gradient 0), as in cs231n's `margins > 0`.
 */
export function svmLoss<A extends FloatArray>(x: A, y: Int32Array, N: number, C: number, margin = 1): { loss: number; dx: A } {
  const dx = zerosLike(x, N * C);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const o = n * C;
    const correct = x[o + y[n]];
    let active = 0;
    for (let c = 0; c < C; c++) {
      if (c === y[n]) continue;
      const m = x[o + c] - correct + margin;
      if (m > 0) {
        loss += m;
        dx[o + c] = 1 / N;
        active++;
      }
    }
    dx[o + y[n]] = -active / N;
  }
  return { loss: loss / N, dx };
}
