import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/kernels/types.ts';
import { randn } from '../../src/util/random.ts';
import { buildTestApp } from '../helpers/app.ts';
import { compareTensor, type Tol } from '../helpers/vectors.ts';
import { adamReference, referenceStep, type AdamState, type RefLayer, type RefNet } from './reference.ts';

/**
 * POST /v1/networks/step against an independent float64 reference (reference.ts: the kernels' plain
 * reference implementations and plain loops, layer by layer with caches, as cs231n does it), over
 * HTTP (app.inject). The tensors are large enough that the service takes its fast paths (wasm GEMM,
 * Winograd, wasm pooling and normalization), which the reference never does.
 */
type T = Tensor<Float64Array>;
const F64: Tol = { rtol: 1e-9, atol: 1e-12 };

const rand = (shape: number[], seed: number, scale = 1, shift = 0): T => ({ shape, data: randn(shape.reduce((a, b) => a * b, 1), seed, scale, shift) });
const labels = (n: number, classes: number, seed: number) => Array.from(randn(n, seed), (v, i) => (Math.floor(Math.abs(v) * 7919) + i) % classes);
const flat = (x: T) => ({ shape: x.shape, data: Array.from(x.data) });

function body(net: RefNet, extra: Record<string, unknown> = {}) {
  return {
    ...(net.mode ? { mode: net.mode } : {}),
    layers: net.layers,
    params: Object.fromEntries(Object.entries(net.params).map(([k, v]) => [k, flat(v)])),
    ...(net.state ? { state: Object.fromEntries(Object.entries(net.state).map(([k, s]) => [k, { runningMean: flat(s.runningMean), runningVar: flat(s.runningVar) }])) } : {}),
    x: flat(net.x),
    ...(net.y ? { y: net.y } : {}),
    ...(net.reg ? { reg: net.reg } : {}),
    ...extra,
  };
}

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

async function step(payload: object) {
  const res = await app.inject({ method: 'POST', url: '/v1/networks/step', payload });
  expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
  return res.json();
}

function compareAnswer(got: any, want: ReturnType<typeof referenceStep>, tol: Tol): string[] {
  const fails: string[] = [];
  if (want.loss !== undefined) fails.push(...compareTensor('loss', got.loss, want.loss, tol));
  if (want.out) fails.push(...compareTensor('out', got.out, flat(want.out), tol));
  for (const [k, g] of Object.entries(want.grads)) fails.push(...compareTensor(`grads.${k}`, got.grads?.[k], flat(g), tol));
  for (const [k, s] of Object.entries(want.state)) {
    fails.push(...compareTensor(`state.${k}.runningMean`, got.state?.[k]?.runningMean, flat(s.runningMean), tol));
    fails.push(...compareTensor(`state.${k}.runningVar`, got.state?.[k]?.runningVar, flat(s.runningVar), tol));
  }
  return fails;
}

/** cs231n's three-layer convnet, CIFAR-like channels: conv - relu - 2x2 max pool - affine - relu - affine - softmax. */
function convnet(reg = 0): RefNet {
  const layers: RefLayer[] = [
    { layer: 'conv', name: 'conv1', params: { pad: 1 }, inputs: { w: 'conv1.w', b: 'conv1.b' } },
    { layer: 'relu' },
    { layer: 'max-pool', name: 'pool1', params: { poolHeight: 2, poolWidth: 2 } },
    { layer: 'affine', name: 'fc1', inputs: { w: 'fc1.w', b: 'fc1.b' } },
    { layer: 'relu' },
    { layer: 'affine', name: 'fc2', inputs: { w: 'fc2.w', b: 'fc2.b' } },
    { layer: 'softmax-loss' },
  ];
  return {
    layers,
    params: {
      'conv1.w': rand([8, 3, 3, 3], 1, 0.3),
      'conv1.b': rand([8], 2, 0.1),
      'fc1.w': rand([128, 16], 3, 0.1),
      'fc1.b': rand([16], 4, 0.1),
      'fc2.w': rand([16, 10], 5, 0.3),
      'fc2.b': rand([10], 6, 0.1),
    },
    x: rand([8, 3, 8, 8], 7),
    y: labels(8, 10, 8),
    reg,
  };
}

/** Winograd conv, spatial batchnorm with running statistics, average pooling, svm loss. */
function bnConvnet(mode: 'train' | 'test'): RefNet {
  return {
    mode,
    layers: [
      { layer: 'conv', name: 'c1', params: { pad: 1 }, inputs: { w: 'c1.w', b: 'c1.b' } },
      { layer: 'spatial-batchnorm', name: 'bn1', params: { momentum: 0.8 }, inputs: { gamma: 'bn1.gamma', beta: 'bn1.beta' } },
      { layer: 'relu' },
      { layer: 'avg-pool', params: { poolHeight: 2, poolWidth: 2 } },
      { layer: 'affine', name: 'out', inputs: { w: 'out.w', b: 'out.b' } },
      { layer: 'svm-loss' },
    ],
    params: {
      'c1.w': rand([8, 8, 3, 3], 11, 0.2),
      'c1.b': rand([8], 12, 0.1),
      'bn1.gamma': rand([8], 13, 0.1, 1),
      'bn1.beta': rand([8], 14, 0.1),
      'out.w': rand([72, 10], 15, 0.1),
      'out.b': rand([10], 16, 0.1),
    },
    state: { bn1: { runningMean: rand([8], 17, 0.1), runningVar: rand([8], 18, 0.1, 1) } },
    x: rand([8, 8, 6, 6], 19),
    y: labels(8, 10, 20),
    reg: 0.02,
  };
}

/** An MLP with batchnorm and one weight matrix shared by two layers. */
function sharedMlp(): RefNet {
  return {
    layers: [
      { layer: 'affine', inputs: { w: 'W1', b: 'b1' } },
      { layer: 'batchnorm', name: 'bn', inputs: { gamma: 'g', beta: 'be' } },
      { layer: 'relu' },
      { layer: 'affine', inputs: { w: 'W2', b: 'b2' } },
      { layer: 'relu' },
      { layer: 'affine', inputs: { w: 'W2', b: 'b3' } },
      { layer: 'softmax-loss' },
    ],
    params: {
      W1: rand([20, 30], 21, 0.3),
      b1: rand([30], 22, 0.1),
      g: rand([30], 23, 0.1, 1),
      be: rand([30], 24, 0.1),
      W2: rand([30, 30], 25, 0.2),
      b2: rand([30], 26, 0.1),
      b3: rand([30], 27, 0.1),
    },
    x: rand([80, 20], 28),
    y: labels(80, 30, 29),
    reg: 0.1,
  };
}

/** An MLP with dropout (cs231n's FullyConnectedNet): affine - relu - dropout - affine - relu - dropout - affine - softmax. */
function dropoutMlp(mode: 'train' | 'test'): RefNet {
  return {
    mode,
    layers: [
      { layer: 'affine', inputs: { w: 'W1', b: 'b1' } },
      { layer: 'relu' },
      { layer: 'dropout', name: 'drop1', params: { p: 0.6, seed: 7 } },
      { layer: 'affine', inputs: { w: 'W2', b: 'b2' } },
      { layer: 'relu' },
      { layer: 'dropout', name: 'drop2', params: { p: 0.8, seed: 8 } },
      { layer: 'affine', inputs: { w: 'W3', b: 'b3' } },
      { layer: 'softmax-loss' },
    ],
    params: {
      W1: rand([48, 64], 31, 0.2),
      b1: rand([64], 32, 0.1),
      W2: rand([64, 40], 33, 0.2),
      b2: rand([40], 34, 0.1),
      W3: rand([40, 10], 35, 0.3),
      b3: rand([10], 36, 0.1),
    },
    x: rand([50, 48], 37),
    y: labels(50, 10, 38),
    reg: 0.01,
  };
}

/** The masks the dropout layer route draws for the same seeds and shapes: the reference multiplies by them. */
async function dropoutMasks(net: RefNet): Promise<Record<number, Float64Array>> {
  const masks: Record<number, Float64Array> = {};
  const shapes: Record<number, number[]> = { 2: [50, 64], 5: [50, 40] };
  for (const [index, shape] of Object.entries(shapes)) {
    const l = net.layers[Number(index)];
    const x = { shape, data: new Array(shape[0] * shape[1]).fill(1) };
    const res = await app.inject({ method: 'POST', url: '/v1/layers/dropout', payload: { inputs: { x }, params: l.params, encoding: 'flat' } });
    masks[Number(index)] = Float64Array.from(res.json().mask.data);
  }
  return masks;
}

describe('POST /v1/networks/step against the float64 reference', () => {
  it('affine - relu - dropout - affine - relu - dropout - affine - softmax, train mode: the masks of the seeds, reg, an sgd step', async () => {
    const net = dropoutMlp('train');
    net.masks = await dropoutMasks(net);
    const kept = net.masks[2].filter((v) => v !== 0).length / net.masks[2].length;
    expect(kept).toBeGreaterThan(0.5);
    expect(kept).toBeLessThan(0.7);
    const got = await step(body(net, { update: { rule: 'sgd', params: { learningRate: 0.1 } } }));
    const want = referenceStep(net);
    expect(compareAnswer(got, want, F64)).toEqual([]);
    for (const name of Object.keys(net.params)) {
      const next = net.params[name].data.map((w, i) => w - 0.1 * want.grads[name].data[i]);
      expect(compareTensor(`params.${name}`, got.params[name], flat({ shape: net.params[name].shape, data: next }), F64)).toEqual([]);
    }
  });

  it('the same in test mode: dropout keeps every unit', async () => {
    const net = dropoutMlp('test');
    expect(compareAnswer(await step(body(net)), referenceStep(net), F64)).toEqual([]);
  });

  for (const reg of [0, 0.05]) {
    it(`conv - relu - max pool - affine - relu - affine - softmax, reg ${reg}`, async () => {
      const net = convnet(reg);
      const got = await step(body(net));
      const want = referenceStep(net);
      expect(compareAnswer(got, want, F64)).toEqual([]);
      expect(Object.keys(got.grads)).toEqual(Object.keys(net.params));
      expect(got.state).toBeUndefined();
    });
  }

  it('conv - spatial batchnorm - relu - avg pool - affine - svm, train mode: loss, grads, running statistics', async () => {
    const net = bnConvnet('train');
    const got = await step(body(net));
    expect(compareAnswer(got, referenceStep(net), F64)).toEqual([]);
    expect(Object.keys(got.state)).toEqual(['bn1']);
  });

  it('the same in test mode: the running statistics normalize, no state comes back', async () => {
    const net = bnConvnet('test');
    const got = await step(body(net));
    expect(compareAnswer(got, referenceStep(net), F64)).toEqual([]);
    expect(got.state).toBeUndefined();
  });

  it('batchnorm MLP with a shared weight: the gradient is the sum over both layers, reg counted once', async () => {
    const net = sharedMlp();
    const got = await step(body(net));
    expect(compareAnswer(got, referenceStep(net), F64)).toEqual([]);
  });

  it('without y: the scores of the last layer before the loss (test mode), no grads', async () => {
    const net = { ...bnConvnet('test'), y: undefined };
    const got = await step(body(net));
    const want = referenceStep(net);
    expect(want.out!.shape).toEqual([8, 10]);
    expect(compareAnswer(got, want, F64)).toEqual([]);
    expect(got.grads).toBeUndefined();
    expect(got.loss).toBeUndefined();
  });

  it('without a loss layer, in train mode: the scores and the running statistics', async () => {
    const net = bnConvnet('train');
    net.layers = net.layers.slice(0, -1);
    const got = await step(body(net));
    expect(compareAnswer(got, referenceStep(net), F64)).toEqual([]);
    expect(got.loss).toBeUndefined();
    expect(Object.keys(got.state)).toEqual(['bn1']);
  });

  it('float32: the same step within float32 rounding of the float64 reference', async () => {
    const net = convnet(0.05);
    const got = await step({ ...body(net), dtype: 'float32', encoding: 'base64' });
    expect(compareAnswer(got, referenceStep(net), { rtol: 1e-4, atol: 1e-5 })).toEqual([]);
    expect(got.grads['conv1.w'].dtype).toBe('float32');
  });

  it('10 adam steps through the service (update, updateState sent back) follow the reference: loss to 1e-9 relative', async () => {
    const net = convnet(0.01);
    const ref = convnet(0.01);
    let params: Record<string, unknown> = body(net).params;
    let updateState: Record<string, unknown> | undefined;
    const stateRef: Record<string, AdamState> = {};
    const losses: [number, number][] = [];
    for (let k = 0; k < 10; k++) {
      const got = await step({ ...body(net), params, update: { rule: 'adam', params: { learningRate: 1e-2 }, ...(updateState ? { state: updateState } : {}) } });
      const want = referenceStep(ref);
      losses.push([got.loss, want.loss!]);
      expect(compareAnswer(got, want, F64)).toEqual([]);
      for (const name of Object.keys(ref.params)) {
        const b = adamReference(ref.params[name].data, want.grads[name].data, stateRef[name], 1e-2);
        ref.params[name] = { shape: ref.params[name].shape, data: b.w };
        stateRef[name] = b.state;
        expect(compareTensor(`params.${name}`, got.params[name], flat(ref.params[name]), F64)).toEqual([]);
        expect(compareTensor(`updateState.${name}.m`, got.updateState[name].m, flat({ shape: ref.params[name].shape, data: b.state.m }), F64)).toEqual([]);
        expect(got.updateState[name].t).toBe(k + 1);
      }
      params = got.params;
      updateState = got.updateState;
    }
    for (const [a, b] of losses) expect(Math.abs(a - b) / Math.abs(b)).toBeLessThanOrEqual(1e-9);
    // and it trains: the loss went down
    expect(losses[9][1]).toBeLessThan(losses[0][1]);
  });

  it('sgd-momentum with update: params and velocity of one step, every tensor, shared ones once', async () => {
    const net = sharedMlp();
    const got = await step(body(net, { update: { rule: 'sgd-momentum', params: { learningRate: 0.1, momentum: 0.5 }, state: { W2: { velocity: flat(rand([30, 30], 40, 0.01)) } } } }));
    const want = referenceStep(net);
    expect(compareAnswer(got, want, F64)).toEqual([]);
    expect(Object.keys(got.params)).toEqual(Object.keys(net.params));
    const v0 = rand([30, 30], 40, 0.01).data;
    for (const name of Object.keys(net.params)) {
      const w = net.params[name].data;
      const g = want.grads[name].data;
      const v = g.map((gi, i) => 0.5 * (name === 'W2' ? v0[i] : 0) - 0.1 * gi);
      expect(compareTensor(`params.${name}`, got.params[name], flat({ shape: net.params[name].shape, data: w.map((wi, i) => wi + v[i]) }), F64)).toEqual([]);
      expect(compareTensor(`updateState.${name}.velocity`, got.updateState[name].velocity, flat({ shape: net.params[name].shape, data: v }), F64)).toEqual([]);
    }
  });
});
