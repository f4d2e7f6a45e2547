import { zerosLike, type FloatArray } from './types.ts';

/**
 * Softmax cross-entropy (cs231n softmax_loss). x: (N, C) scores, y: (N) labels in [0, C).
 * loss = −(1/N) Σₙ log softmax(xₙ)[yₙ], with a stable log-sum-exp; dx: (N, C) = (softmax − onehot) / N.
 */
export function softmaxLoss<A extends FloatArray>(x: A, y: Int32Array, N: number, C: number): { loss: number; dx: A } {
  const dx = zerosLike(x, N * C);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const o = n * C;
    let max = -Infinity;
    for (let c = 0; c < C; c++) if (x[o + c] > max) max = x[o + c];
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(x[o + c] - max);
    const logSum = Math.log(sum);
    loss -= x[o + y[n]] - max - logSum;
    for (let c = 0; c < C; c++) {
      const p = Math.exp(x[o + c] - max - logSum);
      dx[o + c] = (p - (c === y[n] ? 1 : 0)) / N;
    }
  }
  return { loss: loss / N, dx };
}
