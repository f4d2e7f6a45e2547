import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { COORDS_PER_TASK, sampleIndices } from '../src/check/gradcheck.ts';
import { GRADCHECK } from '../src/check/schema.ts';
import { LAYERS } from '../src/layers/registry.ts';
import { gradientInputs } from '../src/layers/types.ts';
import { buildTestApp } from './helpers/app.ts';
import { randn } from './helpers/gradcheck.ts';
import { inAllForms, layerVectorFiles } from './helpers/vectors.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp({ WORKERS: 2 });
});
afterAll(() => app.close());

type Json = Record<string, any>;

async function gradcheck(layer: string, body: unknown, target: FastifyInstance = app) {
  const res = await target.inject({ method: 'POST', url: `/v1/layers/${layer}/gradcheck`, payload: body as object });
  return { status: res.statusCode, json: res.json(), headers: res.headers };
}

const flat = (shape: number[], seed: number, scale = 1) => ({ shape, data: Array.from(randn(shape.reduce((a, b) => a * b, 1), seed, scale)) });

/** Reference vectors whose inputs sit exactly on a kink, where centered differences cannot agree. */
const ON_A_KINK: Record<string, string> = {
  'relu/4d-with-zeros': 'x holds exact zeros',
  'max-pool/ties-go-to-first': 'windows with tied maxima',
};

describe('the service\'s backward passes its own gradient check on every reference vector', () => {
  for (const file of layerVectorFiles()) {
    for (const c of file.cases) {
      const kink = ON_A_KINK[`${file.layer}/${c.name}`];
      it(`${file.layer}: ${c.name}${kink ? ` (fails: ${kink})` : ''}`, async () => {
        const r = await gradcheck(file.layer, c.request);
        expect(r.status, JSON.stringify(r.json)).toBe(200);
        const floats = gradientInputs(LAYERS.find((l) => l.name === file.layer)!);
        expect(Object.keys(r.json.results)).toEqual(floats.map((name) => `grads.${name}`));
        expect(r.json).toMatchObject({ step: GRADCHECK.step, threshold: GRADCHECK.threshold });
        expect(r.json.objective).toBe(LAYERS.find((l) => l.name === file.layer)!.loss ? 'loss' : c.request.dout ? 'sum(out · dout)' : `sum(out · dout), dout random normal (seed 0)`);
        if (kink) {
          expect(r.json.passed).toBe(false);
          expect(r.json.results['grads.x'].hints[0]).toMatch(/sits within step 0.00001 of a kink/);
          return;
        }
        expect(r.json.passed, JSON.stringify(r.json)).toBe(true);
        for (const [key, res] of Object.entries<Json>(r.json.results)) {
          expect(res.relError, key).toBeLessThan(GRADCHECK.threshold);
          expect(res.hints).toEqual([]);
          expect(res.checked).toBe(Math.min(res.of, GRADCHECK.samples));
          expect(res.sampled).toBe(res.of > GRADCHECK.samples);
        }
      });
    }
  }

  it('the same in every wire form (a float32 request is checked in float64 on its inputs)', async () => {
    const c = layerVectorFiles().find((f) => f.layer === 'conv')!.cases.find((k) => k.name === 'float32')!;
    for (const req of Object.values(inAllForms(c.request))) {
      const r = await gradcheck('conv', req);
      expect(r.json.passed, JSON.stringify(r.json)).toBe(true);
    }
  });
});

describe('sampling, step, seed and the random dout', () => {
  const conv = { inputs: { x: flat([4, 3, 10, 10], 1), w: flat([5, 3, 3, 3], 2), b: flat([5], 3) }, params: { pad: 1 } };

  it(`inputs larger than samples are checked at ${GRADCHECK.samples} distinct coordinates, the same ones every time`, async () => {
    const a = await gradcheck('conv', conv);
    expect(a.json.passed, JSON.stringify(a.json)).toBe(true);
    expect(a.json.results['grads.x']).toMatchObject({ checked: 64, of: 1200, sampled: true });
    expect(a.json.results['grads.w']).toMatchObject({ checked: 64, of: 135, sampled: true });
    expect(a.json.results['grads.b']).toMatchObject({ checked: 5, of: 5, sampled: false });
    const b = await gradcheck('conv', conv);
    expect(b.json).toEqual(a.json);
  });

  it('samples and seed can be set; a different seed draws other coordinates and another dout', async () => {
    const r = await gradcheck('conv', { ...conv, samples: 10, seed: 7 });
    expect(r.json.results['grads.x']).toMatchObject({ checked: 10, sampled: true });
    expect(r.json.objective).toBe('sum(out · dout), dout random normal (seed 7)');
    const other = await gradcheck('conv', { ...conv, samples: 10, seed: 8 });
    expect(other.json.results['grads.x'].worst).not.toEqual(r.json.results['grads.x'].worst);
    expect(sampleIndices(1200, 10, 7)).toHaveLength(10);
    expect(new Set(sampleIndices(1200, 1199, 7)).size).toBe(1199);
    expect(sampleIndices(5, 64, 0)).toEqual([0, 1, 2, 3, 4]);
  });

  it('the step can be set: a huge step fails a curved layer, and says what to try', async () => {
    const body = { inputs: { x: flat([6, 4], 4), gamma: flat([4], 5), beta: flat([4], 6) }, dout: flat([6, 4], 7) };
    expect((await gradcheck('batchnorm', body)).json.passed).toBe(true);
    const r = await gradcheck('batchnorm', { ...body, step: 0.5 });
    expect(r.json.step).toBe(0.5);
    expect(r.json.passed).toBe(false);
    const failed = Object.values<Json>(r.json.results).find((v) => !v.passed)!;
    expect(failed.hints[0]).toMatch(/try 1e-4 and 1e-6|kink/);
  });

  it('batchnorm in train mode differentiates the train-mode output (batch statistics), with state sent or not', async () => {
    const x = flat([5, 3], 11, 3);
    const body = { mode: 'train', inputs: { x, gamma: flat([3], 12), beta: flat([3], 13) }, state: { runningMean: [0, 0, 0], runningVar: [1, 1, 1] }, dout: flat([5, 3], 14) };
    const r = await gradcheck('batchnorm', body);
    expect(r.json.passed, JSON.stringify(r.json)).toBe(true);
    expect((await gradcheck('batchnorm', { ...body, state: undefined })).json.passed).toBe(true);
    expect((await gradcheck('batchnorm', { ...body, mode: 'test' })).json.passed).toBe(true);
  });

  it('the kink hint: relu at exactly 0', async () => {
    const r = await gradcheck('relu', { inputs: { x: [[1, 0], [-1, 2]] }, dout: [[1, 1], [1, 1]] });
    expect(r.json.results['grads.x']).toMatchObject({ passed: false, relError: 1, worst: { index: [0, 1], numeric: 0.5, analytic: 0 } });
    expect(r.json.results['grads.x'].hints).toEqual([
      'grads.x [0, 1] sits within step 0.00001 of a kink (the slope is 1 on the right and 0 on the left): relu at 0, a max-pool tie or a hinge; ' +
        'centered differences are unreliable there: try a smaller step, or inputs away from the kink',
    ]);
  });
});

describe('where the work runs', () => {
  it(`every forward runs on the workers (${COORDS_PER_TASK} coordinates per task), none on the main thread`, async () => {
    const spies = LAYERS.map((l) => vi.spyOn(l, 'compute'));
    const r = await gradcheck('conv', { inputs: { x: flat([2, 2, 6, 6], 21), w: flat([3, 2, 3, 3], 22), b: flat([3], 23) }, samples: 100 });
    expect(r.json.passed).toBe(true);
    const body = { inputs: { x: flat([4, 3], 24), gamma: flat([3], 25), beta: flat([3], 26) }, params: { eps: 0.5 }, dout: flat([4, 3], 27) };
    const chk = await app.inject({ method: 'POST', url: '/v1/layers/layernorm/check', payload: { ...body, claimed: { out: { shape: [4, 3], data: new Array(12).fill(0) }, grads: { x: body.dout } } } });
    expect(chk.statusCode).toBe(200);
    for (const s of spies) {
      expect(s).not.toHaveBeenCalled();
      s.mockRestore();
    }
  });

  it('a probe past the compute time limit is a 504 problem', async () => {
    const slow = await buildTestApp({ COMPUTE_TIMEOUT_MS: 100 });
    // 75 MFLOP a forward, about 5 ms here (float64, Winograd): the analytic run (forward and backward,
    // about 8 ms) fits in the limit with room to spare; a probe task of 32 coordinates runs 65 forwards
    // (about 300 ms), several times over it.
    const body = { inputs: { x: flat([8, 16, 32, 32], 31), w: flat([32, 16, 3, 3], 32), b: flat([32], 33) }, params: { pad: 1 }, samples: 128 };
    const r = await gradcheck('conv', body, slow);
    expect(r.status, JSON.stringify(r.json)).toBe(504);
    expect(r.json.type).toBe('urn:layerserve:problem:timeout');
    expect(r.json.detail).toMatch(/^conv\/gradcheck: one task of the numeric gradient \(32 coordinates, 65 forwards\) ran past the compute time limit/);
    await slow.close();
  });
});

describe('malformed gradcheck requests are 400 problems', () => {
  const relu = { inputs: { x: [[1, -2], [0.5, 4]] } };
  const cases: [string, string, Json, string][] = [
    ['step 0', 'relu', { ...relu, step: 0 }, 'step'],
    ['samples 0', 'relu', { ...relu, samples: 0 }, 'samples'],
    [`samples above ${GRADCHECK.maxSamples}`, 'relu', { ...relu, samples: GRADCHECK.maxSamples + 1 }, 'samples'],
    ['a fractional seed', 'relu', { ...relu, seed: 1.5 }, 'seed'],
    ['a threshold above 1', 'relu', { ...relu, threshold: 2 }, 'threshold'],
    ['encoding', 'relu', { ...relu, encoding: 'flat' }, 'encoding'],
    ['dout on a loss layer', 'softmax-loss', { inputs: { x: [[1, 2]], y: [0] }, dout: [1] }, 'dout'],
    ['a ragged input', 'relu', { inputs: { x: [[1, 2], [3]] } }, 'inputs.x[1]'],
  ];
  for (const [name, layer, body, path] of cases) {
    it(name, async () => {
      const r = await gradcheck(layer, body);
      expect(r.status, JSON.stringify(r.json)).toBe(400);
      expect(r.json.detail).toMatch(new RegExp(`^${layer}/gradcheck: `));
      expect(r.json.errors[0].path).toBe(path);
    });
  }
});
