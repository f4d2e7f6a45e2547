import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.ts';

/** Both network routes are in the OpenAPI document, with examples that work as is in Swagger UI's Try it out. */
let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

describe('the network routes in the OpenAPI document', () => {
  for (const [route, check] of [
    ['/v1/networks/step', (j: any) => {
      expect(Object.keys(j.grads)).toEqual(['W1', 'b1', 'W2', 'b2']);
      expect(Object.keys(j.params)).toEqual(['W1', 'b1', 'W2', 'b2']);
      expect(j.updateState.W1.t).toBe(1);
    }],
    ['/v1/networks/step/gradcheck', (j: any) => expect(j.passed).toBe(true)],
  ] as const) {
    it(`${route}: documented under "networks", its example answers 200`, async () => {
      const doc = (await app.inject({ url: '/docs/json' })).json();
      const op = doc.paths[route]?.post;
      expect(op.tags).toEqual(['networks']);
      const example = op.requestBody.content['application/json'].schema.example;
      expect(example.layers.map((l: { layer: string }) => l.layer)).toEqual(['affine', 'relu', 'affine', 'softmax-loss']);
      const res = await app.inject({ method: 'POST', url: route, payload: example });
      expect(res.statusCode, res.body).toBe(200);
      check(res.json());
      expect(op.responses['200']).toBeDefined();
      expect(op.responses['4XX']).toBeDefined();
    });
  }
});
