import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.ts';

/** A step is one task on one worker; concurrent steps run on all the workers at once. */
let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp({ WORKERS: 2, ENABLE_FAULT_LAYER: true });
});
afterAll(() => app.close());

const hanging = (ms: number) => ({ layers: [{ layer: 'relu' }, { layer: 'fault', params: { kind: 'hang', ms } }], x: [[1, -1]] });

describe('network steps on the pool', () => {
  it('two concurrent steps keep both workers busy at once, and each answers whole', async () => {
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, app.pool.busy)), 5);
    try {
      const answers = await Promise.all([1, 2].map(() => app.inject({ method: 'POST', url: '/v1/networks/step', payload: hanging(1500) })));
      for (const a of answers) expect(a.json()).toEqual({ out: [[1, 0]] });
    } finally {
      clearInterval(watch);
    }
    expect(most).toBe(2);
  });

  it('a step is never split along N: a conv that the layer route splits across both workers runs on one in a network', async () => {
    const n = (shape: number[]) => ({ shape, data: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i)) });
    const x = n([8, 16, 32, 32]);
    const w = n([32, 16, 3, 3]);
    const b = n([32]);
    const dout = n([8, 32, 32, 32]);
    const busiest = async (url: string, payload: object) => {
      let most = 0;
      const watch = setInterval(() => (most = Math.max(most, app.pool.busy)), 2);
      try {
        const res = await app.inject({ method: 'POST', url, payload });
        expect(res.statusCode, res.body.slice(0, 200)).toBe(200);
      } finally {
        clearInterval(watch);
      }
      return most;
    };
    // The layer route splits this conv (forward + backward) along N across the two workers...
    expect(await busiest('/v1/layers/conv', { inputs: { x, w, b }, params: { pad: 1 }, dout, encoding: 'base64' })).toBe(2);
    // ...the network step with the same conv (and its loss) keeps it whole, on one worker.
    const step = {
      layers: [{ layer: 'conv', name: 'c', params: { pad: 1 }, inputs: { w: 'w', b: 'b' } }, { layer: 'affine', inputs: { w: 'fc', b: 'fcb' } }, { layer: 'softmax-loss' }],
      params: { w, b, fc: n([32 * 32 * 32, 2]), fcb: n([2]) },
      x,
      y: [0, 1, 0, 1, 0, 1, 0, 1],
      encoding: 'base64',
    };
    expect(await busiest('/v1/networks/step', step)).toBe(1);
  });
});
