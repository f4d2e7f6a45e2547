/**
 * The driver both Winograd algorithms share (F(2×2, 3×3) in ./winograd.ts, F(4×4, 3×3) in ./winograd4.ts):
 * the tiling plan, the arena blocks, the copies in and out, the band loop and its GEMMs. What differs
 * between them is a WinogradScheme: the tile size m, the (m + 2)² transformed matrices, the filter
 * transform and its adjoint (JS, in double) and the four wasm tile transforms.
 *
 * Per band of k images side by side (k > 1 only when one band covers an image, so each image's planes
 * are used up before the next image's are filled): 1. x is copied into a zero-padded plane and the
 * patches of each image transformed into V ((m + 2)² matrices C × tiles); 2. forward: M = U·V (one GEMM
 * per matrix, U = G w Gᵀ done once per call), each image's out = Aᵀ M A + b and copy out; 3. backward:
 * each image's Ď = A dout Aᵀ into Mb (M is used up), dU += Ď·Vᵀ, V ← dV = Uᵀ·Ď, each image's dx = the
 * patches' B dV Bᵀ summed and copy out. At the end dw = Gᵀ dU G.
 */
import { gemmInArena } from '../gemm.ts';
import type { ConvInfo } from '../geometry.ts';
import { zerosLike, type FloatArray } from '../types.ts';
import type { ArenaBlock } from '../wasm/arena.ts';
import type { ConvKernels, Winograd4Band } from '../wasm/conv-kernels.ts';
import { DEFAULT_MAX_COL_ELEMENTS, type ConvJob, type ConvOptions } from './types.ts';

/** The band of tiles the wasm transforms work on; F(2×2)'s ignore ldt and tOffset (one image per band). */
export type TileBand = Winograd4Band;

/** One Winograd algorithm F(m×m, 3×3): what the shared driver needs to know of it. */
export interface WinogradScheme {
  /** output tile side */
  readonly m: 2 | 4;
  /** the conv's stride (both axes; default 1): output tile (ti, tj) reads the patch at s·m·(ti, tj) */
  readonly stride?: 1 | 2;
  /** transformed matrices per tile: (m + 2)² at stride 1, (s·m + 1)² for the stride-2 scheme */
  readonly count: 16 | 25 | 36;
  /**
   * Where G has equal rows, transformed matrices ξ share one filter matrix: uSlot[ξ] is the U (and dU)
   * matrix of ξ, uCount their number (default: one each). dU[slot] then sums the products of every ξ in
   * the slot, which the adjoint of the filter transform adds up anyway.
   */
  readonly uSlot?: readonly number[];
  readonly uCount?: number;
  /** padded input rows hold s·m·tW + extraCols columns (at least the 3 − s the last patch reaches past its tile) */
  readonly extraCols: number;
  /** images are laid side by side in a band until it holds this many tiles (undefined: one image per band) */
  readonly targetTiles?: number;
  /**
   * The output and dout transforms take all of a band's images in one call (`images` > 1, each image's
   * F planes after the previous one's), reading the transformed matrices' rows in order rather than one
   * image's stretch of every row at a time.
   */
  readonly batchesImages?: boolean;
  /**
   * U[slot][f][c] from w (F × C × 3 × 3), one matrix per slot (see uSlot), and dw from dU (its adjoint):
   * in JS (filterTransform, filterTransformAdjoint) or in wasm on arena blocks (the …InArena pair).
   */
  filterTransform?(w: FloatArray, U: FloatArray, F: number, C: number): void;
  filterTransformAdjoint?(dU: FloatArray, dw: FloatArray, F: number, C: number): void;
  filterTransformInArena?(k: ConvKernels, w: ArenaBlock, U: ArenaBlock, F: number, C: number): void;
  filterTransformAdjointInArena?(k: ConvKernels, dU: ArenaBlock, dw: ArenaBlock, F: number, C: number): void;
  /** V = Bᵀ d B of the band's patches of xpad (C planes) */
  input(k: ConvKernels, xpad: ArenaBlock, V: ArenaBlock, C: number, ld: number, plane: number, band: TileBand): void;
  /** opad (F planes per image) = Aᵀ M A + b of the band's tiles (of `images` images when batchesImages) */
  output(k: ConvKernels, M: ArenaBlock, b: ArenaBlock, opad: ArenaBlock, F: number, plane: number, band: TileBand, images?: number): void;
  /** D = A dY Aᵀ of the band's tiles of dpad: the adjoint of output */
  dout(k: ConvKernels, dpad: ArenaBlock, D: ArenaBlock, F: number, plane: number, band: TileBand, images?: number): void;
  /** dxpad (C planes) += B dV Bᵀ at the band's patches: the adjoint of input */
  dx(k: ConvKernels, dV: ArenaBlock, dxpad: ArenaBlock, C: number, ld: number, plane: number, band: TileBand): void;
}

export interface WinogradPlan {
  /** output tile rows, tiles per row (padded to a multiple of the lanes) */
  tH: number;
  tW: number;
  /** padded input planes: rows Wp wide, x at (padH, padW) */
  Wp: number;
  xPlane: number;
  /** padded output planes: m·tH × m·tW */
  oPlane: number;
  /** tile rows per band */
  bandRows: number;
  /** images side by side in one band (bandRows = tH when more than one) */
  images: number;
}

/** The tiling of this conv for a scheme, with tW a multiple of `lanes` (the SIMD lanes of the transforms). */
export function winogradPlan(g: ConvInfo, options: ConvOptions, scheme: WinogradScheme, lanes: number): WinogradPlan {
  const { m, count, extraCols, targetTiles } = scheme;
  const s = scheme.stride ?? 1;
  const tH = Math.ceil(g.Ho / m);
  const tW = Math.ceil(Math.ceil(g.Wo / m) / lanes) * lanes;
  // At stride 2 the input may hold a row and column no output reads (H + 2·pad − 3 odd): the padded
  // planes still take all of x.
  const Hp = Math.max(s * m * tH + 3 - s, g.padH + g.H);
  const Wp = Math.max(s * m * tW + extraCols, g.padW + g.W);
  const budget = options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS;
  const perTile = count * Math.max(g.C, g.F);
  const bandRows = Math.max(1, Math.min(tH, Math.floor(budget / (perTile * tW))));
  const perImage = tH * tW;
  const images = targetTiles === undefined || bandRows < tH ? 1
    : Math.max(1, Math.min(g.N, Math.ceil(targetTiles / perImage), Math.floor(budget / (perTile * perImage))));
  return { tH, tW, Wp, xPlane: Hp * Wp, oPlane: m * m * tH * tW, bandRows, images };
}

/** Whether one image's padded planes fit the budget (the tiles are done in bands that do). */
export function winogradPlanFits(g: ConvInfo, options: ConvOptions, p: WinogradPlan): boolean {
  return Math.max(g.C * p.xPlane, g.F * p.oPlane) <= (options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS);
}

/** Runs the job with this scheme and plan (see the top of this file). Everything but (for some schemes) U and dw runs in wasm on the arena. */
export function runWinograd<A extends FloatArray>(job: ConvJob<A>, scheme: WinogradScheme, p: WinogradPlan): A | undefined {
  const { x, w, b, dout, g, dtype, out, dx, arena } = job;
  const kernels = job.kernels!;
  const { m, count } = scheme;
  const uCount = scheme.uCount ?? count;
  const slot = (xi: number) => (scheme.uSlot === undefined ? xi : scheme.uSlot[xi]);
  const { N, C, H, W, F, Ho, Wo, padH, padW } = g;
  const { tH, tW, Wp, xPlane, oPlane, bandRows, images } = p;
  const HW = H * W;
  const Po = Ho * Wo;
  const oLd = m * tW;
  const compactOut = oLd === Wo && m * tH === Ho;
  const Tmax = images * bandRows * tW;
  // The transformed matrices of V and M lie xs apart: channels × tiles plus one cache line, so their
  // streams do not land in the same L1 sets (a multiple of 4 KiB apart, the dout transform ran 4x slower).
  const line = dtype === 'float32' ? 16 : 8;
  const vs = C * Tmax + line;
  const ms = F * Tmax + line;
  const fwd = b !== undefined;
  const bwd = dout !== undefined;
  const batches = scheme.batchesImages === true;
  // planes of the images' outputs (and douts) in opad (dpad): all of a band's images, or one at a time
  const oImages = batches ? images : 1;
  const U = arena.alloc(dtype, uCount * F * C);
  const xin = arena.alloc(dtype, C * HW);
  const xpad = arena.alloc(dtype, C * xPlane);
  const V = arena.alloc(dtype, count * vs);
  const Mb = arena.alloc(dtype, count * ms);
  const bB = fwd ? arena.alloc(dtype, F) : undefined;
  const opad = fwd ? arena.alloc(dtype, oImages * F * oPlane) : undefined;
  const oC = fwd && !compactOut ? arena.alloc(dtype, F * Po) : undefined;
  const dpad = bwd ? arena.alloc(dtype, oImages * F * oPlane) : undefined;
  const dC = bwd && !compactOut ? arena.alloc(dtype, F * Po) : undefined;
  const dU = bwd ? arena.alloc(dtype, uCount * F * C) : undefined;
  const dxpad = bwd ? arena.alloc(dtype, C * xPlane) : undefined;
  const dxC = bwd ? arena.alloc(dtype, C * HW) : undefined;
  const inArena = scheme.filterTransformInArena !== undefined;
  const wB = inArena ? arena.alloc(dtype, F * C * 9) : undefined;
  const dwB = inArena && bwd ? arena.alloc(dtype, F * C * 9) : undefined;
  const dbB = job.db;
  // Views only after the last alloc.
  if (wB) {
    wB.view.set(w.data);
    scheme.filterTransformInArena!(kernels, wB, U, F, C);
  } else {
    scheme.filterTransform!(w.data, U.view, F, C);
  }
  bB?.view.set(b!.data);
  xpad.view.fill(0);
  dpad?.view.fill(0);
  dU?.view.fill(0);
  const xinV = xin.view;
  const dxpadV = dxpad?.view;
  const doutIn = dC ?? dpad;
  const doutInV = doutIn?.view;
  for (let n0 = 0; n0 < N; n0 += images) {
    const k = Math.min(N, n0 + images) - n0;
    for (let tr0 = 0; tr0 < tH; tr0 += bandRows) {
      const tr1 = Math.min(tH, tr0 + bandRows);
      const T1 = (tr1 - tr0) * tW; // one image's tiles in this band
      const Tb = k * T1;
      const band = (xs: number, i: number): TileBand => ({ tr0, tr1, tW, xs, ldt: Tb, tOffset: i * T1 });
      for (let i = 0; i < k; i++) {
        const n = n0 + i;
        if (tr0 === 0) {
          xinV.set(x.data.subarray(n * C * HW, (n + 1) * C * HW));
          kernels.copyPlanesInArena(xin, 0, HW, W, xpad, padH * Wp + padW, xPlane, Wp, C, H, W);
        }
        scheme.input(kernels, xpad, V, C, Wp, xPlane, band(vs, i));
      }
      if (fwd) {
        for (let xi = 0; xi < count; xi++) {
          gemmInArena({
            transA: false, transB: false, M: F, N: Tb, K: C,
            A: U, aOffset: slot(xi) * F * C, lda: C, B: V, bOffset: xi * vs, ldb: Tb,
            beta: 0, C: Mb, cOffset: xi * ms, ldc: Tb,
          });
        }
        if (batches) scheme.output(kernels, Mb, bB!, opad!, F, oPlane, band(ms, 0), k);
        for (let i = 0; i < k; i++) {
          const n = n0 + i;
          const at = batches ? i * F * oPlane : 0;
          if (!batches) scheme.output(kernels, Mb, bB!, opad!, F, oPlane, band(ms, i));
          if (tr1 < tH) continue;
          if (oC) {
            kernels.copyPlanesInArena(opad!, at, oPlane, oLd, oC, 0, Po, Wo, F, Ho, Wo);
            out!.set(oC.view, n * F * Po);
          } else {
            out!.set(opad!.view.subarray(at, at + F * Po), n * F * Po);
          }
        }
      }
      if (bwd) {
        for (let i = 0; i < k; i++) {
          const n = n0 + i;
          const at = batches ? i * F * oPlane : 0;
          if (tr0 === 0) {
            // compact: straight into dpad (its image's planes); else through dC
            const dIn = dC ? 0 : at;
            doutInV!.set(dout!.data.subarray(n * F * Po, (n + 1) * F * Po), dIn);
            kernels.rowSumsInArena(doutIn!, dIn, F, Po, Po, dbB!);
            if (dC) kernels.copyPlanesInArena(dC, 0, Po, Wo, dpad!, at, oPlane, oLd, F, Ho, Wo);
          }
          if (!batches) scheme.dout(kernels, dpad!, Mb, F, oPlane, band(ms, i));
        }
        if (batches) scheme.dout(kernels, dpad!, Mb, F, oPlane, band(ms, 0), k);
        for (let xi = 0; xi < count; xi++) {
          // dU[ξ] (F × C) += Ď[ξ] (F × Tb) · V[ξ]ᵀ; then V[ξ] ← dV[ξ] = U[ξ]ᵀ · Ď[ξ] (C × Tb)
          gemmInArena({
            transA: false, transB: true, M: F, N: C, K: Tb,
            A: Mb, aOffset: xi * ms, lda: Tb, B: V, bOffset: xi * vs, ldb: Tb,
            beta: 1, C: dU!, cOffset: slot(xi) * F * C, ldc: C,
          });
          gemmInArena({
            transA: true, transB: false, M: C, N: Tb, K: F,
            A: U, aOffset: slot(xi) * F * C, lda: C, B: Mb, bOffset: xi * ms, ldb: Tb,
            beta: 0, C: V, cOffset: xi * vs, ldc: Tb,
          });
        }
        for (let i = 0; i < k; i++) {
          const n = n0 + i;
          if (tr0 === 0) dxpadV!.fill(0);
          scheme.dx(kernels, V, dxpad!, C, Wp, xPlane, band(vs, i));
          if (tr1 < tH) continue;
          kernels.copyPlanesInArena(dxpad!, padH * Wp + padW, xPlane, Wp, dxC!, 0, HW, W, C, H, W);
          dx!.set(dxC!.view, n * C * HW);
        }
      }
    }
  }
  if (!bwd) return undefined;
  const dw = zerosLike(x.data, F * C * 9);
  if (dwB) {
    scheme.filterTransformAdjointInArena!(kernels, dU!, dwB, F, C);
    dw.set(dwB.view);
  } else {
    scheme.filterTransformAdjoint!(dU!.view, dw, F, C);
  }
  return dw;
}
