/**
 * The conv driver frame: checks nothing (../conv.ts did), picks the algorithm, takes the outputs
 * and the float64 db accumulator, opens one arena scope around the algorithm, and wraps the results.
 * Algorithms, first that applies:
 *   - depthwise (C/groups = 1) with the wasm helpers: direct loops per channel (./depthwise.ts);
 *   - float32, 3×3, stride 1, no dilation, one group, C and F ≥ WINOGRAD4_MIN_CHANNELS, wasm helpers:
 *     Winograd F(4×4, 3×3) (./winograd4.ts), 4× fewer multiplies, within its error budget (./accuracy.ts);
 *   - the same shapes with C and F ≥ WINOGRAD_MIN_CHANNELS (either dtype): Winograd F(2×2, 3×3)
 *     (./winograd.ts), 2.25× fewer multiplies;
 *   - 3×3, stride 2, no dilation, one group, C and F ≥ WINOGRAD_S2_MIN_CHANNELS (either dtype, within its
 *     budget): the strided Winograd scheme (./winograd-s2.ts), 1.44× fewer multiplies (the three Winograd
 *     algorithms run the driver in ./winograd-frame.ts);
 *   - otherwise im2col + GEMM (./im2col-gemm.ts).
 * options.winograd true/false forces F(2×2) on or off (and F(4×4) off); options.algorithm forces any.
 *
 * Before choosing, a dilated stride-1 conv whose undilated counterpart would take a faster path than
 * im2col + GEMM (a Winograd one) is split into its dilation phases (./phases.ts) and run as that
 * undilated conv over a batch of phase images (options.phases false never splits, true always can).
 */
import { recycle, takeArray } from '../buffers.ts';
import { gemmArena, gemmEngine } from '../gemm.ts';
import { convInfo, type ConvInfo } from '../geometry.ts';
import { zerosLike, type Dtype, type FloatArray, type Tensor } from '../types.ts';
import { ConvKernels } from '../wasm/conv-kernels.ts';
import { depthwise } from './depthwise.ts';
import { im2colGemm } from './im2col-gemm.ts';
import { accurateEnough } from './accuracy.ts';
import { DEFAULT_MAX_COL_ELEMENTS, type ConvAlgorithm, type ConvAlgorithmName, type ConvJob, type ConvOptions } from './types.ts';
import { useWinograd, winograd2x2 } from './winograd.ts';
import { winograd4Fits, winograd4x4, WINOGRAD4_MIN_CHANNELS } from './winograd4.ts';
import { useWinogradS2, winogradS2, winogradS2Shape } from './winograd-s2.ts';
import { gatherInput, movePhases, phasePlan, scatterDx } from './phases.ts';

/** This thread's wasm conv helpers (on the GEMM engine's instance and arena). */
const threadKernels = new ConvKernels(gemmEngine());

export interface ConvResult<A extends FloatArray> {
  out?: A;
  dx?: A;
  dw?: A;
  db?: A;
}

const ALGORITHMS: Record<ConvAlgorithmName, ConvAlgorithm> = {
  'im2col-gemm': im2colGemm,
  'winograd-2x2': winograd2x2,
  'winograd-4x4': winograd4x4,
  'winograd-s2': winogradS2,
  depthwise,
};

/** 3×3, stride 1, undilated, one group: where the Winograd algorithms apply. */
function winogradShape(g: ConvInfo): boolean {
  return g.HH === 3 && g.WW === 3 && g.strideH === 1 && g.strideW === 1 && g.dilationH === 1 && g.dilationW === 1 && g.groups === 1;
}

/** The algorithm the frame runs for this geometry, dtype and options. */
export function chooseConvAlgorithm(g: ConvInfo, options: ConvOptions, dtype: Dtype): ConvAlgorithm {
  const wasmHelpers = options.wasmHelpers !== false && threadKernels.available;
  if (options.algorithm !== undefined) {
    const a = options.algorithm;
    const ok = a === 'im2col-gemm' || (wasmHelpers && (a === 'depthwise' ? g.Cg === 1
      : a === 'winograd-s2' ? winogradS2Shape(g)
      : winogradShape(g) && (a === 'winograd-2x2' || dtype === 'float32')));
    if (!ok) throw new RangeError(`conv: algorithm ${a} cannot run this ${dtype} conv${wasmHelpers ? '' : ' (no wasm helpers)'}`);
    return ALGORITHMS[a];
  }
  if (wasmHelpers && g.Cg === 1) return depthwise;
  if (wasmHelpers && winogradShape(g) && options.winograd !== true && options.winograd !== false && dtype === 'float32'
    && g.C >= WINOGRAD4_MIN_CHANNELS && g.F >= WINOGRAD4_MIN_CHANNELS && winograd4Fits(g, options)
    && accurateEnough('winograd-4x4', dtype)) {
    return winograd4x4;
  }
  if (wasmHelpers && useWinograd(g, options) && (options.winograd === true || accurateEnough('winograd-2x2', dtype))) return winograd2x2;
  if (wasmHelpers && useWinogradS2(g, options) && accurateEnough('winograd-s2', dtype)) return winogradS2;
  return im2colGemm;
}

/**
 * The undilated conv over the dilation phases when this dilated conv is worth splitting (see the top of
 * this file), else undefined.
 */
function phaseGeometry(g: ConvInfo, options: ConvOptions, dtype: Dtype): ConvInfo | undefined {
  if (options.algorithm !== undefined || options.phases === false) return undefined;
  if ((g.dilationH === 1 && g.dilationW === 1) || g.strideH !== 1 || g.strideW !== 1) return undefined;
  if (options.wasmHelpers === false || !threadKernels.available) return undefined;
  const p = phasePlan(g);
  const gq = convInfo([g.N * p.dh * p.dw, g.C, p.Hq, p.Wq], [g.F, g.Cg, g.HH, g.WW], { groups: g.groups });
  return options.phases === true || chooseConvAlgorithm(gq, options, dtype) !== im2colGemm ? gq : undefined;
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
  const dtype: Dtype = x.data instanceof Float32Array ? 'float32' : 'float64';
  const gq = phaseGeometry(g, options, dtype);
  if (gq) return runPhases(x, w, b, dout, g, gq, options);
  const algorithm = chooseConvAlgorithm(g, options, dtype);
  const wasmHelpers = options.wasmHelpers !== false && threadKernels.available;
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

/** runConv on the dilation phases of a dilated stride-1 conv (./phases.ts): gq is their undilated conv. */
function runPhases<A extends FloatArray>(
  x: Tensor<A>,
  w: Tensor<A>,
  b: Tensor<A> | undefined,
  dout: Tensor<A> | undefined,
  g: ConvInfo,
  gq: ConvInfo,
  options: ConvOptions,
): ConvResult<A> {
  const p = phasePlan(g);
  const xq = takeArray(x.data, gq.N * gq.C * gq.H * gq.W, true);
  gatherInput(x.data, g, p, xq);
  let doutq: A | undefined;
  if (dout) {
    doutq = takeArray(x.data, gq.N * gq.F * gq.Ho * gq.Wo);
    movePhases(dout.data, doutq, g, p, true);
  }
  const rq = runConv({ shape: [gq.N, gq.C, gq.H, gq.W], data: xq }, w, b, doutq && { shape: [...gq.outShape], data: doutq }, gq, options);
  const r: ConvResult<A> = { dw: rq.dw, db: rq.db };
  if (b) {
    r.out = takeArray(x.data, g.N * g.F * g.Ho * g.Wo);
    movePhases(r.out, rq.out!, g, p, false);
  }
  if (dout) {
    r.dx = takeArray(x.data, g.N * g.C * g.H * g.W);
    scatterDx(rq.dx!, g, p, r.dx);
  }
  recycle(xq, doutq, rq.out, rq.dx);
  return r;
}
