/**
 * im2col + GEMM, the general algorithm (any groups, stride, pad, dilation; both dtypes). Work is split
 * per image and, within an image, into tiles of output rows, so the im2col buffer stays under the
 * budget whatever N, H and W are. For image n and group g, out[n, g] (Fg × P) = w[g] (Fg × K) · col[g]
 * (K × P), where K = Cg·HH·WW, P = Ho·Wo and col's row (c, kh, kw) holds
 * x[n, c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw] (0 outside the input). A 1x1, stride-1, pad-0 conv
 * skips im2col: x[n] already is col.
 *
 * Every GEMM operand lives in this thread's wasm arena (gemmInArena: no copies in and out of the GEMM):
 * w is copied in once per call, im2col writes straight into the arena, dout is copied in per tile,
 * out and dx are copied out once; dw accumulates in the arena over images and tiles (beta = 1).
 * float32 accumulates in float32 in the GEMMs (as sgemm does); db in double.
 */
import { gemmInArena } from '../gemm.ts';
import type { ConvInfo } from '../geometry.ts';
import { zerosLike, type FloatArray } from '../types.ts';
import { col2im, im2col } from './im2col-js.ts';
import { DEFAULT_MAX_COL_ELEMENTS, type ConvAlgorithm, type ConvJob, type ConvOptions } from './types.ts';

export const im2colGemm: ConvAlgorithm = { name: 'im2col-gemm', run };

function run<A extends FloatArray>(job: ConvJob<A>): A | undefined {
  const { x, w, b, dout, g, options, dtype, out, dx, arena, kernels } = job;
  const { N, C, H, W, F, Fg, groups, Ho, Wo } = g;
  const Po = Ho * Wo;
  const HW = H * W;
  const plan = tilePlan(g, options);
  const { K, rows, direct } = plan;
  const Pmax = rows * Wo;
  const colLength = direct ? C * Po : plan.colLength;
  const fwd = b !== undefined;
  const bwd = dout !== undefined;
  // When an image fits the column budget, it is copied into the arena for the wasm im2col, and its dx
  // accumulates there (wasm col2im); otherwise (or on the JS backend) the JS loops read x and add
  // straight into dx.
  const imageInArena = !direct && kernels !== undefined && C * HW <= job.budget;
  const wB = arena.alloc(dtype, F * K);
  const colB = arena.alloc(dtype, colLength);
  const outB = fwd ? arena.alloc(dtype, F * Pmax) : undefined;
  const doutB = bwd ? arena.alloc(dtype, F * Pmax) : undefined;
  const dcolB = bwd ? arena.alloc(dtype, colLength) : undefined;
  const dwB = bwd ? arena.alloc(dtype, F * K) : undefined;
  const xB = imageInArena ? arena.alloc(dtype, C * HW) : undefined;
  const dxB = imageInArena && bwd ? arena.alloc(dtype, C * HW) : undefined;
  const dbB = job.db;
  // Views only after the last alloc: an alloc may grow the memory and detach earlier views.
  wB.view.set(w.data);
  const colV = colB.view;
  const outV = outB?.view;
  const doutV = doutB?.view;
  const dcolV = dcolB?.view;
  const dxV = dxB?.view;
  const dbV = dbB?.view;
  dwB?.view.fill(0);

  for (let n = 0; n < N; n++) {
    const outImg = n * F * Po;
    dxV?.fill(0);
    xB?.view.set(x.data.subarray(n * C * HW, (n + 1) * C * HW));
    for (let oh0 = 0; oh0 < Ho; oh0 += rows) {
      const oh1 = Math.min(Ho, oh0 + rows);
      const P = (oh1 - oh0) * Wo;
      if (direct) colV.set(x.data.subarray(n * C * Po, (n + 1) * C * Po));
      else if (xB) kernels!.im2colInArena(g, oh0, oh1, xB, colB);
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
        if (kernels) kernels.rowSumsInArena(doutB, 0, F, P, P, dbB!);
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
        else if (dxB) kernels!.col2imInArena(g, oh0, oh1, dcolB!, dxB);
        else col2im(dcolV!, g, oh0, oh1, dx!, n * C * HW);
      }
    }
    if (dxV) dx!.set(dxV, n * C * HW);
  }
  if (!dwB) return undefined;
  const dw = zerosLike(x.data, F * K);
  dw.set(dwB.view);
  return dw;
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

