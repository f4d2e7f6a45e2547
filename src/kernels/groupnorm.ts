import type { FloatArray, Tensor } from './types.ts';
import type { GroupnormOptions, GroupnormCache, GroupnormForward, GroupnormGrads, GroupnormForwardBackward } from './normalization-types.ts';
import { zerosLike } from './types.ts';
import { groupnormBackwardJs, groupnormForwardJs } from './groupnorm-js.ts';
import { normEngine, uninitialized, unitsPerChunk, type NormEngine } from './wasm/norm-engine.ts';

/**
 * Spatial group normalization, layer `spatial-groupnorm` (cs231n `spatial_groupnorm_forward` /
 * `_backward`, PyTorch `F.group_norm`).
 *
 * Forward: x (N, C, H, W), gamma (C), beta (C), G groups dividing C →
 *   out (N, C, H, W) = gamma[c] · (x − mean[n, g]) / sqrt(var[n, g] + eps) + beta[c]
 *   with the mean and biased var of each (n, g) over its L = (C/G)·H·W values; channel c is in
 *   group g = floor(c / (C/G)). Identical in train and test. In NCHW the L values of a group are
 *   one contiguous block, so each (n, g) is a "row" as in layernorm, with gamma, beta per channel.
 * Backward, dout (N, C, H, W) → dx (N, C, H, W), dgamma (C), dbeta (C), in closed form per (n, g):
 *   dx = invstd · (dy − mean(dy) − xhat · mean(dy · xhat)),  dy = dout · gamma[c]
 *   dgamma[c] = Σ_{n,h,w} dout · xhat,  dbeta[c] = Σ_{n,h,w} dout.
 *
 * Numerics: statistics in float64 per (n, g), never E[x²] − E[x]²: the WebAssembly path sums blocks of
 * at most 4096 values shifted by their first value and merges them pairwise (see `batchnorm.ts`); the
 * JS path (groupnorm-js.ts: small tensors, no wasm) is the corrected two-pass one. float32
 * inputs are computed in doubles and rounded once at the store. L = 1 gives var 0, out = beta, dx = 0.
 *
 * Speed: each (n, g) is one contiguous block of L values, so the wasm path streams chunks of whole
 * groups (at most 256 KiB of x) through the arena once, with the layernorm row statistics and the
 * spatial batchnorm per-plane kernels (each plane (n, c) gets its own coefficients).
 * `groupnormForwardBackward` (the service's path when dout is sent) does both in one visit per chunk.
 *
 * The cache keeps references to x and gamma (no copies): do not mutate them before backward.
 */

export type { GroupnormOptions, GroupnormCache, GroupnormForward, GroupnormGrads, GroupnormForwardBackward } from './normalization-types.ts';

/** Below this many values the JS versions run (the wasm path's fixed cost is a few µs). */
export const GROUPNORM_MIN_WASM_ELEMENTS = 2048;

/** Bytes of x per streamed chunk of groups; a group larger than this runs in JS. */
const CHUNK_BYTES = 1 << 18;

/** For tests: force the wasm path and its chunking on small tensors. */
export interface GroupnormStreamOptions {
  /** Values of x per chunk (default 256 KiB worth). */
  capElements?: number;
}

/** Spatial groupnorm forward on x (N, C, H, W). */
export function groupnormForward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: GroupnormOptions,
): GroupnormForward<A> {
  if (x.data.length >= GROUPNORM_MIN_WASM_ELEMENTS) {
    const fast = groupnormWasm(x, gamma, beta, undefined, options);
    if (fast) return fast;
  }
  return groupnormForwardJs(x, gamma, beta, options);
}

/** Spatial groupnorm backward: dout (N, C, H, W) → dx (N, C, H, W), dgamma (C), dbeta (C). */
export function groupnormBackward<A extends FloatArray>(dout: Tensor<A>, cache: GroupnormCache<A>): GroupnormGrads<A> {
  if (cache.x.length >= GROUPNORM_MIN_WASM_ELEMENTS) {
    const fast = groupnormBackwardWasm(dout, cache);
    if (fast) return fast;
  }
  return groupnormBackwardJs(dout, cache);
}

/** Forward and backward in one call (what the service runs when dout is sent). */
export function groupnormForwardBackward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  dout: Tensor<A>,
  options: GroupnormOptions,
): GroupnormForwardBackward<A> {
  if (x.data.length >= GROUPNORM_MIN_WASM_ELEMENTS) {
    const fast = groupnormWasm(x, gamma, beta, dout, options);
    if (fast) return fast as GroupnormForwardBackward<A>;
  }
  const fwd = groupnormForwardJs(x, gamma, beta, options);
  return { ...fwd, ...groupnormBackwardJs(dout, fwd.cache) };
}

// ---- the WebAssembly path ---------------------------------------------------------------------------

interface Geometry {
  N: number;
  C: number;
  S: number;
  G: number;
  Cg: number;
  L: number;
}

function geometry(x: Tensor, gamma: FloatArray, beta: FloatArray, G: number): Geometry {
  if (x.shape.length !== 4) throw new RangeError(`spatial-groupnorm: x must be (N, C, H, W), got [${x.shape}]`);
  const [N, C, H, W] = x.shape;
  const S = H * W;
  if (x.data.length !== N * C * S) throw new RangeError('spatial-groupnorm: x data does not fit its shape');
  if (!Number.isInteger(G) || G < 1 || C % G !== 0) throw new RangeError(`spatial-groupnorm: groups ${G} must divide C = ${C}`);
  if (gamma.length !== C || beta.length !== C) throw new RangeError(`spatial-groupnorm: gamma and beta must have length ${C}`);
  return { N, C, S, G, Cg: C / G, L: (C / G) * S };
}

function checkDout(g: FloatArray, x: FloatArray): void {
  if (g.length !== x.length) throw new RangeError(`spatial-groupnorm: dout has ${g.length} values, x has ${x.length}`);
  if (g.constructor !== x.constructor) throw new TypeError('spatial-groupnorm: dout must have the dtype of x');
}

/** Groups (n, g) per chunk, or 0 when the wasm path does not apply. */
function groupsPerChunk(x: FloatArray, geo: Geometry, stream: GroupnormStreamOptions): number {
  if (geo.N * geo.G === 0 || geo.L === 0) return 0;
  const cap = stream.capElements ?? CHUNK_BYTES / (x instanceof Float32Array ? 4 : 8);
  return unitsPerChunk(geo.N * geo.G, geo.L, cap);
}

/**
 * Per-plane coefficients of the backward for the chunk's groups [r0, r1) from the per-plane sums
 * Σ dout, Σ dout·(x − mean) (as groupnorm-js.ts): dgamma, dbeta accumulate (f64, per channel)
 * and dx = p · dout + q · (x − mean) + r per plane.
 */
function backwardCoefficients(
  geo: Geometry, r0: number, r1: number, gamma: Float64Array, invstd: Float64Array, sumG: Float64Array, sumGD: Float64Array,
  p: Float64Array, q: Float64Array, r: Float64Array, dgamma: Float64Array, dbeta: Float64Array,
): void {
  const { G, Cg, L } = geo;
  for (let row = r0; row < r1; row++) {
    const k = invstd[row];
    const c0 = (row % G) * Cg;
    const base = (row - r0) * Cg;
    let sumDy = 0;
    let sumDyDev = 0;
    for (let i = 0; i < Cg; i++) {
      const gm = gamma[c0 + i];
      sumDy += gm * sumG[base + i];
      sumDyDev += gm * sumGD[base + i];
      dgamma[c0 + i] += sumGD[base + i] * k;
      dbeta[c0 + i] += sumG[base + i];
    }
    const a = sumDy / L;
    const b = (k * k * sumDyDev) / L;
    for (let i = 0; i < Cg; i++) {
      p[base + i] = k * gamma[c0 + i];
      q[base + i] = -k * b;
      r[base + i] = -k * a;
    }
  }
}

/**
 * dx = p·dout + q·(x − mean) + r on P planes of S values: float32 (gcf, a block of 4·planes float32
 * for its coefficients) in f32x4, float64 in f64x2. The one dx kernel of both backward paths.
 */
function planeGrad(
  k: NormEngine['k'], gcf: { byteOffset: number } | undefined, g: number, x: number, dx: number, P: number, S: number,
  mean: number, p: number, q: number, r: number,
): void {
  if (!gcf) return k.bnPlaneGradF64(g, x, dx, 0, P, P, S, mean, p, q, r);
  k.f32Coefficients(P, mean, p, q, r, q, gcf.byteOffset);
  k.planeGradF32x4(g, x, dx, P, S, gcf.byteOffset);
}

/**
 * Forward (dout undefined) or forward + backward on the wasm kernels, one visit per chunk of groups;
 * undefined when they cannot run it (no module, a group too large).
 */
function groupnormWasm<A extends FloatArray>(
  x: Tensor<A>, gamma: A, beta: A, dout: Tensor<A> | undefined, options: GroupnormOptions, stream: GroupnormStreamOptions = {},
): GroupnormForward<A> | GroupnormForwardBackward<A> | undefined {
  const eng = normEngine();
  const geo = geometry(x, gamma, beta, options.groups);
  const xd = x.data;
  const per = groupsPerChunk(xd, geo, stream);
  if (!eng || per === 0) return undefined;
  const g = dout?.data;
  if (g) checkDout(g, xd);
  const { N, G, Cg, S, L } = geo;
  const rows = N * G;
  const f32 = xd instanceof Float32Array;
  const { k, arena } = eng;
  const out = uninitialized(xd, xd.length);
  const dx = g ? uninitialized(xd, xd.length) : undefined;
  const mean = new Float64Array(rows);
  const invstd = new Float64Array(rows);
  const gamma64 = Float64Array.from(gamma);
  const dgamma = new Float64Array(geo.C);
  const dbeta = new Float64Array(geo.C);
  const planes = per * Cg;
  arena.scope(() => {
    const dtype = f32 ? 'float32' : 'float64';
    const xb = arena.alloc(dtype, per * L);
    const gb = g ? arena.alloc(dtype, per * L) : undefined;
    const ob = arena.alloc(dtype, per * L);
    const db = g ? arena.alloc(dtype, per * L) : undefined;
    // per plane: mean | scale | shift | Σ dout | Σ dout·(x − mean) | p | q | r; per group: mean | invstd
    const pb = arena.alloc('float64', 8 * planes + 2 * per);
    // float32: the affine and dx in f32x4 from per-plane float32 coefficients, hi | scale | shift and
    // hi | p | q | r (f32Coefficients: the mean's low part folded into the last)
    const cfb = f32 ? arena.alloc('float32', 3 * planes) : undefined;
    const gcf = f32 && g ? arena.alloc('float32', 4 * planes) : undefined;
    const [xv, gv, ov, dv, pv] = [xb.view, gb?.view, ob.view, db?.view, pb.view];
    const at = (i: number) => pb.byteOffset + 8 * i * planes;
    const part = (i: number, n: number) => pv.subarray(i * planes, i * planes + n);
    const groupMean = 8 * planes;
    const groupInv = 8 * planes + per;
    for (let r0 = 0; r0 < rows; r0 += per) {
      const r1 = Math.min(rows, r0 + per);
      const n = r1 - r0;
      const P = n * Cg;
      xv.set(xd.subarray(r0 * L, r1 * L));
      (f32 ? k.lnStatsF32 : k.lnStatsF64)(xb.byteOffset, n, L, options.eps, pb.byteOffset + 8 * groupMean, pb.byteOffset + 8 * groupInv);
      mean.set(pv.subarray(groupMean, groupMean + n), r0);
      invstd.set(pv.subarray(groupInv, groupInv + n), r0);
      const [pm, sc, sh] = [part(0, P), part(1, P), part(2, P)];
      for (let row = r0; row < r1; row++) {
        const c0 = (row % G) * Cg;
        const base = (row - r0) * Cg;
        for (let i = 0; i < Cg; i++) {
          pm[base + i] = mean[row];
          sc[base + i] = invstd[row] * gamma64[c0 + i];
          sh[base + i] = beta[c0 + i];
        }
      }
      if (cfb) k.f32Coefficients(P, at(0), at(1), 0, at(2), at(1), cfb.byteOffset);
      if (!g) {
        if (cfb) k.planeAffineF32x4(xb.byteOffset, ob.byteOffset, P, S, cfb.byteOffset);
        else k.bnPlaneAffineF64(xb.byteOffset, ob.byteOffset, 0, P, P, S, at(0), at(1), at(2));
      } else {
        gv!.set(g.subarray(r0 * L, r1 * L));
        pv.fill(0, 3 * planes, 3 * planes + P);
        pv.fill(0, 4 * planes, 4 * planes + P);
        if (cfb) k.planeAffineGradSumsF32x4(xb.byteOffset, gb!.byteOffset, ob.byteOffset, P, S, cfb.byteOffset, at(0), at(3), at(4));
        else k.bnPlaneAffineGradSumsF64(xb.byteOffset, gb!.byteOffset, ob.byteOffset, 0, P, P, S, at(0), at(1), at(2), at(3), at(4));
        backwardCoefficients(geo, r0, r1, gamma64, invstd, part(3, P), part(4, P), part(5, P), part(6, P), part(7, P), dgamma, dbeta);
        planeGrad(k, gcf, gb!.byteOffset, xb.byteOffset, db!.byteOffset, P, S, at(0), at(5), at(6), at(7));
        dx!.set(dv!.subarray(0, n * L), r0 * L);
      }
      out.set(ov.subarray(0, n * L), r0 * L);
    }
  });
  const fwd: GroupnormForward<A> = {
    out: { shape: x.shape.slice(), data: out },
    cache: { shape: x.shape.slice(), N, C: geo.C, S, G, x: xd, gamma, mean, invstd },
  };
  if (!g) return fwd;
  const dg = zerosLike(xd, geo.C);
  const dbt = zerosLike(xd, geo.C);
  dg.set(dgamma);
  dbt.set(dbeta);
  return { ...fwd, dx: { shape: x.shape.slice(), data: dx! }, dgamma: dg, dbeta: dbt };
}

/** Forward on the wasm kernels (for tests); undefined when they cannot run it. */
export function groupnormForwardWasm<A extends FloatArray>(
  x: Tensor<A>, gamma: A, beta: A, options: GroupnormOptions, stream: GroupnormStreamOptions = {},
): GroupnormForward<A> | undefined {
  return groupnormWasm(x, gamma, beta, undefined, options, stream);
}

/** Forward + backward on the wasm kernels (for tests); undefined when they cannot run it. */
export function groupnormForwardBackwardWasm<A extends FloatArray>(
  x: Tensor<A>, gamma: A, beta: A, dout: Tensor<A>, options: GroupnormOptions, stream: GroupnormStreamOptions = {},
): GroupnormForwardBackward<A> | undefined {
  return groupnormWasm(x, gamma, beta, dout, options, stream) as GroupnormForwardBackward<A> | undefined;
}

/** The backward from a forward's cache on the wasm kernels; undefined when they cannot run it. */
export function groupnormBackwardWasm<A extends FloatArray>(
  dout: Tensor<A>, cache: GroupnormCache<A>, stream: GroupnormStreamOptions = {},
): GroupnormGrads<A> | undefined {
  const { N, C, S, G, x, gamma, mean, invstd } = cache;
  const eng = normEngine();
  const geo: Geometry = { N, C, S, G, Cg: C / G, L: (C / G) * S };
  const per = groupsPerChunk(x, geo, stream);
  if (!eng || per === 0) return undefined;
  const g = dout.data;
  checkDout(g, x);
  return backwardOnly(eng, geo, per, x, g, gamma, mean, invstd, cache.shape);
}

function backwardOnly<A extends FloatArray>(
  eng: NormEngine, geo: Geometry, per: number, x: A, g: A, gamma: A, mean: Float64Array, invstd: Float64Array, shape: number[],
): GroupnormGrads<A> {
  const { N, G, Cg, S, L } = geo;
  const rows = N * G;
  const f32 = x instanceof Float32Array;
  const { k, arena } = eng;
  const dx = uninitialized(x, x.length);
  const gamma64 = Float64Array.from(gamma);
  const dgamma = new Float64Array(geo.C);
  const dbeta = new Float64Array(geo.C);
  const planes = per * Cg;
  arena.scope(() => {
    const dtype = f32 ? 'float32' : 'float64';
    const xb = arena.alloc(dtype, per * L);
    const gb = arena.alloc(dtype, per * L);
    const db = arena.alloc(dtype, per * L);
    // per plane: mean | Σ dout | Σ dout·(x − mean) | p | q | r
    const pb = arena.alloc('float64', 6 * planes);
    const gcf = f32 ? arena.alloc('float32', 4 * planes) : undefined;
    const [xv, gv, dv, pv] = [xb.view, gb.view, db.view, pb.view];
    const at = (i: number) => pb.byteOffset + 8 * i * planes;
    const part = (i: number, n: number) => pv.subarray(i * planes, i * planes + n);
    for (let r0 = 0; r0 < rows; r0 += per) {
      const r1 = Math.min(rows, r0 + per);
      const n = r1 - r0;
      const P = n * Cg;
      xv.set(x.subarray(r0 * L, r1 * L));
      gv.set(g.subarray(r0 * L, r1 * L));
      const pm = part(0, P);
      for (let row = r0; row < r1; row++) pm.fill(mean[row], (row - r0) * Cg, (row - r0 + 1) * Cg);
      pv.fill(0, planes, planes + P);
      pv.fill(0, 2 * planes, 2 * planes + P);
      (f32 ? k.bnPlaneGradSumsF32 : k.bnPlaneGradSumsF64)(gb.byteOffset, xb.byteOffset, 0, P, P, S, at(0), at(1), at(2));
      backwardCoefficients(geo, r0, r1, gamma64, invstd, part(1, P), part(2, P), part(3, P), part(4, P), part(5, P), dgamma, dbeta);
      planeGrad(k, gcf, gb.byteOffset, xb.byteOffset, db.byteOffset, P, S, at(0), at(3), at(4), at(5));
      dx.set(dv.subarray(0, n * L), r0 * L);
    }
  });
  const dg = zerosLike(x, geo.C);
  const dbt = zerosLike(x, geo.C);
  dg.set(dgamma);
  dbt.set(dbeta);
  return { dx: { shape: shape.slice(), data: dx }, dgamma: dg, dbeta: dbt };
}
