/**
 * Types of the normalization kernels, shared by the fast paths (./batchnorm.ts, ./layernorm.ts,
 * ./groupnorm.ts) and their JS versions (./batchnorm-js.ts, ./layernorm-js.ts, ./groupnorm-js.ts), so
 * neither imports the other's module for its types.
 */
import type { FloatArray, Tensor } from './types.ts';

export type BatchnormMode = 'train' | 'test';
export type RunningVarEstimator = 'biased' | 'unbiased';

export interface BatchnormOptions {
  mode: BatchnormMode;
  /** > 0 */
  eps: number;
  /** cs231n momentum in [0, 1]: the weight of the old running value. */
  momentum: number;
  runningVarEstimator: RunningVarEstimator;
  /** Per-feature (D or C) running mean; required in test mode, zeros if absent in train mode. Never mutated. */
  runningMean?: FloatArray;
  /** Per-feature running variance (>= 0); as runningMean. Never mutated. */
  runningVar?: FloatArray;
}

/** What backward needs. mean / invstd are the batch statistics (train) or the running ones (test). */
export interface BatchnormCache<A extends FloatArray = FloatArray> {
  mode: BatchnormMode;
  shape: number[];
  /** x viewed as (N, C, S). */
  N: number;
  C: number;
  S: number;
  x: A;
  gamma: A;
  mean: Float64Array;
  invstd: Float64Array;
}

export interface BatchnormForward<A extends FloatArray = FloatArray> {
  out: Tensor<A>;
  cache: BatchnormCache<A>;
  /** Train mode only: the updated statistics, new arrays of x's dtype. */
  runningMean?: A;
  runningVar?: A;
}

/** The gradients every normalization returns: dx shaped like x, dgamma and dbeta per feature/channel. */
export interface NormalizationGrads<A extends FloatArray = FloatArray> {
  dx: Tensor<A>;
  dgamma: A;
  dbeta: A;
}

export type BatchnormGrads<A extends FloatArray = FloatArray> = NormalizationGrads<A>;

/** Forward and backward of one call: the forward's fields and the gradients. */
export type BatchnormForwardBackward<A extends FloatArray = FloatArray> = BatchnormForward<A> & BatchnormGrads<A>;

export interface LayernormOptions {
  /** > 0 */
  eps: number;
}

export interface LayernormCache<A extends FloatArray = FloatArray> {
  shape: number[];
  rows: number;
  D: number;
  x: A;
  gamma: A;
  /** Per row. */
  mean: Float64Array;
  invstd: Float64Array;
}

export interface LayernormForward<A extends FloatArray = FloatArray> {
  out: Tensor<A>;
  cache: LayernormCache<A>;
}

export type LayernormGrads<A extends FloatArray = FloatArray> = NormalizationGrads<A>;

/** Forward and backward of one call. */
export type LayernormForwardBackward<A extends FloatArray = FloatArray> = LayernormForward<A> & LayernormGrads<A>;

export interface GroupnormOptions {
  /** >= 1 and divides C. */
  groups: number;
  /** > 0 */
  eps: number;
}

export interface GroupnormCache<A extends FloatArray = FloatArray> {
  shape: number[];
  N: number;
  C: number;
  /** H·W */
  S: number;
  G: number;
  x: A;
  gamma: A;
  /** Per (n, g), index n·G + g. */
  mean: Float64Array;
  invstd: Float64Array;
}

export interface GroupnormForward<A extends FloatArray = FloatArray> {
  out: Tensor<A>;
  cache: GroupnormCache<A>;
}

export type GroupnormGrads<A extends FloatArray = FloatArray> = NormalizationGrads<A>;

/** Forward and backward of one call. */
export type GroupnormForwardBackward<A extends FloatArray = FloatArray> = GroupnormForward<A> & GroupnormGrads<A>;
