import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RULES } from '../src/optimizers/registry.ts';
import { buildTestApp, post } from './helpers/app.ts';
import { binary, frame, unframe } from './helpers/frame.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

const step = (rule: string, body: unknown) => post(app, `/v1/optimizers/${rule}`, body);

describe('GET /v1/optimizers', () => {
  it('lists every rule with its params (defaults from the validating schemas) and state keys', async () => {
    const res = await app.inject({ url: '/v1/optimizers' });
    expect(res.statusCode).toBe(200);
    const { rules } = res.json();
    expect(rules.map((r: { name: string }) => r.name)).toEqual(['sgd', 'sgd-momentum', 'rmsprop', 'adam']);
    const adam = rules.find((r: { name: string }) => r.name === 'adam');
    expect(adam.route).toBe('/v1/optimizers/adam');
    expect(adam.params.properties.learningRate.default).toBe(1e-3);
    expect(adam.params.properties.beta2.default).toBe(0.999);
    expect(adam.state.map((k: { name: string; kind: string }) => `${k.name}:${k.kind}`)).toEqual(['m:tensor', 'v:tensor', 't:integer']);
  });
});

describe('POST /v1/optimizers/{rule}', () => {
  it.each(RULES.map((r) => [r.name, r] as const))('%s: the documented example works as is', async (_name, rule) => {
    const r = await step(rule.name, rule.example);
    expect(r.status, r.body).toBe(200);
    expect(Object.keys(r.json.state).sort()).toEqual(rule.state.map((k) => k.name).sort());
    expect(Array.isArray(r.json.w)).toBe(true);
  });

  it('chains: sending back the answer state continues the run (adam t counts up)', async () => {
    let body: any = { inputs: { w: [1, 2], dw: [0.5, -0.5] } };
    for (let t = 1; t <= 3; t++) {
      const r = await step('adam', body);
      expect(r.status, r.body).toBe(200);
      expect(r.json.state.t).toBe(t);
      body = { inputs: { w: r.json.w, dw: [0.5, -0.5] }, state: r.json.state };
    }
  });

  it('answers in the form that encoding asks for', async () => {
    const r = await step('sgd-momentum', { inputs: { w: [1, 2], dw: [1, 1] }, encoding: 'base64' });
    expect(r.status).toBe(200);
    expect(r.json.w).toMatchObject({ shape: [2], dtype: 'float64' });
    expect(r.json.state.velocity.b64).toEqual(expect.any(String));
  });

  it('takes and answers framed binary bodies (float32 adam: w, m, v as bytes, t as JSON)', async () => {
    const f = frame({
      dtype: 'float32',
      inputs: { w: binary([2], Float32Array.of(1, 2)), dw: binary([2], Float32Array.of(0.5, -0.5)) },
      state: { m: binary([2], Float32Array.of(0, 0)), v: binary([2], Float32Array.of(0, 0)), t: 0 },
    });
    const res = await app.inject({ method: 'POST', url: '/v1/optimizers/adam', headers: f.headers, payload: f.payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['content-type']).toBe('application/octet-stream');
    const { json, tensor } = unframe(res.rawPayload, res.headers['inference-header-content-length']);
    expect(json.state.t).toBe(1);
    // the first adam step moves every coordinate by lr against the sign of its gradient
    expect(Array.from(tensor(json.w).data as Float32Array)).toEqual([Math.fround(1 - 1e-3), Math.fround(2 + 1e-3)]);
    expect(tensor(json.state.m).data).toBeInstanceOf(Float32Array);
  });

  it.each([
    ['sgd refuses a state key', 'sgd', { inputs: { w: [1], dw: [1] }, state: { velocity: [0] } }, 'state.velocity', /unknown field "velocity"/],
    ['a state key of another rule', 'adam', { inputs: { w: [1], dw: [1] }, state: { cache: [0] } }, 'state.cache', /unknown field "cache"/],
    ['momentum = 1', 'sgd-momentum', { inputs: { w: [1], dw: [1] }, params: { momentum: 1 } }, 'params.momentum', /<1/],
    ['negative learning rate', 'rmsprop', { inputs: { w: [1], dw: [1] }, params: { learningRate: -1 } }, 'params.learningRate', />=0/],
    ['epsilon = 0', 'adam', { inputs: { w: [1], dw: [1] }, params: { epsilon: 0 } }, 'params.epsilon', />0/],
    ['t not an integer', 'adam', { inputs: { w: [1], dw: [1] }, state: { t: 1.5 } }, 'state.t', /expected int, got number 1.5/],
    ['state shape', 'sgd-momentum', { inputs: { w: [[1, 2]], dw: [[1, 2]] }, state: { velocity: [1, 2] } }, 'state.velocity', /has shape \[2\]; .* it must be \[1, 2\]/],
    ['dw shape', 'sgd', { inputs: { w: [1, 2], dw: [1] } }, 'inputs.dw', /gradient of w, so it must be \[2\]/],
    ['negative v', 'adam', { inputs: { w: [1, 2], dw: [1, 1] }, state: { v: [0, -1] } }, 'state.v[1]', /is -1; .* must be >= 0/],
  ])('%s is a 400 naming the field', async (_what, rule, body, path, detail) => {
    const r = await step(rule, body);
    expect(r.status, r.body).toBe(400);
    expect(r.json.detail).toMatch(new RegExp(`^optimizers/${rule}: `));
    expect(r.json.detail).toMatch(detail);
    expect(r.json.errors.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('an unknown rule is a 404 naming the known rules', async () => {
    const r = await step('adagrad', { inputs: { w: [1], dw: [1] } });
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(r.json.type).toBe('urn:layerserve:problem:unknown-rule');
    expect(r.json.detail).toBe('no update rule "adagrad"; the rules are sgd, sgd-momentum, rmsprop, adam');
  });

  it('a float32 overflow in a JSON form is a 422 naming the output; base64 carries it', async () => {
    const body = { dtype: 'float32', inputs: { w: [3e38], dw: [-3e38] }, params: { learningRate: 1 } };
    const r = await step('sgd', body);
    expect(r.status, r.body).toBe(422);
    expect(r.json.errors[0].path).toBe('w');
    expect((await step('sgd', { ...body, encoding: 'base64' })).status).toBe(200);
  });
});
