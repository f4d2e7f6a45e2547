/**
 * Winograd F(2×2, 3×3) for 3×3, stride-1, undilated, ungrouped convs (the wasm helpers only).
 */
import { gemmInArena } from '../gemm.ts';
import type { ConvInfo } from '../geometry.ts';
import { zerosLike, type FloatArray } from '../types.ts';
import { DEFAULT_MAX_COL_ELEMENTS, type ConvAlgorithm, type ConvJob, type ConvOptions } from './types.ts';

export const winograd2x2: ConvAlgorithm = { name: 'winograd-2x2', run };

/** Winograd's default applies from this many input channels and filters on (below, the GEMMs are too thin). */
export const WINOGRAD_MIN_CHANNELS = 8;

/** Whether Winograd F(2×2, 3×3) runs this conv (given the wasm helpers). */
export function useWinograd(g: ConvInfo, options: ConvOptions): boolean {
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
function run<A extends FloatArray>(job: ConvJob<A>): A | undefined {
  const { x, w, b, dout, g, options, dtype, out, dx, arena } = job;
  const kernels = job.kernels!;
  const { N, C, H, W, F, Ho, Wo, padH, padW } = g;
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
  const dbB = job.db;
  // Views only after the last alloc.
  filterTransform(w.data, U.view, F, C);
  bB?.view.set(b!.data);
  xpad.view.fill(0);
  dpad?.view.fill(0);
  dU?.view.fill(0);
  const xinV = xin.view;
  const dxpadV = dxpad?.view;
  const doutIn = dC ?? dpad;
  const doutInV = doutIn?.view;
  for (let n = 0; n < N; n++) {
    xinV.set(x.data.subarray(n * C * HW, (n + 1) * C * HW));
    kernels.copyPlanesInArena(xin, 0, HW, W, xpad, padH * Wp + padW, xPlane, Wp, C, H, W);
    if (bwd) {
      doutInV!.set(dout!.data.subarray(n * F * Po, (n + 1) * F * Po));
      kernels.rowSumsInArena(doutIn!, 0, F, Po, Po, dbB!);
      if (dC) kernels.copyPlanesInArena(dC, 0, Po, Wo, dpad!, 0, oPlane, oLd, F, Ho, Wo);
      dxpadV!.fill(0);
    }
    for (let tr0 = 0; tr0 < tH; tr0 += bandRows) {
      const tr1 = Math.min(tH, tr0 + bandRows);
      const Tb = (tr1 - tr0) * tW;
      const vBand = { tr0, tr1, tW, xs: vs };
      const mBand = { tr0, tr1, tW, xs: ms };
      kernels.winogradInputInArena(xpad, V, C, Wp, xPlane, vBand);
      if (fwd) {
        for (let xi = 0; xi < 16; xi++) {
          gemmInArena({
            transA: false, transB: false, M: F, N: Tb, K: C,
            A: U, aOffset: xi * F * C, lda: C, B: V, bOffset: xi * vs, ldb: Tb,
            beta: 0, C: Mb, cOffset: xi * ms, ldc: Tb,
          });
        }
        kernels.winogradOutputInArena(Mb, bB!, opad!, F, oPlane, mBand);
      }
      if (bwd) {
        kernels.winogradDoutInArena(dpad!, Mb, F, oPlane, mBand);
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
        kernels.winogradDxInArena(V, dxpad!, C, Wp, xPlane, vBand);
      }
    }
    if (fwd) {
      if (oC) {
        kernels.copyPlanesInArena(opad!, 0, oPlane, oLd, oC, 0, Po, Wo, F, Ho, Wo);
        out!.set(oC.view, n * F * Po);
      } else {
        out!.set(opad!.view.subarray(0, F * Po), n * F * Po);
      }
    }
    if (bwd) {
      kernels.copyPlanesInArena(dxpad!, padH * Wp + padW, xPlane, Wp, dxC!, 0, HW, W, C, H, W);
      dx!.set(dxC!.view, n * C * HW);
    }
  }
  if (!bwd) return undefined;
  const dw = zerosLike(x.data, F * C * 9);
  filterTransformAdjoint(dU!.view, dw, F, C);
  return dw;
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
