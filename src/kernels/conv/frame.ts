/**
 * The conv driver frame: checks nothing (../conv.ts did), picks the algorithm, takes the outputs
 * and the float64 db accumulator, opens one arena scope around the algorithm, and wraps the results.
 * Algorithms, first that applies:
 *   - depthwise (C/groups = 1) with the wasm helpers: direct loops per channel (./depthwise.ts);
 *   - 3×3, stride 1, no dilation, one group, C and F ≥ WINOGRAD_MIN_CHANNELS, wasm helpers: Winograd
 *     F(2×2, 3×3) (./winograd.ts), 2.25× fewer multiplies;
 *   - otherwise im2col + GEMM (./im2col-gemm.ts).
 */
import { takeArray } from '../buffers.ts';
import { gemmArena, gemmEngine } from '../gemm.ts';
import type { ConvInfo } from '../geometry.ts';
import { zerosLike, type Dtype, type FloatArray, type Tensor } from '../types.ts';
import { ConvKernels } from '../wasm/conv-kernels.ts';
import { depthwise } from './depthwise.ts';
import { im2colGemm } from './im2col-gemm.ts';
import { DEFAULT_MAX_COL_ELEMENTS, type ConvAlgorithm, type ConvJob, type ConvOptions } from './types.ts';
import { useWinograd, winograd2x2 } from './winograd.ts';

/** This thread's wasm conv helpers (on the GEMM engine's instance and arena). */
const threadKernels = new ConvKernels(gemmEngine());

export interface ConvResult<A extends FloatArray> {
  out?: A;
  dx?: A;
  dw?: A;
  db?: A;
}

/** The algorithm the frame runs for this geometry and options. */
export function chooseConvAlgorithm(g: ConvInfo, options: ConvOptions): ConvAlgorithm {
  const wasmHelpers = options.wasmHelpers !== false && threadKernels.available;
  if (wasmHelpers && g.Cg === 1) return depthwise;
  if (wasmHelpers && useWinograd(g, options)) return winograd2x2;
  return im2colGemm;
}

/** Forward when b is given, backward when dout is given, both from one pass over the data. */
export function runConv<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A> | undefined,
  dout: Tensor<A> | undefined,
  g: ConvInfo,
  options: ConvOptions,
): ConvResult<A> {
  const algorithm = chooseConvAlgorithm(g, options);
  const wasmHelpers = options.wasmHelpers !== false && threadKernels.available;
  const dtype: Dtype = x.data instanceof Float32Array ? 'float32' : 'float64';
  const { N, C, H, W, F, Ho, Wo } = g;
  const arena = gemmArena();
  const r: ConvResult<A> = {};
  // Outputs from this thread's buffer pool (../buffers.ts): every algorithm writes all of out; dx is
  // zeroed because the JS col2im adds into it.
  if (b) r.out = takeArray(x.data, N * F * Ho * Wo);
  if (dout) r.dx = takeArray(x.data, N * C * H * W, true);
  arena.scope(() => {
    const db = dout ? arena.alloc('float64', F) : undefined;
    db?.view.fill(0);
    const job: ConvJob<A> = {
      x, w, b, dout, g, options, dtype,
      budget: options.maxColElements ?? DEFAULT_MAX_COL_ELEMENTS,
      out: r.out, dx: r.dx, db, arena,
      kernels: wasmHelpers ? threadKernels : undefined,
    };
    r.dw = algorithm.run(job);
    if (db) {
      r.db = zerosLike(x.data, F);
      r.db.set(db.view);
    }
  });
  return r;
}
