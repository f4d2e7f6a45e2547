import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openapiText } from '../scripts/openapi-document.ts';
import { buildTestApp, post, postLayer } from './helpers/app.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

describe('the OpenAPI document', () => {
  it('the committed openapi/openapi.json matches the code (run `npm run openapi` after changing a schema)', async () => {
    const committed = readFileSync(new URL('../openapi/openapi.json', import.meta.url), 'utf8');
    expect(await openapiText()).toBe(committed);
  });

  it('is served at /docs/json and Swagger UI at /docs', async () => {
    const json = await app.inject({ url: '/docs/json' });
    expect(json.statusCode).toBe(200);
    expect(json.json().openapi).toMatch(/^3\./);
    const ui = await app.inject({ url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger-ui');
  });

  it('documents every layer route with an example that works as is (Try it out)', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    for (const layer of app.layerNames) {
      const op = doc.paths[`/v1/layers/${layer}`]?.post;
      expect(op, layer).toBeDefined();
      const example = op.requestBody.content['application/json'].schema.example;
      expect(example, layer).toBeDefined();
      const r = await postLayer(app, layer, example);
      expect(r.status, `${layer}: ${r.body}`).toBe(200);
      expect(r.json.out ?? r.json.loss).toBeDefined();
    }
  });

  it('documents every update rule with an example that works as is', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    for (const rule of app.ruleNames) {
      const op = doc.paths[`/v1/optimizers/${rule}`]?.post;
      expect(op, rule).toBeDefined();
      expect(op.tags).toEqual(['optimizers']);
      const example = op.requestBody.content['application/json'].schema.example;
      const r = await post(app, `/v1/optimizers/${rule}`, example);
      expect(r.status, `${rule}: ${r.body}`).toBe(200);
      expect(r.json.w).toBeDefined();
    }
    expect(doc.paths['/v1/optimizers']?.get).toBeDefined();
  });

  it('lists every layer at /v1/layers with params and defaults from the validating schemas', async () => {
    const res = await app.inject({ url: '/v1/layers' });
    expect(res.statusCode).toBe(200);
    const { layers } = res.json();
    expect(layers.map((l: { name: string }) => l.name)).toEqual(app.layerNames);
    const svm = layers.find((l: { name: string }) => l.name === 'svm-loss');
    expect(svm.params.properties.margin.default).toBe(1);
    expect(svm.outputs).toEqual(['loss', 'grads.x']);
  });
});

describe('health', () => {
  it('live and ready answer 200', async () => {
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
    const ready = await app.inject({ url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', workers: 1 });
  });
});
