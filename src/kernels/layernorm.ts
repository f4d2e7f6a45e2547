import type { FloatArray, Tensor } from './types.ts';
import type { LayernormOptions, LayernormCache, LayernormForward, LayernormGrads, LayernormForwardBackward } from './normalization-types.ts';
import { zerosLike } from './types.ts';
import { layernormBackwardJs, layernormForwardJs } from './layernorm-js.ts';
import { normEngine, skewedBlock, uninitialized, unitsPerChunk } from './wasm/norm-engine.ts';

/**
 * Layer normalization (cs231n `layernorm_forward` / `layernorm_backward`), over the last axis.
 *
 * x has rank >= 2 and is treated as rows × D, rows = the product of the leading dimensions.
 * Forward: x (…, D), gamma (D), beta (D) →
 *   out = gamma · (x − mean) / sqrt(var + eps) + beta    (…, D)
 *   with mean and the biased var per row over its D values. Identical in train and test.
 * Backward, dout (…, D) → dx (…, D), dgamma (D), dbeta (D), in closed form per row:
 *   dx = invstd · (dy − mean(dy) − xhat · mean(dy · xhat)),  dy = dout · gamma
 *   dgamma = Σ_rows dout · xhat,  dbeta = Σ_rows dout.
 *
 * Numerics: per-row statistics in float64, never E[x²] − E[x]²: the WebAssembly path sums blocks of at
 * most 4096 values shifted by their first value and merges blocks pairwise (see `batchnorm.ts`); the
 * JS path (layernorm-js.ts: small tensors, no wasm) is the corrected two-pass one. float32 on the wasm
 * path: the statistics and the backward's sums (Σ dout·gamma, Σ dout·gamma·(x − mean), dgamma, dbeta)
 * are float64; the elementwise passes (out, dx) run in f32x4 with the row's mean split hi + lo and
 * invstd rounded to float32 once (worst error a few float32 roundings of the terms' magnitude:
 * test/kernels/normalization-accuracy.test.ts prints it). D = 1 gives var 0, out = beta, dx = 0.
 *
 * Speed: rows are independent, so the wasm path streams chunks of whole rows (64 KiB of x each, or
 * one row up to 256 KiB, so a chunk and its results stay in L1/L2) through the thread's arena once: statistics and the
 * normalized row while the row is in L1. `layernormForwardBackward` (the service's path when dout is
 * sent) does the forward and the backward of each row in one visit.
 *
 * The cache keeps references to x and gamma (no copies): do not mutate them before backward.
 */

export type { LayernormOptions, LayernormCache, LayernormForward, LayernormGrads, LayernormForwardBackward } from './normalization-types.ts';

/** Below this many values the JS versions run (the wasm path's fixed cost is a few µs). */
export const LAYERNORM_MIN_WASM_ELEMENTS = 2048;

/**
 * Bytes of x per streamed chunk of rows. The forward + backward holds four blocks of a chunk (x, dout,
 * out, dx): (256, 1024) float32, five alternating runs, 64 KiB chunks 0.435-0.462 ms, 256 KiB
 * 0.476-0.496 ms; the forward and float64 within noise of each other.
 */
const CHUNK_BYTES = 1 << 16;
/** A row larger than this runs in JS (the arena is not grown for one row). */
const MAX_ROW_BYTES = 1 << 18;

/** For tests: force the wasm path and its chunking on small tensors. */
export interface LayernormStreamOptions {
  /** Values of x per chunk (default 64 KiB worth, or one row up to 256 KiB). */
  capElements?: number;
}

/** Layernorm forward on x (…, D), rank >= 2. */
export function layernormForward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: LayernormOptions,
): LayernormForward<A> {
  if (x.data.length >= LAYERNORM_MIN_WASM_ELEMENTS) {
    const fast = layernormForwardWasm(x, gamma, beta, options);
    if (fast) return fast;
  }
  return layernormForwardJs(x, gamma, beta, options);
}

/** Layernorm backward: dout (…, D) → dx (…, D), dgamma (D), dbeta (D). */
export function layernormBackward<A extends FloatArray>(dout: Tensor<A>, cache: LayernormCache<A>): LayernormGrads<A> {
  if (cache.x.length >= LAYERNORM_MIN_WASM_ELEMENTS) {
    const fast = layernormBackwardWasm(dout, cache);
    if (fast) return fast;
  }
  return layernormBackwardJs(dout, cache);
}

/** Forward and backward in one call (what the service runs when dout is sent). */
export function layernormForwardBackward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  dout: Tensor<A>,
  options: LayernormOptions,
): LayernormForwardBackward<A> {
  if (x.data.length >= LAYERNORM_MIN_WASM_ELEMENTS) {
    const fast = layernormForwardBackwardWasm(x, gamma, beta, dout, options);
    if (fast) return fast;
  }
  const fwd = layernormForwardJs(x, gamma, beta, options);
  return { ...fwd, ...layernormBackwardJs(dout, fwd.cache) };
}

// ---- the WebAssembly path ---------------------------------------------------------------------------

function geometry(x: Tensor, gamma: FloatArray, beta: FloatArray): { rows: number; D: number } {
  if (x.shape.length < 2) throw new RangeError(`layernorm: x must have rank >= 2, got [${x.shape}]`);
  const D = x.shape[x.shape.length - 1];
  const rows = D === 0 ? 0 : x.data.length / D;
  if (!Number.isInteger(rows) || rows * D !== x.data.length) throw new RangeError('layernorm: x data does not fit its shape');
  if (gamma.length !== D || beta.length !== D) throw new RangeError(`layernorm: gamma and beta must have length ${D}`);
  return { rows, D };
}

function checkDout(g: FloatArray, x: FloatArray, total: number): void {
  if (g.length !== total) throw new RangeError(`layernorm: dout has ${g.length} values, x has ${total}`);
  if (g.constructor !== x.constructor) throw new TypeError('layernorm: dout must have the dtype of x');
}

/** Rows per chunk, or 0 when the wasm path does not apply. */
function rowsPerChunk(x: FloatArray, rows: number, D: number, stream: LayernormStreamOptions): number {
  if (rows === 0 || D === 0) return 0;
  const size = x instanceof Float32Array ? 4 : 8;
  const cap = stream.capElements ?? Math.max(CHUNK_BYTES / size, Math.min(D, MAX_ROW_BYTES / size));
  return unitsPerChunk(rows, D, cap);
}

/** Calls visit(r0, r1) for each chunk of rows. */
function eachChunk(rows: number, per: number, visit: (r0: number, r1: number) => void): void {
  for (let r0 = 0; r0 < rows; r0 += per) visit(r0, Math.min(rows, r0 + per));
}

/** The forward on the wasm kernels; undefined when they cannot run it (no module, a row too large). */
export function layernormForwardWasm<A extends FloatArray>(
  x: Tensor<A>, gamma: A, beta: A, options: LayernormOptions, stream: LayernormStreamOptions = {},
): LayernormForward<A> | undefined {
  const eng = normEngine();
  const { rows, D } = geometry(x, gamma, beta);
  const xd = x.data;
  const per = rowsPerChunk(xd, rows, D, stream);
  if (!eng || per === 0) return undefined;
  const f32 = xd instanceof Float32Array;
  const { k, arena } = eng;
  const out = uninitialized(xd, xd.length);
  const mean = new Float64Array(rows);
  const invstd = new Float64Array(rows);
  arena.scope(() => {
    const xb = arena.alloc(f32 ? 'float32' : 'float64', per * D);
    const yb = skewedBlock(arena, f32 ? 'float32' : 'float64', per * D, D * xd.BYTES_PER_ELEMENT, [xb.byteOffset]);
    // gamma | beta | mean | invstd; float32: gamma | beta as float32 in cf for the f32x4 pass
    const pb = arena.alloc('float64', 2 * D + 2 * per);
    const cf = f32 ? arena.alloc('float32', 2 * D) : undefined;
    const [xv, yv, pv] = [xb.view, yb.view(), pb.view];
    pv.set(gamma, 0);
    pv.set(beta, D);
    cf?.view.set(gamma, 0);
    cf?.view.set(beta, D);
    const at = (i: number) => pb.byteOffset + 8 * i;
    eachChunk(rows, per, (r0, r1) => {
      const n = r1 - r0;
      xv.set(xd.subarray(r0 * D, r1 * D));
      if (cf) k.lnForwardF32x4(xb.byteOffset, yb.ptr, n, D, options.eps, cf.byteOffset, at(2 * D), at(2 * D + per));
      else k.lnForwardF64(xb.byteOffset, yb.ptr, n, D, options.eps, at(0), at(D), at(2 * D), at(2 * D + per));
      out.set(yv.subarray(0, n * D), r0 * D);
      mean.set(pv.subarray(2 * D, 2 * D + n), r0);
      invstd.set(pv.subarray(2 * D + per, 2 * D + per + n), r0);
    });
  });
  return {
    out: { shape: x.shape.slice(), data: out },
    cache: { shape: x.shape.slice(), rows, D, x: xd, gamma, mean, invstd },
  };
}

/** The backward on the wasm kernels; undefined when they cannot run it. */
export function layernormBackwardWasm<A extends FloatArray>(
  dout: Tensor<A>, cache: LayernormCache<A>, stream: LayernormStreamOptions = {},
): LayernormGrads<A> | undefined {
  const { rows, D, x, gamma, mean, invstd } = cache;
  const eng = normEngine();
  const per = rowsPerChunk(x, rows, D, stream);
  if (!eng || per === 0) return undefined;
  const g = dout.data;
  checkDout(g, x, rows * D);
  const f32 = x instanceof Float32Array;
  const { k, arena } = eng;
  const dx = uninitialized(x, x.length);
  const dgamma = zerosLike(x, D);
  const dbeta = zerosLike(x, D);
  arena.scope(() => {
    const dtype = f32 ? 'float32' : 'float64';
    const rowBytes = D * x.BYTES_PER_ELEMENT;
    const xb = arena.alloc(dtype, per * D);
    const gb = skewedBlock(arena, dtype, per * D, rowBytes, [xb.byteOffset]);
    const yb = skewedBlock(arena, dtype, per * D, rowBytes, [xb.byteOffset, gb.ptr]);
    // gamma | dgamma | dbeta | mean | invstd; float32: gamma also as float32 in cf (beta's half unused)
    const pb = arena.alloc('float64', 3 * D + 2 * per);
    const cf = f32 ? arena.alloc('float32', 2 * D) : undefined;
    const [xv, gv, yv, pv] = [xb.view, gb.view(), yb.view(), pb.view];
    cf?.view.set(gamma, 0);
    pv.set(gamma, 0);
    pv.fill(0, D, 3 * D);
    const at = (i: number) => pb.byteOffset + 8 * i;
    eachChunk(rows, per, (r0, r1) => {
      const n = r1 - r0;
      xv.set(x.subarray(r0 * D, r1 * D));
      gv.set(g.subarray(r0 * D, r1 * D));
      pv.set(mean.subarray(r0, r1), 3 * D);
      pv.set(invstd.subarray(r0, r1), 3 * D + per);
      if (cf) k.lnBackwardF32x4(gb.ptr, xb.byteOffset, yb.ptr, 0, n, D, at(0), cf.byteOffset, at(3 * D), at(3 * D + per), at(D), at(2 * D));
      else k.lnBackwardF64(gb.ptr, xb.byteOffset, yb.ptr, 0, n, D, at(0), 0, at(3 * D), at(3 * D + per), at(D), at(2 * D));
      dx.set(yv.subarray(0, n * D), r0 * D);
    });
    dgamma.set(pv.subarray(D, 2 * D));
    dbeta.set(pv.subarray(2 * D, 3 * D));
  });
  return { dx: { shape: cache.shape.slice(), data: dx }, dgamma, dbeta };
}

/** Forward + backward on the wasm kernels, one visit per row; undefined when they cannot run it. */
export function layernormForwardBackwardWasm<A extends FloatArray>(
  x: Tensor<A>, gamma: A, beta: A, dout: Tensor<A>, options: LayernormOptions, stream: LayernormStreamOptions = {},
): LayernormForwardBackward<A> | undefined {
  const eng = normEngine();
  const { rows, D } = geometry(x, gamma, beta);
  const xd = x.data;
  const per = rowsPerChunk(xd, rows, D, stream);
  if (!eng || per === 0) return undefined;
  const g = dout.data;
  checkDout(g, xd, rows * D);
  const f32 = xd instanceof Float32Array;
  const { k, arena } = eng;
  const out = uninitialized(xd, xd.length);
  const dx = uninitialized(xd, xd.length);
  const mean = new Float64Array(rows);
  const invstd = new Float64Array(rows);
  const dgamma = zerosLike(xd, D);
  const dbeta = zerosLike(xd, D);
  arena.scope(() => {
    const dtype = f32 ? 'float32' : 'float64';
    const rowBytes = D * xd.BYTES_PER_ELEMENT;
    const xb = arena.alloc(dtype, per * D);
    const gb = skewedBlock(arena, dtype, per * D, rowBytes, [xb.byteOffset]);
    const ob = skewedBlock(arena, dtype, per * D, rowBytes, [xb.byteOffset, gb.ptr]);
    const db = skewedBlock(arena, dtype, per * D, rowBytes, [xb.byteOffset, gb.ptr, ob.ptr]);
    // gamma | beta | dgamma | dbeta | mean | invstd; float32: gamma | beta as float32 in cf
    const pb = arena.alloc('float64', 4 * D + 2 * per);
    const cf = f32 ? arena.alloc('float32', 2 * D) : undefined;
    const [xv, gv, ov, dv, pv] = [xb.view, gb.view(), ob.view(), db.view(), pb.view];
    cf?.view.set(gamma, 0);
    cf?.view.set(beta, D);
    pv.set(gamma, 0);
    pv.set(beta, D);
    pv.fill(0, 2 * D, 4 * D);
    const at = (i: number) => pb.byteOffset + 8 * i;
    eachChunk(rows, per, (r0, r1) => {
      const n = r1 - r0;
      xv.set(xd.subarray(r0 * D, r1 * D));
      gv.set(g.subarray(r0 * D, r1 * D));
      (f32 ? k.lnStatsF32 : k.lnStatsF64)(xb.byteOffset, n, D, options.eps, at(4 * D), at(4 * D + per));
      if (cf) {
        k.lnBackwardF32x4(gb.ptr, xb.byteOffset, db.ptr, ob.ptr, n, D, at(0), cf.byteOffset, at(4 * D), at(4 * D + per), at(2 * D), at(3 * D));
      } else {
        k.lnBackwardF64(gb.ptr, xb.byteOffset, db.ptr, ob.ptr, n, D, at(0), at(D), at(4 * D), at(4 * D + per), at(2 * D), at(3 * D));
      }
      out.set(ov.subarray(0, n * D), r0 * D);
      dx.set(dv.subarray(0, n * D), r0 * D);
      mean.set(pv.subarray(4 * D, 4 * D + n), r0);
      invstd.set(pv.subarray(4 * D + per, 4 * D + per + n), r0);
    });
    dgamma.set(pv.subarray(2 * D, 3 * D));
    dbeta.set(pv.subarray(3 * D, 4 * D));
  });
  return {
    out: { shape: x.shape.slice(), data: out },
    cache: { shape: x.shape.slice(), rows, D, x: xd, gamma, mean, invstd },
    dx: { shape: x.shape.slice(), data: dx },
    dgamma,
    dbeta,
  };
}
