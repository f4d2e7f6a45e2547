/**
 * The WebAssembly SIMD normalization and 2x2 pooling kernels (assembly/norm.ts, assembly/pool.ts →
 * build/norm-simd.wasm), instantiated once per thread on the GEMM arena's memory, so they share its
 * pre-touched pages (one arena per thread, not two).
 *
 * How the kernels use it (src/kernels/batchnorm.ts, layernorm.ts, max-pool.ts, avg-pool.ts): inside
 * `arena.scope`, allocate blocks for a chunk of whole planes or rows, copy each chunk of the inputs in
 * (`view.set(input.subarray(…))`), call the kernel on byte offsets, copy the chunk of each result out
 * into the output array. Outputs are ordinary standalone typed arrays (`uninitialized`), never views
 * of wasm memory. Batchnorm needs its statistics before it can normalize, so it sweeps the data more
 * than once: when the whole tensor fits in one chunk it is copied in once and stays ("resident").
 *
 * `normEngine()` is undefined when the module is missing (run `npm run build:wasm`) or the runtime has no
 * WebAssembly SIMD: the kernels then run their plain JS versions (src/kernels/reference/).
 */
import { gemmArena, type WasmArena } from '../gemm.ts';
import type { FloatArray } from '../types.ts';
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { wasm } from './wasm-api.ts';

type Fn = (...args: number[]) => void;

/** The module's exports (see assembly/norm.ts and assembly/pool.ts for the contracts). */
export interface NormExports {
  bnPlaneStatsF32: Fn; bnPlaneStatsF64: Fn;
  bnPlaneAffineF32: Fn; bnPlaneAffineF64: Fn;
  bnPlaneGradSumsF32: Fn; bnPlaneGradSumsF64: Fn;
  bnPlaneAffineGradSumsF32: Fn; bnPlaneAffineGradSumsF64: Fn;
  bnPlaneGradF32: Fn; bnPlaneGradF64: Fn;
  bnRowStatsF32: Fn; bnRowStatsF64: Fn;
  bnRowAffineF32: Fn; bnRowAffineF64: Fn;
  bnRowGradSumsF32: Fn; bnRowGradSumsF64: Fn;
  bnRowGradF32: Fn; bnRowGradF64: Fn;
  lnStatsF32: Fn; lnStatsF64: Fn;
  lnForwardF32: Fn; lnForwardF64: Fn;
  lnBackwardF32: Fn; lnBackwardF64: Fn;
  maxPool2x2ForwardF32: Fn; maxPool2x2ForwardF64: Fn;
  maxPool2x2BackwardF32: Fn; maxPool2x2BackwardF64: Fn;
  avgPool2x2ForwardF32: Fn; avgPool2x2ForwardF64: Fn;
  avgPool2x2BackwardF32: Fn; avgPool2x2BackwardF64: Fn;
}

export type NormVariant = 'wasm-relaxed-simd' | 'wasm-simd';

export interface NormEngine {
  readonly k: NormExports;
  readonly arena: WasmArena;
  readonly variant: NormVariant;
}

/**
 * Best first. The relaxed-SIMD build fuses the multiply-adds (x86 FMA: one rounding instead of two,
 * 10–15 % fewer instructions in these f64-bound loops); Node 20 needs --experimental-wasm-relaxed-simd,
 * which the loader sets as it does for the GEMM. The pooling kernels are the same in both builds.
 */
const VARIANTS: readonly { variant: NormVariant; file: string }[] = [
  { variant: 'wasm-relaxed-simd', file: 'norm-relaxed-simd.wasm' },
  { variant: 'wasm-simd', file: 'norm-simd.wasm' },
];

let engine: NormEngine | undefined;
let status: string | undefined;

/** This thread's engine, made on first use; undefined when unavailable (see normEngineStatus). */
export function normEngine(): NormEngine | undefined {
  if (status === undefined) {
    const reasons: string[] = [];
    for (const { variant, file } of VARIANTS) {
      try {
        engine = instantiate(variant, file);
        status = variant;
        break;
      } catch (e) {
        reasons.push((e as Error).message);
      }
    }
    status ??= reasons.join('; ');
  }
  return engine;
}

/** The variants this thread can load, best first (tests run the kernels on each). */
export function availableNormVariants(): NormVariant[] {
  return VARIANTS.filter(({ variant, file }) => {
    try {
      instantiate(variant, file);
      return true;
    } catch {
      return false;
    }
  }).map(({ variant }) => variant);
}

/** For tests: make this thread's engine the given variant (undefined: back to the best one). */
export function useNormVariant(variant: NormVariant | undefined): void {
  status = undefined;
  engine = undefined;
  if (variant === undefined) return;
  const file = VARIANTS.find((v) => v.variant === variant)!.file;
  engine = instantiate(variant, file);
  status = variant;
}

/** 'wasm-relaxed-simd' or 'wasm-simd', or why the JS versions run instead. */
export function normEngineStatus(): string {
  normEngine();
  return status!;
}

function instantiate(variant: NormVariant, file: string): NormEngine {
  if (wasm === undefined) throw new Error('no WebAssembly');
  const url = new URL(`./build/${file}`, import.meta.url);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(url);
  } catch {
    throw new Error(`${url.pathname} missing: run npm run build:wasm`);
  }
  if (!wasm.validate(bytes) && variant === 'wasm-relaxed-simd') {
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      // a V8 without the flag: the validation below says no
    }
  }
  if (!wasm.validate(bytes)) throw new Error(`${file}: not supported by this V8`);
  const arena = gemmArena();
  const instance = new wasm.Instance(new wasm.Module(bytes), { env: { memory: arena.memory } });
  return { k: instance.exports as unknown as NormExports, arena, variant };
}

/**
 * Units (planes or rows of `unitElements` values) per chunk so that a chunk holds at most
 * `capElements` values, and at least one unit; 0 when a single unit is larger than the cap (the
 * caller then runs its JS version rather than grow the arena past the cap).
 */
export function unitsPerChunk(units: number, unitElements: number, capElements: number): number {
  if (unitElements > capElements) return 0;
  if (unitElements === 0) return Math.max(1, units);
  return Math.max(1, Math.min(units, Math.floor(capElements / unitElements)));
}

/**
 * A new standalone array of like's dtype whose contents are unspecified: the caller overwrites every
 * element before anyone sees it. Large ones skip calloc's zeroing (malloc'd memory that the allocator
 * hands back warm costs one write pass less than a zeroed one).
 */
export function uninitialized<A extends FloatArray>(like: A, length: number): A {
  const f32 = like instanceof Float32Array;
  const bytes = length * (f32 ? 4 : 8);
  if (bytes < 1 << 16) return (f32 ? new Float32Array(length) : new Float64Array(length)) as A;
  const buffer = Buffer.allocUnsafeSlow(bytes).buffer as ArrayBuffer;
  return (f32 ? new Float32Array(buffer, 0, length) : new Float64Array(buffer, 0, length)) as A;
}
