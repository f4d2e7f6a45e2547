/**
 * Finds and compiles the GEMM WebAssembly modules, synchronously, in whichever thread imports this.
 *
 * The .wasm files are build outputs of `npm run build:wasm` (scripts/build-wasm.mjs): it writes them
 * to src/kernels/wasm/build/ and `npm run build` copies them to dist/kernels/wasm/build/, so "beside
 * this file, in build/" works both from src/ (vitest, tsx) and from dist/ (node).
 *
 * Relaxed SIMD (FMA) is behind `--experimental-wasm-relaxed-simd` on Node 20 (on by default from
 * Node 22): if the relaxed module does not validate, set the flag (process-wide, harmless to repeat
 * in every worker) and try again; V8 reads it when compiling.
 */
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { wasm, type WasmModule } from './wasm-api.ts';

export type GemmVariant = 'wasm-relaxed-simd' | 'wasm-simd';

const FILES: Record<GemmVariant, string> = {
  'wasm-relaxed-simd': 'gemm-relaxed-simd.wasm',
  'wasm-simd': 'gemm-simd.wasm',
};

export type LoadResult = { ok: true; module: WasmModule } | { ok: false; reason: string };

const cache = new Map<GemmVariant, LoadResult>();

/** The compiled module of a variant, or why it cannot be had. Cached per thread. */
export function loadGemmModule(variant: GemmVariant): LoadResult {
  let r = cache.get(variant);
  if (r === undefined) {
    r = compile(variant);
    cache.set(variant, r);
  }
  return r;
}

function compile(variant: GemmVariant): LoadResult {
  if (wasm === undefined) return { ok: false, reason: 'no WebAssembly' };
  const url = new URL(`./build/${FILES[variant]}`, import.meta.url);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(url);
  } catch {
    return { ok: false, reason: `${url.pathname} missing: run npm run build:wasm` };
  }
  if (!wasm.validate(bytes) && variant === 'wasm-relaxed-simd') {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // A V8 without the flag: fall through to the validation below.
    }
  }
  if (!wasm.validate(bytes)) return { ok: false, reason: `${variant} not supported by this V8` };
  try {
    return { ok: true, module: new wasm.Module(bytes) };
  } catch (e) {
    return { ok: false, reason: `${variant}: ${(e as Error).message}` };
  }
}
