import type { FloatArray } from './types.ts';
import {
  createBestGemmEngine, type ArenaGemmArgs, type Col2imGeometry, type DepthwiseGeometry, type GemmBackend,
} from './wasm/engine.ts';
import type { ArenaBlock, WasmArena } from './wasm/arena.ts';
import type { GemmEngine } from './wasm/engine.ts';

export type { ArenaGemmArgs, Col2imGeometry, DepthwiseGeometry, GemmBackend, WinogradBand } from './wasm/engine.ts';
export type { ArenaBlock, WasmArena } from './wasm/arena.ts';

/**
 * C = op(A) · op(B) + beta · C, row-major, BLAS-style (beta is 0 or 1).
 * op(A) is M×K (A is M×K with leading dimension lda, or K×M when transA);
 * op(B) is K×N (B is K×N with ldb, or N×K when transB); C is M×N with ldc.
 * A, B and C must share a dtype. Use `subarray` for offsets.
 *
 * This is the plain reference; the fast implementations must agree with it.
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

export function gemmReference(g: GemmArgs): void {
  const { transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc } = g;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) {
        const a = transA ? A[p * lda + i] : A[i * lda + p];
        const b = transB ? B[j * ldb + p] : B[p * ldb + j];
        s += a * b;
      }
      C[i * ldc + j] = beta === 0 ? s : C[i * ldc + j] + s;
    }
  }
}

/**
 * This thread's engine, made at module load: WebAssembly SIMD with relaxed-SIMD FMA if V8 takes it,
 * else plain SIMD, else JS. Each worker thread that imports this module gets its own instance and arena.
 */
const engine = createBestGemmEngine();

/**
 * The GEMM the kernels call: same contract as gemmReference. Operands are copied into wasm memory (for
 * M·N·K < SMALL_GEMM_WORK it stays in plain JS). float32 accumulates in float32 on the wasm path.
 */
export function gemm(g: GemmArgs): void {
  engine.gemm(g);
}

/** Which implementation gemm() runs in this thread. */
export function gemmBackend(): GemmBackend {
  return engine.backend;
}

/**
 * This thread's arena: allocate operands in it (inside `arena.scope`) and call gemmInArena to skip
 * the copies gemm() makes. Works with every backend (on 'js' the blocks are plain memory).
 */
export function gemmArena(): WasmArena {
  return engine.arena;
}

/** GEMM on blocks of gemmArena(); offsets in elements. Never grows the arena, so views stay valid. */
export function gemmInArena(g: ArenaGemmArgs): void {
  engine.gemmInArena(g);
}

/** Whether this thread's engine has the wasm helpers below (false on the 'js' backend). */
export function hasWasmHelpers(): boolean {
  return engine.hasWasm;
}

/** conv's col2im on arena blocks: dx (C×H×W at dxOffset) += col2im(dcol) for output rows [oh0, oh1). Wasm only. */
export function col2imInArena(g: Col2imGeometry, oh0: number, oh1: number, dcol: ArenaBlock, dx: ArenaBlock, dxOffset = 0): void {
  engine.col2imInArena(g, oh0, oh1, dcol, dx, dxOffset);
}

/** dst[dstOffset + r] += Σ_{j < cols} src[srcOffset + r·ld + j] in double (dst float64). Wasm only. */
export function rowSumsInArena(
  src: ArenaBlock, srcOffset: number, rows: number, cols: number, ld: number, dst: ArenaBlock<'float64'>, dstOffset = 0,
): void {
  engine.rowSumsInArena(src, srcOffset, rows, cols, ld, dst, dstOffset);
}

/** Depthwise conv forward on arena blocks (see GemmEngine.depthwiseForwardInArena). Wasm only. */
export function depthwiseForwardInArena(
  g: DepthwiseGeometry, channels: number, x: ArenaBlock, w: ArenaBlock, wOffset: number, b: ArenaBlock, bOffset: number,
  out: ArenaBlock,
): void {
  engine.depthwiseForwardInArena(g, channels, x, w, wOffset, b, bOffset, out);
}

/** Depthwise conv backward on arena blocks (see GemmEngine.depthwiseBackwardInArena). Wasm only. */
export function depthwiseBackwardInArena(
  g: DepthwiseGeometry, channels: number, x: ArenaBlock, w: ArenaBlock, wOffset: number, dout: ArenaBlock,
  dx: ArenaBlock, dwAcc: ArenaBlock<'float64'>, dwOffset: number,
): void {
  engine.depthwiseBackwardInArena(g, channels, x, w, wOffset, dout, dx, dwAcc, dwOffset);
}

/** This thread's engine, for the helpers that have no wrapper here (Winograd transforms, plane copies). */
export function gemmEngine(): GemmEngine {
  return engine;
}
