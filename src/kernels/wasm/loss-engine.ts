/**
 * The WebAssembly softmax kernel (assembly/softmax.ts → build/loss-*.wasm), instantiated once per
 * thread on the GEMM arena's memory (one arena per thread). undefined when the module is missing or
 * the runtime has no WebAssembly SIMD: ../softmax-loss.ts then runs its JS loop.
 */
import { gemmArena, type WasmArena } from '../gemm.ts';
import { loadWasmModule, WASM_BUILDS, type WasmBuild } from './loader.ts';
import { wasm } from './wasm-api.ts';

export interface LossExports {
  softmaxRowsF32(x: number, y: number, dx: number, rows: number, C: number, scale: number, stats: number): void;
  softmaxRowsF64(x: number, y: number, dx: number, rows: number, C: number, scale: number, stats: number): void;
  /** exp of n (even) doubles ≤ 0 from src into dst, for tests */
  expF64(src: number, dst: number, n: number): void;
}

export interface LossEngine {
  readonly k: LossExports;
  readonly arena: WasmArena;
  readonly build: WasmBuild;
}

let engine: LossEngine | undefined;
let tried = false;

export function lossEngine(): LossEngine | undefined {
  if (!tried) {
    tried = true;
    for (const build of WASM_BUILDS) {
      const loaded = loadWasmModule('loss', build);
      if (!loaded.ok) continue;
      const arena = gemmArena();
      const instance = new wasm!.Instance(loaded.module, { env: { memory: arena.memory } });
      engine = { k: instance.exports as unknown as LossExports, arena, build };
      break;
    }
  }
  return engine;
}
