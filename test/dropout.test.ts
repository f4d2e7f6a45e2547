import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post, postLayer } from './helpers/app.ts';
import { randn } from './helpers/gradcheck.ts';
import { unwire } from './helpers/vectors.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

const b64 = (data: Float64Array | Float32Array, shape: number[]) => ({
  shape,
  dtype: data instanceof Float32Array ? 'float32' : 'float64',
  b64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
});
const values = (t: unknown) => Float64Array.from(unwire(t).data);
const mean = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
};

/**
 * Bounds of the statistics test in standard deviations of the estimate: a correct dropout misses them
 * with probability ~6e-7 each (normal tails), and the seeds are fixed, so the test is deterministic.
 */
const SIGMAS = 5;

describe("dropout statistics, as in cs231n's Dropout notebook (x 500x500 around 10, through the service)", () => {
  const shape = [500, 500];
  const x = randn(500 * 500, 42, 1, 10);
  const xMean = mean(x);
  const xMeanSq = mean(x.map((v) => v * v));

  for (const p of [0.25, 0.4, 0.7]) {
    it(`p = ${p}: train mean ≈ mean of x, fraction zeroed ≈ 1 − p; test output = x`, async () => {
      const train = await postLayer(app, 'dropout', { mode: 'train', inputs: { x: b64(x, shape) }, params: { p, seed: 123 } });
      expect(train.status, train.body.slice(0, 300)).toBe(200);
      const out = values(train.json.out);
      const n = out.length;
      const zeroed = out.filter((v) => v === 0).length / n;
      // Fraction zeroed ~ Binomial(n, 1 − p) / n; mean of x·mask has variance (E[x²]/p − E[x]²) / n.
      expect(Math.abs(zeroed - (1 - p))).toBeLessThan(SIGMAS * Math.sqrt((p * (1 - p)) / n));
      expect(Math.abs(mean(out) - xMean)).toBeLessThan(SIGMAS * Math.sqrt((xMeanSq / p - xMean * xMean) / n));
      const mask = values(train.json.mask);
      expect(new Set(mask)).toEqual(new Set([0, 1 / p]));
      expect(out.every((v, i) => v === x[i] * mask[i])).toBe(true);

      const test = await postLayer(app, 'dropout', { mode: 'test', inputs: { x: b64(x, shape) }, params: { p, seed: 123 } });
      expect(test.status).toBe(200);
      expect(mean(values(test.json.out))).toBe(xMean);
      expect(test.json.mask).toBeUndefined();
    });
  }
});

describe('dropout through the service', () => {
  const x = [[1, -2, 3, 0.5], [4, 5, -6, 7]];
  const dout = [[1, 2, 3, 4], [5, 6, 7, 8]];

  it('the same seed and shape give the same mask whatever the dtype and encoding; another seed another mask', async () => {
    const masks = [];
    for (const dtype of ['float64', 'float32']) {
      for (const encoding of ['nested', 'flat', 'base64']) {
        const r = await postLayer(app, 'dropout', { dtype, inputs: { x }, params: { seed: 9 }, encoding });
        expect(r.status, r.body).toBe(200);
        masks.push(Array.from(values(r.json.mask)));
      }
    }
    for (const m of masks) expect(m).toEqual(masks[0]);
    const other = await postLayer(app, 'dropout', { inputs: { x: Array.from(randn(64, 1)) }, params: { seed: 10 } });
    const same = await postLayer(app, 'dropout', { inputs: { x: Array.from(randn(64, 1)) }, params: { seed: 9 } });
    expect(values(other.json.mask)).not.toEqual(values(same.json.mask));
  });

  it('the same mask with 1 worker and with 2 (a large request is split)', async () => {
    const two = await buildTestApp({ WORKERS: 2 });
    try {
      const n = 1 << 21;
      const big = b64(Float32Array.from(randn(n, 5)), [2, n / 2]);
      const body = { dtype: 'float32', inputs: { x: big }, params: { p: 0.3, seed: 77 } };
      const split = await postLayer(two, 'dropout', body);
      expect(split.status).toBe(200);
      expect(split.headers['server-timing']).toMatch(/desc="2 workers"/);
      const whole = await postLayer(app, 'dropout', body);
      expect(whole.headers['server-timing']).not.toMatch(/workers/);
      expect(split.json.mask.b64).toBe(whole.json.mask.b64);
      expect(split.json.out.b64).toBe(whole.json.out.b64);
    } finally {
      await two.close();
    }
  });

  it('grads.x is dout · mask in train mode and dout in test mode; the mask gets no gradient', async () => {
    const train = await postLayer(app, 'dropout', { inputs: { x }, params: { p: 0.5, seed: 1 }, dout });
    const mask = values(train.json.mask);
    expect(Array.from(values(train.json.grads.x))).toEqual(dout.flat().map((d, i) => d * mask[i]));
    expect(Object.keys(train.json.grads)).toEqual(['x']);
    const test = await postLayer(app, 'dropout', { mode: 'test', inputs: { x }, dout });
    expect(test.json.grads.x).toEqual(dout);
    expect(test.json.out).toEqual(x);
  });

  it("the client's mask is used as sent (no seed), and returned", async () => {
    const mask = [[2, 0, 2, 0], [0, 0, 2, 2]];
    const r = await postLayer(app, 'dropout', { inputs: { x, mask }, params: { seed: 5 } });
    expect(r.status, r.body).toBe(200);
    expect(r.json.mask).toEqual(mask);
    expect(r.json.out).toEqual([[2, 0, 6, 0], [0, 0, -12, 14]]);
  });

  it('a float32 mask holds 1/p rounded to float32 (p = 0.3), a float64 mask 1/p in float64', async () => {
    const f32 = Math.fround(1 / 0.3);
    const ok32 = await postLayer(app, 'dropout', { dtype: 'float32', inputs: { x: [1, 2], mask: [f32, 0] }, params: { p: 0.3 } });
    expect(ok32.status, ok32.body).toBe(200);
    const ok64 = await postLayer(app, 'dropout', { inputs: { x: [1, 2], mask: [1 / 0.3, 0] }, params: { p: 0.3 } });
    expect(ok64.status, ok64.body).toBe(200);
    const bad64 = await postLayer(app, 'dropout', { inputs: { x: [1, 2], mask: [f32, 0] }, params: { p: 0.3 } });
    expect(bad64.status).toBe(400);
    expect(bad64.json.errors[0].path).toBe('inputs.mask[0]');
  });

  it.each([
    ['a mask value other than 0 and 1/p', { inputs: { x: [1, 2], mask: [2, 0.7] } }, 'inputs.mask[1]', /is 0.7; a dropout mask holds 0 \(dropped\) or 1\/p = 2 \(kept\) for p = 0.5/],
    ['a mask in test mode', { mode: 'test', inputs: { x: [1, 2], mask: [2, 0] } }, 'inputs.mask', /mode "test" keeps every unit/],
    ['a mask of another shape', { inputs: { x: [[1, 2]], mask: [2, 0] } }, 'inputs.mask', /has shape \[2\]; it multiplies x elementwise, so it must be \[1, 2\]/],
    ['p = 0', { inputs: { x: [1] }, params: { p: 0 } }, 'params.p', />0/],
    ['a seed of 2^32', { inputs: { x: [1] }, params: { seed: 2 ** 32 } }, 'params.seed', /<=4294967295/],
    ['state', { inputs: { x: [1] }, state: {} }, 'state', /unknown field "state"/],
  ])('%s is a 400 naming the field', async (_what, body, path, detail) => {
    const r = await postLayer(app, 'dropout', body);
    expect(r.status, r.body).toBe(400);
    expect(r.json.detail).toMatch(/^dropout: /);
    expect(r.json.detail).toMatch(detail);
    expect(r.json.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('is listed with its modes and its mask output, and no state', async () => {
    const info = (await app.inject({ url: '/v1/layers' })).json().layers.find((l: { name: string }) => l.name === 'dropout');
    expect(info.modes).toEqual(['train', 'test']);
    expect(info.outputs).toEqual(['out', 'grads.x', 'mask']);
    expect(info.params.properties.p.default).toBe(0.5);
  });
});

describe('dropout /check and /gradcheck', () => {
  const x = [[1, -2, 3], [4, 5, -6]];
  const check = (body: object) => post(app, '/v1/layers/dropout/check', body);

  it('a train output missing the 1/p scaling (the reference times p) gets its hint', async () => {
    const big = [[1, -2, 3, 4, 5, -6, 7, 8]];
    const ref = await postLayer(app, 'dropout', { inputs: { x: big }, params: { p: 0.25, seed: 7 } });
    expect(values(ref.json.mask).some((v) => v !== 0)).toBe(true);
    const claimed = { out: (ref.json.out as number[][]).map((row) => row.map((v) => v * 0.25)) };
    const r = await check({ inputs: { x: big }, params: { p: 0.25, seed: 7 }, claimed });
    expect(r.status, r.body).toBe(200);
    expect(r.json.results.out.passed).toBe(false);
    expect(r.json.results.out.hints[0]).toMatch(/1\/4 of the reference \(1\/p .* = 4\): the kept units are missing their 1\/p/);
  });

  it('a test output scaled by p (non-inverted dropout) gets its hint', async () => {
    const claimed = { out: x.map((row) => row.map((v) => v * 0.4)) };
    const r = await check({ mode: 'test', inputs: { x }, params: { p: 0.4 }, claimed });
    expect(r.json.results.out.passed).toBe(false);
    expect(r.json.results.out.hints[0]).toMatch(/test-mode output scaled by p, as non-inverted dropout does/);
  });

  it('a correct claim passes, with the seeded mask or the client\'s', async () => {
    const ref = await postLayer(app, 'dropout', { inputs: { x }, params: { p: 0.6, seed: 8 }, dout: x });
    const r = await check({ inputs: { x }, params: { p: 0.6, seed: 8 }, dout: x, claimed: { out: ref.json.out, grads: ref.json.grads } });
    expect(r.json.passed, r.body).toBe(true);
  });

  it.each(['train', 'test'])('the numeric gradient check passes (%s mode)', async (mode) => {
    const r = await post(app, '/v1/layers/dropout/gradcheck', { mode, inputs: { x: Array.from(randn(30, 4)) }, params: { p: 0.5, seed: 2 } });
    expect(r.status, r.body).toBe(200);
    expect(r.json.passed, r.body).toBe(true);
    expect(Object.keys(r.json.results)).toEqual(['grads.x']);
  });
});
