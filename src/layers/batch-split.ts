import { takeArray } from '../kernels/buffers.ts';
import { concatenationOf } from '../tensors/frame.ts';
import type { FloatArray, Tensor } from '../kernels/types.ts';
import type { LayerResult, LayerTask } from './types.ts';

/**
 * Splitting one request across the worker pool along the batch axis N: x and dout are cut into
 * contiguous slices of whole samples, every other input goes to each part. Forward outputs and
 * dx concatenate back; gradients of shared inputs (w, b) are partial sums to be added.
 *
 * Parts read tensors that live in shared memory (a request body, src/pool/slabs.ts) as views: every
 * worker sees the same bytes, nothing is copied. Anything else is copied into a buffer of the part's
 * own, which is then handed over whole (a view of a larger ArrayBuffer would be copied whole by
 * postMessage). Parts only read their inputs.
 */
export function splitBatch<P>(task: LayerTask<P>, parts: number): LayerTask<P>[] {
  const N = task.inputs.x.shape[0];
  const k = Math.min(parts, N);
  const tasks: LayerTask<P>[] = [];
  for (let p = 0; p < k; p++) {
    const from = Math.floor((p * N) / k);
    const to = Math.floor(((p + 1) * N) / k);
    const inputs: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(task.inputs)) inputs[name] = name === 'x' ? rows(t, from, to) : { shape: t.shape, data: partOf(t.data, 0, t.data.length) };
    tasks.push({ ...task, inputs, dout: task.dout && rows(task.dout, from, to) });
  }
  return tasks;
}

/** Elements [from, to) of `data` for a part: a view when the memory is shared, else a copy of their own. */
export function partOf<A extends FloatArray>(data: A, from: number, to: number): A {
  return (data.buffer instanceof SharedArrayBuffer ? data.subarray(from, to) : data.slice(from, to)) as A;
}

function rows(t: Tensor, from: number, to: number): Tensor {
  const per = t.data.length / t.shape[0];
  return { shape: [to - from, ...t.shape.slice(1)], data: partOf(t.data, from * per, to * per) };
}

/** The inverse of splitBatch: concatenate `out` and batch-shaped grads, sum the grads named in `summed`. */
export function mergeBatch(results: LayerResult[], summed: readonly string[]): LayerResult {
  const first = results[0];
  const merged: LayerResult = {};
  if (first.out) merged.out = concatParts(results.map((r) => r.out!));
  if (first.grads) {
    merged.grads = {};
    for (const name of Object.keys(first.grads)) {
      const parts = results.map((r) => r.grads![name]);
      merged.grads[name] = summed.includes(name) ? sum(parts) : concatParts(parts);
    }
  }
  return merged;
}

let standIns = false;

/**
 * Runs f (a merge, then the binary encoding of its result) with concatenations left unbuilt: each is
 * an empty stand-in whose parts the binary section takes in order (concatenationOf, src/tensors/frame.ts),
 * one copy of the answer instead of two. Only for encoders that never read the merged values.
 */
export function withUnbuiltConcatenations<T>(f: () => T): T {
  standIns = true;
  try {
    return f();
  } finally {
    standIns = false;
  }
}

/**
 * The parts' tensors one after the other, along the first axis (or flat, given `shape`). The result
 * comes from this thread's buffer pool: the worker that encodes the merged answer gives it back.
 */
export function concatParts(parts: Tensor[], shape?: number[]): Tensor {
  const total = parts.reduce((a, t) => a + t.data.length, 0);
  const whole = shape ?? [parts.reduce((a, t) => a + t.shape[0], 0), ...parts[0].shape.slice(1)];
  if (standIns) return { shape: whole, data: concatenationOf(parts[0].data, parts.map((t) => t.data)) };
  const data = takeArray(parts[0].data, total);
  let o = 0;
  for (const t of parts) {
    data.set(t.data, o);
    o += t.data.length;
  }
  return { shape: whole, data };
}

function sum(parts: Tensor[]): Tensor {
  // Accumulate in double, round once: float32 partial sums stay as accurate as one pass.
  const acc = new Float64Array(parts[0].data.length);
  for (const t of parts) for (let i = 0; i < acc.length; i++) acc[i] += t.data[i];
  const data = new (parts[0].data.constructor as Float64ArrayConstructor)(acc.length);
  data.set(acc);
  return { shape: parts[0].shape, data };
}
