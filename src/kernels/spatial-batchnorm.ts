import type { FloatArray, Tensor } from './types.ts';
import {
  batchnormBackwardNCS,
  batchnormForwardBackwardNCS,
  batchnormForwardNCS,
  type BatchnormCache,
  type BatchnormForward,
  type BatchnormForwardBackward,
  type BatchnormGrads,
  type BatchnormOptions,
} from './batchnorm.ts';

/**
 * Spatial batch normalization (cs231n `spatial_batchnorm_forward` / `_backward`).
 *
 * Forward: x (N, C, H, W), gamma (C), beta (C) → out (N, C, H, W); in train mode also
 * runningMean (C), runningVar (C). Statistics per channel c over the N·H·W values x[n, c, :, :].
 * Backward: dout (N, C, H, W) → dx (N, C, H, W), dgamma (C), dbeta (C).
 *
 * Modes, options, running-statistic conventions, numerics and the one-value-per-channel case
 * (N·H·W = 1) are those of batchnorm: see `batchnorm.ts`. The loops walk NCHW directly, viewing it
 * as (N, C, H·W): every inner loop is a contiguous H·W plane, and nothing is transposed.
 */

export type SpatialBatchnormOptions = BatchnormOptions;
export type SpatialBatchnormCache<A extends FloatArray = FloatArray> = BatchnormCache<A>;
export type SpatialBatchnormForward<A extends FloatArray = FloatArray> = BatchnormForward<A>;
export type SpatialBatchnormGrads<A extends FloatArray = FloatArray> = BatchnormGrads<A>;
export type SpatialBatchnormForwardBackward<A extends FloatArray = FloatArray> = BatchnormForwardBackward<A>;

/** Spatial batchnorm forward on x (N, C, H, W). */
export function spatialBatchnormForward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: SpatialBatchnormOptions,
): SpatialBatchnormForward<A> {
  const [N, C, H, W] = dims4(x);
  return batchnormForwardNCS(x, N, C, H * W, gamma, beta, options);
}

/** Forward and backward in one call (what the service runs when dout is sent); x, dout (N, C, H, W). */
export function spatialBatchnormForwardBackward<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  dout: Tensor<A>,
  options: SpatialBatchnormOptions,
): SpatialBatchnormForwardBackward<A> {
  const [N, C, H, W] = dims4(x);
  return batchnormForwardBackwardNCS(x, N, C, H * W, gamma, beta, dout, options);
}

function dims4(x: Tensor): [number, number, number, number] {
  if (x.shape.length !== 4) throw new RangeError(`spatial-batchnorm: x must be (N, C, H, W), got [${x.shape}]`);
  const [N, C, H, W] = x.shape;
  return [N, C, H, W];
}

/** Spatial batchnorm backward: dout (N, C, H, W) → dx (N, C, H, W), dgamma (C), dbeta (C). */
export function spatialBatchnormBackward<A extends FloatArray>(
  dout: Tensor<A>,
  cache: SpatialBatchnormCache<A>,
): SpatialBatchnormGrads<A> {
  return batchnormBackwardNCS(dout, cache);
}
