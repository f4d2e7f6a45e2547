/**
 * conv through the service (one worker, app.inject) on shapes that take each fast path of
 * src/kernels/conv.ts: Winograd (3×3, stride 1, C and F ≥ 8), depthwise, and im2col (stride 2),
 * forward + backward in one request, float64 and float32, against the direct-loop reference.
 * The PyTorch vectors (test/vectors/conv.json) are all below Winograd's channel threshold.
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINOGRAD_MIN_CHANNELS } from '../src/kernels/conv.ts';
import { convBackwardReference, convForwardReference } from '../src/kernels/reference/conv.ts';
import type { ConvParams } from '../src/kernels/geometry.ts';
import type { Tensor } from '../src/kernels/types.ts';
import { randn, TOL } from './helpers/gradcheck.ts';
import { buildTestApp, postLayer } from './helpers/app.ts';
import { scaledDiff } from './kernels/conv-pool-helpers.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

const C = WINOGRAD_MIN_CHANNELS;
const cases: [string, number[], number[], ConvParams][] = [
  ['Winograd', [2, C, 11, 10], [2 * C, C, 3, 3], { pad: 1 }],
  ['Winograd, no pad, odd output', [1, C, 9, 12], [C, C, 3, 3], { pad: 0 }],
  ['depthwise', [2, 6, 9, 9], [12, 1, 3, 3], { pad: 1, groups: 6 }],
  ['im2col, stride 2', [2, 5, 9, 8], [6, 5, 3, 3], { pad: 1, stride: 2 }],
];

describe('conv through the service == reference', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [name, xShape, wShape, params] of cases) {
      it(`${name} (${dtype})`, async () => {
        const round = (a: Float64Array) => (dtype === 'float32' ? Float64Array.from(Float32Array.from(a)) : a);
        const t = (shape: number[], seed: number): Tensor<Float64Array> => ({
          shape, data: round(randn(shape.reduce((p, q) => p * q, 1), seed)),
        });
        const x = t(xShape, 1), w = t(wShape, 2), b = t([wShape[0]], 3);
        const ref = convForwardReference(x, w, b, params);
        const dout = t(ref.shape, 4);
        const grads = convBackwardReference(x, w, dout, params);
        const flat = (v: Tensor) => ({ shape: v.shape, data: Array.from(v.data) });
        const body = { dtype, inputs: { x: flat(x), w: flat(w), b: flat(b) }, params, dout: flat(dout) };
        const r = await postLayer(app, 'conv', body);
        expect(r.status, r.body.slice(0, 300)).toBe(200);
        const tol = dtype === 'float32' ? TOL.fastVsReference32 : TOL.fastVsReference64;
        const got = (v: { shape: number[]; data: number[] }) => Float64Array.from(v.data);
        expect(r.json.out.shape).toEqual(ref.shape);
        expect(scaledDiff(got(r.json.out), ref.data)).toBeLessThan(tol);
        expect(scaledDiff(got(r.json.grads.x), grads.dx.data)).toBeLessThan(tol);
        expect(scaledDiff(got(r.json.grads.w), grads.dw.data)).toBeLessThan(tol);
        expect(scaledDiff(got(r.json.grads.b), grads.db.data)).toBeLessThan(tol);
      });
    }
  }
});
