import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.ts';

/** Every refusal of POST /v1/networks/step names the layer (index, kind, name) and the field. */
let app: FastifyInstance;
let small: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp({ ENABLE_FAULT_LAYER: true, COMPUTE_TIMEOUT_MS: 300 });
  small = await buildTestApp({ MAX_ELEMENTS: 5000 });
});
afterAll(async () => {
  await app.close();
  await small.close();
});

const mlp = () => ({
  layers: [
    { layer: 'affine', name: 'fc1', inputs: { w: 'W1', b: 'b1' } },
    { layer: 'relu' },
    { layer: 'affine', name: 'fc2', inputs: { w: 'W2', b: 'b2' } },
    { layer: 'softmax-loss' },
  ] as any[],
  params: { W1: [[1, 0, 1], [0, 1, 1]], b1: [0, 0, 0], W2: [[1, 0], [0, 1], [1, 1]], b2: [0, 0] } as Record<string, any>,
  x: [[1, 2], [3, 4]],
  y: [0, 1],
});

const CONTEXT = 'networks/step: ';

async function refused(body: object, on = app) {
  const res = await on.inject({ method: 'POST', url: '/v1/networks/step', payload: body });
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const p = res.json() as { detail: string; errors?: { path: string; message: string }[]; type: string };
  // Every problem of the route starts with it, as the layer routes' start with the layer.
  expect(p.detail.startsWith(CONTEXT), p.detail).toBe(true);
  return { status: res.statusCode, ...p, detail: p.detail.slice(CONTEXT.length) };
}

describe('POST /v1/networks/step refuses, naming the layer and the field', () => {
  it('an unknown layer: 400 listing the layers', async () => {
    const b = mlp();
    b.layers[1] = { layer: 'relux' };
    const p = await refused(b);
    expect(p.status).toBe(400);
    expect(p.detail).toMatch(/unknown layer "relux"; the layers are "affine", .*"dropout".*"conv"/);
    expect(p.errors![0].path).toBe('layers[1].layer');
  });

  it('a loss anywhere but last', async () => {
    const b = mlp();
    b.layers.splice(1, 0, { layer: 'svm-loss' });
    const p = await refused(b);
    expect(p.detail).toBe('layers[1] (svm-loss): a loss layer may only come last (there are 5 layers)');
  });

  it('a name used twice', async () => {
    const b = mlp();
    b.layers[2].name = 'fc1';
    expect((await refused(b)).detail).toBe('layers[2] (affine "fc1"): "fc1" is already the name of layers[0]: names must be unique');
  });

  it('a batchnorm-family layer without a name, and test mode without its state', async () => {
    const b = mlp();
    b.params.g = [1, 1, 1];
    b.params.be = [0, 0, 0];
    b.layers.splice(1, 0, { layer: 'batchnorm', inputs: { gamma: 'g', beta: 'be' } });
    expect((await refused(b)).detail).toMatch(/^layers\[1\] \(batchnorm\): a batchnorm layer needs a name/);
    b.layers[1].name = 'bn1';
    const p = await refused({ ...b, mode: 'test' });
    expect(p.detail).toMatch(/^layers\[1\] \(batchnorm "bn1"\): mode "test" normalizes with the running statistics, so state.bn1.runningMean/);
    expect(p.errors![0].path).toBe('state.bn1');
  });

  it('state for a layer that has none', async () => {
    const p = await refused({ ...mlp(), state: { fc1: { runningMean: [0, 0, 0], runningVar: [1, 1, 1] } } });
    expect(p.detail).toMatch(/state.fc1: no batchnorm-family layer is named "fc1" \(layers\[0\] is affine\)/);
  });

  it('x bound to a tensor, an input the layer does not have, a missing binding, a name not in params', async () => {
    const b = mlp();
    b.layers[0].inputs = { x: 'W1', w: 'W1', b: 'b1' };
    expect((await refused(b)).detail).toMatch(/^layers\[0\] \(affine "fc1"\): x cannot be bound/);
    b.layers[0].inputs = { w: 'W1', b: 'b1', gamma: 'b1' };
    expect((await refused(b)).detail).toBe('layers[0] (affine "fc1"): no input "gamma" to bind; it binds "w", "b"');
    b.layers[0].inputs = { w: 'W1' };
    expect((await refused(b)).detail).toMatch(/^layers\[0\] \(affine "fc1"\): needs b \(M\) bound to tensors in params, e.g. "inputs": \{"b": "fc1.b"\}/);
    b.layers[0].inputs = { w: 'W1', b: 'bias' };
    expect((await refused(b)).detail).toBe('layers[0] (affine "fc1"): binds b to "bias", which is not in params ("W1", "b1", "W2", "b2")');
  });

  it('a tensor in params that no layer uses', async () => {
    const b = mlp();
    b.params.W3 = [[1]];
    const p = await refused(b);
    expect(p.detail).toMatch(/^params.W3: "W3" is bound by no layer/);
  });

  it("a layer's bad param, at its path", async () => {
    const b = mlp();
    b.layers[1] = { layer: 'max-pool', name: 'pool1', params: { poolHeight: 0 } };
    const p = await refused(b);
    expect(p.detail).toMatch(/^layers\[1\] \(max-pool "pool1"\): params.poolHeight: /);
    expect(p.errors!.map((e) => e.path)).toEqual(['layers[1].params.poolHeight', 'layers[1].params.poolWidth']);
  });

  it('shape mismatches between consecutive layers say both layers and both shapes', async () => {
    const b = mlp();
    b.params.W2 = [[1, 0], [0, 1]];
    const p = await refused(b);
    expect(p.status).toBe(400);
    expect(p.type).toBe('urn:layerserve:problem:shape-mismatch');
    expect(p.detail).toBe(
      'layers[2] (affine "fc2"): w ("W2") has shape [2, 2]; x [2, 3] flattens to D = 3 per row, so w must be [3, M] (x [2, 3] is the output of layers[1] (relu))',
    );
    expect(p.errors![0].path).toBe('params.W2');
    b.layers[1] = { layer: 'max-pool', name: 'pool1', params: { poolHeight: 2, poolWidth: 2 } };
    expect((await refused(b)).detail).toBe(
      'layers[1] (max-pool "pool1"): its x must be 4-D (N, C, H, W), but it is the output of layers[0] (affine "fc1"), shape [2, 3]',
    );
  });

  it('labels outside the classes, at y[i]', async () => {
    const p = await refused({ ...mlp(), y: [0, 2] });
    expect(p.detail).toBe('layers[3] (softmax-loss): y[1]: label 2 is outside [0, 2): x has C = 2 classes');
    expect(p.errors![0].path).toBe('y[1]');
  });

  it('a base64 tensor of the wrong dtype, at params.<name>', async () => {
    const b = mlp();
    b.params.b2 = { shape: [2], dtype: 'float32', b64: Buffer.from(new Float32Array([0, 0]).buffer).toString('base64') };
    const p = await refused(b);
    expect(p.errors![0].path).toBe('params.b2.dtype');
  });

  it('413 when the intermediates would pass the element limit, before any work, naming the layer', async () => {
    const body = {
      layers: [
        { layer: 'conv', name: 'wide', params: { pad: 1 }, inputs: { w: 'w', b: 'b' } },
        { layer: 'relu' },
      ],
      params: { w: { shape: [64, 1, 3, 3], data: new Array(576).fill(0.1) }, b: { shape: [64], data: new Array(64).fill(0) } },
      x: { shape: [1, 1, 8, 8], data: new Array(64).fill(1) },
    };
    const p = await refused(body, small);
    expect(p.status).toBe(413);
    expect(p.detail).toMatch(/^layers\[1\] \(relu\) makes out \[1, 64, 8, 8\]: the step would hold \d+ tensor elements; the limit is 5000$/);
    // The same net with fewer filters fits.
    body.params.w = { shape: [8, 1, 3, 3], data: new Array(72).fill(0.1) };
    body.params.b = { shape: [8], data: new Array(8).fill(0) };
    const ok = await small.inject({ method: 'POST', url: '/v1/networks/step', payload: body });
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('update without a loss and y is a 400', async () => {
    const { y: _y, ...b } = mlp();
    const p = await refused({ ...b, update: { rule: 'sgd' } });
    expect(p.status).toBe(400);
  });

  it('a float32 overflow is a 422 in JSON, and comes back in base64', async () => {
    const body = {
      dtype: 'float32',
      layers: [{ layer: 'affine', inputs: { w: 'W', b: 'b' } }],
      params: { W: [[1e30]], b: [0] },
      x: [[1e30]],
    };
    const p = await refused(body);
    expect(p.status).toBe(422);
    expect(p.errors![0].path).toBe('out');
    const res = await app.inject({ method: 'POST', url: '/v1/networks/step', payload: { ...body, encoding: 'base64' } });
    expect(res.statusCode).toBe(200);
  });

  it('the whole step is one task under the compute time limit: 504, and the service goes on', async () => {
    const body = { layers: [{ layer: 'relu' }, { layer: 'fault', params: { kind: 'hang', ms: 2000 } }], x: [[1, -1]] };
    const r = await app.inject({ method: 'POST', url: '/v1/networks/step', payload: body });
    expect(r.statusCode).toBe(504);
    expect(r.json().detail).toMatch(/^network step \(test layers on\): the computation ran past the 300 ms limit/);
    const res = await app.inject({ method: 'POST', url: '/v1/networks/step', payload: { layers: [{ layer: 'relu' }], x: [[1, -1]] } });
    expect(res.json()).toEqual({ out: [[1, 0]] });
  });
});

describe('POST /v1/networks/step refuses a bad update', () => {
  const withUpdate = (update: object) => ({ ...mlp(), update });
  it.each([
    [{ rule: 'adagrad' }, 'update.rule', /unknown update rule "adagrad"; the rules are "sgd", "sgd-momentum", "rmsprop", "adam"/],
    [{ rule: 'adam', params: { beta1: 1 } }, 'update.params.beta1', /^update \(adam\): update.params.beta1: /],
    [{ rule: 'adam', state: { W9: { t: 1 } } }, 'update.state.W9', /"W9" is not a tensor in params/],
    [{ rule: 'adam', state: { W1: { velocity: [[0, 0, 0], [0, 0, 0]] } } }, 'update.state.W1.velocity', /unknown state key "velocity"; adam keeps "m", "v", "t"/],
    [{ rule: 'adam', state: { W1: { t: 1.5 } } }, 'update.state.W1.t', /.+/],
    [{ rule: 'adam', state: { W1: { m: [[0, 0], [0, 0]] } } }, 'update.state.W1.m', /has shape \[2, 2\]; adam keeps one value per element of params.W1 \[2, 3\]/],
    [{ rule: 'rmsprop', state: { b2: { cache: [0, -1] } } }, 'update.state.b2.cache[1]', /is -1; cache is a moving average of squares/],
  ])('%j → 400 at %s', async (update, path, detail) => {
    const p = await refused(withUpdate(update));
    expect(p.status).toBe(400);
    expect(p.errors![0].path).toBe(path);
    expect(p.detail).toMatch(detail);
  });

  it('update without y, or without a loss last, says which', async () => {
    const { y: _y, ...noY } = mlp();
    expect((await refused({ ...noY, update: { rule: 'sgd' } })).detail).toMatch(/^update: an update steps along the gradient of the loss: it needs a loss layer last and y \(y is missing\)/);
    const b = mlp();
    b.layers.pop();
    expect((await refused({ ...b, update: { rule: 'sgd' } })).detail).toMatch(/\(the last layer, layers\[2\] \(affine "fc2"\), is not a loss\)/);
  });
});
