import { z } from 'zod';
import { avgPoolForward, avgPoolForwardBackward } from '../kernels/avg-pool.ts';
import { poolInfo } from '../kernels/geometry.ts';
import { maxPoolForward, maxPoolForwardBackward } from '../kernels/max-pool.ts';
import { geometryProblem, pair, paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

const poolShape = {
  poolHeight: z.int().min(1).meta({ description: 'window height (required)' }),
  poolWidth: z.int().min(1).meta({ description: 'window width (required)' }),
  stride: pair(1, 'step between windows; default: the pool size').optional(),
  pad: pair(0, 'padding on each side, at most half the pool side').default(0),
};

const poolInputs = [{ name: 'x', kind: 'float', rank: 4, layout: '(N, C, H, W)' }] as const;

const poolExample = (extra: object = {}) => ({
  inputs: { x: [[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]]] },
  params: { poolHeight: 2, poolWidth: 2, stride: 2, ...extra },
  dout: [[[[1, 1], [1, 1]]]],
});

const SIZE = 'Ho = floor((H + 2·pad_h − poolHeight) / stride_h) + 1, likewise Wo.';

export const maxPool = defineLayer({
  name: 'max-pool',
  summary: 'Max pooling',
  description: `${SIZE} Padded cells count as −∞. The gradient of tied maxima goes to the first maximum of the window in row-major order (PyTorch). Gradient: x.`,
  inputs: poolInputs,
  params: paramsObject(poolShape),
  example: poolExample(),
  outShape: ({ shapes: { x }, params }) => [...geometryProblem(() => poolInfo(x, params, 'max-pool')).outShape],
  compute({ inputs: { x }, params, dout }) {
    if (!dout) return { out: maxPoolForward(x, params) };
    const { out, dx } = maxPoolForwardBackward(x, dout, params);
    return { out, grads: { x: dx } };
  },
});

export const avgPool = defineLayer({
  name: 'avg-pool',
  summary: 'Average pooling',
  description: `${SIZE} Padded cells are zeros; countIncludePad decides whether they count in the divisor (PyTorch AvgPool2d). Gradient: x.`,
  inputs: poolInputs,
  params: paramsObject({
    ...poolShape,
    countIncludePad: z.boolean().default(true).meta({ description: 'divide by the full window (true) or by the cells inside the input (false)' }),
  }),
  example: poolExample({ countIncludePad: true }),
  outShape: ({ shapes: { x }, params }) => [...geometryProblem(() => poolInfo(x, params, 'avg-pool')).outShape],
  compute({ inputs: { x }, params, dout }) {
    if (!dout) return { out: avgPoolForward(x, params) };
    const { out, dx } = avgPoolForwardBackward(x, dout, params);
    return { out, grads: { x: dx } };
  },
});
