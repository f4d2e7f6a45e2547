/**
 * Depthwise (groups = C, one input channel per group; the wasm helpers only): direct loops per channel
 * instead of per-group GEMMs with K = HH·WW. Images are done in chunks of whole channels (at least one),
 * as many as fit the column budget; x, dout and w are copied into the arena, out and dx out of it.
 * db accumulates in float64 for both dtypes, and so does dw across output rows and images; within an
 * output row, the 3×3 unit-column-stride path (one filter per channel) sums dw's products in the
 * dtype's SIMD lanes first (a quarter or half of the row per lane, as a GEMM's accumulator would).
 */
import { zerosLike, type FloatArray } from '../types.ts';
import type { ConvAlgorithm, ConvJob } from './types.ts';

export const depthwise: ConvAlgorithm = { name: 'depthwise', run };

function run<A extends FloatArray>(job: ConvJob<A>): A | undefined {
  const { x, w, b, dout, g, dtype, out, dx, arena } = job;
  const kernels = job.kernels!;
  const { N, C, H, W, F, Fg, HH, WW, Ho, Wo } = g;
  const Po = Ho * Wo;
  const HW = H * W;
  const T = HH * WW;
  const perChannel = HW + Fg * Po;
  const chunk = Math.max(1, Math.min(C, Math.floor(job.budget / perChannel)));
  const fwd = b !== undefined;
  const bwd = dout !== undefined;
  const wB = arena.alloc(dtype, F * T);
  const bB = fwd ? arena.alloc(dtype, F) : undefined;
  const xB = arena.alloc(dtype, chunk * HW);
  const outB = fwd ? arena.alloc(dtype, chunk * Fg * Po) : undefined;
  const doutB = bwd ? arena.alloc(dtype, chunk * Fg * Po) : undefined;
  const dxB = bwd ? arena.alloc(dtype, chunk * HW) : undefined;
  const dwB = bwd ? arena.alloc('float64', F * T) : undefined;
  const dbB = job.db;
  // Views only after the last alloc.
  wB.view.set(w.data);
  if (bB) bB.view.set(b!.data);
  const xV = xB.view;
  const outV = outB?.view;
  const doutV = doutB?.view;
  const dxV = dxB?.view;
  dwB?.view.fill(0);
  for (let n = 0; n < N; n++) {
    for (let c0 = 0; c0 < C; c0 += chunk) {
      const nc = Math.min(C, c0 + chunk) - c0;
      const xAt = (n * C + c0) * HW;
      const outAt = (n * F + c0 * Fg) * Po;
      const outLen = nc * Fg * Po;
      xV.set(x.data.subarray(xAt, xAt + nc * HW));
      if (outB) {
        kernels.depthwiseForwardInArena(g, nc, xB, wB, c0 * Fg * T, bB!, c0 * Fg, outB);
        out!.set(outV!.subarray(0, outLen), outAt);
      }
      if (doutB) {
        doutV!.set(dout!.data.subarray(outAt, outAt + outLen));
        kernels.rowSumsInArena(doutB, 0, nc * Fg, Po, Po, dbB!, c0 * Fg);
        kernels.depthwiseBackwardInArena(g, nc, xB, wB, c0 * Fg * T, doutB, dxB!, dwB!, c0 * Fg * T);
        dx!.set(dxV!.subarray(0, nc * HW), xAt);
      }
    }
  }
  if (!dwB) return undefined;
  const dw = zerosLike(x.data, F * T);
  dw.set(dwB.view);
  return dw;
}
