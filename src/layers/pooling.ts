/**
 * The pooling layers, max-pool and avg-pool. (Outside the kernels, "pool" alone names the worker
 * thread pool, src/pool; the layers are "pooling".)
 */
import { z } from 'zod';
import { avgPoolForward, avgPoolForwardBackward } from '../kernels/avg-pool.ts';
import { poolInfo } from '../kernels/geometry.ts';
import { maxPoolForward, maxPoolForwardBackward } from '../kernels/max-pool.ts';
import { geometryProblem, pair, paramsObject } from './params.ts';
import { defineLayer, type Factor, type LayerTask } from './types.ts';

const windowParams = {
  poolHeight: z.int().min(1).meta({ description: 'window height (required)' }),
  poolWidth: z.int().min(1).meta({ description: 'window width (required)' }),
  stride: pair(1, 'step between windows; default: the pool size').optional(),
  pad: pair(0, 'padding on each side, at most half the pool side').default(0),
};

const inputs = [{ name: 'x', kind: 'float', rank: 4, layout: '(N, C, H, W)' }] as const;

const windowExample = (extra: object = {}) => ({
  inputs: { x: [[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]]] },
  params: { poolHeight: 2, poolWidth: 2, stride: 2, ...extra },
  dout: [[[[1, 1], [1, 1]]]],
});

/**
 * The factors a pooling claim is typically off by (/check hints): the pool area (avg-pool's mean,
 * max-pool's routing) and the number of windows.
 */
function windowFactors(avg: boolean) {
  return (task: LayerTask<{ poolHeight: number; poolWidth: number }>, outShape: readonly number[]): Factor[] => [
    {
      value: task.params.poolHeight * task.params.poolWidth,
      label: 'poolHeight·poolWidth (the pool area)',
      times: (key) =>
        avg && key === 'out'
          ? 'out is the window sum, not its mean: divide by the pool area'
          : avg && key === 'grads.x'
            ? 'each dout is shared by the cells of its window: divide it by the pool area'
            : undefined,
      over: () => (avg ? undefined : 'max-pool routes the whole dout to the maximum: do not divide it'),
    },
    {
      value: outShape[2] * outShape[3],
      label: 'Ho·Wo (the number of pooling windows)',
      times: () => "is every window's gradient added once per window instead of once?",
      over: () => 'is the gradient divided by the number of windows?',
    },
  ];
}

const SIZE = 'Ho = floor((H + 2·pad_h − poolHeight) / stride_h) + 1, likewise Wo.';

export const maxPooling = defineLayer({
  name: 'max-pool',
  summary: 'Max pooling',
  description: `${SIZE} Padded cells count as −∞. The gradient of tied maxima goes to the first maximum of the window in row-major order (PyTorch). Gradient: x.`,
  inputs,
  params: paramsObject(windowParams),
  example: windowExample(),
  outShape: ({ shapes: { x }, params }) => [...geometryProblem(() => poolInfo(x, params, 'max-pool')).outShape],
  compute({ inputs: { x }, params, dout }) {
    if (!dout) return { out: maxPoolForward(x, params) };
    const { out, dx } = maxPoolForwardBackward(x, dout, params);
    return { out, grads: { x: dx } };
  },
  check: {
    example: {
      claimed: { out: [[[[6, 8], [14, 16]]]], grads: { x: [[[[0, 0, 0, 0], [0, 1, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1]]]] } },
      shows: 'all correct: passes',
    },
    factors: windowFactors(false),
  },
});

export const avgPooling = defineLayer({
  name: 'avg-pool',
  summary: 'Average pooling',
  description: `${SIZE} Padded cells are zeros; countIncludePad decides whether they count in the divisor (PyTorch AvgPool2d). Gradient: x.`,
  inputs,
  params: paramsObject({
    ...windowParams,
    countIncludePad: z.boolean().default(true).meta({ description: 'divide by the full window (true) or by the cells inside the input (false)' }),
  }),
  example: windowExample({ countIncludePad: true }),
  outShape: ({ shapes: { x }, params }) => [...geometryProblem(() => poolInfo(x, params, 'avg-pool')).outShape],
  compute({ inputs: { x }, params, dout }) {
    if (!dout) return { out: avgPoolForward(x, params) };
    const { out, dx } = avgPoolForwardBackward(x, dout, params);
    return { out, grads: { x: dx } };
  },
  check: {
    example: {
      claimed: { out: [[[[3.5, 5.5], [11.5, 13.5]]]], grads: { x: [[[[1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1]]]] } },
      shows: 'grads.x not divided by the pool area: hint',
    },
    factors: windowFactors(true),
  },
});
