/** Types shared by the conv frame (./frame.ts), its algorithms (./*.ts) and the public entry points (../conv.ts). */
import type { ConvInfo } from '../geometry.ts';
import type { Dtype, FloatArray, Tensor } from '../types.ts';
import type { ArenaBlock, WasmArena } from '../wasm/arena.ts';
import type { ConvKernels } from '../wasm/conv-kernels.ts';

export interface ConvOptions {
  /**
   * Upper bound, in elements, on the im2col buffer (at least one output row is always used), on one
   * image held in the arena for the wasm im2col/col2im, on a depthwise chunk of channels, and on the
   * padded planes and tile bands of Winograd. Beyond it the paths fall back as each says.
   */
  maxColElements?: number;
  /**
   * Use the wasm helpers (im2col, col2im, row sums, the depthwise and Winograd paths) when the backend
   * has them (default true). false runs what the 'js' backend runs (JS loops, GEMM per group), so tests
   * reach it on any machine.
   */
  wasmHelpers?: boolean;
  /**
   * Winograd F(2×2, 3×3) for 3×3, stride-1, undilated, ungrouped convs (needs the wasm helpers): true
   * forces it where it applies, false turns it off; by default it is used where it applies and C and F
   * are at least WINOGRAD_MIN_CHANNELS. false also turns off F(4×4, 3×3) and the stride-2 scheme.
   */
  winograd?: boolean;
  /**
   * Force one algorithm (tests, benches): 'depthwise' needs groups = C/groups·groups with C/groups = 1,
   * the Winograd ones a 3×3, stride-1, undilated, ungrouped conv, 'winograd-4x4' float32, 'winograd-s2'
   * a 3×3, stride-2, undilated, ungrouped conv; all but
   * 'im2col-gemm' need the wasm helpers. Throws where the algorithm cannot run.
   */
  algorithm?: ConvAlgorithmName;
  /**
   * Dilated stride-1 convs as an undilated conv over their dilation phases (./phases.ts; wasm helpers
   * only, not with `algorithm`): by default where the undilated conv takes a faster path than im2col +
   * GEMM; false never; true wherever it applies (tests).
   */
  phases?: boolean;
}

export interface ConvGrads<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dw: Tensor<A>;
  db: Tensor<A>;
}

export interface ConvForwardBackward<A extends FloatArray = FloatArray> extends ConvGrads<A> {
  out: Tensor<A>;
}

export const DEFAULT_MAX_COL_ELEMENTS = 1 << 21;

/**
 * One call's work as the frame hands it to an algorithm, inside an arena scope. Forward when b is
 * given (fill `out` completely), backward when dout is given (fill `dx` completely, add Σ dout per
 * filter to `db`, return dw).
 */
export interface ConvJob<A extends FloatArray = FloatArray> {
  x: Tensor<A>;
  w: Tensor<A>;
  b: Tensor<A> | undefined;
  dout: Tensor<A> | undefined;
  g: ConvInfo;
  options: ConvOptions;
  dtype: Dtype;
  /** options.maxColElements or the default */
  budget: number;
  /** N·F·Ho·Wo, contents unspecified (write every element), when forward */
  out: A | undefined;
  /** N·C·H·W, zero-filled, when backward */
  dx: A | undefined;
  /** F, float64, zeroed, when backward. Allocated before the algorithm's blocks: re-read its view after them. */
  db: ArenaBlock<'float64'> | undefined;
  arena: WasmArena;
  /** This thread's wasm conv helpers; undefined on the 'js' backend or with options.wasmHelpers false. */
  kernels: ConvKernels | undefined;
}

export interface ConvAlgorithm {
  readonly name: ConvAlgorithmName;
  /** Runs the job; returns dw (w's shape, x's dtype) when backward. */
  run<A extends FloatArray>(job: ConvJob<A>): A | undefined;
}

export type ConvAlgorithmName = 'im2col-gemm' | 'winograd-2x2' | 'winograd-4x4' | 'winograd-s2' | 'depthwise';
