/**
 * Winograd F(4×4, 3×3) for float32 3×3, stride-1, undilated, ungrouped convs (the wasm helpers only):
 * per 4×4 output tile, 36 multiplies per channel pair instead of 144, so the three GEMMs do 4× fewer
 * multiply-adds than im2col's (1.78× fewer than F(2×2, 3×3)). Interpolation points {0, 1, −1, 2, −½}
 * (see scripts/gen-winograd4.py, which writes the wasm transforms): every coefficient of Aᵀ and Bᵀ is
 * exact in binary; G's thirds and fifteenths are applied in double, once per call, when w is transformed.
 *
 * Per image: x is copied into a zero-padded plane, its 6×6 patches transformed (V = Bᵀ d B, 36 matrices
 * C × tiles), then forward M = U·V (36 GEMMs, U = G w Gᵀ) and out = Aᵀ M A + b; backward Ď = A dout Aᵀ,
 * dU += Ď·Vᵀ and dV = Uᵀ·Ď (72 GEMMs), dx = the patches' B dV Bᵀ summed; at the end dw = Gᵀ dU G.
 *
 * Accuracy: the transforms amplify rounding (coefficients up to 8 in Aᵀ, 5/2 in Bᵀ), so float32 only,
 * and only where the error budget in ./accuracy.ts allows it; test/kernels/conv-accuracy.test.ts
 * measures the worst error against the float64 reference on random shapes and magnitudes.
 */
import { gemmInArena } from '../gemm.ts';
import type { ConvInfo } from '../geometry.ts';
import { zerosLike, type FloatArray } from '../types.ts';
import { DEFAULT_MAX_COL_ELEMENTS, type ConvAlgorithm, type ConvJob, type ConvOptions } from './types.ts';

export const winograd4x4: ConvAlgorithm = { name: 'winograd-4x4', run };

/** G (6 × 3) for the points {0, 1, −1, 2, −½, ∞}: row j = (1, a_j, a_j²) / Π_{l≠j}(a_j − a_l). */
const G: readonly (readonly [number, number, number])[] = [
  [1, 0, 0],
  [-1 / 3, -1 / 3, -1 / 3],
  [1 / 3, -1 / 3, 1 / 3],
  [1 / 15, 2 / 15, 4 / 15],
  [-16 / 15, 8 / 15, -4 / 15],
  [0, 0, 1],
];

/** F(4×4) applies from this many input channels and filters on (its transforms cost more per tile than F(2×2)'s). */
export const WINOGRAD4_MIN_CHANNELS = 16;

/**
 * Tiles per GEMM row worth gathering: conv A has 8 × 8 tiles per image, and 36 GEMMs of N = 64 spent
 * more time packing than multiplying; images are laid side by side until a band row holds this many.
 */
const TARGET_TILES = 256;

interface Plan {
  tH: number;
  /** tiles per row, a multiple of 4 (the f32 lanes) */
  tW: number;
  Wp: number;
  xPlane: number;
  oPlane: number;
  bandRows: number;
  /** images side by side in one band (bandRows = tH when more than one) */
  images: number;
}

function plan(g: ConvInfo, options: ConvOptions): Plan {
  const tH = Math.ceil(g.Ho / 4);
  const tW = Math.ceil(Math.ceil(g.Wo / 4) / 4) * 4;
  const Hp = 4 * tH + 2;
  // 2 more columns than the last patch needs: the transforms read and write 4 columns at a time
  const Wp = 4 * tW + 4;
  const budget = options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS;
  const perTile = 36 * Math.max(g.C, g.F);
  const bandRows = Math.max(1, Math.min(tH, Math.floor(budget / (perTile * tW))));
  const perImage = tH * tW;
  const images = bandRows < tH ? 1
    : Math.max(1, Math.min(g.N, Math.ceil(TARGET_TILES / perImage), Math.floor(budget / (perTile * perImage))));
  return { tH, tW, Wp, xPlane: Hp * Wp, oPlane: 16 * tH * tW, bandRows, images };
}

/** Whether one image's padded planes fit the budget (the tiles are done in bands that do). */
export function winograd4Fits(g: ConvInfo, options: ConvOptions): boolean {
  const p = plan(g, options);
  return Math.max(g.C * p.xPlane, g.F * p.oPlane) <= (options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS);
}

function run<A extends FloatArray>(job: ConvJob<A>): A | undefined {
  const { x, w, b, dout, g, options, dtype, out, dx, arena } = job;
  if (dtype !== 'float32') throw new TypeError('winograd-4x4: float32 only');
  const kernels = job.kernels!;
  const { N, C, H, W, F, Ho, Wo, padH, padW } = g;
  const { tH, tW, Wp, xPlane, oPlane, bandRows, images } = plan(g, options);
  const HW = H * W;
  const Po = Ho * Wo;
  const oLd = 4 * tW;
  const compactOut = oLd === Wo && 4 * tH === Ho;
  const Tmax = images * bandRows * tW;
  // 36 streams a cache line more than channels × tiles apart (see ./winograd.ts)
  const vs = C * Tmax + 16;
  const ms = F * Tmax + 16;
  const fwd = b !== undefined;
  const bwd = dout !== undefined;
  const U = arena.alloc(dtype, 36 * F * C);
  const xin = arena.alloc(dtype, C * HW);
  const xpad = arena.alloc(dtype, C * xPlane);
  const V = arena.alloc(dtype, 36 * vs);
  const Mb = arena.alloc(dtype, 36 * ms);
  const bB = fwd ? arena.alloc(dtype, F) : undefined;
  const opad = fwd ? arena.alloc(dtype, F * oPlane) : undefined;
  const oC = fwd && !compactOut ? arena.alloc(dtype, F * Po) : undefined;
  const dpad = bwd ? arena.alloc(dtype, F * oPlane) : undefined;
  const dC = bwd && !compactOut ? arena.alloc(dtype, F * Po) : undefined;
  const dU = bwd ? arena.alloc(dtype, 36 * F * C) : undefined;
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
  // Per band of k images side by side (k > 1 only when one band covers an image, so each image's
  // planes are used up before the next image's are filled): 1. the patches of each image into V;
  // 2. forward: M = U·V, each image's output transform and copy out; 3. backward: each image's Ď into
  // Mb (M is used up), dU += Ď·Vᵀ, V ← Uᵀ·Ď, each image's dx transform and copy out.
  for (let n0 = 0; n0 < N; n0 += images) {
    const k = Math.min(N, n0 + images) - n0;
    for (let tr0 = 0; tr0 < tH; tr0 += bandRows) {
      const tr1 = Math.min(tH, tr0 + bandRows);
      const T1 = (tr1 - tr0) * tW; // one image's tiles in this band
      const Tb = k * T1;
      const band = (xs: number, i: number) => ({ tr0, tr1, tW, xs, ldt: Tb, tOffset: i * T1 });
      for (let i = 0; i < k; i++) {
        const n = n0 + i;
        if (tr0 === 0) {
          xinV.set(x.data.subarray(n * C * HW, (n + 1) * C * HW));
          kernels.copyPlanesInArena(xin, 0, HW, W, xpad, padH * Wp + padW, xPlane, Wp, C, H, W);
        }
        kernels.winograd4InputInArena(xpad, V, C, Wp, xPlane, band(vs, i));
      }
      if (fwd) {
        for (let xi = 0; xi < 36; xi++) {
          gemmInArena({
            transA: false, transB: false, M: F, N: Tb, K: C,
            A: U, aOffset: xi * F * C, lda: C, B: V, bOffset: xi * vs, ldb: Tb,
            beta: 0, C: Mb, cOffset: xi * ms, ldc: Tb,
          });
        }
        for (let i = 0; i < k; i++) {
          const n = n0 + i;
          kernels.winograd4OutputInArena(Mb, bB!, opad!, F, oPlane, band(ms, i));
          if (tr1 < tH) continue;
          if (oC) {
            kernels.copyPlanesInArena(opad!, 0, oPlane, oLd, oC, 0, Po, Wo, F, Ho, Wo);
            out!.set(oC.view, n * F * Po);
          } else {
            out!.set(opad!.view.subarray(0, F * Po), n * F * Po);
          }
        }
      }
      if (bwd) {
        for (let i = 0; i < k; i++) {
          const n = n0 + i;
          if (tr0 === 0) {
            doutInV!.set(dout!.data.subarray(n * F * Po, (n + 1) * F * Po));
            kernels.rowSumsInArena(doutIn!, 0, F, Po, Po, dbB!);
            if (dC) kernels.copyPlanesInArena(dC, 0, Po, Wo, dpad!, 0, oPlane, oLd, F, Ho, Wo);
          }
          kernels.winograd4DoutInArena(dpad!, Mb, F, oPlane, band(ms, i));
        }
        for (let xi = 0; xi < 36; xi++) {
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
        for (let i = 0; i < k; i++) {
          const n = n0 + i;
          if (tr0 === 0) dxpadV!.fill(0);
          kernels.winograd4DxInArena(V, dxpad!, C, Wp, xPlane, band(vs, i));
          if (tr1 < tH) continue;
          kernels.copyPlanesInArena(dxpad!, padH * Wp + padW, xPlane, Wp, dxC!, 0, HW, W, C, H, W);
          dx!.set(dxC!.view, n * C * HW);
        }
      }
    }
  }
  if (!bwd) return undefined;
  const dw = zerosLike(x.data, F * C * 9);
  filterTransformAdjoint(dU!.view, dw, F, C);
  return dw;
}

/** G as a flat row-major array (6 × 3), for the loops below. */
const Gf = new Float64Array(G.flat());

/** U[ξ][f][c] = (G g Gᵀ)[ξ], ξ = 6·i + j, for the 3×3 filter g = w[f, c], in double, rounded once at the store. */
function filterTransform(w: FloatArray, U: FloatArray, F: number, C: number): void {
  const FC = F * C;
  const h = new Float64Array(18); // G g: 6 × 3
  for (let f = 0; f < F; f++) {
    for (let c = 0; c < C; c++) {
      const o = (f * C + c) * 9;
      const w0 = w[o], w1 = w[o + 1], w2 = w[o + 2], w3 = w[o + 3], w4 = w[o + 4], w5 = w[o + 5];
      const w6 = w[o + 6], w7 = w[o + 7], w8 = w[o + 8];
      for (let i = 0; i < 6; i++) {
        const g0 = Gf[3 * i], g1 = Gf[3 * i + 1], g2 = Gf[3 * i + 2];
        h[3 * i] = g0 * w0 + g1 * w3 + g2 * w6;
        h[3 * i + 1] = g0 * w1 + g1 * w4 + g2 * w7;
        h[3 * i + 2] = g0 * w2 + g1 * w5 + g2 * w8;
      }
      let at = f * C + c;
      for (let i = 0; i < 6; i++) {
        const h0 = h[3 * i], h1 = h[3 * i + 1], h2 = h[3 * i + 2];
        for (let j = 0; j < 6; j++, at += FC) U[at] = h0 * Gf[3 * j] + h1 * Gf[3 * j + 1] + h2 * Gf[3 * j + 2];
      }
    }
  }
}

/** dw[f, c] = Gᵀ dU[f, c] G: the adjoint of filterTransform. */
function filterTransformAdjoint(dU: FloatArray, dw: FloatArray, F: number, C: number): void {
  const FC = F * C;
  const p = new Float64Array(18); // Gᵀ dU: 3 × 6
  for (let f = 0; f < F; f++) {
    for (let c = 0; c < C; c++) {
      const at = f * C + c;
      for (let j = 0; j < 6; j++) {
        let q0 = 0, q1 = 0, q2 = 0;
        for (let i = 0, a = j * FC + at; i < 6; i++, a += 6 * FC) {
          const u = dU[a];
          q0 += Gf[3 * i] * u;
          q1 += Gf[3 * i + 1] * u;
          q2 += Gf[3 * i + 2] * u;
        }
        p[j] = q0;
        p[6 + j] = q1;
        p[12 + j] = q2;
      }
      const o = at * 9;
      for (let a = 0; a < 3; a++) {
        for (let s = 0; s < 3; s++) {
          let v = 0;
          for (let j = 0; j < 6; j++) v += p[6 * a + j] * Gf[3 * j + s];
          dw[o + 3 * a + s] = v;
        }
      }
    }
  }
}
