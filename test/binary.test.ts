import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from './helpers/app.ts';
import { binary, frame, unframe } from './helpers/frame.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp({ ENABLE_FAULT_LAYER: true });
});
afterAll(() => app.close());

async function post(url: string, payload: Buffer | string, headers: Record<string, string>) {
  const res = await app.inject({ method: 'POST', url, payload, headers });
  return { status: res.statusCode, headers: res.headers, raw: res.rawPayload, json: () => JSON.parse(res.body) };
}
const postFramed = (url: string, body: unknown, extra: Record<string, string> = {}) => {
  const f = frame(body);
  return post(url, f.payload, { ...f.headers, ...extra });
};

/** A hand-made framed body: JSON header text and raw section bytes. */
const handFramed = (url: string, json: unknown, section: Uint8Array, length?: string) => {
  const head = Buffer.from(typeof json === 'string' ? json : JSON.stringify(json)); // a string is sent as is
  return post(url, Buffer.concat([head, section]), { 'inference-header-content-length': length ?? String(head.length) });
};
const f64 = (...v: number[]) => new Uint8Array(Float64Array.from(v).buffer);

describe('framed requests (Inference-Header-Content-Length) on /v1', () => {
  it('relu with a binary x answers framed by default: octet-stream, header length, bytes tensors', async () => {
    const x = Float32Array.from([1, -2, 3, -4]);
    const r = await postFramed('/v1/layers/relu', { dtype: 'float32', inputs: { x: binary([2, 2], x) }, dout: binary([2, 2], Float32Array.from([1, 1, 1, 1])) });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    const { json, tensor } = unframe(r.raw, r.headers['inference-header-content-length']);
    expect(json.out).toEqual({ shape: [2, 2], dtype: 'float32', bytes: [0, 16] });
    expect(Array.from(tensor(json.out).data as Float64Array)).toEqual([1, 0, 3, 0]);
    expect(Array.from(tensor(json.grads.x).data as Float64Array)).toEqual([1, 0, 1, 0]);
    expect(r.headers['server-timing']).toMatch(/parse;dur=.*decode;dur=.*queue;dur=.*kernel;dur=.*encode;dur=/);
  });

  it('any content type or none is fine on a framed body; the answer form can be asked for', async () => {
    const body = { inputs: { x: binary([3], Float64Array.from([-1, 0, 2])) }, encoding: 'nested' };
    for (const type of ['text/plain', 'application/json', undefined]) {
      const f = frame(body);
      const headers = { ...f.headers };
      if (type) headers['content-type'] = type;
      else delete headers['content-type'];
      const r = await post('/v1/layers/relu', f.payload, headers);
      expect(r.status, String(type)).toBe(200);
      expect(r.json()).toEqual({ out: [0, 0, 2] });
    }
  });

  it('an unframed JSON request may ask for a binary answer; ranges may overlap; no alignment is needed', async () => {
    const r = await post('/v1/layers/relu', JSON.stringify({ inputs: { x: [1, -1] }, encoding: 'binary' }), { 'content-type': 'application/json' });
    expect(r.status).toBe(200);
    const { json, tensor } = unframe(r.raw, r.headers['inference-header-content-length']);
    expect(Array.from(tensor(json.out).data as Float64Array)).toEqual([1, 0]);
    // x and dout share the same 8 bytes at offset 1 (not a multiple of 8): both ranges are legal.
    const section = new Uint8Array(9);
    section.set(f64(5), 1);
    const ok = await handFramed('/v1/layers/relu', { inputs: { x: { shape: [1], dtype: 'float64', bytes: [1, 9] } }, dout: { shape: [1], dtype: 'float64', bytes: [1, 9] }, encoding: 'flat' }, section.subarray(0, 9));
    expect(ok.status, JSON.stringify(ok.json())).toBe(400); // byte 0 is used by no tensor
    expect(ok.json().detail).toMatch(/bytes \[0, 1\] of the 9-byte binary section are used by no tensor/);
    const ok2 = await handFramed('/v1/layers/relu', { inputs: { x: { shape: [1], dtype: 'float64', bytes: [1, 9] } }, dout: { shape: [1], dtype: 'float64', bytes: [0, 8] }, encoding: 'flat' }, section);
    expect(ok2.status).toBe(200);
    expect(ok2.json().out).toEqual({ shape: [1], data: [5] });
  });

  it('int64 and int32 labels for the loss layers', async () => {
    for (const y of [BigInt64Array.from([0n, 2n]), Int32Array.from([0, 2])]) {
      const r = await postFramed('/v1/layers/softmax-loss', { inputs: { x: binary([2, 3], Float64Array.from([1, 2, 3, 1, 2, 3])), y: binary([2], y) } });
      expect(r.status).toBe(200);
      const { json } = unframe(r.raw, r.headers['inference-header-content-length']);
      expect(json.loss).toBeCloseTo(Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 2, 12);
    }
    const wide = await postFramed('/v1/layers/softmax-loss', { inputs: { x: binary([1, 3], Float64Array.from([1, 2, 3])), y: binary([1], BigInt64Array.from([1n << 40n])) } });
    expect(wide.status).toBe(400);
    expect(wide.json().detail).toMatch(/inputs\.y\[0\]: label 1099511627776 is outside the 32-bit integer range/);
  });

  it('/check and /gradcheck take framed bodies', async () => {
    const x = Float64Array.from([1, -2, 3]);
    const chk = await postFramed('/v1/layers/relu/check', { inputs: { x: binary([3], x) }, claimed: { out: binary([3], Float64Array.from([1, 0, 3])) } });
    expect(chk.status).toBe(200);
    expect(chk.json().passed).toBe(true);
    const grad = await postFramed('/v1/layers/relu/gradcheck', { inputs: { x: binary([3], x) } });
    expect(grad.status).toBe(200);
    expect(grad.json().passed).toBe(true);
  });
});

describe('malformed frames are 400 problems naming what is wrong, and no kernel runs', () => {
  // The fault layer would hang its worker for 60 s (and trip nothing else): a quick 400 shows no kernel ran.
  const hang = (x: unknown) => ({ inputs: { x }, params: { kind: 'hang', ms: 60_000 } });
  const cases: [string, () => ReturnType<typeof post>, RegExp][] = [
    ['header length not an integer', () => handFramed('/v1/layers/fault', hang({ shape: [1], dtype: 'float64', bytes: [0, 8] }), f64(1), '12abc'), /^Inference-Header-Content-Length: must be a decimal integer/],
    ['header length negative', () => handFramed('/v1/layers/fault', hang({ shape: [1], dtype: 'float64', bytes: [0, 8] }), f64(1), '-3'), /^Inference-Header-Content-Length: must be a decimal integer/],
    ['header length past the end', () => handFramed('/v1/layers/fault', hang({ shape: [1], dtype: 'float64', bytes: [0, 8] }), f64(1), '100000'), /^Inference-Header-Content-Length: is 100000, past the end of the \d+-byte body/],
    ['range outside the section', () => handFramed('/v1/layers/fault', hang({ shape: [1], dtype: 'float64', bytes: [8, 16] }), f64(1)), /^fault: inputs\.x\.bytes: \[8, 16\] is outside the 8-byte binary section/],
    ['range reversed', () => handFramed('/v1/layers/fault', hang({ shape: [1], dtype: 'float64', bytes: [8, 0] }), f64(1)), /inputs\.x\.bytes: \[8, 0\] is outside/],
    ['range of the wrong length', () => handFramed('/v1/layers/fault', hang({ shape: [2], dtype: 'float64', bytes: [0, 8] }), f64(1)), /^fault: inputs\.x\.bytes: \[0, 8\] holds 8 bytes; shape \[2\] in float64 needs 16/],
    ['unused bytes', () => handFramed('/v1/layers/fault', hang({ shape: [1], dtype: 'float64', bytes: [0, 8] }), f64(1, 2)), /^fault: \(binary section\): bytes \[8, 16\] of the 16-byte binary section are used by no tensor/],
    ['dtype not the request\'s', () => handFramed('/v1/layers/fault', hang({ shape: [2], dtype: 'float32', bytes: [0, 8] }), new Uint8Array(8)), /^fault: inputs\.x\.dtype: is float32, but the request's dtype is float64/],
    ['a bytes tensor in an unframed request', () => post('/v1/layers/fault', JSON.stringify(hang({ shape: [1], dtype: 'float64', bytes: [0, 8] })), { 'content-type': 'application/json' }), /^fault: inputs\.x\.bytes: a bytes tensor needs a framed body/],
    ['non-finite bytes', () => handFramed('/v1/layers/fault', hang({ shape: [2], dtype: 'float64', bytes: [0, 16] }), f64(1, NaN)), /^fault: inputs\.x: holds NaN at flat index 1/],
    ['the JSON header is not JSON', () => handFramed('/v1/layers/fault', '{"inputs": ' as unknown, f64(1)), /the JSON header .* is not valid JSON/],
  ];
  it.each(cases)('%s', async (_name, send, detail) => {
    const t0 = performance.now();
    const r = await send();
    expect(r.status, JSON.stringify(r.json())).toBe(400);
    expect(String(r.headers['content-type'])).toMatch(/^application\/problem\+json/);
    expect(r.json().detail).toMatch(detail);
    expect(performance.now() - t0).toBeLessThan(30_000);
  });

  it('an unframed body that is not JSON is still a 415; the body limit counts the whole framed body', async () => {
    const r = await post('/v1/layers/relu', 'x', { 'content-type': 'text/plain' });
    expect(r.status).toBe(415);
    const small = await buildTestApp({ BODY_LIMIT_BYTES: 200 });
    const f = frame({ inputs: { x: binary([40], new Float64Array(40)) } });
    expect(f.headerLength).toBeLessThan(200);
    const big = await small.inject({ method: 'POST', url: '/v1/layers/relu', payload: f.payload, headers: f.headers });
    expect(big.statusCode).toBe(413);
    await small.close();
  });
});
