/**
 * A long-lived, growable, pre-touched bump arena in one WebAssembly.Memory (one per thread).
 *
 * Why: the first write to a fresh wasm page costs ~13 µs per 4 KiB here (PERFORMANCE.md), so memory is
 * touched once, when it grows, and then reused by every request the thread serves.
 *
 * Rules that keep views honest (growing a wasm memory detaches its old ArrayBuffer, and a typed array
 * over a detached buffer silently reads undefined and drops writes):
 * - `alloc` only works inside `scope(fn)`; every block allocated there is freed when `fn` returns or
 *   throws, and a freed block's `view` throws.
 * - The memory grows only inside `alloc` (or `reserve`). Never keep a typed array from `block.view`
 *   across a later `alloc`: read `block.view` again (it is cached, so this is cheap). Simplest: allocate
 *   every block first, then take views. `gemmInArena` never grows memory.
 * - Blocks are addressed by `byteOffset`, which never changes; that is what the wasm kernels take.
 */
import type { Dtype, FloatArray } from '../types.ts';
import { newMemory, type WasmMemory } from './wasm-api.ts';

export type ArrayOf<D extends Dtype> = D extends 'float32' ? Float32Array : Float64Array;

const PAGE = 65536;
/** Blocks start on cache-line boundaries. */
const ALIGN = 64;
/** Linux page: the unit of first-touch cost. */
const OS_PAGE = 4096;

export class ArenaBlock<D extends Dtype = Dtype> {
  #arena: WasmArena;
  #alive = true;
  #cache: ArrayOf<D> | undefined;

  /** @internal created by WasmArena.alloc */
  constructor(
    arena: WasmArena,
    readonly dtype: D,
    /** Byte address in the arena's memory; stable for the block's life. */
    readonly byteOffset: number,
    /** Length in elements. */
    readonly length: number,
  ) {
    this.#arena = arena;
  }

  /** A typed array over the block, valid until the next `alloc` on this arena. */
  get view(): ArrayOf<D> {
    if (!this.#alive) throw new Error('ArenaBlock used after its scope ended');
    const buffer = this.#arena.memory.buffer;
    if (this.#cache === undefined || this.#cache.buffer !== buffer) {
      const Ctor = this.dtype === 'float32' ? Float32Array : Float64Array;
      this.#cache = new Ctor(buffer, this.byteOffset, this.length) as ArrayOf<D>;
    }
    return this.#cache;
  }

  get arena(): WasmArena {
    return this.#arena;
  }

  get alive(): boolean {
    return this.#alive;
  }

  /** @internal */
  kill(): void {
    this.#alive = false;
    this.#cache = undefined;
  }
}

export interface ArenaOptions {
  /** The memory to manage (e.g. one a wasm instance imports); a new one by default. */
  memory?: WasmMemory;
  /** Bytes at the bottom kept for the owner (the GEMM workspace); never handed out by alloc. */
  reservedBytes?: number;
  /** Bytes to grow to and pre-touch at creation (including reservedBytes). */
  initialBytes?: number;
}

export class WasmArena {
  readonly memory: WasmMemory;
  /** First byte handed out by alloc; below it lies the owner's reserved region. */
  readonly base: number;
  #top: number;
  #blocks: ArenaBlock[] = [];
  #depth = 0;

  constructor(options: ArenaOptions = {}) {
    const reserved = roundUp(options.reservedBytes ?? 0, ALIGN);
    this.memory = options.memory ?? newMemory();
    this.base = reserved;
    this.#top = reserved;
    this.reserve(Math.max(reserved, options.initialBytes ?? 0));
  }

  /** Bytes currently backed (and pre-touched). */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /** Bytes in use by live blocks. */
  get used(): number {
    return this.#top - this.base;
  }

  /** Grows (and touches) the memory so that `bytes` bytes exist. May detach existing views. */
  reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    // Grow by at least half again, so a slowly growing workload does not touch pages over and over.
    const want = Math.max(bytes, have + (have >> 1));
    const pages = Math.min(65536, Math.ceil(want / PAGE)) - have / PAGE;
    if (have / PAGE + pages < Math.ceil(bytes / PAGE)) throw new RangeError(`arena cannot hold ${bytes} bytes`);
    this.memory.grow(pages);
    const fresh = new Uint8Array(this.memory.buffer, have);
    for (let i = 0; i < fresh.length; i += OS_PAGE) fresh[i] = 0;
  }

  /** Runs fn; every block allocated inside is freed when it returns or throws. Nests. */
  scope<T>(fn: () => T): T {
    const top = this.#top;
    const count = this.#blocks.length;
    this.#depth++;
    try {
      return fn();
    } finally {
      this.#depth--;
      for (let i = count; i < this.#blocks.length; i++) this.#blocks[i].kill();
      this.#blocks.length = count;
      this.#top = top;
    }
  }

  /** n elements of dtype, 64-byte aligned, contents unspecified. Only inside scope(). May grow memory. */
  alloc<D extends Dtype>(dtype: D, n: number): ArenaBlock<D> {
    if (this.#depth === 0) throw new Error('WasmArena.alloc outside arena.scope()');
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`bad element count ${n}`);
    const bytes = n * (dtype === 'float32' ? 4 : 8);
    const offset = this.#top;
    const end = roundUp(offset + bytes, ALIGN);
    this.reserve(end);
    this.#top = end;
    const block = new ArenaBlock(this, dtype, offset, n);
    this.#blocks.push(block);
    return block;
  }

  /** A block holding a copy of `src` (dtype from its type). */
  copyIn<A extends FloatArray>(src: A): ArenaBlock<A extends Float32Array ? 'float32' : 'float64'> {
    const dtype = (src instanceof Float32Array ? 'float32' : 'float64') as A extends Float32Array ? 'float32' : 'float64';
    const block = this.alloc(dtype, src.length);
    block.view.set(src);
    return block;
  }
}

function roundUp(x: number, m: number): number {
  return Math.ceil(x / m) * m;
}
