/**
 * Error budgets of the conv algorithms: the largest scaled error each may show against the float64
 * reference, per dtype: max |got − want| per output tensor (out, dx, dw, db) over the largest value of
 * the same computation on absolute values (conv(|x|, |w|) + |b|, …: the size of the terms summed).
 * test/kernels/conv-accuracy.test.ts measures every algorithm on random shapes and magnitudes, prints
 * the worst errors and fails when one exceeds its budget; ./frame.ts only picks an algorithm whose
 * budget is within the rules below.
 *
 * Rules:
 *  - float32: the contract's float32 tolerance (API.md: rtol 2e-4, atol 2e-5 on the vectors' scale)
 *    read as a scaled error of 2e-5; an algorithm runs by default only if its budget is at most half
 *    of it (FLOAT32_MARGIN).
 *  - float64: never a path less accurate than im2col + GEMM: an algorithm's float64 budget must not
 *    exceed im2col-gemm's.
 * The budgets sit 2–4× above the worst errors measured (below; the test prints them on every run).
 */
import type { Dtype } from '../types.ts';
import type { ConvAlgorithmName } from './types.ts';

/** The contract's float32 tolerance as a scaled error (atol at unit scale). */
export const FLOAT32_CONTRACT = 2e-5;
/** A float32 algorithm's budget must be at most this fraction of FLOAT32_CONTRACT to be chosen. */
export const FLOAT32_MARGIN = 0.5;

/**
 * Worst errors measured (CONV_ACCURACY_RUNS=500, N ≤ 2, C, F ≤ 24, H, W ≤ 18, magnitudes 10^±3):
 * float32 im2col-gemm 2.3e-7, winograd-2x2 1.6e-7, winograd-4x4 1.2e-6, depthwise 3.1e-7;
 * float64 im2col-gemm 2.8e-15, winograd-2x2 2.6e-15 (2.2e-15 and 3.1e-15 in a 150-run sample: the
 * same within sampling), depthwise 4.5e-16. winograd-4x4 has no float64 path.
 * winograd-s2 (3×3, stride 2; CONV_ACCURACY_RUNS=200, same ranges, in the run that measured im2col-gemm at
 * 2.2e-7 / 3.1e-15): float32 3.2e-7, float64 2.0e-15, and on conv B's shape (C 64, F 128, 16×16)
 * 7.7e-7 / 7.0e-16 scaled by the largest reference value.
 */
export const CONV_ERROR_BUDGET: Readonly<Record<ConvAlgorithmName, Readonly<Record<Dtype, number>>>> = {
  'im2col-gemm': { float32: 1e-6, float64: 6e-15 },
  'winograd-2x2': { float32: 1e-6, float64: 6e-15 },
  'winograd-4x4': { float32: 4e-6, float64: Number.POSITIVE_INFINITY },
  'winograd-s2': { float32: 1e-6, float64: 6e-15 },
  depthwise: { float32: 1e-6, float64: 2e-15 },
};

/** Whether the budgets let `algorithm` serve `dtype` by default. */
export function accurateEnough(algorithm: ConvAlgorithmName, dtype: Dtype): boolean {
  const budget = CONV_ERROR_BUDGET[algorithm][dtype];
  if (dtype === 'float32') return budget <= FLOAT32_CONTRACT * FLOAT32_MARGIN;
  return budget <= CONV_ERROR_BUDGET['im2col-gemm'].float64;
}
