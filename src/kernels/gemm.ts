/**
 * This thread's GEMM: the engine is made at module load (WebAssembly SIMD with relaxed-SIMD FMA if V8
 * takes it, else plain SIMD, else JS). Each worker thread that imports this module gets its own
 * instance and arena. The oracle is ./reference/gemm.ts; the argument type is ./gemm-types.ts.
 */
import type { GemmArgs } from './gemm-types.ts';
import { createBestGemmEngine, type ArenaGemmArgs, type GemmBackend, type GemmEngine } from './wasm/engine.ts';
import type { WasmArena } from './wasm/arena.ts';

export type { GemmArgs } from './gemm-types.ts';
export type { ArenaGemmArgs, GemmBackend } from './wasm/engine.ts';
export type { ArenaBlock, WasmArena } from './wasm/arena.ts';

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

/** This thread's engine (./conv/ wraps its conv helpers: ./wasm/conv-kernels.ts). */
export function gemmEngine(): GemmEngine {
  return engine;
}
