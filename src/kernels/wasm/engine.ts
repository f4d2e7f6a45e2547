/**
 * A GEMM engine: one backend (relaxed-SIMD wasm, plain-SIMD wasm or JS), one arena, for one thread.
 *
 * `gemm` takes ordinary typed arrays and copies them into the arena (correct for any inputs; tiny
 * problems stay in JS, where the copy would cost more than the multiply). `gemmInArena` takes blocks
 * that already live in the arena, so a caller that writes its operands there (im2col output, say) pays
 * no copy at all.
 *
 * The same wasm module also holds the conv helpers (im2col, col2im, depthwise, Winograd transforms):
 * ./conv-kernels.ts wraps them on this engine's instance (`exports`) and arena.
 */
import type { Dtype, FloatArray } from '../types.ts';
import type { GemmArgs } from '../gemm-types.ts';
import { gemmSmall } from '../gemm-small.ts';
import { ArenaBlock, WasmArena } from './arena.ts';
import { checkDims, checkOperand } from './checks.ts';
import { loadWasmModule, type WasmBuild } from './loader.ts';
import { newMemory, wasm } from './wasm-api.ts';

export type GemmBackend = WasmBuild | 'js';

/** Best first. */
export const GEMM_BACKENDS: readonly GemmBackend[] = ['wasm-relaxed-simd', 'wasm-simd', 'js'];

/**
 * Below this many multiply-adds (M·N·K) `gemm` stays in JS: copying into wasm memory and the call
 * cost more than they save (~0.45 µs a call). Measured with `npx tsx bench/gemm.ts --crossover`: JS won
 * up to 256 (32×4×2: 0.49 vs 0.58 µs), wasm from 512 (8³: 0.68 vs 0.51 µs), both dtypes.
 */
export const SMALL_GEMM_WORK = 384;

/** GemmArgs whose operands are arena blocks; offsets are in elements from the block start. */
export interface ArenaGemmArgs<D extends Dtype = Dtype> {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
  A: ArenaBlock<D>;
  aOffset?: number;
  lda: number;
  B: ArenaBlock<D>;
  bOffset?: number;
  ldb: number;
  beta: 0 | 1;
  C: ArenaBlock<D>;
  cOffset?: number;
  ldc: number;
}

interface GemmExports {
  workBytes(): number;
  gemmF32: WasmGemm;
  gemmF64: WasmGemm;
}
type WasmGemm = (
  transA: number, transB: number, M: number, N: number, K: number,
  A: number, lda: number, B: number, ldb: number, beta: number, C: number, ldc: number, work: number,
) => void;

export interface EngineOptions {
  /** Bytes to pre-touch at creation beyond the GEMM workspace. */
  initialArenaBytes?: number;
  /** gemm() stays in JS below this M·N·K (default SMALL_GEMM_WORK; tests set 0 to reach the kernels). */
  smallGemmWork?: number;
}

export class GemmEngine {
  readonly backend: GemmBackend;
  readonly arena: WasmArena;
  readonly #wasm: GemmExports | undefined;
  /** The wasm instance's exports (undefined on the 'js' backend): ./conv-kernels.ts calls its conv helpers. */
  readonly exports: Readonly<Record<string, unknown>> | undefined;
  /**
   * Byte address of the kernel workspace (bottom of the arena, workBytes() long on wasm backends): the
   * GEMM's packing buffers during a call, scratch for the Winograd F(4×4) transforms between calls.
   */
  readonly workAddress = 0;
  /** Bytes of that workspace (0 on the 'js' backend). */
  readonly workBytes: number;
  readonly #smallWork: number;

  constructor(backend: GemmBackend, options: EngineOptions = {}) {
    const extra = options.initialArenaBytes ?? 2 << 20;
    this.backend = backend;
    this.#smallWork = options.smallGemmWork ?? SMALL_GEMM_WORK;
    if (backend === 'js') {
      this.#wasm = undefined;
      this.exports = undefined;
      this.workBytes = 0;
      this.arena = new WasmArena({ initialBytes: extra });
      return;
    }
    const loaded = loadWasmModule('gemm', backend);
    if (!loaded.ok) throw new Error(`GEMM backend ${backend} unavailable: ${loaded.reason}`);
    const memory = newMemory();
    const instance = new wasm!.Instance(loaded.module, { env: { memory } });
    this.exports = instance.exports;
    this.#wasm = instance.exports as unknown as GemmExports;
    const reserved = this.#wasm.workBytes();
    this.workBytes = reserved;
    this.arena = new WasmArena({ memory, reservedBytes: reserved, initialBytes: reserved + extra });
  }

  /** C = op(A)·op(B) + beta·C on ordinary typed arrays (see GemmArgs). */
  gemm(g: GemmArgs): void {
    const dtype = checkArgs(g);
    const { M, N, K, beta, C, ldc } = g;
    if (M === 0 || N === 0) return;
    if (K === 0) {
      if (beta === 0) for (let i = 0; i < M; i++) C.fill(0, i * ldc, i * ldc + N);
      return;
    }
    if (this.#wasm === undefined || M * N * K < this.#smallWork) {
      gemmSmall(g);
      return;
    }
    const [aRows, aCols] = g.transA ? [K, M] : [M, K];
    const [bRows, bCols] = g.transB ? [N, K] : [K, N];
    this.arena.scope(() => {
      const a = this.arena.alloc(dtype, aRows * aCols);
      const b = this.arena.alloc(dtype, bRows * bCols);
      const c = this.arena.alloc(dtype, M * N);
      // Views only after the last alloc: an alloc may grow (and detach) the memory.
      copy2d(g.A, g.lda, aRows, aCols, a.view, aCols);
      copy2d(g.B, g.ldb, bRows, bCols, b.view, bCols);
      if (beta === 1) copy2d(C, ldc, M, N, c.view, N);
      this.#run(dtype, g.transA, g.transB, M, N, K, a.byteOffset, aCols, b.byteOffset, bCols, beta, c.byteOffset, N);
      copy2d(c.view, N, M, N, C, ldc);
    });
  }

  /** C = op(A)·op(B) + beta·C on arena blocks; never grows the memory, so views stay valid. */
  gemmInArena(g: ArenaGemmArgs): void {
    const { transA, transB, M, N, K, A, B, C, lda, ldb, ldc, beta } = g;
    const aOff = g.aOffset ?? 0;
    const bOff = g.bOffset ?? 0;
    const cOff = g.cOffset ?? 0;
    for (const blk of [A, B, C]) {
      if (blk.arena !== this.arena) throw new Error('gemmInArena: block from another arena');
      if (!blk.alive) throw new Error('gemmInArena: block used after its scope ended');
    }
    if (A.dtype !== C.dtype || B.dtype !== C.dtype) throw new TypeError('gemmInArena: A, B and C must share a dtype');
    checkDims(g);
    checkOperand('A', A.length - aOff, aOff, transA ? K : M, transA ? M : K, lda);
    checkOperand('B', B.length - bOff, bOff, transB ? N : K, transB ? K : N, ldb);
    checkOperand('C', C.length - cOff, cOff, M, N, ldc);
    if (M === 0 || N === 0) return;
    if (this.#wasm === undefined) {
      gemmSmall({
        transA, transB, M, N, K, beta, lda, ldb, ldc,
        A: A.view.subarray(aOff), B: B.view.subarray(bOff), C: C.view.subarray(cOff),
      });
      return;
    }
    const size = C.dtype === 'float32' ? 4 : 8;
    this.#run(
      C.dtype, transA, transB, M, N, K,
      A.byteOffset + aOff * size, lda, B.byteOffset + bOff * size, ldb, beta, C.byteOffset + cOff * size, ldc,
    );
  }

  /** Whether this engine runs wasm (false on the 'js' backend, which has no conv helpers either). */
  get hasWasm(): boolean {
    return this.#wasm !== undefined;
  }


  #run(
    dtype: Dtype, transA: boolean, transB: boolean, M: number, N: number, K: number,
    a: number, lda: number, b: number, ldb: number, beta: 0 | 1, c: number, ldc: number,
  ): void {
    const w = this.#wasm!;
    const f = dtype === 'float32' ? w.gemmF32 : w.gemmF64;
    f(transA ? 1 : 0, transB ? 1 : 0, M, N, K, a, lda, b, ldb, beta, c, ldc, this.workAddress);
  }
}

/** Engines this thread can run, best first ('js' always). */
export function availableGemmBackends(): GemmBackend[] {
  return GEMM_BACKENDS.filter((b) => b === 'js' || loadWasmModule('gemm', b).ok);
}

/** The best engine this thread can run. */
export function createBestGemmEngine(options?: EngineOptions): GemmEngine {
  return new GemmEngine(availableGemmBackends()[0], options);
}


/** Validates GemmArgs; returns the shared dtype. */
function checkArgs(g: GemmArgs): Dtype {
  const dtype = dtypeOf(g.C);
  if (dtypeOf(g.A) !== dtype || dtypeOf(g.B) !== dtype) throw new TypeError('gemm: A, B and C must share a dtype');
  checkDims(g);
  checkOperand('A', g.A.length, 0, g.transA ? g.K : g.M, g.transA ? g.M : g.K, g.lda);
  checkOperand('B', g.B.length, 0, g.transB ? g.N : g.K, g.transB ? g.K : g.N, g.ldb);
  checkOperand('C', g.C.length, 0, g.M, g.N, g.ldc);
  return dtype;
}

function dtypeOf(a: FloatArray): Dtype {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  throw new TypeError('gemm: operands must be Float32Array or Float64Array');
}

/** dst[r·ldd + c] = src[r·lds + c] for a rows×cols block. */
function copy2d(src: FloatArray, lds: number, rows: number, cols: number, dst: FloatArray, ldd: number): void {
  if (lds === cols && ldd === cols) {
    dst.set(src.subarray(0, rows * cols));
    return;
  }
  for (let r = 0; r < rows; r++) dst.set(src.subarray(r * lds, r * lds + cols), r * ldd);
}
