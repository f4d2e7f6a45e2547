import { floatArraysIn } from '../kernels/buffers.ts';

/**
 * Request bodies in shared memory, reused across requests.
 *
 * Why shared: a worker reads a body's tensors in place, and a request split across the pool sends
 * each part views of the same body (its slice of x and dout, the whole w): shared memory crosses
 * threads without a copy, where an ArrayBuffer would be copied whole for each view or detached.
 * Why reused: a fresh multi-megabyte buffer costs a page fault per 4 KiB on its first write (~2.3 µs
 * each here: 3.5 ms for conv A's 6 MiB float32 body) and its release drives the garbage collector
 * ("external memory pressure" collections of 5–9 ms were logged on the main thread and the workers).
 *
 * Ownership: the thread that takes a slab gives it back only when no thread can still touch it. The
 * main thread gives a body back once its request's work has settled on the pool; a request whose
 * work was cancelled (client gone, time limit) keeps its slab out of the pool for good: a worker may
 * still be reading or writing it, and the garbage collector frees it once every thread let go.
 *
 * Slabs come in power-of-two sizes from MIN_SLAB_BYTES; idle ones are bounded (maxIdleBytes in all,
 * maxPerClass per size) and none larger than maxSlabBytes is kept.
 */
export const MIN_SLAB_BYTES = 64 * 1024;

export interface SlabPoolOptions {
  maxIdleBytes?: number;
  maxPerClass?: number;
  maxSlabBytes?: number;
}

export interface SlabStats {
  hits: number;
  misses: number;
  returned: number;
  dropped: number;
  idleBytes: number;
}

const sizeClass = (bytes: number) => Math.max(MIN_SLAB_BYTES, 2 ** Math.ceil(Math.log2(Math.max(1, bytes))));

export class SlabPool {
  readonly #idle = new Map<number, SharedArrayBuffer[]>();
  readonly #out = new WeakSet<SharedArrayBuffer>();
  readonly #maxIdleBytes: number;
  readonly #maxPerClass: number;
  readonly #maxSlabBytes: number;
  readonly stats: SlabStats = { hits: 0, misses: 0, returned: 0, dropped: 0, idleBytes: 0 };

  constructor(options: SlabPoolOptions = {}) {
    this.#maxIdleBytes = options.maxIdleBytes ?? 128 << 20;
    this.#maxPerClass = options.maxPerClass ?? 2;
    this.#maxSlabBytes = options.maxSlabBytes ?? 64 << 20;
  }

  /** A shared buffer of at least `bytes` bytes (its contents are whatever the last user left). */
  take(bytes: number): SharedArrayBuffer {
    const size = sizeClass(bytes);
    const slab = this.#idle.get(size)?.pop();
    if (slab) {
      this.stats.hits++;
      this.stats.idleBytes -= size;
    } else this.stats.misses++;
    const taken = slab ?? new SharedArrayBuffer(size);
    this.#out.add(taken);
    return taken;
  }

  /** Gives a slab back for the next taker. Anything this pool did not hand out, or got back already, is ignored. */
  give(slab: SharedArrayBuffer): void {
    if (!this.#out.has(slab)) return;
    this.#out.delete(slab);
    const size = slab.byteLength;
    const list = this.#idle.get(size) ?? [];
    if (size > this.#maxSlabBytes || list.length >= this.#maxPerClass || this.stats.idleBytes + size > this.#maxIdleBytes) {
      this.stats.dropped++;
      return;
    }
    list.push(slab);
    this.#idle.set(size, list);
    this.stats.idleBytes += size;
    this.stats.returned++;
  }
}

/**
 * Answer bytes a worker lends the main thread, in shared memory reused across requests: the worker
 * writes an answer into a loan, the main thread writes it to the socket and then frees it
 * (`returnLoan`) with one atomic store: no message goes back. A loan's slab starts with two words,
 * a state (1 out, 0 free) and a mark that tells loans from any other shared memory.
 *
 * The worker keeps at most maxPerClass slabs of a size; past that (every one out, e.g. answers
 * still queued for slow clients) a loan is a slab of its own that nobody reuses.
 */
const LOAN_HEADER = 8;
const LOAN_MARK = 0x4c6f616e; // "Loan"
const OUT = 1;
const FREE = 0;

export class LoanPool {
  readonly #bySize = new Map<number, SharedArrayBuffer[]>();
  readonly #maxPerClass: number;
  readonly #maxSlabBytes: number;
  readonly stats = { hits: 0, misses: 0 };

  constructor(options: { maxPerClass?: number; maxSlabBytes?: number } = {}) {
    this.#maxPerClass = options.maxPerClass ?? 2;
    this.#maxSlabBytes = options.maxSlabBytes ?? 64 << 20;
  }

  /** `bytes` bytes to write an answer into; below MIN_SLAB_BYTES, or above the largest slab kept, a plain buffer. */
  take(bytes: number): Uint8Array {
    const size = sizeClass(bytes + LOAN_HEADER);
    if (bytes < MIN_SLAB_BYTES || size > this.#maxSlabBytes) return new Uint8Array(bytes);
    const list = this.#bySize.get(size) ?? [];
    for (const slab of list) {
      if (Atomics.compareExchange(new Int32Array(slab, 0, 1), 0, FREE, OUT) === FREE) {
        this.stats.hits++;
        return new Uint8Array(slab, LOAN_HEADER, bytes);
      }
    }
    this.stats.misses++;
    const slab = new SharedArrayBuffer(size);
    const words = new Int32Array(slab, 0, 2);
    words[1] = LOAN_MARK;
    Atomics.store(words, 0, OUT);
    if (list.length < this.#maxPerClass) this.#bySize.set(size, [...list, slab]);
    return new Uint8Array(slab, LOAN_HEADER, bytes);
  }
}

/** This thread's loans: answers (src/tensors/frame.ts) and split parts' results (src/pool/worker.ts). */
export const threadLoans = new LoanPool();

/** The main thread is done with an answer's bytes (the socket took them, or the connection is gone): the worker may reuse them. */
export function returnLoan(bytes: Uint8Array): void {
  if (!(bytes.buffer instanceof SharedArrayBuffer) || bytes.byteOffset !== LOAN_HEADER) return;
  const words = new Int32Array(bytes.buffer, 0, 2);
  if (words[1] === LOAN_MARK) Atomics.store(words, 0, FREE);
}

/** Split parts' results come back as loans (src/pool/worker.ts): once merged, their workers may reuse the memory. */
export function returnLoans(results: unknown): void {
  for (const a of floatArraysIn(results)) returnLoan(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}
