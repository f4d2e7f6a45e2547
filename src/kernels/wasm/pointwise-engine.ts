/**
 * The WebAssembly pointwise kernels, relu and the softmax loss (assembly/pointwise.ts →
 * build/pointwise-*.wasm), instantiated once per thread on the GEMM arena's memory (one arena per
 * thread). undefined when the module is missing or the runtime has no WebAssembly SIMD: ../relu.ts
 * and ../softmax-loss.ts then run their JS loops.
 */
import { gemmArena, type WasmArena } from '../gemm.ts';
import { loadWasmModule, WASM_BUILDS, type WasmBuild } from './loader.ts';
import { wasm } from './wasm-api.ts';

export interface PointwiseExports {
  softmaxRowsF32(x: number, y: number, dx: number, rows: number, C: number, scale: number, stats: number): void;
  softmaxRowsF64(x: number, y: number, dx: number, rows: number, C: number, scale: number, stats: number): void;
  /** exp of n (even) doubles ≤ 0 from src into dst, for tests */
  expF64(src: number, dst: number, n: number): void;
  reluForwardF32(x: number, out: number, n: number): void;
  reluForwardF64(x: number, out: number, n: number): void;
  reluBackwardF32(x: number, dout: number, dx: number, n: number): void;
  reluBackwardF64(x: number, dout: number, dx: number, n: number): void;
}

export interface PointwiseEngine {
  readonly k: PointwiseExports;
  readonly arena: WasmArena;
  readonly build: WasmBuild;
}

let engine: PointwiseEngine | undefined;
let tried = false;

export function pointwiseEngine(): PointwiseEngine | undefined {
  if (!tried) {
    tried = true;
    for (const build of WASM_BUILDS) {
      const loaded = loadWasmModule('pointwise', build);
      if (!loaded.ok) continue;
      const arena = gemmArena();
      const instance = new wasm!.Instance(loaded.module, { env: { memory: arena.memory } });
      engine = { k: instance.exports as unknown as PointwiseExports, arena, build };
      break;
    }
  }
  return engine;
}
