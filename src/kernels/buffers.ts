/**
 * A bounded, per-thread pool of output buffers by size class, so that a thread serving one request
 * after another writes its results into pages it has already touched.
 *
 * Why: a fresh multi-megabyte array is a fresh mmap in glibc, and the first write to each 4 KiB page
 * costs a minor page fault (~2.3 µs here, wasm/README.md): conv A's float32 output alone is 1024 pages,
 * 2.4 ms, about a tenth of the whole kernel. The kernels take their large outputs here (`takeArray`);
 * whoever consumes a result inside this thread (the worker's encoder, a test, a bench) gives the arrays
 * back with `recycle` once nothing reads them any more. Arrays that leave the thread (transferred:
 * their buffer is detached) or are never given back simply fall to the garbage collector, which is
 * today's behaviour: recycling is an optimisation the caller opts into, never a requirement.
 *
 * Rules:
 * - Only arrays this pool handed out, and each at most once per take, are taken back; anything else
 *   (a detached buffer, a foreign array, a second recycle) is ignored, so a mistaken call cannot put a
 *   buffer in two hands.
 * - A recycled array must not be read or written afterwards: its memory goes to the next taker.
 * - Buffers are kept by exact byte length and the array handed out covers its whole buffer (a
 *   standalone array, as `new Float32Array(n)` gives: `.buffer` may be transferred or wrapped whole).
 *   A service answering the same shapes again (a training loop, a benchmark) hits every time.
 * - Idle memory is bounded (maxIdleBytes, maxPerClass buffers per length); a recycle that would go
 *   over evicts the least recently used lengths first.
 * - Below MIN_POOLED_BYTES arrays are plain `new Float32Array(n)` (small allocations come from warm
 *   malloc bins; no faults to save).
 */
import type { Dtype, FloatArray } from './types.ts';

/** Smaller outputs are not pooled. */
export const MIN_POOLED_BYTES = 1 << 16;

export interface BufferPoolOptions {
  /** Upper bound on the bytes held idle by this thread (default 96 MiB). */
  maxIdleBytes?: number;
  /** Upper bound on idle buffers of one byte length (default 4). */
  maxPerClass?: number;
}

export interface BufferPoolStats {
  /** takes served from an idle buffer */
  hits: number;
  /** takes that allocated */
  misses: number;
  /** buffers taken back */
  recycled: number;
  /** recycle calls ignored (not ours, detached, twice) or dropped over the bounds */
  ignored: number;
  idleBytes: number;
}

let maxIdleBytes = 96 << 20;
let maxPerClass = 4;
const idle = new Map<number, ArrayBuffer[]>();
/** Buffers handed out and not yet given back. */
const lent = new WeakSet<ArrayBuffer>();
const stats: BufferPoolStats = { hits: 0, misses: 0, recycled: 0, ignored: 0, idleBytes: 0 };

/** Sets the bounds (tests, benches); idle buffers over the new bounds are dropped. */
export function configureBufferPool(options: BufferPoolOptions): void {
  maxIdleBytes = options.maxIdleBytes ?? maxIdleBytes;
  maxPerClass = options.maxPerClass ?? maxPerClass;
  for (const [size, list] of idle) {
    while (list.length > maxPerClass) {
      list.pop();
      stats.idleBytes -= size;
    }
  }
  evict(maxIdleBytes);
}

/** Counters since the thread started (or the last reset). */
export function bufferPoolStats(): BufferPoolStats {
  return { ...stats };
}

/** Drops every idle buffer and zeroes the counters (tests). */
export function resetBufferPool(): void {
  idle.clear();
  Object.assign(stats, { hits: 0, misses: 0, recycled: 0, ignored: 0, idleBytes: 0 });
}

/**
 * An array of `length` elements of the dtype (or of `like`'s dtype). With `zero` its elements are 0;
 * without, they are unspecified and the caller must overwrite every one before anyone reads it.
 */
export function takeArray<A extends FloatArray>(like: A | Dtype, length: number, zero = false): A {
  const f32 = typeof like === 'string' ? like === 'float32' : like instanceof Float32Array;
  const bytes = length * (f32 ? 4 : 8);
  if (bytes < MIN_POOLED_BYTES) return (f32 ? new Float32Array(length) : new Float64Array(length)) as A;
  let buffer = idle.get(bytes)?.pop();
  if (buffer !== undefined) {
    stats.hits++;
    stats.idleBytes -= bytes;
  } else {
    stats.misses++;
    // malloc'd, not zeroed (calloc's zeroing would touch every page once more for nothing when the
    // caller overwrites them all)
    buffer = Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
  }
  lent.add(buffer);
  const a = (f32 ? new Float32Array(buffer) : new Float64Array(buffer)) as A;
  if (zero) a.fill(0);
  return a;
}

/**
 * Gives arrays back once nothing reads them any more (see the file comment). Undefined entries,
 * small arrays, detached or foreign buffers are ignored.
 */
/**
 * Every float typed array in a value (a kernel result: out, grads, state, …; or a list of them),
 * walking plain objects and arrays a few levels deep.
 */
export function floatArraysIn(value: unknown, out: FloatArray[] = [], depth = 0): FloatArray[] {
  if (value === null || typeof value !== 'object' || depth > 6) return out;
  if (value instanceof Float32Array || value instanceof Float64Array) out.push(value);
  else if (!ArrayBuffer.isView(value)) for (const v of Object.values(value)) floatArraysIn(v, out, depth + 1);
  return out;
}

/** Gives back every array of a value this pool lent (see floatArraysIn); the rest is ignored. */
export function recycleAll(value: unknown): void {
  recycle(...floatArraysIn(value));
}

export function recycle(...arrays: readonly (FloatArray | undefined)[]): void {
  for (const a of arrays) {
    if (a === undefined || a.byteLength < MIN_POOLED_BYTES) continue;
    const buffer = a.buffer as ArrayBuffer;
    if (!lent.has(buffer) || buffer.byteLength === 0) {
      stats.ignored++;
      continue;
    }
    lent.delete(buffer);
    const size = buffer.byteLength;
    if (size > maxIdleBytes) {
      stats.ignored++;
      continue;
    }
    if ((idle.get(size)?.length ?? 0) >= maxPerClass) {
      stats.ignored++;
      continue;
    }
    evict(maxIdleBytes - size);
    // (re-)inserted last: the Map's order is least recently used first
    const list = idle.get(size) ?? [];
    idle.delete(size);
    idle.set(size, list);
    list.push(buffer);
    stats.idleBytes += size;
    stats.recycled++;
  }
}

/** Drops idle buffers, least recently used lengths first, until at most `bytes` are idle. */
function evict(bytes: number): void {
  for (const [size, list] of idle) {
    while (list.length > 0 && stats.idleBytes > bytes) {
      list.pop();
      stats.idleBytes -= size;
    }
    if (list.length === 0) idle.delete(size);
    if (stats.idleBytes <= bytes) return;
  }
}
