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
 * WebAssembly SIMD: the kernels then run their plain JS versions (../*-js.ts).
 */
import { gemmArena, type WasmArena } from '../gemm.ts';
import type { FloatArray } from '../types.ts';
import { takeArray } from '../buffers.ts';
import { loadWasmModule, WASM_BUILDS, type WasmBuild } from './loader.ts';
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
  bnRowAffineF32x4: Fn; bnRowGradF32x4: Fn;
  lnStatsF32: Fn; lnStatsF64: Fn;
  lnForwardF32: Fn; lnForwardF64: Fn;
  lnBackwardF32: Fn; lnBackwardF64: Fn;
  lnForwardF32x4: Fn; lnBackwardF32x4: Fn;
  planeAffineF32x4: Fn; planeAffineGradSumsF32x4: Fn; planeGradF32x4: Fn;
  bnFinalize: Fn; mulInto: Fn; f32Coefficients: Fn; bnGradCoefficients: Fn;
  maxPool2x2ForwardF32: Fn; maxPool2x2ForwardF64: Fn;
  maxPool2x2BackwardF32: Fn; maxPool2x2BackwardF64: Fn;
  avgPool2x2ForwardF32: Fn; avgPool2x2ForwardF64: Fn;
  avgPool2x2BackwardF32: Fn; avgPool2x2BackwardF64: Fn;
}

/**
 * Which build of the norm module runs (the kernel build, not to be confused with the mistake variants
 * of src/check/normalization.ts). Best first: the relaxed-SIMD build fuses the multiply-adds (x86 FMA:
 * one rounding instead of two, 10–15 % fewer instructions in these f64-bound loops); Node 20 needs
 * --experimental-wasm-relaxed-simd, which the loader sets. The pooling kernels are the same in both builds.
 */
export type NormBuild = WasmBuild;

export interface NormEngine {
  readonly k: NormExports;
  readonly arena: WasmArena;
  readonly build: NormBuild;
}

let engine: NormEngine | undefined;
let status: string | undefined;

/** This thread's engine, made on first use; undefined when unavailable (see normEngineStatus). */
export function normEngine(): NormEngine | undefined {
  if (status === undefined) {
    const reasons: string[] = [];
    for (const build of WASM_BUILDS) {
      try {
        engine = instantiate(build);
        status = build;
        break;
      } catch (e) {
        reasons.push((e as Error).message);
      }
    }
    status ??= reasons.join('; ');
  }
  return engine;
}

/** The builds this thread can load, best first (tests run the kernels on each). */
export function availableNormBuilds(): NormBuild[] {
  return WASM_BUILDS.filter((build) => loadWasmModule('norm', build).ok);
}

/** For tests: make this thread's engine the given build (undefined: back to the best one). */
export function useNormBuild(build: NormBuild | undefined): void {
  status = undefined;
  engine = undefined;
  if (build === undefined) return;
  engine = instantiate(build);
  status = build;
}

/** 'wasm-relaxed-simd' or 'wasm-simd', or why the JS versions run instead. */
export function normEngineStatus(): string {
  normEngine();
  return status!;
}

function instantiate(build: NormBuild): NormEngine {
  const loaded = loadWasmModule('norm', build);
  if (!loaded.ok) throw new Error(loaded.reason);
  const arena = gemmArena();
  const instance = new wasm!.Instance(loaded.module, { env: { memory: arena.memory } });
  return { k: instance.exports as unknown as NormExports, arena, build };
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
 * A standalone array of like's dtype whose contents are unspecified: the caller overwrites every
 * element before anyone sees it. Large ones come from this thread's buffer pool (../buffers.ts: warm
 * pages when the consumer recycles them; malloc'd, not zeroed, when not).
 */
export function uninitialized<A extends FloatArray>(like: A, length: number): A {
  return takeArray(like, length);
}

/** Bytes in which load and store addresses are compared for 4K aliasing (x86: address bits 0–11). */
const ALIAS_SPAN = 4096;

/** A block of `n` values that starts at `ptr`; `view()` reads the block's view again (after every alloc). */
export interface SkewedBlock<A extends FloatArray> {
  readonly ptr: number;
  view(): A;
}

/**
 * A block of n values placed so that its rows do not alias (modulo 4 KiB) the rows of the blocks at
 * `others` walked in step with it, rows `rowBytes` apart, up to 4 rows apart either way.
 *
 * Why: a row of 1024 float32 values is exactly 4 KiB, so chunks of whole rows allocated one after the
 * other put x[r][d], dout[r][d] and out[r][d] at the same address modulo 4096. A load whose address
 * matches an earlier in-flight store in bits 0–11 waits for it (4K aliasing), and the rows walked
 * together fall into the same L1 set: bnRowAffineF32x4 on (256, 1024) ran 69 µs, 36 µs at D = 1000.
 * The block gets up to 4 KiB of slack and starts at the offset farthest from every other row's.
 */
export function skewedBlock<D extends 'float32' | 'float64'>(
  arena: WasmArena, dtype: D, n: number, rowBytes: number, others: readonly number[],
): SkewedBlock<D extends 'float32' ? Float32Array : Float64Array> {
  const size = dtype === 'float32' ? 4 : 8;
  const block = arena.alloc(dtype, n + ALIAS_SPAN / size);
  // the addresses (mod 4 KiB) of the other blocks' rows, sorted; the block starts in the middle of
  // the widest gap between them, on a cache line (integer masks: this runs on every call)
  const taken: number[] = [];
  for (const o of others) for (let k = -4; k <= 4; k++) taken.push((o - k * rowBytes) & (ALIAS_SPAN - 1));
  taken.sort((a, b) => a - b);
  let target = 0;
  let widest = -1;
  for (let i = 0; i < taken.length; i++) {
    const from = taken[i];
    const gap = i + 1 < taken.length ? taken[i + 1] - from : taken[0] + ALIAS_SPAN - from;
    if (gap > widest) {
      widest = gap;
      target = (from + (gap >> 1)) & (ALIAS_SPAN - 1) & ~63;
    }
  }
  const best = others.length === 0 ? 0 : (target - block.byteOffset) & (ALIAS_SPAN - 1);
  const first = best / size;
  return {
    ptr: block.byteOffset + best,
    view: () => block.view.subarray(first, first + n) as D extends 'float32' ? Float32Array : Float64Array,
  };
}
