/**
 * Strided Winograd for 3×3, stride-2, undilated, ungrouped convs, either dtype (the wasm helpers only):
 * per 2×2 output tile, 25 multiplies per channel pair instead of im2col's 36, so the three GEMMs do 1.44×
 * fewer multiply-adds. Along each axis the even taps (g0, g2 over inputs 0, 2, 4) are a stride-1 2-tap
 * correlation done as Winograd F(2, 2) and the odd tap g1 directly (see assembly/winograd-s2.ts for the
 * matrices):
 *   G = [1 0 0; 1 0 1; 0 0 1; 0 1 0; 0 1 0]   (u = g0, g0 + g2, g2, g1, g1)
 * 5×5 patches 4 apart, 25 transformed matrices; several images side by side in a band (the driver is
 * ./winograd-frame.ts, the same as the stride-1 schemes').
 *
 * Accuracy: every coefficient of Aᵀ, Bᵀ and G is 0 or ±1 (the transforms only add), so the rounding is
 * of the same order as im2col's; test/kernels/conv-accuracy.test.ts measures the worst error against the
 * float64 reference and ./accuracy.ts holds the budget that lets float64 use it.
 */
import type { ConvInfo } from '../geometry.ts';
import type { FloatArray } from '../types.ts';
import type { ConvAlgorithm, ConvJob, ConvOptions } from './types.ts';
import { runWinograd, winogradPlan, winogradPlanFits, type WinogradPlan, type WinogradScheme } from './winograd-frame.ts';

export const winogradS2: ConvAlgorithm = { name: 'winograd-s2', run };

/**
 * G's rows 3 and 4 are equal, so the 25 products ξ = 5·i + j use 16 filter matrices: slot 4·min(i, 3) +
 * min(j, 3). The filter transform and its adjoint run in wasm (assembly/winograd-s2.ts).
 */
const U_SLOT: readonly number[] = Array.from({ length: 25 }, (_, xi) => 4 * Math.min(3, Math.floor(xi / 5)) + Math.min(3, xi % 5));

/** The strided scheme applies by default from this many input channels and filters on (below, the GEMMs are too thin). */
export const WINOGRAD_S2_MIN_CHANNELS = 8;

const S2: WinogradScheme = {
  m: 2,
  stride: 2,
  count: 25,
  uSlot: U_SLOT,
  uCount: 16,
  // the f32 column gathers of the last 4 tiles read up to column 4·tW + 3
  extraCols: 4,
  // Tiles per GEMM row worth gathering: conv B has 4 × 4 tiles per image; images are laid side by side
  // until a band row holds this many.
  targetTiles: 256,
  // conv B's output transform spent 0.5 ms reading one image's 64 bytes of each of the 25 × F rows of M
  // at a time; all images of a band at once read those rows in order
  batchesImages: true,
  filterTransformInArena: (k, w, U, F, C) => k.winogradS2FilterInArena(w, U, F, C),
  filterTransformAdjointInArena: (k, dU, dw, F, C) => k.winogradS2FilterAdjointInArena(dU, dw, F, C),
  input: (k, xpad, V, C, ld, plane, band) => k.winogradS2InputInArena(xpad, V, C, ld, plane, band),
  output: (k, M, b, opad, F, plane, band, images) => k.winogradS2OutputInArena(M, b, opad, F, plane, band, images),
  dout: (k, dpad, D, F, plane, band, images) => k.winogradS2DoutInArena(dpad, D, F, plane, band, images),
  dx: (k, dV, dxpad, C, ld, plane, band) => k.winogradS2DxInArena(dV, dxpad, C, ld, plane, band),
};

/** 3×3, stride 2 on both axes, undilated, one group: where the strided scheme applies. */
export function winogradS2Shape(g: ConvInfo): boolean {
  return g.HH === 3 && g.WW === 3 && g.strideH === 2 && g.strideW === 2 && g.dilationH === 1 && g.dilationW === 1 && g.groups === 1;
}

function plan(g: ConvInfo, options: ConvOptions, lanes: number): WinogradPlan {
  return winogradPlan(g, options, S2, lanes);
}

/** Whether the strided scheme runs this conv by default (given the wasm helpers and its accuracy budget). */
export function useWinogradS2(g: ConvInfo, options: ConvOptions): boolean {
  if (options.winograd === false || !winogradS2Shape(g)) return false;
  if (g.C < WINOGRAD_S2_MIN_CHANNELS || g.F < WINOGRAD_S2_MIN_CHANNELS) return false;
  // One image's padded planes must fit the budget (lanes 4 gives the wider plan of the two dtypes).
  return winogradPlanFits(g, options, plan(g, options, 4));
}

function run<A extends FloatArray>(job: ConvJob<A>): A | undefined {
  return runWinograd(job, S2, plan(job.g, job.options, job.dtype === 'float32' ? 4 : 2));
}
