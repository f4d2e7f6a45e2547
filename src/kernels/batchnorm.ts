import type { FloatArray, Tensor } from './types.ts';
import type { BatchnormMode, BatchnormOptions, BatchnormCache, BatchnormForward, BatchnormGrads, BatchnormForwardBackward } from './normalization-types.ts';
import { zerosLike } from './types.ts';
import { batchnormBackwardNCSJs, batchnormForwardNCSJs } from './batchnorm-js.ts';
import { normEngine, skewedBlock, uninitialized, unitsPerChunk, type NormEngine } from './wasm/norm-engine.ts';

/**
 * Batch normalization (cs231n `batchnorm_forward` / `batchnorm_backward_alt`).
 *
 * Forward, x (N, D), gamma (D), beta (D):
 *   train: mean, var = per-feature batch mean and biased variance over N
 *          out = gamma · (x − mean) / sqrt(var + eps) + beta                    (N, D)
 *          runningMean = momentum · runningMean + (1 − momentum) · mean          (D)
 *          runningVar  = momentum · runningVar  + (1 − momentum) · var'          (D)
 *          where var' is var, or the N−1 variance when runningVarEstimator is 'unbiased'
 *          (the estimator affects the running update only, as in PyTorch).
 *          A missing runningMean / runningVar starts at zeros (cs231n).
 *   test:  out = gamma · (x − runningMean) / sqrt(runningVar + eps) + beta       (N, D)
 *          no running stats are returned.
 * Backward, dout (N, D) → dx (N, D), dgamma (D), dbeta (D), in closed form:
 *   train: dx = gamma · invstd · (dout − mean(dout) − xhat · mean(dout · xhat))
 *   test:  dx = gamma · invstd · dout   (the running statistics are constants)
 *   both:  dgamma = Σ_n dout · xhat,  dbeta = Σ_n dout, xhat from the statistics the forward used.
 *
 * The same code serves spatial batchnorm: `batchnormForwardNCS` views x as (N, C, S) with
 * statistics per c over N·S, so (N, D) is (N, D, 1) and NCHW is (N, C, H·W); no transposes.
 *
 * Numerics: statistics in float64, never E[x²] − E[x]². The WebAssembly path (wasm/assembly/norm.ts)
 * reads x once for them: blocks of at most 4096 values of a plane (or 64 rows of a column) are summed
 * shifted by their first value, Σd and Σd² with d = x − x_first, so a large common offset costs no
 * precision and the cancellation in Σd² − (Σd)²/n is bounded by the block size; blocks are merged with
 * Chan et al.'s pairwise update. The JS path (batchnorm-js.ts: small tensors, no wasm) is the
 * corrected two-pass one. float32 inputs are read into doubles for every sum; the float32 (N, D)
 * elementwise passes (out, dx) run in f32x4 from float32 coefficients (see bnRowAffineF32x4), the
 * others round each result once, at the store (normalization-accuracy.test.ts prints the worst error).
 *
 * Speed: outputs are new arrays; the wasm kernels work on chunks of whole rows or planes copied into
 * the thread's arena (wasm/norm-engine.ts). A tensor of at most RESIDENT_ELEMENTS values is copied in
 * once and stays for every sweep (statistics, normalize, backward). `batchnormForwardBackward` is the
 * service's path when dout is sent: three sweeps over x (statistics; out with Σdout and
 * Σdout·(x − mean); dx) instead of the five of forward then backward.
 *
 * Degenerate batch: with one value per feature (M = N·S = 1) the biased variance is 0 and
 * out = beta, dx = 0 (cs231n). The unbiased running update is then 0/0 and the kernel returns
 * NaN in runningVar, which is what PyTorch's ATen kernel computes (PyTorch's Python layer refuses
 * such a batch in training: "Expected more than 1 value per channel"). The service should refuse
 * it before dispatch.
 *
 * The cache keeps references to x and gamma (no copies): do not mutate them before backward.
 */

export type { BatchnormMode, RunningVarEstimator, BatchnormOptions, BatchnormCache, BatchnormForward, BatchnormGrads, BatchnormForwardBackward } from './normalization-types.ts';

/**
 * Below this many values the JS versions run: the wasm path's fixed cost (arena scope, blocks, calls;
 * a few µs) is more than it saves there.
 */
export const BATCHNORM_MIN_WASM_ELEMENTS = 2048;

/**
 * A tensor of at most this many values is copied into wasm memory once and stays for every sweep;
 * a larger one streams through in chunks of this size (whole rows or planes), once per sweep. Bounds
 * the arena: x, dout and one result chunk, 8 MiB each in float64.
 */
export const RESIDENT_ELEMENTS = 1 << 20;

/** For tests: force the wasm path and its chunking on small tensors. */
export interface StreamOptions {
  /** Chunk size in values (default RESIDENT_ELEMENTS); a row or plane larger than this runs in JS. */
  capElements?: number;
  /** Result block size in values (default 64 KiB worth and at least four rows or planes; given: at least one). */
  outElements?: number;
}

/** Batchnorm forward on x (N, D); see the file comment. */
export function batchnormForward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: BatchnormOptions,
): BatchnormForward<A> {
  const [N, D] = dims2(x);
  return batchnormForwardNCS(x, N, D, 1, gamma, beta, options);
}

/** Batchnorm backward: dout (N, D) → dx (N, D), dgamma (D), dbeta (D). */
export function batchnormBackward<A extends FloatArray>(dout: Tensor<A>, cache: BatchnormCache<A>): BatchnormGrads<A> {
  return batchnormBackwardNCS(dout, cache);
}

/** Forward and backward in one call (what the service runs when dout is sent); x, dout (N, D). */
export function batchnormForwardBackward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  dout: Tensor<A>,
  options: BatchnormOptions,
): BatchnormForwardBackward<A> {
  const [N, D] = dims2(x);
  return batchnormForwardBackwardNCS(x, N, D, 1, gamma, beta, dout, options);
}

function dims2(x: Tensor): [number, number] {
  if (x.shape.length !== 2) throw new RangeError(`batchnorm: x must be (N, D), got [${x.shape}]`);
  return [x.shape[0], x.shape[1]];
}

/**
 * The shared forward: x viewed as (N, C, S), statistics per c over the N·S values
 * x[(n·C + c)·S + s]. gamma, beta and the running statistics have length C.
 */
export function batchnormForwardNCS<A extends FloatArray>(
  x: Tensor<A>,
  N: number,
  C: number,
  S: number,
  gamma: A,
  beta: A,
  options: BatchnormOptions,
): BatchnormForward<A> {
  if (x.data.length >= BATCHNORM_MIN_WASM_ELEMENTS) {
    const fast = batchnormForwardNCSWasm(x, N, C, S, gamma, beta, options);
    if (fast) return fast;
  }
  return batchnormForwardNCSJs(x, N, C, S, gamma, beta, options);
}

/** The shared backward for x viewed as (N, C, S); dout has x's shape. */
export function batchnormBackwardNCS<A extends FloatArray>(dout: Tensor<A>, cache: BatchnormCache<A>): BatchnormGrads<A> {
  if (cache.x.length >= BATCHNORM_MIN_WASM_ELEMENTS) {
    const fast = batchnormBackwardNCSWasm(dout, cache);
    if (fast) return fast;
  }
  return batchnormBackwardNCSJs(dout, cache);
}

/** The shared forward + backward for x viewed as (N, C, S). */
export function batchnormForwardBackwardNCS<A extends FloatArray>(
  x: Tensor<A>,
  N: number,
  C: number,
  S: number,
  gamma: A,
  beta: A,
  dout: Tensor<A>,
  options: BatchnormOptions,
): BatchnormForwardBackward<A> {
  if (x.data.length >= BATCHNORM_MIN_WASM_ELEMENTS) {
    const fast = batchnormForwardBackwardNCSWasm(x, N, C, S, gamma, beta, dout, options);
    if (fast) return fast;
  }
  const fwd = batchnormForwardNCSJs(x, N, C, S, gamma, beta, options);
  return { ...fwd, ...batchnormBackwardNCSJs(dout, fwd.cache) };
}

// ---- the WebAssembly path ---------------------------------------------------------------------------

/**
 * How x (N, C, S) is walked: S = 1 as N rows of C values (statistics down the columns), S > 1 as N·C
 * planes of S values; `per` units per chunk of `chunk` values; resident when one chunk holds it all.
 * Results are written `outPer` units (`outChunk` values, about OUT_BYTES) at a time into a small
 * block and copied out from there while it is still in L2: a whole-chunk result block would make the
 * kernels and the copy stream it through L3 (the inputs already fill it).
 */
interface Plan {
  rows: boolean;
  unit: number;
  units: number;
  per: number;
  chunk: number;
  resident: boolean;
  outPer: number;
  outChunk: number;
}

/**
 * Bytes of a result block (see Plan), at least OUT_MIN_UNITS rows or planes (the (N, D) kernels take
 * four rows per sweep). (256, 1024) float32, alternating runs: forward 0.221-0.231 ms with 256 KiB
 * blocks, 0.210-0.228 with 64 KiB; forward + backward, float64 and spatial (16, 64, 32, 32) within noise.
 */
const OUT_BYTES = 1 << 16;
const OUT_MIN_UNITS = 4;

function planOf(N: number, C: number, S: number, stream: StreamOptions, bytes: number): Plan | undefined {
  const rows = S === 1;
  const unit = rows ? C : S;
  const units = rows ? N : N * C;
  const per = unitsPerChunk(units, unit, stream.capElements ?? RESIDENT_ELEMENTS);
  if (per === 0 || N * C * S === 0) return undefined;
  const outPer = Math.min(per, stream.outElements !== undefined
    ? Math.max(1, Math.floor(stream.outElements / unit))
    : Math.max(OUT_MIN_UNITS, Math.floor(OUT_BYTES / bytes / unit)));
  return { rows, unit, units, per, chunk: per * unit, resident: per >= units, outPer, outChunk: outPer * unit };
}

/** Calls visit(u0, u1, e0, e1) for each chunk of units [u0, u1) = values [e0, e1). */
function eachChunk(p: Plan, visit: (u0: number, u1: number, e0: number, e1: number) => void): void {
  for (let u0 = 0; u0 < p.units; u0 += p.per) {
    const u1 = Math.min(p.units, u0 + p.per);
    visit(u0, u1, u0 * p.unit, u1 * p.unit);
  }
}

/**
 * Within the chunk [u0, u1): visit(s0, s1, at, e0, e1) for each result block of units [s0, s1), whose
 * inputs start `at` bytes into the chunk's blocks, values [e0, e1) of the tensor.
 */
function eachOut(
  p: Plan, u0: number, u1: number, size: number, visit: (s0: number, s1: number, at: number, e0: number, e1: number) => void,
): void {
  for (let s0 = u0; s0 < u1; s0 += p.outPer) {
    const s1 = Math.min(u1, s0 + p.outPer);
    visit(s0, s1, (s0 - u0) * p.unit * size, s0 * p.unit, s1 * p.unit);
  }
}

function checkForward(xd: FloatArray, C: number, total: number, gamma: FloatArray, beta: FloatArray, options: BatchnormOptions): void {
  if (xd.length !== total) throw new RangeError(`batchnorm: x has ${xd.length} values, shape says ${total}`);
  if (gamma.length !== C || beta.length !== C) throw new RangeError(`batchnorm: gamma and beta must have length ${C}`);
  for (const [name, r] of [['runningMean', options.runningMean], ['runningVar', options.runningVar]] as const) {
    if (r !== undefined && r.length !== C) throw new RangeError(`batchnorm: ${name} must have length ${C}`);
  }
  if (options.mode === 'test' && (options.runningMean === undefined || options.runningVar === undefined)) {
    throw new RangeError('batchnorm: test mode needs runningMean and runningVar');
  }
}

function checkDout(g: FloatArray, x: FloatArray, total: number): void {
  if (g.length !== total) throw new RangeError(`batchnorm: dout has ${g.length} values, x has ${total}`);
  if (g.constructor !== x.constructor) throw new TypeError('batchnorm: dout must have the dtype of x');
}

/** The per-channel results of the statistics: mean, invstd and, in train mode, the running update. */
interface Statistics<A extends FloatArray> {
  mean: Float64Array;
  invstd: Float64Array;
  runningMean?: A;
  runningVar?: A;
}

/**
 * Train mode: the statistics sweep over x (copied chunk by chunk into xb; left there when resident),
 * then mean, invstd and the running update (wasm bnFinalize: the same operations as batchnorm-js.ts,
 * from Σ(x − mean)²). Test mode: the running statistics. statsView (f64 from statsPtr) receives mean
 * then M2 at 0 and C, uses 2·C..4·C as scratch (workPtr must point there) and gets invstd at ivAt·C..
 * (ivAt ≥ 4), where it stays for the coefficient kernels.
 */
function statistics<A extends FloatArray>(
  eng: NormEngine, plan: Plan, xd: A, N: number, C: number, S: number, options: BatchnormOptions,
  xv: FloatArray, xPtr: number, statsPtr: number, statsView: Float64Array, workPtr: number, ivAt: number,
): Statistics<A> {
  const { mode, eps, momentum, runningVarEstimator, runningMean, runningVar } = options;
  const mean = new Float64Array(C);
  const invstd = new Float64Array(C);
  const iv = statsView.subarray(ivAt * C, (ivAt + 1) * C);
  if (mode === 'test') {
    for (let c = 0; c < C; c++) {
      mean[c] = runningMean![c];
      invstd[c] = 1 / Math.sqrt(runningVar![c] + eps);
    }
    iv.set(invstd);
    return { mean, invstd };
  }
  const f32 = xd instanceof Float32Array;
  const { k } = eng;
  const m2Ptr = statsPtr + 8 * C;
  eachChunk(plan, (u0, u1, e0, e1) => {
    xv.set(xd.subarray(e0, e1));
    if (plan.rows) (f32 ? k.bnRowStatsF32 : k.bnRowStatsF64)(xPtr, u0, u1, C, statsPtr, m2Ptr, workPtr);
    else (f32 ? k.bnPlaneStatsF32 : k.bnPlaneStatsF64)(xPtr, u0, u1, C, S, statsPtr, m2Ptr);
  });
  const M = N * S;
  // the running statistics are updated in the work area (free once the sweep is done) and get x's
  // dtype in one set() at the end
  const oldMean = statsView.subarray(2 * C, 3 * C);
  const oldVar = statsView.subarray(3 * C, 4 * C);
  if (runningMean) oldMean.set(runningMean);
  else oldMean.fill(0);
  if (runningVar) oldVar.set(runningVar);
  else oldVar.fill(0);
  // M = 1 gives 0/0 = NaN for the unbiased estimate, as PyTorch's kernel does; see the file comment.
  const runningDivisor = runningVarEstimator === 'unbiased' ? M - 1 : M;
  k.bnFinalize(C, M, eps, momentum, (1 - momentum) / runningDivisor, statsPtr, m2Ptr, statsPtr + 8 * ivAt * C, workPtr, workPtr + 8 * C);
  mean.set(statsView.subarray(0, C));
  invstd.set(iv);
  const newMean = zerosLike(xd, C);
  const newVar = zerosLike(xd, C);
  newMean.set(oldMean);
  newVar.set(oldVar);
  return { mean, invstd, runningMean: newMean, runningVar: newVar };
}

/**
 * float32 (N, D) coefficients for the f32x4 kernels (bnRowAffineF32x4, bnRowGradF32x4), by the wasm
 * f32Coefficients: cf = hi | k | mid | add − lo·kx rounded to float32, hi = fround(mean), the mean's
 * remainder lo = mean − hi folded into the additive array in float64 before it is rounded:
 * (x − mean)·kx + add = (x − hi)·kx + (add − lo·kx). Forward: k = kx = scale, no mid, add = shift.
 * Backward: k = p (the dout coefficient), mid = kx = q, add = r. Pointers are byte addresses of f64 arrays of C.
 */
function float32Coefficients(eng: NormEngine, cf: number, C: number, mean: number, k: number, mid: number, add: number, kx: number): void {
  eng.k.f32Coefficients(C, mean, k, mid, add, kx, cf);
}

/** sv = mean | scale = gamma · invstd | shift = beta (f64 × 3C from offset 0 of sv, at byte address sp; invstd at ivPtr). */
function affineCoefficients(
  eng: NormEngine, sv: Float64Array, sp: number, C: number, gamma: FloatArray, beta: FloatArray, st: Statistics<FloatArray>, ivPtr: number,
): void {
  sv.set(st.mean);
  sv.set(gamma, C);
  sv.set(beta, 2 * C);
  eng.k.mulInto(C, sp + 8 * C, ivPtr);
}

/**
 * dgamma, dbeta and the per-channel coefficients of dx = p · dout + q · (x − mean) + r from
 * Σ dout and Σ dout · (x − mean), as batchnorm-js.ts, by the wasm bnGradCoefficients. sv is the f64
 * view at byte address sp; the arguments after C are element offsets into it (invstd, Σ dout, Σ dev,
 * p, q, r, and a scratch array of C for dgamma).
 */
function gradientCoefficients<A extends FloatArray>(
  eng: NormEngine, like: A, mode: BatchnormMode, M: number, C: number, gamma: FloatArray, sv: Float64Array, sp: number,
  iv: number, sumDout: number, sumDev: number, p: number, q: number, r: number, dg: number,
): { dgamma: A; dbeta: A } {
  sv.set(gamma, p);
  // test mode: the running statistics are constants, q = r = 0
  eng.k.bnGradCoefficients(C, mode === 'train' ? 1 : 0, 1 / M, sp + 8 * iv, sp + 8 * sumDout, sp + 8 * sumDev, sp + 8 * p, sp + 8 * q, sp + 8 * r, sp + 8 * dg);
  const dgamma = zerosLike(like, C);
  const dbeta = zerosLike(like, C);
  dgamma.set(sv.subarray(dg, dg + C));
  dbeta.set(sv.subarray(sumDout, sumDout + C));
  return { dgamma, dbeta };
}

function result<A extends FloatArray>(
  x: Tensor<A>, out: A, N: number, C: number, S: number, gamma: A, mode: BatchnormMode, st: Statistics<A>,
): BatchnormForward<A> {
  const cache: BatchnormCache<A> = { mode, shape: x.shape.slice(), N, C, S, x: x.data, gamma, mean: st.mean, invstd: st.invstd };
  const r: BatchnormForward<A> = { out: { shape: x.shape.slice(), data: out }, cache };
  if (st.runningMean && st.runningVar) {
    r.runningMean = st.runningMean;
    r.runningVar = st.runningVar;
  }
  return r;
}

/** The forward on the wasm kernels; undefined when they cannot run it (no module, a unit too large). */
export function batchnormForwardNCSWasm<A extends FloatArray>(
  x: Tensor<A>, N: number, C: number, S: number, gamma: A, beta: A, options: BatchnormOptions, stream: StreamOptions = {},
): BatchnormForward<A> | undefined {
  const eng = normEngine();
  const xd = x.data;
  const plan = planOf(N, C, S, stream, xd.BYTES_PER_ELEMENT);
  if (!eng || !plan) return undefined;
  checkForward(xd, C, N * C * S, gamma, beta, options);
  const f32 = xd instanceof Float32Array;
  const dtype = f32 ? 'float32' : 'float64';
  const { k, arena } = eng;
  const out = uninitialized(xd, xd.length);
  const st = arena.scope(() => {
    const xb = arena.alloc(dtype, plan.chunk);
    const yb = skewedBlock(arena, dtype, plan.outChunk, plan.unit * xd.BYTES_PER_ELEMENT, [xb.byteOffset]);
    const sb = arena.alloc('float64', 5 * C);
    const cf = f32 && plan.rows ? arena.alloc('float32', 3 * C) : undefined;
    const [xv, yv, sv] = [xb.view, yb.view(), sb.view];
    const stats = statistics(eng, plan, xd, N, C, S, options, xv, xb.byteOffset, sb.byteOffset, sv, sb.byteOffset + 16 * C, 4);
    // sb = mean | scale | shift | (scratch) | invstd
    const [m, sc, sh] = [sb.byteOffset, sb.byteOffset + 8 * C, sb.byteOffset + 16 * C];
    affineCoefficients(eng, sv, m, C, gamma, beta, stats, sb.byteOffset + 32 * C);
    if (cf) float32Coefficients(eng, cf.byteOffset, C, m, sc, 0, sh, sc);
    const copied = plan.resident && options.mode === 'train';
    eachChunk(plan, (u0, u1, e0, e1) => {
      if (!copied) xv.set(xd.subarray(e0, e1));
      eachOut(plan, u0, u1, xd.BYTES_PER_ELEMENT, (s0, s1, at, o0, o1) => {
        if (cf) k.bnRowAffineF32x4(xb.byteOffset + at, yb.ptr, s1 - s0, C, cf.byteOffset);
        else if (plan.rows) k.bnRowAffineF64(xb.byteOffset + at, yb.ptr, s1 - s0, C, m, sc, sh);
        else (f32 ? k.bnPlaneAffineF32 : k.bnPlaneAffineF64)(xb.byteOffset + at, yb.ptr, s0, s1, C, S, m, sc, sh);
        out.set(yv.subarray(0, o1 - o0), o0);
      });
    });
    return stats;
  });
  return result(x, out, N, C, S, gamma, options.mode, st);
}

/** The backward on the wasm kernels; undefined when they cannot run it. */
export function batchnormBackwardNCSWasm<A extends FloatArray>(
  dout: Tensor<A>, cache: BatchnormCache<A>, stream: StreamOptions = {},
): BatchnormGrads<A> | undefined {
  const { mode, N, C, S, x, gamma, mean, invstd } = cache;
  const eng = normEngine();
  const plan = planOf(N, C, S, stream, x.BYTES_PER_ELEMENT);
  if (!eng || !plan) return undefined;
  const g = dout.data;
  checkDout(g, x, N * C * S);
  const f32 = x instanceof Float32Array;
  const dtype = f32 ? 'float32' : 'float64';
  const { k, arena } = eng;
  const dx = uninitialized(x, x.length);
  const grads = arena.scope(() => {
    const rowBytes = plan.unit * x.BYTES_PER_ELEMENT;
    const xb = arena.alloc(dtype, plan.chunk);
    const gb = skewedBlock(arena, dtype, plan.chunk, rowBytes, [xb.byteOffset]);
    const yb = skewedBlock(arena, dtype, plan.outChunk, rowBytes, [xb.byteOffset, gb.ptr]);
    const sb = arena.alloc('float64', 8 * C);
    const cf = f32 && plan.rows ? arena.alloc('float32', 4 * C) : undefined;
    const [xv, gv, yv, sv] = [xb.view, gb.view(), yb.view(), sb.view];
    // sb = mean | Σ dout | Σ dout·(x − mean) | p | q | r | invstd | dgamma scratch
    sv.set(mean);
    sv.fill(0, C, 3 * C);
    sv.set(invstd, 6 * C);
    const ptr = (i: number) => sb.byteOffset + 8 * i * C;
    eachChunk(plan, (u0, u1, e0, e1) => {
      xv.set(x.subarray(e0, e1));
      gv.set(g.subarray(e0, e1));
      if (plan.rows) (f32 ? k.bnRowGradSumsF32 : k.bnRowGradSumsF64)(gb.ptr, xb.byteOffset, 0, u1 - u0, C, ptr(0), 0, 0, ptr(1), ptr(2));
      else (f32 ? k.bnPlaneGradSumsF32 : k.bnPlaneGradSumsF64)(gb.ptr, xb.byteOffset, u0, u1, C, S, ptr(0), ptr(1), ptr(2));
    });
    const coefficients = gradientCoefficients(eng, x, mode, N * S, C, gamma, sv, sb.byteOffset, 6 * C, C, 2 * C, 3 * C, 4 * C, 5 * C, 7 * C);
    if (cf) float32Coefficients(eng, cf.byteOffset, C, ptr(0), ptr(3), ptr(4), ptr(5), ptr(4));
    gradient(
      eng, plan, f32, x, g, dx, C, S, xb.byteOffset, gb.ptr, yb.ptr, xv, gv, yv, ptr(0), ptr(3), ptr(4), ptr(5),
      cf?.byteOffset ?? 0,
    );
    return coefficients;
  });
  return { dx: { shape: cache.shape.slice(), data: dx }, ...grads };
}

/**
 * The dx sweep: dx = p · dout + q · (x − mean) + r, x and dout copied in again unless resident. cf ≠ 0:
 * float32 (N, D) on the f32x4 kernel with the coefficients at cf (float32Coefficients).
 */
function gradient(
  eng: NormEngine, plan: Plan, f32: boolean, x: FloatArray, g: FloatArray, dx: FloatArray, C: number, S: number,
  xPtr: number, gPtr: number, yPtr: number, xv: FloatArray, gv: FloatArray, yv: FloatArray,
  mean: number, p: number, q: number, r: number, cf: number,
): void {
  const { k } = eng;
  eachChunk(plan, (u0, u1, e0, e1) => {
    if (!plan.resident) {
      xv.set(x.subarray(e0, e1));
      gv.set(g.subarray(e0, e1));
    }
    eachOut(plan, u0, u1, x.BYTES_PER_ELEMENT, (s0, s1, at, o0, o1) => {
      if (cf !== 0) k.bnRowGradF32x4(gPtr + at, xPtr + at, yPtr, s1 - s0, C, cf);
      else if (plan.rows) (f32 ? k.bnRowGradF32 : k.bnRowGradF64)(gPtr + at, xPtr + at, yPtr, s1 - s0, C, mean, p, q, r);
      else (f32 ? k.bnPlaneGradF32 : k.bnPlaneGradF64)(gPtr + at, xPtr + at, yPtr, s0, s1, C, S, mean, p, q, r);
      dx.set(yv.subarray(0, o1 - o0), o0);
    });
  });
}

/** Forward + backward on the wasm kernels in three sweeps; undefined when they cannot run it. */
export function batchnormForwardBackwardNCSWasm<A extends FloatArray>(
  x: Tensor<A>, N: number, C: number, S: number, gamma: A, beta: A, dout: Tensor<A>, options: BatchnormOptions,
  stream: StreamOptions = {},
): BatchnormForwardBackward<A> | undefined {
  const eng = normEngine();
  const xd = x.data;
  const plan = planOf(N, C, S, stream, xd.BYTES_PER_ELEMENT);
  if (!eng || !plan) return undefined;
  const g = dout.data;
  checkForward(xd, C, N * C * S, gamma, beta, options);
  checkDout(g, xd, N * C * S);
  const f32 = xd instanceof Float32Array;
  const dtype = f32 ? 'float32' : 'float64';
  const { k, arena } = eng;
  const out = uninitialized(xd, xd.length);
  const dx = uninitialized(xd, xd.length);
  const { st, grads } = arena.scope(() => {
    const rowBytes = plan.unit * xd.BYTES_PER_ELEMENT;
    const xb = arena.alloc(dtype, plan.chunk);
    const gb = skewedBlock(arena, dtype, plan.chunk, rowBytes, [xb.byteOffset]);
    const yb = skewedBlock(arena, dtype, plan.outChunk, rowBytes, [xb.byteOffset, gb.ptr]);
    const sb = arena.alloc('float64', 10 * C);
    const cf = f32 && plan.rows ? arena.alloc('float32', 4 * C) : undefined;
    const [xv, gv, yv, sv] = [xb.view, gb.view(), yb.view(), sb.view];
    const ptr = (i: number) => sb.byteOffset + 8 * i * C;
    const st = statistics(eng, plan, xd, N, C, S, options, xv, xb.byteOffset, ptr(0), sv, ptr(2), 8);
    // sb = mean | scale | shift | Σ dout | Σ dout·(x − mean) | p | q | r | invstd | dgamma scratch
    affineCoefficients(eng, sv, ptr(0), C, gamma, beta, st, ptr(8));
    if (cf) float32Coefficients(eng, cf.byteOffset, C, ptr(0), ptr(1), 0, ptr(2), ptr(1));
    sv.fill(0, 3 * C, 5 * C);
    const xCopied = plan.resident && options.mode === 'train';
    eachChunk(plan, (u0, u1, e0, e1) => {
      if (!xCopied) xv.set(xd.subarray(e0, e1));
      gv.set(g.subarray(e0, e1));
      eachOut(plan, u0, u1, xd.BYTES_PER_ELEMENT, (s0, s1, at, o0, o1) => {
        const [gp, xp, yp] = [gb.ptr + at, xb.byteOffset + at, yb.ptr];
        if (cf) {
          // out as the forward computes it (f32x4), then the float64 sums in a second pass over the chunk in cache
          k.bnRowAffineF32x4(xp, yp, s1 - s0, C, cf.byteOffset);
          k.bnRowGradSumsF32(gp, xp, 0, s1 - s0, C, ptr(0), 0, 0, ptr(3), ptr(4));
        } else if (plan.rows) {
          (f32 ? k.bnRowGradSumsF32 : k.bnRowGradSumsF64)(gp, xp, yp, s1 - s0, C, ptr(0), ptr(1), ptr(2), ptr(3), ptr(4));
        } else {
          (f32 ? k.bnPlaneAffineGradSumsF32 : k.bnPlaneAffineGradSumsF64)(xp, gp, yp, s0, s1, C, S, ptr(0), ptr(1), ptr(2), ptr(3), ptr(4));
        }
        out.set(yv.subarray(0, o1 - o0), o0);
      });
    });
    const grads = gradientCoefficients(eng, xd, options.mode, N * S, C, gamma, sv, ptr(0), 8 * C, 3 * C, 4 * C, 5 * C, 6 * C, 7 * C, 9 * C);
    if (cf) float32Coefficients(eng, cf.byteOffset, C, ptr(0), ptr(5), ptr(6), ptr(7), ptr(6));
    gradient(
      eng, plan, f32, xd, g, dx, C, S, xb.byteOffset, gb.ptr, yb.ptr, xv, gv, yv, ptr(0), ptr(5), ptr(6), ptr(7),
      cf?.byteOffset ?? 0,
    );
    return { st, grads };
  });
  return { ...result(x, out, N, C, S, gamma, options.mode, st), dx: { shape: x.shape.slice(), data: dx }, ...grads };
}
