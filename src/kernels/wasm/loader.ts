/**
 * The one loader of the kernels' WebAssembly modules: finds and compiles them, synchronously, in
 * whichever thread imports this (the GEMM/conv module for ./engine.ts, the normalization/pooling module
 * for ./norm-engine.ts).
 *
 * The .wasm files are build outputs of `npm run build:wasm` (scripts/build-wasm.mjs): it writes them
 * to src/kernels/wasm/build/ and `npm run build` copies them to dist/kernels/wasm/build/, so "beside
 * this file, in build/" works both from src/ (vitest, tsx) and from dist/ (node).
 *
 * Each module is built twice: with relaxed SIMD (fused multiply-adds) and plain SIMD. Relaxed SIMD is
 * behind `--experimental-wasm-relaxed-simd` on Node 20 (on by default from Node 22): if the relaxed
 * module does not validate, set the flag (process-wide, harmless to repeat in every worker) and try
 * again; V8 reads it when compiling.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { wasm, type WasmModule } from './wasm-api.ts';

/** Which build of a module: with relaxed-SIMD FMA, or plain SIMD. Best first. */
export type WasmBuild = 'wasm-relaxed-simd' | 'wasm-simd';
export const WASM_BUILDS: readonly WasmBuild[] = ['wasm-relaxed-simd', 'wasm-simd'];

/** The modules: 'gemm' (GEMM, im2col/col2im, depthwise, Winograd transforms), 'norm' (normalization and 2x2 pooling), 'pointwise' (relu, softmax loss). */
export type WasmModuleName = 'gemm' | 'norm' | 'pointwise';

export type LoadResult = { ok: true; module: WasmModule } | { ok: false; reason: string };

const cache = new Map<string, LoadResult>();

/** build/gemm-simd.wasm, build/norm-relaxed-simd.wasm, … */
export function wasmFileName(name: WasmModuleName, build: WasmBuild): string {
  return `${name}-${build.slice('wasm-'.length)}.wasm`;
}

/** The compiled module, or why it cannot be had. Cached per thread. */
export function loadWasmModule(name: WasmModuleName, build: WasmBuild): LoadResult {
  const key = `${name}/${build}`;
  let r = cache.get(key);
  if (r === undefined) {
    r = compile(wasmFileName(name, build), build);
    cache.set(key, r);
  }
  return r;
}

function compile(file: string, build: WasmBuild): LoadResult {
  if (wasm === undefined) return { ok: false, reason: 'no WebAssembly' };
  const url = new URL(`./build/${file}`, import.meta.url);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(url);
  } catch {
    return { ok: false, reason: `${url.pathname} missing: run npm run build:wasm` };
  }
  if (!wasm.validate(bytes) && build === 'wasm-relaxed-simd') {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // A V8 without the flag: fall through to the validation below.
    }
  }
  if (!wasm.validate(bytes)) return { ok: false, reason: `${file}: ${build} not supported by this V8` };
  try {
    return { ok: true, module: new wasm.Module(bytes) };
  } catch (e) {
    return { ok: false, reason: `${file}: ${(e as Error).message}` };
  }
}
