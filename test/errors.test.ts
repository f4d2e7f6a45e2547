import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, post, postLayer } from './helpers/app.ts';
import { errorCases, V11_DIR, VECTOR_DIR } from './helpers/vectors.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

const isProblem = (headers: Record<string, unknown>) => String(headers['content-type']).startsWith('application/problem+json');

const cases = [
  ...errorCases(VECTOR_DIR).map((c) => ({ ...c, file: 'errors.json' })),
  ...errorCases(V11_DIR).map((c) => ({ ...c, file: 'v1.1/errors.json' })),
];

describe('errors.json: every reference error case, v1 and v1.1, to its route', () => {
  for (const c of cases) {
    it(`${c.file}: ${c.name} → ${c.status}`, async () => {
      const r = await post(app, c.route, c.request);
      expect(r.status, r.body.slice(0, 300)).toBe(c.status);
      expect(isProblem(r.headers)).toBe(true);
      expect(r.json).toMatchObject({ status: c.status, type: expect.stringMatching(/^urn:layerserve:problem:/), title: expect.any(String) });
      expect(r.json.detail.length).toBeGreaterThan(10);
      expect(r.body).not.toMatch(/at .*\.(ts|js):\d+/); // no stack traces
      expect(r.headers['server-timing']).toMatch(/^total;dur=[\d.]+$/);
      // a 404 names the layer or rule that does not exist, not just the route
      if (c.status === 404) expect(r.json.detail).toContain(`"${c.layer}"`);
    });
  }
});

describe('problem details say which field, what was expected and what came', () => {
  it.each([
    ['ragged nested', 'relu', { inputs: { x: [[1, 2], [3]] } }, 'inputs.x[1]', /length 1, expected 2/],
    ['flat length', 'relu', { inputs: { x: { shape: [2, 3], data: [1, 2, 3] } } }, 'inputs.x.data', /has 3 numbers; shape \[2, 3\] needs 6/],
    ['string in data', 'relu', { inputs: { x: { shape: [2], data: [1, '2'] } } }, 'inputs.x.data[1]', /expected a finite number, got the string "2"/],
    ['zero dimension', 'relu', { inputs: { x: { shape: [2, 0], data: [] } } }, 'inputs.x.shape[1]', />= 1/],
    ['unknown dtype', 'relu', { dtype: 'float16', inputs: { x: [1] } }, 'dtype', /"float64", "float32"; got the string "float16"/],
    ['unknown param', 'relu', { inputs: { x: [1] }, params: { alpha: 1 } }, 'params.alpha', /unknown field "alpha"/],
    ['mode outside batchnorm', 'relu', { inputs: { x: [1] }, mode: 'test' }, 'mode', /unknown field "mode"/],
    ['state outside batchnorm', 'relu', { inputs: { x: [1] }, state: {} }, 'state', /unknown field "state"/],
    ['dout on a loss', 'softmax-loss', { inputs: { x: [[1, 2]], y: [0] }, dout: [1] }, 'dout', /unknown field "dout"/],
    ['unknown input', 'relu', { inputs: { x: [1], z: [1] } }, 'inputs.z', /unknown field "z"; inputs accepts "x"/],
    ['missing input', 'affine', { inputs: { x: [[1]], w: [[1]] } }, 'inputs.b', /required/],
    ['not a tensor', 'relu', { inputs: { x: 'abc' } }, 'inputs.x', /expected a tensor/],
    ['dout shape', 'relu', { inputs: { x: [[1, 2, 3]] }, dout: [[1], [2], [3]] }, 'dout', /dout has shape \[3, 1\].*must be \[1, 3\]/],
    ['b64 dtype', 'relu', { inputs: { x: { shape: [2], dtype: 'float32', b64: 'AACAPwAAAEA=' } } }, 'inputs.x.dtype', /float32, but the request's dtype is float64/],
    ['b64 bytes', 'relu', { dtype: 'float32', inputs: { x: { shape: [3], dtype: 'float32', b64: 'AACAPwAAAEA=' } } }, 'inputs.x.b64', /decodes to 8 bytes; shape \[3\] in float32 needs 12/],
    ['b64 alphabet', 'relu', { dtype: 'float32', inputs: { x: { shape: [2], dtype: 'float32', b64: 'AACAPw$AAEA=' } } }, 'inputs.x.b64', /not valid base64/],
    ['b64 NaN', 'relu', { dtype: 'float32', inputs: { x: { shape: [2], dtype: 'float32', b64: 'AACAPwAAwH8=' } } }, 'inputs.x', /NaN at flat index 1/],
    ['float32 overflow of a JSON number', 'relu', { dtype: 'float32', inputs: { x: [1, 1e39] } }, 'inputs.x[1]', /not finite in float32/],
    ['label range', 'svm-loss', { inputs: { x: [[1, 2, 3]], y: [-1] } }, 'inputs.y[0]', /label -1 is outside \[0, 3\)/],
    ['label count', 'svm-loss', { inputs: { x: [[1, 2, 3]], y: [0, 1] } }, 'inputs.y', /2 labels.*N = 1/],
    ['affine w', 'affine', { inputs: { x: [[1, 2]], w: [[1, 2, 3]], b: [0] } }, 'inputs.w', /flattens to D = 2 per row, so w must be \[2, M\]/],
    ['rank', 'softmax-loss', { inputs: { x: [1, 2], y: [0] } }, 'inputs.x', /must be 2-D \(N, C\) scores; got shape \[2\]/],
    ['bn test without state', 'batchnorm', { mode: 'test', inputs: { x: [[1, 2]], gamma: [1, 1], beta: [0, 0] } }, 'state', /state.runningMean and state.runningVar are required/],
    ['bn gamma length', 'batchnorm', { inputs: { x: [[1, 2]], gamma: [1], beta: [0, 0] } }, 'inputs.gamma', /has shape \[1\]; x \[1, 2\] has D = 2, so it must be \[2\]/],
    ['bn state length', 'spatial-batchnorm', { inputs: { x: [[[[1]], [[2]]]], gamma: [1, 1], beta: [0, 0] }, state: { runningMean: [0], runningVar: [1, 1] } }, 'state.runningMean', /C = 2, so it must be \[2\]/],
    ['bn momentum range', 'batchnorm', { inputs: { x: [[1], [2]], gamma: [1], beta: [0] }, params: { momentum: 1.5 } }, 'params.momentum', /<=1; got number 1.5/],
    ['bn eps <= 0', 'layernorm', { inputs: { x: [[1, 2]], gamma: [1, 1], beta: [0, 0] }, params: { eps: 0 } }, 'params.eps', />0; got number 0/],
    ['bn negative running var', 'batchnorm', { mode: 'test', inputs: { x: [[1]], gamma: [1], beta: [0] }, state: { runningMean: [0], runningVar: [-1] } }, 'state.runningVar[0]', /is -1; a variance must be >= 0/],
    ['bn unbiased with one value per feature', 'batchnorm', { inputs: { x: [[1, 2]], gamma: [1, 1], beta: [0, 0] }, params: { runningVarEstimator: 'unbiased' } }, 'params.runningVarEstimator', /one value per feature/],
    ['bn mode outside the enum', 'spatial-batchnorm', { mode: 'eval', inputs: { x: [[[[1]]]], gamma: [1], beta: [0] } }, 'mode', /"train", "test"; got the string "eval"/],
    ['gn groups', 'spatial-groupnorm', { inputs: { x: [[[[1]], [[2]], [[3]]]], gamma: [1, 1, 1], beta: [0, 0, 0] }, params: { groups: 2 } }, 'params.groups', /2 does not divide the C = 3 channels/],
    ['gn groups required', 'spatial-groupnorm', { inputs: { x: [[[[1]]]], gamma: [1], beta: [0] } }, 'params.groups', /required/],
    ['layernorm rank', 'layernorm', { inputs: { x: [1, 2], gamma: [1, 1], beta: [0, 0] } }, 'inputs.x', /at least 2-D/],
    ['conv output below 1', 'conv', { inputs: { x: [[[[1, 2], [3, 4]]]], w: [[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]]], b: [0] } }, 'inputs.w', /floor\(\(2 \+ 2·0 − 1·\(3 − 1\) − 1\) \/ 1\) \+ 1 = 0 is below 1/],
    ['conv channels', 'conv', { inputs: { x: [[[[1]], [[2]]]], w: [[[[1]]]], b: [0] } }, 'inputs.w', /it must be \[F, 2, HH, WW\]/],
    ['conv groups', 'conv', { inputs: { x: [[[[1]], [[2]], [[3]]]], w: [[[[1]]], [[[1]]]], b: [0, 0] }, params: { groups: 2 } }, 'params.groups', /does not divide/],
    ['conv pair', 'conv', { inputs: { x: [[[[1]]]], w: [[[[1]]]], b: [0] }, params: { stride: [1, 0] } }, 'params.stride[1]', />=1/],
    ['pool pad over half', 'max-pool', { inputs: { x: [[[[1, 2], [3, 4]]]] }, params: { poolHeight: 2, poolWidth: 2, pad: 2 } }, 'params.pad', /at most half/],
    ['pool output below 1', 'avg-pool', { inputs: { x: [[[[1, 2], [3, 4]]]] }, params: { poolHeight: 3, poolWidth: 1 } }, 'params.poolHeight', /below 1/],
  ])('%s', async (_name, layer, body, path, detail) => {
    const r = await postLayer(app, layer, body);
    expect(r.status, r.body).toBe(400);
    expect(isProblem(r.headers)).toBe(true);
    expect(r.json.detail).toMatch(new RegExp(`^${layer}: `));
    expect(r.json.detail).toMatch(detail);
    expect(r.json.errors?.map((e: { path: string }) => e.path)).toContain(path);
  });

  it('a JSON number too large for float64 (1e400) is refused as non-finite', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', headers: { 'content-type': 'application/json' }, payload: '{"inputs":{"x":[1, 1e400]}}' });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toMatch(/inputs.x\[1\]: Infinity is not finite/);
  });
});

describe('statuses outside validation', () => {
  it('unknown layer is a 404 that lists the layers', async () => {
    const r = await postLayer(app, 'conv3d', { inputs: {} });
    expect(r.status).toBe(404);
    expect(r.json.detail).toMatch(/no layer "conv3d"; the layers are affine, relu/);
  });

  it('unknown route is a 404 problem', async () => {
    const res = await app.inject({ method: 'GET', url: '/nowhere' });
    expect(res.statusCode).toBe(404);
    expect(isProblem(res.headers)).toBe(true);
  });

  it('a content type other than JSON is a 415', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    expect(res.statusCode).toBe(415);
    expect(isProblem(res.headers)).toBe(true);
  });

  it('malformed JSON is a 400 problem', async () => {
    const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', headers: { 'content-type': 'application/json' }, payload: '{"inputs": ' });
    expect(res.statusCode).toBe(400);
    expect(res.json().type).toBe('urn:layerserve:problem:malformed-json');
  });

  it('a float32 overflow is a 422 in JSON, and travels in base64', async () => {
    const body = { dtype: 'float32', inputs: { x: [[1e30]], w: [[1e30]], b: [0] } };
    const r = await postLayer(app, 'affine', body);
    expect(r.status).toBe(422);
    expect(r.json.detail).toMatch(/affine: out: holds Infinity at flat index 0/);
    const b = await postLayer(app, 'affine', { ...body, encoding: 'base64' });
    expect(b.status).toBe(200);
    const buf = Buffer.from(b.json.out.b64, 'base64');
    expect(new Float32Array(buf.buffer, buf.byteOffset, 1)[0]).toBe(Infinity);
  });

  it('a non-finite loss is a 422', async () => {
    const r = await postLayer(app, 'svm-loss', { inputs: { x: [[1.7e308, -1.7e308]], y: [1] } });
    expect(r.status).toBe(422);
    expect(r.json.errors[0].path).toBe('loss');
  });
});

describe('hostile bodies', () => {
  it('100,000 nested [ get a 400 in milliseconds', async () => {
    for (const payload of ['['.repeat(100_000), `{"inputs":{"x":${'['.repeat(100_000)}${']'.repeat(100_000)}}}`]) {
      const t = performance.now();
      const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', headers: { 'content-type': 'application/json' }, payload });
      expect(res.statusCode).toBe(400);
      expect(isProblem(res.headers)).toBe(true);
      expect(performance.now() - t).toBeLessThan(2_000); // generous: "milliseconds" on a noisy machine
    }
  });

  it('nesting deeper than the rank limit is refused without reading further', async () => {
    const r = await postLayer(app, 'relu', { inputs: { x: [[[[[[[[[1]]]]]]]]] } });
    expect(r.status).toBe(400);
    expect(r.json.detail).toMatch(/nested deeper than the maximum rank 8/);
  });

  it('deep nesting inside an element (not the first) is refused as ragged', async () => {
    const payload = `{"inputs":{"x":[[1],[${'['.repeat(50_000)}${']'.repeat(50_000)}]]}}`;
    const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', headers: { 'content-type': 'application/json' }, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().errors[0].path).toBe('inputs.x[1][0]');
  });

  it('__proto__ and constructor.prototype keys are refused', async () => {
    for (const payload of ['{"inputs":{"x":[1]},"__proto__":{"polluted":1}}', '{"inputs":{"x":[1]},"constructor":{"prototype":{"polluted":1}}}']) {
      const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', headers: { 'content-type': 'application/json' }, payload });
      expect(res.statusCode).toBe(400);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    }
  });
});
