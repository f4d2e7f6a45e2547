import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_THRESHOLD } from '../src/check/schema.ts';
import { LAYERS } from '../src/layers/registry.ts';
import { buildTestApp, postLayer } from './helpers/app.ts';
import { numericGradient, randn, TOL } from './helpers/gradcheck.ts';
import { inAllForms, layerVectorFiles, nest, toBase64, unwire, type Flat, type VectorCase } from './helpers/vectors.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

async function check(layer: string, body: unknown, target: FastifyInstance = app) {
  const res = await target.inject({ method: 'POST', url: `/v1/layers/${layer}/check`, payload: body as object });
  return { status: res.statusCode, json: res.json(), headers: res.headers };
}

type Json = Record<string, any>;
const flat = (shape: number[], data: ArrayLike<number>): Flat => ({ shape, data: Array.from(data) });
const scaled = (t: Flat, k: number): Flat => ({ shape: t.shape, data: t.data.map((v) => v * k) });

/** The claim a correct implementation makes: the reference vector's expectations. */
function claimOf(expect: VectorCase['expect']): Json {
  const claimed: Json = {};
  if (expect.out) claimed.out = expect.out;
  if (expect.loss !== undefined) claimed.loss = expect.loss;
  if (expect.grads) claimed.grads = expect.grads;
  if (expect.state) claimed.state = expect.state;
  return claimed;
}

function vector(layer: string, name: string): VectorCase {
  const c = layerVectorFiles()
    .find((f) => f.layer === layer)!
    .cases.find((k) => k.name === name);
  if (!c) throw new Error(`no vector ${layer}/${name}`);
  return structuredClone(c);
}

/** The service's own answer for a body (what a mistake would give, when the body carries it). */
async function answer(layer: string, body: Json): Promise<Json> {
  const r = await postLayer(app, layer, body);
  expect(r.status, r.body).toBe(200);
  return r.json;
}

const hintsOf = (json: Json, key: string): string[] => json.results[key].hints;

describe('a correct claim passes, for every layer and every reference vector', () => {
  for (const file of layerVectorFiles()) {
    for (const c of file.cases) {
      it(`${file.layer}: ${c.name}`, async () => {
        const r = await check(file.layer, { ...c.request, claimed: claimOf(c.expect) });
        expect(r.status, JSON.stringify(r.json)).toBe(200);
        expect(r.json.passed, JSON.stringify(r.json)).toBe(true);
        const keys = [
          ...(c.expect.out ? ['out'] : []),
          ...(c.expect.loss !== undefined ? ['loss'] : []),
          ...Object.keys(c.expect.grads ?? {}).map((k) => `grads.${k}`),
          ...Object.keys(c.expect.state ?? {}).map((k) => `state.${k}`),
        ];
        expect(Object.keys(r.json.results).sort()).toEqual(keys.sort());
        const want = c.request.dtype === 'float32' ? CHECK_THRESHOLD.float32 : CHECK_THRESHOLD.float64;
        for (const [key, res] of Object.entries<Json>(r.json.results)) {
          expect(res.passed, key).toBe(true);
          expect(res.threshold, key).toBe(want);
          // float32 cases: PyTorch's float64 expectations on float32 inputs, a few float64 ulps apart
          expect(res.relError, key).toBeLessThan(c.request.dtype === 'float32' ? TOL.checkVectorClaim32 : TOL.checkVectorClaim64);
          expect(res.hints, key).toEqual([]);
          expect(Array.isArray(res.worst.index)).toBe(true);
        }
      });
    }
  }

  it('inputs and claims in every wire form and either dtype', async () => {
    const c = vector('conv', '3x3-same');
    for (const [form, req] of Object.entries(inAllForms(c.request))) {
      const exp = c.expect;
      const claimed = {
        out: form === 'nested' ? nest(exp.out!) : form === 'base64' ? toBase64(exp.out!, 'float64') : exp.out,
        grads: { w: toBase64(exp.grads!.w, 'float32'), b: nest(exp.grads!.b), x: exp.grads!.x },
      };
      const r = await check('conv', { ...req, claimed });
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.passed).toBe(true);
      // A float32 claim is judged at the float32 threshold, the others at the float64 one.
      expect(r.json.results['grads.w'].threshold).toBe(CHECK_THRESHOLD.float32);
      expect(r.json.results.out.threshold).toBe(CHECK_THRESHOLD.float64);
    }
  });

  it('a float32 request is checked against the float64 reference of its inputs', async () => {
    const c = vector('batchnorm', 'float32');
    const r = await check('batchnorm', { ...inAllForms(c.request).base64, claimed: claimOf(c.expect) });
    expect(r.json.passed).toBe(true);
    expect(r.json.results.out.relError).toBeLessThan(TOL.checkReference64);
  });

  it('the threshold can be set; a claim off by 1e-6 fails at the default and passes at 1e-5', async () => {
    const c = vector('affine', '2d');
    const out = { shape: c.expect.out!.shape, data: c.expect.out!.data.map((v, i) => (i === 3 ? v * (1 + 2e-6) : v)) };
    const strict = await check('affine', { ...c.request, claimed: { out } });
    expect(strict.json.passed).toBe(false);
    expect(strict.json.results.out.worst.index).toEqual([1, 0]);
    expect(strict.json.results.out.worst.claimed).toBe(out.data[3]);
    expect(strict.json.results.out.worst.expected).toBeCloseTo(c.expect.out!.data[3], 12);
    expect(strict.json.results.out.relError).toBeCloseTo(1e-6, 8);
    const loose = await check('affine', { ...c.request, claimed: { out }, threshold: 1e-5 });
    expect(loose.json.passed).toBe(true);
    expect(loose.json.results.out.threshold).toBe(1e-5);
  });
});

describe('each common mistake fails, with its hint', () => {
  it('transposed: affine grads.w sent as (M, D)', async () => {
    const c = vector('affine', '2d');
    const w = c.expect.grads!.w;
    const [D, M] = w.shape;
    const t = flat([M, D], Array.from({ length: M * D }, (_, i) => w.data[(i % D) * M + Math.floor(i / D)]));
    const r = await check('affine', { ...c.request, claimed: { grads: { w: t } } });
    expect(r.json.passed).toBe(false);
    expect(r.json.results['grads.w'].passed).toBe(false);
    expect(hintsOf(r.json, 'grads.w')[0]).toMatch(/matches the reference transposed: it has shape \[3, 5\], the reference \[5, 3\].*transpose\(1, 0\)/);
  });

  it('transposed: a square matrix sent transposed has the right shape and still gets the hint', async () => {
    const x = { shape: [3, 3], data: Array.from(randn(9, 1)) };
    const w = { shape: [3, 3], data: Array.from(randn(9, 2)) };
    const b = { shape: [3], data: [0, 0, 0] };
    const dout = { shape: [3, 3], data: Array.from(randn(9, 3)) };
    const ref = await answer('affine', { inputs: { x, w, b }, dout, encoding: 'flat' });
    const dw = ref.grads.w as Flat;
    const t = flat([3, 3], Array.from({ length: 9 }, (_, i) => dw.data[(i % 3) * 3 + Math.floor(i / 3)]));
    const r = await check('affine', { inputs: { x, w, b }, dout, claimed: { grads: { w: t } } });
    expect(hintsOf(r.json, 'grads.w')[0]).toMatch(/^grads\.w matches the reference transposed \(shaped like w/);
  });

  it('transposed: conv grads.w with its axes permuted (HH, WW, C, F) names the numpy transpose back', async () => {
    const c = vector('conv', '3x3-same');
    const dw = c.expect.grads!.w; // (4, 3, 3, 3)
    const [F, C, H, W] = dw.shape;
    const data: number[] = [];
    for (let h = 0; h < H; h++) for (let w = 0; w < W; w++) for (let ch = 0; ch < C; ch++) for (let f = 0; f < F; f++) data.push(dw.data[((f * C + ch) * H + h) * W + w]);
    const r = await check('conv', { ...c.request, claimed: { grads: { w: flat([H, W, C, F], data) } } });
    expect(hintsOf(r.json, 'grads.w')[0]).toMatch(/axes in the order \(2, 3, 1, 0\).*a\.transpose\(3, 2, 0, 1\)/);
  });

  it('mis-shaped: affine grads.x flattened to (N, D) is told to reshape', async () => {
    const c = vector('affine', '4d-input-flattened');
    const dx = c.expect.grads!.x;
    const r = await check('affine', { ...c.request, claimed: { grads: { x: flat([2, 24], dx.data) } } });
    expect(r.json.results['grads.x'].passed).toBe(false);
    expect(r.json.results['grads.x'].relError).toBe(0);
    expect(hintsOf(r.json, 'grads.x')).toEqual([
      'grads.x holds the right values in row-major order but has shape [2, 24]; the reference has [2, 3, 4, 2] (shaped like x, (N, d1, …, dk)): reshape it',
    ]);
  });

  it('mis-shaped: db not summed over the batch', async () => {
    const c = vector('affine', '2d');
    const dout = c.request.dout as Flat; // (4, 3): db per sample is dout itself
    const r = await check('affine', { ...c.request, claimed: { grads: { b: dout } } });
    const res = r.json.results['grads.b'];
    expect(res).toMatchObject({ passed: false, relError: null, maxAbsError: null, worst: null });
    expect(res.hints).toEqual([
      'grads.b has shape [4, 3]; the reference has [3] (shaped like b, (M))',
      'summed over its first axis, grads.b matches the reference: did you forget to sum over the batch (axis 0)?',
    ]);
  });

  it('off by N: softmax-loss grads.x not divided by N, and the loss summed instead of averaged', async () => {
    const c = vector('softmax-loss', '5x4');
    const r = await check('softmax-loss', { ...c.request, claimed: { loss: c.expect.loss! * 5, grads: { x: scaled(c.expect.grads!.x, 5) } } });
    expect(r.json.passed).toBe(false);
    expect(hintsOf(r.json, 'loss')).toEqual(['loss is N = 5 times the reference: a loss is the mean over the N samples, not their sum: divide by N']);
    expect(hintsOf(r.json, 'grads.x')).toEqual(['grads.x is N = 5 times the reference: the loss is a mean over N, so its gradient is divided by N too']);
  });

  it('sum instead of mean: svm-loss', async () => {
    const c = vector('svm-loss', 'margin0.5');
    const r = await check('svm-loss', { ...c.request, claimed: { loss: c.expect.loss! * 6 } });
    expect(hintsOf(r.json, 'loss')[0]).toMatch(/^loss is N = 6 times the reference: a loss is the mean over the N samples/);
  });

  it('off by 1/N: dividing by N in a layer without a mean (conv grads.w)', async () => {
    const c = vector('conv', 'groups2');
    const r = await check('conv', { ...c.request, claimed: { grads: { w: scaled(c.expect.grads!.w, 1 / 2) } } });
    expect(hintsOf(r.json, 'grads.w')).toEqual(['grads.w is 1/2 of the reference (N (the batch size) = 2): this layer takes no mean over the batch: do not divide by N']);
  });

  it('off by the number of pooling windows (max-pool), and by the pool area (avg-pool)', async () => {
    const mp = vector('max-pool', 'default-stride'); // 6x6, 3x3 windows, stride 3: 2x2 = 4 windows of 9 cells
    const r = await check('max-pool', { ...mp.request, claimed: { grads: { x: scaled(mp.expect.grads!.x, 4) } } });
    expect(hintsOf(r.json, 'grads.x')[0]).toMatch(/^grads\.x is Ho·Wo \(the number of pooling windows\) = 4 times the reference/);
    const ap = vector('avg-pool', 'default-stride');
    const a = await check('avg-pool', { ...ap.request, claimed: { grads: { x: scaled(ap.expect.grads!.x, 9) }, out: scaled(ap.expect.out!, 9) } });
    expect(hintsOf(a.json, 'grads.x')).toEqual([
      'grads.x is poolHeight·poolWidth (the pool area) = 9 times the reference: each dout is shared by the cells of its window: divide it by the pool area',
    ]);
    expect(hintsOf(a.json, 'out')[0]).toMatch(/out is the window sum, not its mean/);
  });

  it('batchnorm momentum convention reversed (PyTorch\'s)', async () => {
    for (const layer of ['batchnorm', 'spatial-batchnorm']) {
      const c = vector(layer, 'train-with-state-momentum-eps'); // momentum 0.8
      const wrong = await answer(layer, { ...c.request, params: { ...c.request.params, momentum: 0.2 }, encoding: 'flat' });
      const r = await check(layer, { ...c.request, claimed: { out: c.expect.out, state: wrong.state } });
      expect(r.json.results.out.passed).toBe(true);
      for (const key of ['state.runningMean', 'state.runningVar']) {
        expect(r.json.results[key].passed, key).toBe(false);
        expect(hintsOf(r.json, key)[0], key).toMatch(new RegExp(`^${key.replace('.', '\\.')} matches momentum 0.2 where the request has 0.8: cs231n updates running = momentum`));
      }
    }
  });

  it('biased vs unbiased variance in the running update, both ways', async () => {
    const biased = vector('batchnorm', 'train-no-state');
    const wrong = await answer('batchnorm', { ...biased.request, params: { runningVarEstimator: 'unbiased' }, encoding: 'flat' });
    const r = await check('batchnorm', { ...biased.request, claimed: { state: wrong.state } });
    expect(r.json.results['state.runningMean'].passed).toBe(true);
    expect(hintsOf(r.json, 'state.runningVar')[0]).toMatch(/unbiased batch variance \(divided by M − 1\): runningVarEstimator is "biased"/);
    const unbiased = vector('spatial-batchnorm', 'train-unbiased-running-var');
    const wrong2 = await answer('spatial-batchnorm', { ...unbiased.request, params: { runningVarEstimator: 'biased' }, encoding: 'flat' });
    const r2 = await check('spatial-batchnorm', { ...unbiased.request, claimed: { state: { runningVar: wrong2.state.runningVar } } });
    expect(hintsOf(r2.json, 'state.runningVar')[0]).toMatch(/biased batch variance \(divided by M\): runningVarEstimator "unbiased"/);
  });

  it('momentum reversed and the other estimator at once', async () => {
    const c = vector('batchnorm', 'train-with-state-momentum-eps');
    const wrong = await answer('batchnorm', { ...c.request, params: { ...c.request.params, momentum: 0.2, runningVarEstimator: 'unbiased' }, encoding: 'flat' });
    const r = await check('batchnorm', { ...c.request, claimed: { state: { runningVar: wrong.state.runningVar } } });
    expect(hintsOf(r.json, 'state.runningVar')[0]).toMatch(/matches momentum 0.2 .*Also, state\.runningVar matches an update with the unbiased batch variance/);
  });

  it('normalizing with the unbiased variance (batchnorm, spatial-groupnorm): out and gradients', async () => {
    for (const [layer, name] of [
      ['batchnorm', 'train-no-state'],
      ['spatial-groupnorm', 'groups2'],
    ] as const) {
      const c = vector(layer, name);
      const mistake = mistakenNorm(layer, c.request, { ddof: 1 });
      const r = await check(layer, { ...c.request, claimed: mistake.claimed, threshold: 1e-6 });
      for (const key of ['out', 'grads.x', 'grads.gamma']) {
        expect(r.json.results[key].passed, `${layer} ${key}`).toBe(false);
        expect(hintsOf(r.json, key)[0], `${layer} ${key}`).toMatch(/matches normalization with the unbiased variance \(squares summed and divided by M − 1 = \d+\)/);
      }
    }
  });

  it('eps outside the square root (batchnorm train and test, spatial-batchnorm, layernorm): out and gradients', async () => {
    for (const [layer, name] of [
      ['batchnorm', 'train-no-state'],
      ['batchnorm', 'test-mode'],
      ['spatial-batchnorm', 'train-no-state'],
      ['layernorm', '2d'],
    ] as const) {
      const c = vector(layer, name);
      c.request.params = { ...c.request.params, eps: 0.05 };
      const mistake = mistakenNorm(layer, c.request, { outside: true });
      const r = await check(layer, { ...c.request, claimed: mistake.claimed, threshold: 1e-6 });
      for (const key of ['out', 'grads.x', 'grads.gamma']) {
        expect(r.json.results[key].passed, `${layer} ${name} ${key}`).toBe(false);
        expect(hintsOf(r.json, key)[0], `${layer} ${name} ${key}`).toMatch(/matches eps outside the square root, \(x − (mean|runningMean)\) \/ \(sqrt\((var|runningVar)\) \+ eps\)/);
      }
    }
  });

  it('eps outside the square root at the default eps (1e-5) is still caught at the default threshold', async () => {
    const c = vector('layernorm', 'rank3-last-axis');
    const mistake = mistakenNorm('layernorm', c.request, { outside: true });
    const r = await check('layernorm', { ...c.request, claimed: { out: mistake.claimed.out } });
    expect(r.json.results.out.passed).toBe(false);
    expect(hintsOf(r.json, 'out')[0]).toMatch(/^out matches eps outside the square root/);
  });

  it('convolution kernel flipped: out, grads.x and grads.w', async () => {
    const c = vector('conv', 'dilation2');
    const w = c.request.inputs.w as Flat;
    const flipped = { ...c.request, inputs: { ...c.request.inputs, w: rotate(w) }, encoding: 'flat' };
    const wrong = await answer('conv', flipped);
    const claimed = { out: wrong.out, grads: { x: wrong.grads.x, w: rotate(c.expect.grads!.w), b: c.expect.grads!.b } };
    const r = await check('conv', { ...c.request, claimed });
    expect(r.json.results['grads.b'].passed).toBe(true);
    expect(hintsOf(r.json, 'out')[0]).toMatch(/^out matches a convolution with the kernel flipped \(rotated 180°\): this layer computes a cross-correlation/);
    expect(hintsOf(r.json, 'grads.x')[0]).toMatch(/^grads\.x matches the gradient for a flipped kernel/);
    expect(hintsOf(r.json, 'grads.w')[0]).toMatch(/^grads\.w is the reference rotated 180°/);
  });

  it('relu\'s gradient taken as 1 at x == 0', async () => {
    const c = vector('relu', '4d-with-zeros');
    const x = c.request.inputs.x as Flat;
    const dout = c.request.dout as Flat;
    const dx = flat(x.shape, x.data.map((v, i) => (v >= 0 ? dout.data[i] : 0)));
    const r = await check('relu', { ...c.request, claimed: { grads: { x: dx } } });
    expect(hintsOf(r.json, 'grads.x')[0]).toMatch(/^grads\.x differs only where x == 0 \(\d+ elements?\): relu's gradient at 0 is 0/);
  });

  it('a flipped sign, a stray constant factor, float32 rounding, and an unrecognised error each say what they are', async () => {
    const c = vector('layernorm', '2d');
    const gx = c.expect.grads!.x;
    const f32 = flat(gx.shape, gx.data.map((v) => Math.fround(v * (1 + 3e-7))));
    const noise = flat(gx.shape, gx.data.map((v, i) => (i % 7 === 2 ? v + 0.01 : v)));
    const sign = await check('layernorm', { ...c.request, claimed: { grads: { x: scaled(gx, -1), gamma: scaled(c.expect.grads!.gamma, 1.37) } } });
    expect(hintsOf(sign.json, 'grads.x')).toEqual(['grads.x has the opposite sign of the reference everywhere: look for a flipped sign']);
    expect(hintsOf(sign.json, 'grads.gamma')).toEqual(['grads.gamma is 1.37 times the reference everywhere: a constant factor is missing or extra']);
    const rounding = await check('layernorm', { ...c.request, claimed: { grads: { x: f32 } } });
    expect(hintsOf(rounding.json, 'grads.x')[0]).toMatch(/agrees with the reference to float32 precision but not at the threshold 1e-7/);
    const other = await check('layernorm', { ...c.request, claimed: { grads: { x: noise } } });
    expect(hintsOf(other.json, 'grads.x')).toEqual(['4 of 24 elements are off by more than the threshold; the largest relative error is at [' + other.json.results['grads.x'].worst.index.join(', ') + ']']);
  });

  it('a claim with a different element count gets a shape hint and no numbers', async () => {
    const c = vector('conv', '1x1');
    const r = await check('conv', { ...c.request, claimed: { out: flat([2, 4, 3, 2], new Array(48).fill(0)) } });
    expect(r.json.results.out).toMatchObject({ passed: false, relError: null, worst: null });
    expect(hintsOf(r.json, 'out')).toEqual(['out has shape [2, 4, 3, 2]; the reference has [2, 4, 3, 3]']);
  });
});

describe('malformed claims are 400 problems naming the field', () => {
  const relu = { inputs: { x: [[1, -2], [0, 4]] }, dout: [[1, 1], [1, 1]] };
  const cases: [string, string, Json, string, RegExp][] = [
    ['no claimed', 'relu', { ...relu }, 'claimed', /is required/],
    ['claims nothing', 'relu', { ...relu, claimed: {} }, 'claimed', /claims nothing; claim any of out, grads\.x$/],
    ['a gradient the layer has not', 'relu', { ...relu, claimed: { grads: { w: [[1]] } } }, 'claimed.grads.w', /unknown field "w"; claimed\.grads accepts "x"/],
    ['state outside the batchnorm family', 'relu', { ...relu, claimed: { state: { runningMean: [1] } } }, 'claimed.state', /unknown field "state"/],
    ['loss on a layer with out', 'relu', { ...relu, claimed: { loss: 1 } }, 'claimed.loss', /unknown field "loss"/],
    ['out on a loss layer', 'softmax-loss', { inputs: { x: [[1, 2]], y: [0] }, claimed: { out: [1] } }, 'claimed.out', /unknown field "out"/],
    ['grads without dout', 'relu', { inputs: relu.inputs, claimed: { grads: { x: [[1, 0], [0, 1]] } } }, 'claimed.grads', /send the dout you used/],
    [
      'state in test mode',
      'batchnorm',
      { mode: 'test', inputs: { x: [[1, 2]], gamma: [1, 1], beta: [0, 0] }, state: { runningMean: [0, 0], runningVar: [1, 1] }, claimed: { state: { runningMean: [0, 0] } } },
      'claimed.state',
      /mode "test" leaves the running statistics alone/,
    ],
    ['a ragged nested tensor', 'relu', { ...relu, claimed: { out: [[1, 0], [0]] } }, 'claimed.out[1]', /has length 1, expected 2/],
    ['flat data of the wrong length', 'relu', { ...relu, claimed: { out: { shape: [2, 2], data: [1, 2, 3] } } }, 'claimed.out.data', /has 3 numbers; shape \[2, 2\] needs 4/],
    ['a string in a tensor', 'relu', { ...relu, claimed: { out: [[1, 'a'], [0, 4]] } }, 'claimed.out[0][1]', /expected a finite number/],
    ['bad base64', 'relu', { ...relu, claimed: { out: { shape: [2], dtype: 'float64', b64: '!!!!' } } }, 'claimed.out.b64', /decodes to|not valid base64/],
    ['NaN in base64', 'relu', { ...relu, claimed: { out: { shape: [1], dtype: 'float64', b64: Buffer.from(Float64Array.of(NaN).buffer).toString('base64') } } }, 'claimed.out', /NaN/],
    ['a loss that is not a number', 'softmax-loss', { inputs: { x: [[1, 2]], y: [0] }, claimed: { loss: [1] } }, 'claimed.loss', /expected number/],
    ['more elements than any tensor of the layer', 'relu', { ...relu, claimed: { out: { shape: [5], data: [1, 2, 3, 4, 5] } } }, 'claimed.out', /5 elements; no tensor of this layer has more than 4/],
    ['a threshold of 0', 'relu', { ...relu, claimed: { out: [[1, 0], [0, 4]] }, threshold: 0 }, 'threshold', /.+/],
    ['encoding (nothing is encoded)', 'relu', { ...relu, claimed: { out: [[1, 0], [0, 4]] }, encoding: 'flat' }, 'encoding', /unknown field "encoding"/],
  ];
  for (const [name, layer, body, path, message] of cases) {
    it(name, async () => {
      const r = await check(layer, body);
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
      expect(r.json.detail).toMatch(new RegExp(`^${layer}/check: `));
      expect(r.json.errors[0].path).toBe(path);
      expect(r.json.errors[0].message).toMatch(message);
    });
  }

  it('the layer part is checked as on the layer route (shapes, params)', async () => {
    const body = { inputs: { x: [[[[1]]]], w: [[[[1, 2], [3, 4]]]], b: [0] }, params: { stride: 1 } };
    const r = await check('conv', { ...body, claimed: { out: [1] } });
    const layer = await postLayer(app, 'conv', body);
    expect(r.status).toBe(400);
    expect(r.json.type).toBe(layer.json.type);
    expect(r.json.detail).toBe(layer.json.detail.replace(/^conv: /, 'conv/check: '));
    const bad = await check('conv', { ...body, params: { stride: 0 }, claimed: { out: [1] } });
    expect(bad.status).toBe(400);
    expect(bad.json.errors[0].path).toBe('params.stride');
  });

  it('claims count towards the element limit (413)', async () => {
    const small = await buildTestApp({ MAX_ELEMENTS: 10 });
    const r = await check('relu', { ...relu, claimed: { out: [[1, 0], [0, 4]], grads: { x: [[1, 0], [1, 1]] } } }, small);
    expect(r.status).toBe(413);
    expect(r.json.detail).toMatch(/16 tensor elements with the claims; the limit is 10/);
    await small.close();
  });
});

describe('the OpenAPI document', () => {
  it('documents /check and /gradcheck for every layer with examples that work as is', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    for (const def of LAYERS) {
      for (const route of ['check', 'gradcheck']) {
        const op = doc.paths[`/v1/layers/${def.name}/${route}`]?.post;
        expect(op, `${def.name}/${route}`).toBeDefined();
        expect(op.tags).toEqual(['check']);
        const example = op.requestBody.content['application/json'].schema.example;
        const res = await app.inject({ method: 'POST', url: `/v1/layers/${def.name}/${route}`, payload: example });
        expect(res.statusCode, `${def.name}/${route}: ${res.body}`).toBe(200);
        // relu's example has an x of exactly 0, where centered differences straddle the kink.
        if (route === 'gradcheck') expect(res.json().passed, `${def.name}: ${res.body}`).toBe(def.name !== 'relu');
        if (route === 'gradcheck' && def.name === 'relu') expect(res.json().results['grads.x'].hints[0]).toMatch(/within step 0.00001 of a kink/);
      }
    }
  });

  it('each check example shows what its comment says: a pass, or the hint of its mistake', async () => {
    const shows: Record<string, [string, RegExp] | 'passes'> = {
      affine: ['grads.w', /transposed/],
      relu: ['grads.x', /differs only where x == 0/],
      dropout: ['out', /is 1\/2 of the reference \(1\/p .* = 2\): the kept units are missing their 1\/p/],
      conv: 'passes',
      'max-pool': 'passes',
      'avg-pool': ['grads.x', /pool area/],
      batchnorm: ['state.runningMean', /momentum 0.1 where the request has 0.9/],
      'spatial-batchnorm': ['state.runningVar', /unbiased batch variance/],
      layernorm: ['out', /eps outside the square root/],
      'spatial-groupnorm': ['out', /unbiased variance/],
      'softmax-loss': ['loss', /mean over the N samples/],
      'svm-loss': 'passes',
    };
    expect(Object.keys(shows).sort()).toEqual(LAYERS.map((l) => l.name).sort());
    for (const def of LAYERS) {
      expect(def.check?.example, `${def.name} has no check example`).toBeDefined();
      // The definition says what its example shows; the test pins that it does.
      expect(def.check!.example.shows, def.name).toMatch(shows[def.name] === 'passes' ? /passes$/ : /hint$/);
      const r = await check(def.name, { ...def.example, claimed: def.check!.example.claimed });
      const want = shows[def.name];
      if (want === 'passes') {
        expect(r.json.passed, `${def.name}: ${JSON.stringify(r.json)}`).toBe(true);
        continue;
      }
      expect(r.json.passed, def.name).toBe(false);
      const failed = Object.entries<Json>(r.json.results).filter(([, v]) => !v.passed);
      expect(failed.map(([k]) => k), def.name).toContain(want[0]);
      expect(r.json.results[want[0]].hints[0], def.name).toMatch(want[1]);
    }
  });
});

/** w (F, C, HH, WW) rotated by 180° in its spatial axes, written out index by index. */
function rotate(w: Flat): Flat {
  const [F, C, H, W] = w.shape;
  const data = new Array<number>(w.data.length);
  for (let f = 0; f < F; f++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++) for (let x = 0; x < W; x++) data[((f * C + c) * H + h) * W + x] = w.data[((f * C + c) * H + (H - 1 - h)) * W + (W - 1 - x)];
  return { shape: w.shape, data };
}

/**
 * A learner's normalization with one of the mistakes, written independently of the service (plain
 * loops over each statistics group), with its gradients by centered differences of that forward.
 */
function mistakenNorm(layer: string, request: Json, opts: { outside?: boolean; ddof?: number }): { claimed: Json } {
  const x = unwire(request.inputs.x);
  const gamma = unwire(request.inputs.gamma).data;
  const beta = unwire(request.inputs.beta).data;
  const dout = Float64Array.from(unwire(request.dout).data);
  const eps = request.params?.eps ?? 1e-5;
  const test = request.mode === 'test';
  const shape = x.shape;
  // group and channel of every element
  const n = x.data.length;
  const group = new Array<number>(n);
  const chan = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    if (layer === 'batchnorm') group[i] = chan[i] = i % shape[1];
    else if (layer === 'layernorm') {
      group[i] = Math.floor(i / shape.at(-1)!);
      chan[i] = i % shape.at(-1)!;
    } else {
      const [, C, H, W] = shape;
      const c = Math.floor(i / (H * W)) % C;
      chan[i] = c;
      const G = request.params.groups;
      group[i] = layer === 'spatial-groupnorm' ? Math.floor(i / (C * H * W)) * G + Math.floor(c / (C / G)) : c;
    }
  }
  const gammaV = Float64Array.from(gamma);
  const xs = Float64Array.from(x.data);
  const forward = (): Float64Array => {
    const members = new Map<number, number[]>();
    for (let i = 0; i < n; i++) members.set(group[i], [...(members.get(group[i]) ?? []), i]);
    const out = new Float64Array(n);
    for (const [g, idx] of members) {
      let mean: number;
      let v: number;
      if (test) {
        mean = unwire(request.state.runningMean).data[g];
        v = unwire(request.state.runningVar).data[g];
      } else {
        mean = idx.reduce((a, i) => a + xs[i], 0) / idx.length;
        v = idx.reduce((a, i) => a + (xs[i] - mean) ** 2, 0) / (idx.length - (opts.ddof ?? 0));
      }
      const s = opts.outside ? Math.sqrt(v) + eps : Math.sqrt(v + eps);
      for (const i of idx) out[i] = gammaV[chan[i]] * ((xs[i] - mean) / s) + beta[chan[i]];
    }
    return out;
  };
  const out = forward();
  const dx = numericGradient(forward, xs, dout);
  const dgamma = numericGradient(forward, gammaV, dout);
  return { claimed: { out: flat(shape, out), grads: { x: flat(shape, dx), gamma: flat([gamma.length], dgamma) } } };
}
