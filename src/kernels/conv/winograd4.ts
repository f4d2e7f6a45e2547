/**
 * Winograd F(4×4, 3×3) for float32 3×3, stride-1, undilated, ungrouped convs (the wasm helpers only):
 * per 4×4 output tile, 36 multiplies per channel pair instead of 144, so the three GEMMs do 4× fewer
 * multiply-adds than im2col's (1.78× fewer than F(2×2, 3×3)). Interpolation points {0, 1, −1, 2, −½}
 * (see scripts/gen-winograd4.py, which writes the wasm transforms): every coefficient of Aᵀ and Bᵀ is
 * exact in binary; G's thirds and fifteenths are applied in double, once per call, when w is transformed.
 *
 * 6×6 patches, 36 transformed matrices (36 GEMMs forward, 72 backward), several images side by side in a
 * band; the driver is ./winograd-frame.ts.
 *
 * Accuracy: the transforms amplify rounding (coefficients up to 8 in Aᵀ, 5/2 in Bᵀ), so float32 only,
 * and only where the error budget in ./accuracy.ts allows it; test/kernels/conv-accuracy.test.ts
 * measures the worst error against the float64 reference on random shapes and magnitudes.
 */
import type { ConvInfo } from '../geometry.ts';
import type { FloatArray } from '../types.ts';
import type { ConvAlgorithm, ConvJob, ConvOptions } from './types.ts';
import { runWinograd, winogradPlan, winogradPlanFits, type WinogradPlan, type WinogradScheme } from './winograd-frame.ts';

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

const F4: WinogradScheme = {
  m: 4,
  count: 36,
  // 2 more columns than the last patch needs: the transforms read and write 4 columns at a time
  extraCols: 4,
  // Tiles per GEMM row worth gathering: conv A has 8 × 8 tiles per image, and 36 GEMMs of N = 64 spent
  // more time packing than multiplying; images are laid side by side until a band row holds this many.
  targetTiles: 256,
  // the output and dout transforms over all of a band's images at once (M's rows read in order)
  batchesImages: true,
  filterTransform,
  filterTransformAdjoint,
  input: (k, xpad, V, C, ld, plane, band) => k.winograd4InputInArena(xpad, V, C, ld, plane, band),
  output: (k, M, b, opad, F, plane, band, images) => k.winograd4OutputInArena(M, b, opad, F, plane, band, images),
  dout: (k, dpad, D, F, plane, band, images) => k.winograd4DoutInArena(dpad, D, F, plane, band, images),
  dx: (k, dV, dxpad, C, ld, plane, band) => k.winograd4DxInArena(dV, dxpad, C, ld, plane, band),
};

/** tW a multiple of 4: the f32 lanes. */
function plan(g: ConvInfo, options: ConvOptions): WinogradPlan {
  return winogradPlan(g, options, F4, 4);
}

/** Whether one image's padded planes fit the budget (the tiles are done in bands that do). */
export function winograd4Fits(g: ConvInfo, options: ConvOptions): boolean {
  return winogradPlanFits(g, options, plan(g, options));
}

function run<A extends FloatArray>(job: ConvJob<A>): A | undefined {
  if (job.dtype !== 'float32') throw new TypeError('winograd-4x4: float32 only');
  return runWinograd(job, F4, plan(job.g, job.options));
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
