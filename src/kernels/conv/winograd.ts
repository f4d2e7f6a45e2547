/**
 * Winograd F(2×2, 3×3) for 3×3, stride-1, undilated, ungrouped convs (the wasm helpers only).
 */
import type { ConvInfo } from '../geometry.ts';
import type { FloatArray } from '../types.ts';
import type { ConvAlgorithm, ConvJob, ConvOptions } from './types.ts';
import { runWinograd, winogradPlan, winogradPlanFits, type WinogradScheme } from './winograd-frame.ts';

export const winograd2x2: ConvAlgorithm = { name: 'winograd-2x2', run };

/** Winograd's default applies from this many input channels and filters on (below, the GEMMs are too thin). */
export const WINOGRAD_MIN_CHANNELS = 8;

/**
 * Winograd F(2×2, 3×3) (Lavin & Gray): per 2×2 output tile, 16 multiplies per channel pair instead of
 * 36, so the three GEMMs shrink 2.25×: 4×4 patches, 16 transformed matrices, one image per band (the
 * driver is ./winograd-frame.ts). The transforms are exact in binary (coefficients 0, ±1, ±½); rounding
 * differs from im2col's order.
 */
const F2: WinogradScheme = {
  m: 2,
  count: 16,
  extraCols: 2,
  filterTransform,
  filterTransformAdjoint,
  input: (k, xpad, V, C, ld, plane, band) => k.winogradInputInArena(xpad, V, C, ld, plane, band),
  output: (k, M, b, opad, F, plane, band) => k.winogradOutputInArena(M, b, opad, F, plane, band),
  dout: (k, dpad, D, F, plane, band) => k.winogradDoutInArena(dpad, D, F, plane, band),
  dx: (k, dV, dxpad, C, ld, plane, band) => k.winogradDxInArena(dV, dxpad, C, ld, plane, band),
};

/** Whether Winograd F(2×2, 3×3) runs this conv (given the wasm helpers). */
export function useWinograd(g: ConvInfo, options: ConvOptions): boolean {
  if (options.winograd === false) return false;
  const shape = g.HH === 3 && g.WW === 3 && g.strideH === 1 && g.strideW === 1 && g.dilationH === 1 && g.dilationW === 1 && g.groups === 1;
  if (!shape) return false;
  // One image's padded planes must fit the budget; the tiles are done in bands that do.
  if (!winogradPlanFits(g, options, winogradPlan(g, options, F2, 4)) && options.winograd !== true) return false;
  return options.winograd === true || (g.C >= WINOGRAD_MIN_CHANNELS && g.F >= WINOGRAD_MIN_CHANNELS);
}

function run<A extends FloatArray>(job: ConvJob<A>): A | undefined {
  return runWinograd(job, F2, winogradPlan(job.g, job.options, F2, job.dtype === 'float32' ? 4 : 2));
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
