import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn } from '../../src/util/random.ts';
import { buildTestApp } from '../helpers/app.ts';

/** POST /v1/networks/step/gradcheck: the whole network's loss, numerically, against the step's gradients. */
let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp({ WORKERS: 2 });
});
afterAll(() => app.close());

const flat = (shape: number[], seed: number, scale = 1, shift = 0) => ({ shape, data: Array.from(randn(shape.reduce((a, b) => a * b, 1), seed, scale, shift)) });

const convnet = () => ({
  layers: [
    { layer: 'conv', name: 'c1', params: { pad: 1 }, inputs: { w: 'c1.w', b: 'c1.b' } },
    { layer: 'relu' },
    // after the relu: a conv bias right before batchnorm has a zero gradient, all rounding
    { layer: 'spatial-batchnorm', name: 'bn1', inputs: { gamma: 'bn1.g', beta: 'bn1.b' } },
    { layer: 'avg-pool', params: { poolHeight: 2, poolWidth: 2 } },
    { layer: 'affine', name: 'fc', inputs: { w: 'fc.w', b: 'fc.b' } },
    { layer: 'softmax-loss' },
  ],
  params: {
    'c1.w': flat([4, 2, 3, 3], 1, 0.3),
    'c1.b': flat([4], 2, 0.1),
    'bn1.g': flat([4], 3, 0.1, 1),
    'bn1.b': flat([4], 4, 0.1),
    'fc.w': flat([36, 5], 5, 0.2),
    'fc.b': flat([5], 6, 0.1),
  },
  x: flat([3, 2, 6, 6], 7),
  y: [1, 4, 0],
  reg: 0.1,
});

async function gradcheck(body: object) {
  const res = await app.inject({ method: 'POST', url: '/v1/networks/step/gradcheck', payload: body });
  return { status: res.statusCode, json: res.json() };
}

describe('POST /v1/networks/step/gradcheck', () => {
  it('passes on a conv - relu - batchnorm - pool - affine - softmax net with reg, keyed grads.<name>', async () => {
    const { status, json } = await gradcheck({ ...convnet(), samples: 16 });
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.passed, JSON.stringify(json)).toBe(true);
    expect(json.objective).toBe('loss');
    expect(Object.keys(json.results)).toEqual(['grads.c1.w', 'grads.c1.b', 'grads.bn1.g', 'grads.bn1.b', 'grads.fc.w', 'grads.fc.b']);
    expect(json.results['grads.c1.w']).toMatchObject({ checked: 16, of: 72, sampled: true });
    expect(json.results['grads.c1.b']).toMatchObject({ checked: 4, of: 4, sampled: false });
    for (const r of Object.values<any>(json.results)) expect(r.relError).toBeLessThan(1e-6);
  });

  it('passes through dropout (the same seed draws the same mask in every perturbed forward)', async () => {
    const { status, json } = await gradcheck({
      layers: [
        { layer: 'affine', inputs: { w: 'W1', b: 'b1' } },
        { layer: 'relu' },
        { layer: 'dropout', name: 'drop', params: { p: 0.5, seed: 3 } },
        { layer: 'affine', inputs: { w: 'W2', b: 'b2' } },
        { layer: 'softmax-loss' },
      ],
      params: { W1: flat([6, 8], 11, 0.4), b1: flat([8], 12, 0.1), W2: flat([8, 4], 13, 0.4), b2: flat([4], 14, 0.1) },
      x: flat([5, 6], 15),
      y: [0, 1, 2, 3, 1],
      samples: 12,
    });
    expect(status).toBe(200);
    expect(json.passed, JSON.stringify(json)).toBe(true);
  });

  it('float32 requests are checked in float64', async () => {
    const { status, json } = await gradcheck({ ...convnet(), dtype: 'float32', samples: 4 });
    expect(status).toBe(200);
    expect(json.passed, JSON.stringify(json, null, 1)).toBe(true);
  });

  it('the same seed samples the same coordinates; another seed others', async () => {
    const a = (await gradcheck({ ...convnet(), samples: 3, seed: 5 })).json;
    const b = (await gradcheck({ ...convnet(), samples: 3, seed: 5 })).json;
    const c = (await gradcheck({ ...convnet(), samples: 3, seed: 6 })).json;
    expect(a.results['grads.fc.w'].worst).toEqual(b.results['grads.fc.w'].worst);
    expect(a.results['grads.fc.w'].worst.index).not.toEqual(c.results['grads.fc.w'].worst.index);
  });

  it('reports a failure over the threshold, with the worst coordinate and a hint', async () => {
    // A threshold below what float64 differences reach on this net makes the comparison fail:
    // the check reports it, with the worst coordinate and a hint.
    const { json } = await gradcheck({ ...convnet(), samples: 8, threshold: 1e-14 });
    expect(json.passed).toBe(false);
    const failed = Object.values<any>(json.results).find((r) => !r.passed);
    expect(failed.hints.length).toBeGreaterThan(0);
    expect(failed.worst.index.length).toBeGreaterThan(0);
  });

  it('needs a loss layer and y', async () => {
    const { y: _y, ...noY } = convnet();
    const a = await gradcheck(noY);
    expect(a.status).toBe(400);
    expect(a.json.detail).toMatch(/^networks\/step\/gradcheck: y: is required: the check differentiates the loss/);
    const b = convnet();
    b.layers = b.layers.slice(0, -1);
    const r = await gradcheck(b);
    expect(r.status).toBe(400);
    expect(r.json.detail).toMatch(/the last layer must be a loss/);
  });

  it('refuses update (the check has nothing to update) and encoding', async () => {
    expect((await gradcheck({ ...convnet(), update: { rule: 'sgd' } })).status).toBe(400);
    expect((await gradcheck({ ...convnet(), encoding: 'base64' })).status).toBe(400);
  });
});
