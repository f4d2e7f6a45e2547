/**
 * Convolution (cross-correlation, as cs231n's conv_forward_naive and PyTorch's conv2d), fast paths,
 * with groups, dilation and per-axis stride and pad:
 *
 *   x    (N, C, H, W)
 *   w    (F, C/groups, HH, WW)
 *   b    (F)
 *   out  (N, F, Ho, Wo), Ho = floor((H + 2·pad_h − dilation_h·(HH − 1) − 1) / stride_h) + 1
 *   dout (N, F, Ho, Wo)  →  dx (N, C, H, W), dw (F, C/groups, HH, WW), db (F)
 *
 * Entry points: convForward, convBackward, and convForwardBackward (both passes from one set of
 * im2col columns or input transforms: what a request with dout needs). All three share one driver per
 * path, so the fused call equals the two separate calls bit for bit. Paths, first that applies:
 *   - depthwise (C/groups = 1) with the wasm helpers: direct loops per channel (runDepthwise);
 *   - 3×3, stride 1, no dilation, one group, C and F ≥ WINOGRAD_MIN_CHANNELS, wasm helpers: Winograd
 *     F(2×2, 3×3) (runWinograd), 2.25× fewer multiplies;
 *   - otherwise im2col + GEMM (run).
 * Every GEMM operand lives in this thread's wasm arena (gemmInArena, no copies inside the GEMM).
 *
 * im2col path: work is split per image and, within an image, into tiles of output rows, so the
 * im2col buffer stays under `maxColElements` whatever N, H and W are. Nothing assumes the full batch:
 * run forward on any slice of the batch, and backward on a slice to get that slice's dx and partial dw,
 * db (sum the partials over slices for the whole batch). For image n and group g, out[n, g] (Fg × P) =
 * w[g] (Fg × K) · col[g] (K × P), where K = Cg·HH·WW, P = Ho·Wo and col's row (c, kh, kw) holds
 * x[n, c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] (0 outside the input). A 1x1, stride-1, pad-0 conv
 * skips im2col: x[n] already is col.
 *
 * float32: the GEMMs accumulate in float32 (as PyTorch's and OpenBLAS's sgemm do), and so do dw across
 * images (GEMM with beta = 1) and dx across the taps of col2im / the Winograd patches; db and the
 * depthwise dw are summed in double. Measured error against the double-precision reference on conv A:
 * ~1e-6 of the largest value, the tests allow 1e-4.
 */
import {
  col2imInArena, depthwiseBackwardInArena, depthwiseForwardInArena, gemmArena, gemmEngine, gemmInArena, hasWasmHelpers,
  rowSumsInArena,
} from './gemm.ts';
import { checkDout, checkLength, convInfo, insideEnd, insideStart, type ConvInfo, type ConvParams } from './geometry.ts';
import { zerosLike, type Dtype, type FloatArray, type Tensor } from './types.ts';

export type { ConvParams } from './geometry.ts';

export interface ConvOptions {
  /**
   * Upper bound, in elements, on the im2col buffer (at least one output row is always used), on one
   * image held in the arena for the wasm im2col/col2im, on a depthwise chunk of channels, and on the
   * padded planes and tile bands of Winograd. Beyond it the paths fall back as each says.
   */
  maxColElements?: number;
  /**
   * Use the wasm helpers (im2col, col2im, row sums, the depthwise and Winograd paths) when the backend
   * has them (default true). false runs what the 'js' backend runs (JS loops, GEMM per group), so tests
   * reach it on any machine.
   */
  wasmHelpers?: boolean;
  /**
   * Winograd F(2×2, 3×3) for 3×3, stride-1, undilated, ungrouped convs (needs the wasm helpers): true
   * forces it where it applies, false turns it off; by default it is used where it applies and C and F
   * are at least WINOGRAD_MIN_CHANNELS.
   */
  winograd?: boolean;
}

export interface ConvGrads<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dw: Tensor<A>;
  db: Tensor<A>;
}

export interface ConvForwardBackward<A extends FloatArray = FloatArray> extends ConvGrads<A> {
  out: Tensor<A>;
}

const DEFAULT_MAX_COL_ELEMENTS = 1 << 21;

/** Forward: out (N, F, Ho, Wo) = conv(x, w) + b. */
export function convForward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A>,
  params: ConvParams = {},
  options: ConvOptions = {},
): Tensor<A> {
  const g = prepare(x, w, params, b);
  const r = run(x, w, b, undefined, g, options);
  return { shape: [...g.outShape], data: r.out! };
}

/** Backward: dx for the images of x, and dw, db summed over those images. */
export function convBackward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  dout: Tensor<A>,
  params: ConvParams = {},
  options: ConvOptions = {},
): ConvGrads<A> {
  const g = prepare(x, w, params);
  checkDoutTensor(g, x, dout);
  const r = run(x, w, undefined, dout, g, options);
  return grads(x, w, g, r);
}

/**
 * Forward and backward in one pass (what a request with dout needs): the im2col columns of each
 * image (tile) serve the forward GEMM and dw, so they are built once instead of twice.
 */
export function convForwardBackward<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A>,
  dout: Tensor<A>,
  params: ConvParams = {},
  options: ConvOptions = {},
): ConvForwardBackward<A> {
  const g = prepare(x, w, params, b);
  checkDoutTensor(g, x, dout);
  const r = run(x, w, b, dout, g, options);
  return { out: { shape: [...g.outShape], data: r.out! }, ...grads(x, w, g, r) };
}

function checkDoutTensor(g: ConvInfo, x: Tensor, dout: Tensor): void {
  checkDout('conv', g.outShape, dout.shape);
  checkLength('conv', 'dout', dout.shape, dout.data.length);
  if (dout.data.constructor !== x.data.constructor) throw new TypeError('conv: dout must have the dtype of x');
}

interface RunResult<A extends FloatArray> {
  out?: A;
  dx?: A;
  dw?: A;
  db?: A;
}

function grads<A extends FloatArray>(x: Tensor<A>, w: Tensor<A>, g: ConvInfo, r: RunResult<A>): ConvGrads<A> {
  return {
    dx: { shape: [...x.shape], data: r.dx! },
    dw: { shape: [...w.shape], data: r.dw! },
    db: { shape: [g.F], data: r.db! },
  };
}

/**
 * The one driver: forward when b is given, backward when dout is given, both from the same columns.
 * Every GEMM operand lives in this thread's wasm arena (gemmInArena: no copies in and out of the GEMM):
 * w is copied in once per call, im2col writes straight into the arena, dout is copied in per tile,
 * out and dx are copied out once; dw accumulates in the arena over images and tiles (beta = 1).
 */
function run<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A> | undefined,
  dout: Tensor<A> | undefined,
  g: ConvInfo,
  options: ConvOptions,
): RunResult<A> {
  const wasmHelpers = options.wasmHelpers !== false && hasWasmHelpers();
  if (wasmHelpers && g.Cg === 1) return runDepthwise(x, w, b, dout, g, options);
  if (wasmHelpers && useWinograd(g, options)) return runWinograd(x, w, b, dout, g, options);
  const { N, C, H, W, F, Fg, groups, Ho, Wo } = g;
  const Po = Ho * Wo;
  const HW = H * W;
  const plan = tilePlan(g, options);
  const { K, rows, direct } = plan;
  const Pmax = rows * Wo;
  const colLength = direct ? C * Po : plan.colLength;
  const dtype: Dtype = x.data instanceof Float32Array ? 'float32' : 'float64';
  const fwd = b !== undefined;
  const bwd = dout !== undefined;
  const r: RunResult<A> = {};
  const out = fwd ? zerosLike(x.data, N * F * Po) : undefined;
  const dx = bwd ? zerosLike(x.data, N * C * HW) : undefined;
  // When an image fits the column budget, it is copied into the arena for the wasm im2col, and its dx
  // accumulates there (wasm col2im); otherwise (or on the JS backend) the JS loops read x and add
  // straight into dx.
  const imageInArena = !direct && wasmHelpers && C * HW <= (options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS);
  const engine = gemmEngine();
  const arena = gemmArena();
  arena.scope(() => {
    const wB = arena.alloc(dtype, F * K);
    const colB = arena.alloc(dtype, colLength);
    const outB = fwd ? arena.alloc(dtype, F * Pmax) : undefined;
    const doutB = bwd ? arena.alloc(dtype, F * Pmax) : undefined;
    const dcolB = bwd ? arena.alloc(dtype, colLength) : undefined;
    const dwB = bwd ? arena.alloc(dtype, F * K) : undefined;
    const xB = imageInArena ? arena.alloc(dtype, C * HW) : undefined;
    const dxB = imageInArena && bwd ? arena.alloc(dtype, C * HW) : undefined;
    const dbB = bwd ? arena.alloc('float64', F) : undefined;
    // Views only after the last alloc: an alloc may grow the memory and detach earlier views.
    wB.view.set(w.data);
    const colV = colB.view;
    const outV = outB?.view;
    const doutV = doutB?.view;
    const dcolV = dcolB?.view;
    const dxV = dxB?.view;
    const dbV = dbB?.view;
    dwB?.view.fill(0);
    dbV?.fill(0);

    for (let n = 0; n < N; n++) {
      const outImg = n * F * Po;
      dxV?.fill(0);
      xB?.view.set(x.data.subarray(n * C * HW, (n + 1) * C * HW));
      for (let oh0 = 0; oh0 < Ho; oh0 += rows) {
        const oh1 = Math.min(Ho, oh0 + rows);
        const P = (oh1 - oh0) * Wo;
        if (direct) colV.set(x.data.subarray(n * C * Po, (n + 1) * C * Po));
        else if (xB) engine.im2colInArena(g, oh0, oh1, xB, colB);
        else im2col(x.data, n, g, oh0, oh1, colV);
        if (outB) {
          for (let f = 0; f < F; f++) outV!.fill(b!.data[f], f * P, (f + 1) * P);
          for (let gi = 0; gi < groups; gi++) {
            gemmInArena({
              transA: false, transB: false, M: Fg, N: P, K,
              A: wB, aOffset: gi * Fg * K, lda: K,
              B: colB, bOffset: gi * K * P, ldb: P,
              beta: 1,
              C: outB, cOffset: gi * Fg * P, ldc: P,
            });
          }
          copyRows(outV!, 0, P, out!, outImg + oh0 * Wo, Po, F, P);
        }
        if (doutB) {
          copyRows(dout!.data, outImg + oh0 * Wo, Po, doutV!, 0, P, F, P);
          if (wasmHelpers) rowSumsInArena(doutB, 0, F, P, P, dbB!);
          else for (let f = 0; f < F; f++) dbV![f] += sum(doutV!, f * P, (f + 1) * P);
          for (let gi = 0; gi < groups; gi++) {
            // dw[g] (Fg × K) += dout[n, g] (Fg × P) · col[g]ᵀ (P × K)
            gemmInArena({
              transA: false, transB: true, M: Fg, N: K, K: P,
              A: doutB, aOffset: gi * Fg * P, lda: P,
              B: colB, bOffset: gi * K * P, ldb: P,
              beta: 1,
              C: dwB!, cOffset: gi * Fg * K, ldc: K,
            });
            // dcol[g] (K × P) = w[g]ᵀ (K × Fg) · dout[n, g] (Fg × P)
            gemmInArena({
              transA: true, transB: false, M: K, N: P, K: Fg,
              A: wB, aOffset: gi * Fg * K, lda: K,
              B: doutB, bOffset: gi * Fg * P, ldb: P,
              beta: 0,
              C: dcolB!, cOffset: gi * K * P, ldc: P,
            });
          }
          // 1x1 direct: dcol is dx[n] itself.
          if (direct) dx!.set(dcolV!.subarray(0, C * Po), n * C * HW);
          else if (dxB) col2imInArena(g, oh0, oh1, dcolB!, dxB);
          else col2im(dcolV!, g, oh0, oh1, dx!, n * C * HW);
        }
      }
      if (dxV) dx!.set(dxV, n * C * HW);
    }
    if (dwB) {
      r.dw = zerosLike(x.data, F * K);
      r.dw.set(dwB.view);
      r.db = zerosLike(x.data, F);
      r.db.set(dbV!);
    }
  });
  if (out) r.out = out;
  if (dx) r.dx = dx;
  return r;
}

/**
 * Depthwise (groups = C, one input channel per group; the wasm helpers only): direct loops per channel
 * instead of per-group GEMMs with K = HH·WW. Images are done in chunks of whole channels (at least one),
 * as many as fit the column budget; x, dout and w are copied into the arena, out and dx out of it.
 * dw and db accumulate in float64 for both dtypes.
 */
function runDepthwise<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A> | undefined,
  dout: Tensor<A> | undefined,
  g: ConvInfo,
  options: ConvOptions,
): RunResult<A> {
  const { N, C, H, W, F, Fg, HH, WW, Ho, Wo } = g;
  const Po = Ho * Wo;
  const HW = H * W;
  const T = HH * WW;
  const budget = options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS;
  const perChannel = HW + Fg * Po;
  const chunk = Math.max(1, Math.min(C, Math.floor(budget / perChannel)));
  const dtype: Dtype = x.data instanceof Float32Array ? 'float32' : 'float64';
  const fwd = b !== undefined;
  const bwd = dout !== undefined;
  const r: RunResult<A> = {};
  const out = fwd ? zerosLike(x.data, N * F * Po) : undefined;
  const dx = bwd ? zerosLike(x.data, N * C * HW) : undefined;
  const arena = gemmArena();
  arena.scope(() => {
    const wB = arena.alloc(dtype, F * T);
    const bB = fwd ? arena.alloc(dtype, F) : undefined;
    const xB = arena.alloc(dtype, chunk * HW);
    const outB = fwd ? arena.alloc(dtype, chunk * Fg * Po) : undefined;
    const doutB = bwd ? arena.alloc(dtype, chunk * Fg * Po) : undefined;
    const dxB = bwd ? arena.alloc(dtype, chunk * HW) : undefined;
    const dwB = bwd ? arena.alloc('float64', F * T) : undefined;
    const dbB = bwd ? arena.alloc('float64', F) : undefined;
    // Views only after the last alloc.
    wB.view.set(w.data);
    if (bB) bB.view.set(b!.data);
    const xV = xB.view;
    const outV = outB?.view;
    const doutV = doutB?.view;
    const dxV = dxB?.view;
    dwB?.view.fill(0);
    dbB?.view.fill(0);
    for (let n = 0; n < N; n++) {
      for (let c0 = 0; c0 < C; c0 += chunk) {
        const nc = Math.min(C, c0 + chunk) - c0;
        const xAt = (n * C + c0) * HW;
        const outAt = (n * F + c0 * Fg) * Po;
        const outLen = nc * Fg * Po;
        xV.set(x.data.subarray(xAt, xAt + nc * HW));
        if (outB) {
          depthwiseForwardInArena(g, nc, xB, wB, c0 * Fg * T, bB!, c0 * Fg, outB);
          out!.set(outV!.subarray(0, outLen), outAt);
        }
        if (doutB) {
          doutV!.set(dout!.data.subarray(outAt, outAt + outLen));
          rowSumsInArena(doutB, 0, nc * Fg, Po, Po, dbB!, c0 * Fg);
          depthwiseBackwardInArena(g, nc, xB, wB, c0 * Fg * T, doutB, dxB!, dwB!, c0 * Fg * T);
          dx!.set(dxV!.subarray(0, nc * HW), xAt);
        }
      }
    }
    if (dwB) {
      r.dw = zerosLike(x.data, F * T);
      r.dw.set(dwB.view);
      r.db = zerosLike(x.data, F);
      r.db.set(dbB!.view);
    }
  });
  if (out) r.out = out;
  if (dx) r.dx = dx;
  return r;
}

/** Winograd's default applies from this many input channels and filters on (below, the GEMMs are too thin). */
export const WINOGRAD_MIN_CHANNELS = 8;

function useWinograd(g: ConvInfo, options: ConvOptions): boolean {
  if (options.winograd === false) return false;
  const shape = g.HH === 3 && g.WW === 3 && g.strideH === 1 && g.strideW === 1 && g.dilationH === 1 && g.dilationW === 1 && g.groups === 1;
  if (!shape) return false;
  const p = winogradPlan(g, 4, options);
  const budget = options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS;
  // One image's padded planes must fit the budget; the tiles are done in bands that do.
  if (Math.max(g.C * p.xPlane, g.F * p.oPlane) > budget && options.winograd !== true) return false;
  return options.winograd === true || (g.C >= WINOGRAD_MIN_CHANNELS && g.F >= WINOGRAD_MIN_CHANNELS);
}

interface WinogradPlan {
  /** output tile rows, tiles per row (padded to a multiple of the lanes) */
  tH: number;
  tW: number;
  /** padded input planes: Hp × Wp, x at (padH, padW) */
  Hp: number;
  Wp: number;
  xPlane: number;
  /** padded output planes: 2·tH × 2·tW */
  oPlane: number;
  /** tile rows per band */
  bandRows: number;
}

function winogradPlan(g: ConvInfo, lanes: number, options: ConvOptions): WinogradPlan {
  const tH = Math.ceil(g.Ho / 2);
  const tW = Math.ceil(Math.ceil(g.Wo / 2) / lanes) * lanes;
  const Hp = 2 * tH + 2;
  const Wp = 2 * tW + 2;
  const budget = options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS;
  const bandRows = Math.max(1, Math.min(tH, Math.floor(budget / (16 * Math.max(g.C, g.F) * tW))));
  return { tH, tW, Hp, Wp, xPlane: Hp * Wp, oPlane: 4 * tH * tW, bandRows };
}

/**
 * Winograd F(2×2, 3×3) (Lavin & Gray): per 2×2 output tile, 16 multiplies per channel pair instead of
 * 36, so the three GEMMs shrink 2.25×. Per image: x is copied into a zero-padded plane, its 4×4 patches
 * transformed (V = Bᵀ d B, 16 matrices C × tiles), then forward M = U·V (16 GEMMs, U = G w Gᵀ done once
 * per call) and out = Aᵀ M A + b; backward Ď = A dout Aᵀ, dU += Ď·Vᵀ and dV = Uᵀ·Ď (32 GEMMs), dx = the
 * patches' B dV Bᵀ summed; at the end dw = Gᵀ dU G. Everything but U and dw runs in wasm on the arena.
 * The transforms are exact in binary (coefficients 0, ±1, ±½); rounding differs from im2col's order.
 */
function runWinograd<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A> | undefined,
  dout: Tensor<A> | undefined,
  g: ConvInfo,
  options: ConvOptions,
): RunResult<A> {
  const { N, C, H, W, F, Ho, Wo, padH, padW } = g;
  const dtype: Dtype = x.data instanceof Float32Array ? 'float32' : 'float64';
  const plan = winogradPlan(g, dtype === 'float32' ? 4 : 2, options);
  const { tH, tW, Wp, xPlane, oPlane, bandRows } = plan;
  const HW = H * W;
  const Po = Ho * Wo;
  const oLd = 2 * tW;
  const compactOut = oLd === Wo && 2 * tH === Ho;
  const Tmax = bandRows * tW;
  // The 16 tile matrices of V and M lie xs apart: channels × tiles plus one cache line, so their 16
  // streams do not land in the same L1 sets (a multiple of 4 KiB apart, the dout transform ran 4x slower).
  const line = dtype === 'float32' ? 16 : 8;
  const vs = C * Tmax + line;
  const ms = F * Tmax + line;
  const fwd = b !== undefined;
  const bwd = dout !== undefined;
  const r: RunResult<A> = {};
  const out = fwd ? zerosLike(x.data, N * F * Po) : undefined;
  const dx = bwd ? zerosLike(x.data, N * C * HW) : undefined;
  const engine = gemmEngine();
  const arena = gemmArena();
  arena.scope(() => {
    const U = arena.alloc(dtype, 16 * F * C);
    const xin = arena.alloc(dtype, C * HW);
    const xpad = arena.alloc(dtype, C * xPlane);
    const V = arena.alloc(dtype, 16 * vs);
    const Mb = arena.alloc(dtype, 16 * ms);
    const bB = fwd ? arena.alloc(dtype, F) : undefined;
    const opad = fwd ? arena.alloc(dtype, F * oPlane) : undefined;
    const oC = fwd && !compactOut ? arena.alloc(dtype, F * Po) : undefined;
    const dpad = bwd ? arena.alloc(dtype, F * oPlane) : undefined;
    const dC = bwd && !compactOut ? arena.alloc(dtype, F * Po) : undefined;
    const dU = bwd ? arena.alloc(dtype, 16 * F * C) : undefined;
    const dxpad = bwd ? arena.alloc(dtype, C * xPlane) : undefined;
    const dxC = bwd ? arena.alloc(dtype, C * HW) : undefined;
    const dbB = bwd ? arena.alloc('float64', F) : undefined;
    // Views only after the last alloc.
    filterTransform(w.data, U.view, F, C);
    bB?.view.set(b!.data);
    xpad.view.fill(0);
    dpad?.view.fill(0);
    dU?.view.fill(0);
    dbB?.view.fill(0);
    const xinV = xin.view;
    const dxpadV = dxpad?.view;
    const doutIn = dC ?? dpad;
    const doutInV = doutIn?.view;
    for (let n = 0; n < N; n++) {
      xinV.set(x.data.subarray(n * C * HW, (n + 1) * C * HW));
      engine.copyPlanesInArena(xin, 0, HW, W, xpad, padH * Wp + padW, xPlane, Wp, C, H, W);
      if (bwd) {
        doutInV!.set(dout!.data.subarray(n * F * Po, (n + 1) * F * Po));
        rowSumsInArena(doutIn!, 0, F, Po, Po, dbB!);
        if (dC) engine.copyPlanesInArena(dC, 0, Po, Wo, dpad!, 0, oPlane, oLd, F, Ho, Wo);
        dxpadV!.fill(0);
      }
      for (let tr0 = 0; tr0 < tH; tr0 += bandRows) {
        const tr1 = Math.min(tH, tr0 + bandRows);
        const Tb = (tr1 - tr0) * tW;
        const vBand = { tr0, tr1, tW, xs: vs };
        const mBand = { tr0, tr1, tW, xs: ms };
        engine.winogradInputInArena(xpad, V, C, Wp, xPlane, vBand);
        if (fwd) {
          for (let xi = 0; xi < 16; xi++) {
            gemmInArena({
              transA: false, transB: false, M: F, N: Tb, K: C,
              A: U, aOffset: xi * F * C, lda: C, B: V, bOffset: xi * vs, ldb: Tb,
              beta: 0, C: Mb, cOffset: xi * ms, ldc: Tb,
            });
          }
          engine.winogradOutputInArena(Mb, bB!, opad!, F, oPlane, mBand);
        }
        if (bwd) {
          engine.winogradDoutInArena(dpad!, Mb, F, oPlane, mBand);
          for (let xi = 0; xi < 16; xi++) {
            // dU[ξ] (F × C) += Ď[ξ] (F × Tb) · V[ξ]ᵀ; then V[ξ] ← dV[ξ] = U[ξ]ᵀ · Ď[ξ] (C × Tb)
            gemmInArena({
              transA: false, transB: true, M: F, N: C, K: Tb,
              A: Mb, aOffset: xi * ms, lda: Tb, B: V, bOffset: xi * vs, ldb: Tb,
              beta: 1, C: dU!, cOffset: xi * F * C, ldc: C,
            });
            gemmInArena({
              transA: true, transB: false, M: C, N: Tb, K: F,
              A: U, aOffset: xi * F * C, lda: C, B: Mb, bOffset: xi * ms, ldb: Tb,
              beta: 0, C: V, cOffset: xi * vs, ldc: Tb,
            });
          }
          engine.winogradDxInArena(V, dxpad!, C, Wp, xPlane, vBand);
        }
      }
      if (fwd) {
        if (oC) {
          engine.copyPlanesInArena(opad!, 0, oPlane, oLd, oC, 0, Po, Wo, F, Ho, Wo);
          out!.set(oC.view, n * F * Po);
        } else {
          out!.set(opad!.view.subarray(0, F * Po), n * F * Po);
        }
      }
      if (bwd) {
        engine.copyPlanesInArena(dxpad!, padH * Wp + padW, xPlane, Wp, dxC!, 0, HW, W, C, H, W);
        dx!.set(dxC!.view, n * C * HW);
      }
    }
    if (bwd) {
      r.dw = zerosLike(x.data, F * C * 9);
      filterTransformAdjoint(dU!.view, r.dw, F, C);
      r.db = zerosLike(x.data, F);
      r.db.set(dbB!.view);
    }
  });
  if (out) r.out = out;
  if (dx) r.dx = dx;
  return r;
}

/**
 * U[ξ][f][c] = (G g Gᵀ)[ξ] for the 3×3 filter g = w[f, c], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1], in
 * double, rounded once at the store.
 */
function filterTransform(w: FloatArray, U: FloatArray, F: number, C: number): void {
  const FC = F * C;
  const h = new Float64Array(12);
  for (let f = 0; f < F; f++) {
    for (let c = 0; c < C; c++) {
      const o = (f * C + c) * 9;
      for (let s = 0; s < 3; s++) {
        const g0 = w[o + s], g1 = w[o + 3 + s], g2 = w[o + 6 + s];
        h[s] = g0;
        h[3 + s] = (g0 + g1 + g2) / 2;
        h[6 + s] = (g0 - g1 + g2) / 2;
        h[9 + s] = g2;
      }
      for (let rr = 0; rr < 4; rr++) {
        const h0 = h[3 * rr], h1 = h[3 * rr + 1], h2 = h[3 * rr + 2];
        const at = 4 * rr * FC + f * C + c;
        U[at] = h0;
        U[at + FC] = (h0 + h1 + h2) / 2;
        U[at + 2 * FC] = (h0 - h1 + h2) / 2;
        U[at + 3 * FC] = h2;
      }
    }
  }
}

/** dw[f, c] = Gᵀ dU[f, c] G: the adjoint of filterTransform. */
function filterTransformAdjoint(dU: FloatArray, dw: FloatArray, F: number, C: number): void {
  const FC = F * C;
  const p = new Float64Array(12);
  for (let f = 0; f < F; f++) {
    for (let c = 0; c < C; c++) {
      const at = f * C + c;
      // p[a][k] = Σ_r G[r][a] dU[r][k]
      for (let k = 0; k < 4; k++) {
        const u0 = dU[k * FC + at], u1 = dU[(4 + k) * FC + at], u2 = dU[(8 + k) * FC + at], u3 = dU[(12 + k) * FC + at];
        p[k] = u0 + (u1 + u2) / 2;
        p[4 + k] = (u1 - u2) / 2;
        p[8 + k] = (u1 + u2) / 2 + u3;
      }
      const o = at * 9;
      for (let a = 0; a < 3; a++) {
        const q0 = p[4 * a], q1 = p[4 * a + 1], q2 = p[4 * a + 2], q3 = p[4 * a + 3];
        dw[o + 3 * a] = q0 + (q1 + q2) / 2;
        dw[o + 3 * a + 1] = (q1 - q2) / 2;
        dw[o + 3 * a + 2] = (q1 + q2) / 2 + q3;
      }
    }
  }
}

/** Σ a[lo..hi) in double. */
function sum(a: FloatArray, lo: number, hi: number): number {
  let s = 0;
  for (let i = lo; i < hi; i++) s += a[i];
  return s;
}

/** dst[dOff + r·ldd + (0..cols)] = src[sOff + r·lds + (0..cols)] for `rowCount` rows (one set when both are dense). */
function copyRows(
  src: FloatArray, sOff: number, lds: number, dst: FloatArray, dOff: number, ldd: number, rowCount: number, cols: number,
): void {
  if (lds === cols && ldd === cols) {
    dst.set(src.subarray(sOff, sOff + rowCount * cols), dOff);
    return;
  }
  for (let i = 0; i < rowCount; i++) dst.set(src.subarray(sOff + i * lds, sOff + i * lds + cols), dOff + i * ldd);
}

function prepare(x: Tensor, w: Tensor, params: ConvParams, b?: Tensor): ConvInfo {
  const info = convInfo(x.shape, w.shape, params, b?.shape);
  checkLength('conv', 'inputs.x', x.shape, x.data.length);
  checkLength('conv', 'inputs.w', w.shape, w.data.length);
  if (b) checkLength('conv', 'inputs.b', b.shape, b.data.length);
  const kind = x.data.constructor;
  if (w.data.constructor !== kind || (b && b.data.constructor !== kind)) {
    throw new TypeError('conv: x, w and b must share a dtype');
  }
  return info;
}

interface TilePlan {
  /** rows of K per group */
  K: number;
  /** 1x1, stride 1, pad 0: x[n] is the col matrix */
  direct: boolean;
  /** output rows per tile */
  rows: number;
  colLength: number;
}

function tilePlan(g: ConvInfo, options: ConvOptions): TilePlan {
  const K = g.Cg * g.HH * g.WW;
  const direct = g.HH === 1 && g.WW === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0;
  if (direct) return { K, direct, rows: g.Ho, colLength: 0 };
  const perRow = g.C * g.HH * g.WW * g.Wo;
  const budget = options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS;
  const rows = Math.max(1, Math.min(g.Ho, Math.floor(budget / perRow)));
  return { K, direct, rows, colLength: perRow * rows };
}

/**
 * When both strides are 1 and Wo = W ("same" width), the col row of tap (c, kh, kw) over output rows
 * [ohLo, ohHi) is one contiguous run of x shifted by a constant: copy it in one `set` and zero the
 * padded columns, instead of copying row by row.
 */
function contiguousRows(g: ConvInfo): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.Wo === g.W;
}

/** col (C·HH·WW × P, P = (oh1 − oh0)·Wo) ← the patches of image n for output rows [oh0, oh1). */
function im2col(x: FloatArray, n: number, g: ConvInfo, oh0: number, oh1: number, col: FloatArray): void {
  const { C, H, W, HH, WW, Ho, Wo, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const P = (oh1 - oh0) * Wo;
  const contiguous = contiguousRows(g);
  let dst = 0;
  for (let c = 0; c < C; c++) {
    const xc = (n * C + c) * H * W;
    for (let kh = 0; kh < HH; kh++) {
      const offH = kh * dh - ph;
      const ohLo = Math.min(oh1, Math.max(oh0, insideStart(offH, sh, Ho)));
      const ohHi = Math.max(ohLo, Math.min(oh1, insideEnd(offH, sh, H, Ho)));
      for (let kw = 0; kw < WW; kw++) {
        const offW = kw * dw - pw;
        const owLo = insideStart(offW, sw, Wo);
        const owHi = insideEnd(offW, sw, W, Wo);
        const rowEnd = dst + P;
        col.fill(0, dst, dst + (ohLo - oh0) * Wo);
        dst += (ohLo - oh0) * Wo;
        if (contiguous && ohHi > ohLo) {
          // col[dst + i] = x[src + i] for the whole block, clipped to the plane; then zero the padding
          const len = (ohHi - ohLo) * Wo;
          const src = xc + (ohLo + offH) * W + offW;
          // [lo, hi) of the block lies inside the plane; the rest is padding (empty when the tap misses it)
          const lo = Math.min(len, Math.max(0, xc - src));
          const hi = Math.max(lo, Math.min(len, xc + H * W - src));
          col.set(x.subarray(src + lo, src + hi), dst + lo);
          col.fill(0, dst, dst + lo);
          col.fill(0, dst + hi, dst + len);
          zeroColumns(col, dst, len, Wo, owLo, owHi);
          dst += len;
        } else {
          for (let oh = ohLo; oh < ohHi; oh++) {
            const src = xc + (oh * sh + offH) * W + offW;
            let ow = 0;
            for (; ow < owLo; ow++) col[dst + ow] = 0;
            if (sw === 1) for (; ow < owHi; ow++) col[dst + ow] = x[src + ow];
            else for (; ow < owHi; ow++) col[dst + ow] = x[src + ow * sw];
            for (; ow < Wo; ow++) col[dst + ow] = 0;
            dst += Wo;
          }
        }
        col.fill(0, dst, rowEnd);
        dst = rowEnd;
      }
    }
  }
}

/**
 * target[off + (c, ih, iw)] += dcol[(c, kh, kw), p] over output rows [oh0, oh1): the adjoint of im2col.
 * The contiguous path first zeroes dcol's padded columns (dcol is scratch) so one shifted add covers the block.
 */
function col2im(dcol: FloatArray, g: ConvInfo, oh0: number, oh1: number, target: FloatArray, off: number): void {
  const { C, H, W, HH, WW, Ho, Wo, strideH: sh, strideW: sw, padH: ph, padW: pw, dilationH: dh, dilationW: dw } = g;
  const P = (oh1 - oh0) * Wo;
  const contiguous = contiguousRows(g);
  let row = 0;
  for (let c = 0; c < C; c++) {
    const tc = off + c * H * W;
    for (let kh = 0; kh < HH; kh++) {
      const offH = kh * dh - ph;
      const ohLo = Math.min(oh1, Math.max(oh0, insideStart(offH, sh, Ho)));
      const ohHi = Math.max(ohLo, Math.min(oh1, insideEnd(offH, sh, H, Ho)));
      for (let kw = 0; kw < WW; kw++, row += P) {
        const offW = kw * dw - pw;
        const owLo = insideStart(offW, sw, Wo);
        const owHi = insideEnd(offW, sw, W, Wo);
        if (contiguous) {
          if (ohHi <= ohLo) continue;
          const start = row + (ohLo - oh0) * Wo;
          const len = (ohHi - ohLo) * Wo;
          zeroColumns(dcol, start, len, Wo, owLo, owHi);
          const t = tc + (ohLo + offH) * W + offW - start;
          addShifted(target, t, dcol, Math.max(start, tc - t), Math.min(start + len, tc + H * W - t));
          continue;
        }
        for (let oh = ohLo; oh < ohHi; oh++) {
          const src = row + (oh - oh0) * Wo;
          const t = tc + (oh * sh + offH) * W + offW;
          if (sw === 1) for (let ow = owLo; ow < owHi; ow++) target[t + ow] += dcol[src + ow];
          else for (let ow = owLo; ow < owHi; ow++) target[t + ow * sw] += dcol[src + ow];
        }
      }
    }
  }
}

/** Zeroes columns [0, owLo) and [owHi, Wo) of the len / Wo rows of width Wo starting at `start`. */
function zeroColumns(a: FloatArray, start: number, len: number, Wo: number, owLo: number, owHi: number): void {
  if (owLo === 0 && owHi === Wo) return;
  for (let r = start; r < start + len; r += Wo) {
    for (let ow = 0; ow < owLo; ow++) a[r + ow] = 0;
    for (let ow = owHi; ow < Wo; ow++) a[r + ow] = 0;
  }
}

/** target[t + i] += src[i] for i in [lo, hi). */
function addShifted(target: FloatArray, t: number, src: FloatArray, lo: number, hi: number): void {
  for (let i = lo, j = t + lo; i < hi; i++, j++) target[j] += src[i];
}
