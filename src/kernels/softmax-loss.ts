import { zerosLike, type FloatArray } from './types.ts';
import { takeArray } from './buffers.ts';
import { pointwiseEngine } from './wasm/pointwise-engine.ts';

/**
 * Softmax cross-entropy (cs231n softmax_loss). x: (N, C) scores, y: (N) labels in [0, C).
 * loss = −(1/N) Σₙ log softmax(xₙ)[yₙ], with a stable log-sum-exp; dx: (N, C) = (softmax − onehot) / N.
 *
 * Runs in WebAssembly SIMD (wasm/assembly/softmax.ts: a two-lane exp, one per score) on blocks of
 * whole rows copied through this thread's arena; softmaxLossJs (Math.exp, twice per score) is the
 * fallback and the reference the tests hold it to.
 */
export function softmaxLoss<A extends FloatArray>(x: A, y: Int32Array, N: number, C: number): { loss: number; dx: A } {
  const engine = pointwiseEngine();
  if (!engine || N * C === 0) return softmaxLossJs(x, y, N, C);
  const { k, arena } = engine;
  const f32 = x instanceof Float32Array;
  const dx = takeArray(x, N * C);
  // Blocks of about 32 K values: the scores, their exps and dx stay in cache between the passes.
  const per = Math.max(1, Math.floor(32768 / C));
  let loss = 0;
  arena.scope(() => {
    const dtype = f32 ? 'float32' : 'float64';
    const xb = arena.alloc(dtype, per * C);
    const gb = arena.alloc(dtype, per * C);
    // labels as i32, in a float32 block of the same byte size; each row's max and Σ exp(x − max) back
    const yb = arena.alloc('float32', per);
    const sb = arena.alloc('float64', 2 * per);
    const run = f32 ? k.softmaxRowsF32 : k.softmaxRowsF64;
    for (let n0 = 0; n0 < N; n0 += per) {
      const rows = Math.min(per, N - n0);
      xb.view.set(x.subarray(n0 * C, (n0 + rows) * C));
      new Int32Array(arena.memory.buffer, yb.byteOffset, rows).set(y.subarray(n0, n0 + rows));
      run(xb.byteOffset, yb.byteOffset, gb.byteOffset, rows, C, 1 / N, sb.byteOffset);
      const stats = sb.view;
      for (let r = 0; r < rows; r++) loss += Math.log(stats[2 * r + 1]) - (x[(n0 + r) * C + y[n0 + r]] - stats[2 * r]);
      dx.set(gb.view.subarray(0, rows * C), n0 * C);
    }
  });
  return { loss: loss / N, dx };
}

/** The same in JavaScript (Math.exp): the fallback without WebAssembly SIMD, and the tests' reference. */
export function softmaxLossJs<A extends FloatArray>(x: A, y: Int32Array, N: number, C: number): { loss: number; dx: A } {
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
