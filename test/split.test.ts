import { describe, expect, it } from 'vitest';
import { mergeBatch, splitBatch } from '../src/layers/batch-split.ts';
import { conv } from '../src/layers/conv.ts';
import { randn, TOL } from './helpers/gradcheck.ts';
import { buildTestApp, postLayer } from './helpers/app.ts';

const t = (shape: number[], seed: number) => ({ shape, data: randn(shape.reduce((a, b) => a * b, 1), seed) });

describe('a large convolution is split across the pool along N', () => {
  it('split + merge equals the whole computation (out, dx concatenated; dw, db summed)', () => {
    const task = {
      layer: 'conv', dtype: 'float64' as const, mode: 'train' as const, labels: {}, state: {},
      params: { stride: 1, pad: 1, dilation: 1, groups: 1 },
      inputs: { x: t([5, 3, 6, 6], 1), w: t([4, 3, 3, 3], 2), b: t([4], 3) },
      dout: t([5, 4, 6, 6], 4),
    };
    const whole = conv.compute(task);
    for (const k of [2, 3, 5]) {
      const parts = splitBatch(task, k);
      expect(parts.map((p) => p.inputs.x.shape[0]).reduce((a, b) => a + b)).toBe(5);
      const merged = mergeBatch(parts.map((p) => conv.compute(p)), ['w', 'b']);
      for (const [got, want] of [[merged.out!, whole.out!], ...['x', 'w', 'b'].map((n) => [merged.grads![n], whole.grads![n]])]) {
        expect(got.shape).toEqual(want.shape);
        got.data.forEach((v, i) => expect(Math.abs(v - want.data[i])).toBeLessThan(TOL.splitVsWhole64 * (1 + Math.abs(want.data[i]))));
      }
    }
  });

  it('only requests worth it are split, and only when there are several workers', () => {
    const small = { layer: 'conv', dtype: 'float64' as const, mode: 'train' as const, labels: {}, state: {}, params: { stride: 1, pad: 1, dilation: 1, groups: 1 }, inputs: { x: t([2, 3, 8, 8], 1), w: t([4, 3, 3, 3], 2), b: t([4], 3) } };
    expect(conv.split!(small, 2)).toBeUndefined();
    const big = { ...small, inputs: { x: t([4, 32, 32, 32], 1), w: t([64, 32, 3, 3], 2), b: t([64], 3) } };
    expect(conv.split!(big, 2)).toHaveLength(2);
    expect(conv.split!(big, 1)).toBeUndefined();
  });

  it('through the service with 2 workers, a split request answers like the reference vectors would', async () => {
    const app = await buildTestApp({ WORKERS: 2 });
    const x = t([4, 32, 16, 16], 5);
    const w = t([32, 32, 3, 3], 6);
    const b = t([32], 7);
    const dout = t([4, 32, 16, 16], 8);
    const flat = (v: { shape: number[]; data: Float64Array }) => ({ shape: v.shape, data: Array.from(v.data) });
    const body = { inputs: { x: flat(x), w: flat(w), b: flat(b) }, params: { pad: 1 }, dout: flat(dout), encoding: 'flat' };
    const split = await postLayer(app, 'conv', body);
    expect(split.status).toBe(200);
    expect(split.headers['server-timing']).toMatch(/kernel;dur=[\d.]+;desc="2 workers"/);
    const whole = conv.compute({ layer: 'conv', dtype: 'float64', mode: 'train', labels: {}, state: {}, params: { stride: 1, pad: 1, dilation: 1, groups: 1 }, inputs: { x, w, b }, dout });
    expect(split.json.grads.w.data.length).toBe(whole.grads!.w.data.length);
    split.json.grads.w.data.forEach((v: number, i: number) => expect(Math.abs(v - whole.grads!.w.data[i])).toBeLessThan(TOL.splitVsWholeLarge64 * (1 + Math.abs(whole.grads!.w.data[i]))));
    await app.close();
  });
});
