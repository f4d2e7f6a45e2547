import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { LoanPool, MIN_SLAB_BYTES, returnLoan, SlabPool } from '../src/pool/slabs.ts';
import { concatParts, splitBatch, withUnbuiltConcatenations } from '../src/layers/batch-split.ts';
import { assemble, BinaryWriter } from '../src/tensors/frame.ts';
import { conv } from '../src/layers/conv.ts';
import { buildTestApp } from './helpers/app.ts';
import { binary, frame, unframe } from './helpers/frame.ts';
import { randn, TOL } from './helpers/gradcheck.ts';

describe('SlabPool: request bodies in shared memory, reused', () => {
  it('hands out power-of-two shared buffers and takes back only its own, once', () => {
    const pool = new SlabPool();
    const a = pool.take(100_000);
    expect(a).toBeInstanceOf(SharedArrayBuffer);
    expect(a.byteLength).toBe(131072);
    expect(pool.take(1).byteLength).toBe(MIN_SLAB_BYTES);
    pool.give(a);
    pool.give(a); // a second give is ignored: one slab never goes to two takers
    pool.give(new SharedArrayBuffer(131072)); // not ours: ignored
    expect(pool.take(120_000)).toBe(a);
    expect(pool.take(120_000)).not.toBe(a);
    expect(pool.stats).toMatchObject({ returned: 1, idleBytes: 0 });
  });

  it('keeps idle memory within its bounds', () => {
    const pool = new SlabPool({ maxPerClass: 1, maxIdleBytes: 1 << 20, maxSlabBytes: 512 << 10 });
    const [a, b, big] = [pool.take(70_000), pool.take(70_000), pool.take(600 << 10)];
    pool.give(a);
    pool.give(b); // over maxPerClass
    pool.give(big); // over maxSlabBytes
    expect(pool.stats).toMatchObject({ returned: 1, dropped: 2, idleBytes: 131072 });
  });
});

describe('LoanPool: answer bytes a worker lends the main thread', () => {
  it('reuses a loan only once it was returned; small answers are plain buffers', () => {
    const pool = new LoanPool();
    const small = pool.take(100);
    expect(small.buffer).toBeInstanceOf(ArrayBuffer);
    const a = pool.take(200_000);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.length).toBe(200_000);
    const b = pool.take(200_000);
    expect(b.buffer).not.toBe(a.buffer); // a is still out
    returnLoan(a);
    const c = pool.take(190_000);
    expect(c.buffer).toBe(a.buffer);
    expect(pool.stats).toEqual({ hits: 1, misses: 2 });
  });

  it('returnLoan ignores anything that is not a loan', () => {
    const pool = new LoanPool();
    const a = pool.take(100_000);
    const other = new SharedArrayBuffer(1 << 17);
    new Int32Array(other)[0] = 1;
    returnLoan(new Uint8Array(other, 8, 100)); // no mark: untouched
    returnLoan(new Uint8Array(100));
    expect(new Int32Array(other)[0]).toBe(1);
    expect(pool.take(100_000).buffer).not.toBe(a.buffer);
  });
});

describe('split parts of a body in shared memory', () => {
  it('are views of the body (no copies), and merge to the whole computation', () => {
    const N = 4;
    const sab = new SharedArrayBuffer(8 * (N * 3 * 8 * 8 + 4 * 3 * 9 + 4 + N * 4 * 8 * 8));
    const f = new Float64Array(sab);
    f.set(randn(f.length, 3));
    let o = 0;
    const view = (shape: number[]) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const t = { shape, data: f.subarray(o, o + n) };
      o += n;
      return t;
    };
    const task = {
      layer: 'conv', dtype: 'float64' as const, mode: 'train' as const, labels: {}, state: {},
      params: { stride: 1, pad: 1, dilation: 1, groups: 1 },
      inputs: { x: view([N, 3, 8, 8]), w: view([4, 3, 3, 3]), b: view([4]) },
      dout: view([N, 4, 8, 8]),
    };
    const parts = splitBatch(task, 2);
    for (const p of parts) for (const t of [...Object.values(p.inputs), p.dout!]) expect(t.data.buffer).toBe(sab);
    const whole = conv.compute(task);
    const merged = conv.merge!(parts.map((p) => conv.compute(p)), task);
    merged.out!.data.forEach((v, i) => expect(Math.abs(v - whole.out!.data[i])).toBeLessThan(TOL.splitVsWhole64));
    merged.grads!.w.data.forEach((v, i) => expect(Math.abs(v - whole.grads!.w.data[i])).toBeLessThan(TOL.splitVsWhole64 * (1 + Math.abs(v))));
  });
});

describe('a merged binary answer takes the parts\' bytes without building the whole', () => {
  it('concatenations are stand-ins the binary section expands, in order', () => {
    const a = { shape: [2, 3], data: Float64Array.from([1, 2, 3, 4, 5, 6]) };
    const b = { shape: [1, 3], data: Float64Array.from([7, 8, 9]) };
    const built = concatParts([a, b]);
    const stand = withUnbuiltConcatenations(() => concatParts([a, b]));
    expect(stand.shape).toEqual([3, 3]);
    expect(stand.data).toHaveLength(0);
    const w = new BinaryWriter();
    expect(w.add(Float64Array.from([0.5]))).toEqual([0, 8]);
    expect(w.add(stand.data)).toEqual([8, 80]);
    const body = assemble('{}', w).body;
    expect(Array.from(new Float64Array(body.slice(2).buffer))).toEqual([0.5, ...built.data]);
  });
});

describe('through the service: reused bodies and answers never mix requests', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildTestApp({ WORKERS: 2 });
  });
  afterAll(async () => {
    await app?.close();
  });

  const relu = (a: Float32Array) => a.map((v) => Math.max(0, v));

  it('framed bodies of one size in a row (each in a reused slab) each get their own answer', async () => {
    for (let k = 0; k < 4; k++) {
      const x = Float32Array.from(randn(50_000, 10 + k));
      const { payload, headers } = frame({ dtype: 'float32', inputs: { x: binary([50_000], x) } });
      const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', payload, headers });
      expect(res.statusCode).toBe(200);
      const { json, tensor } = unframe(res.rawPayload, res.headers['inference-header-content-length']);
      expect(Array.from(tensor(json.out).data as Float32Array)).toEqual(Array.from(relu(x)));
    }
  });

  it('a smaller body after a larger one in the same slab size reads only its own bytes; large JSON answers keep their content type', async () => {
    for (const n of [30_000, 20_000]) {
      const x = Float32Array.from(randn(n, n));
      const { payload, headers } = frame({ dtype: 'float32', inputs: { x: binary([n], x) }, encoding: 'flat' });
      const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', payload, headers });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(Number(res.headers['content-length'])).toBe(res.rawPayload.length);
      expect(res.json().out.data).toEqual(Array.from(relu(x)));
    }
  });

  it('a conv split across both workers from a framed body matches the same request on one worker', async () => {
    const x = Float64Array.from(randn(4 * 32 * 16 * 16, 21));
    const w = Float64Array.from(randn(32 * 32 * 9, 22));
    const b = Float64Array.from(randn(32, 23));
    const dout = Float64Array.from(randn(4 * 32 * 16 * 16, 24));
    const body = { dtype: 'float64', params: { stride: 1, pad: 1 }, inputs: { x: binary([4, 32, 16, 16], x), w: binary([32, 32, 3, 3], w), b: binary([32], b) }, dout: binary([4, 32, 16, 16], dout) };
    const answers = [];
    for (let k = 0; k < 2; k++) {
      const { payload, headers } = frame(body);
      const res = await app.inject({ method: 'POST', url: '/v1/layers/conv', payload, headers });
      expect(res.statusCode).toBe(200);
      expect(res.headers['server-timing']).toContain('2 workers');
      const { json, tensor } = unframe(res.rawPayload, res.headers['inference-header-content-length']);
      answers.push({ out: tensor(json.out).data, dx: tensor(json.grads.x).data, dw: tensor(json.grads.w).data });
    }
    const whole = conv.compute({
      layer: 'conv', dtype: 'float64', mode: 'train', labels: {}, state: {}, params: { stride: 1, pad: 1, dilation: 1, groups: 1 },
      inputs: { x: { shape: [4, 32, 16, 16], data: x }, w: { shape: [32, 32, 3, 3], data: w }, b: { shape: [32], data: b } },
      dout: { shape: [4, 32, 16, 16], data: dout },
    });
    for (const a of answers) {
      (a.out as Float64Array).forEach((v, i) => expect(Math.abs(v - whole.out!.data[i])).toBeLessThan(TOL.splitVsWhole64 * (1 + Math.abs(v))));
      (a.dx as Float64Array).forEach((v, i) => expect(Math.abs(v - whole.grads!.x.data[i])).toBeLessThan(TOL.splitVsWhole64 * (1 + Math.abs(v))));
      (a.dw as Float64Array).forEach((v, i) => expect(Math.abs(v - whole.grads!.w.data[i])).toBeLessThan(TOL.splitVsWhole64 * (1 + Math.abs(v))));
    }
  });
});
