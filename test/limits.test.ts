import { describe, expect, it } from 'vitest';
import { buildTestApp, postLayer } from './helpers/app.ts';

const isProblem = (h: Record<string, unknown>) => String(h['content-type']).startsWith('application/problem+json');

describe('configurable limits, each answered with a problem', () => {
  it('a body over BODY_LIMIT_BYTES is a 413', async () => {
    const app = await buildTestApp({ BODY_LIMIT_BYTES: 1000 });
    const r = await postLayer(app, 'relu', { inputs: { x: new Array(500).fill(1.5) } });
    expect(r.status).toBe(413);
    expect(isProblem(r.headers)).toBe(true);
    await app.close();
  });

  it('more tensor elements than MAX_ELEMENTS, counting every input, is a 413', async () => {
    const app = await buildTestApp({ MAX_ELEMENTS: 10 });
    const ok = await postLayer(app, 'relu', { inputs: { x: [1, 2, 3, 4, 5] }, dout: [1, 1, 1, 1, 1] });
    expect(ok.status).toBe(200);
    const r = await postLayer(app, 'relu', { inputs: { x: [1, 2, 3, 4, 5, 6] }, dout: [1, 1, 1, 1, 1, 1] });
    expect(r.status).toBe(413);
    expect(r.json.detail).toMatch(/12 tensor elements; the limit is 10/);
    // Counted from the shape before any number is read: a flat header alone is enough.
    const big = await postLayer(app, 'relu', { inputs: { x: { shape: [1000, 1000], data: [] } } });
    expect(big.status).toBe(413);
    await app.close();
  });

  it('nesting deeper than MAX_RANK is a 400', async () => {
    const app = await buildTestApp({ MAX_RANK: 2 });
    const r = await postLayer(app, 'relu', { inputs: { x: [[[1]]] } });
    expect(r.status).toBe(400);
    expect(r.json.detail).toMatch(/maximum rank 2/);
    await app.close();
  });
});

describe('faults, timeouts and queue limits (fault-injection layer)', () => {
  it('a kernel that throws gives that request a 500 without internals, and the next request succeeds', async () => {
    const app = await buildTestApp({ ENABLE_FAULT_LAYER: true });
    const r = await postLayer(app, 'fault', { inputs: { x: [1] }, params: { kind: 'throw' } });
    expect(r.status).toBe(500);
    expect(isProblem(r.headers)).toBe(true);
    expect(r.body).not.toMatch(/secret|internal\/path|\.ts|at /);
    expect(r.json.requestId).toBe(r.headers['x-request-id']);
    expect((await postLayer(app, 'relu', { inputs: { x: [1, -1] } })).status).toBe(200);
    await app.close();
  });

  it('a worker that dies fails only its request: others in flight complete, the pool replaces it', async () => {
    const app = await buildTestApp({ ENABLE_FAULT_LAYER: true, WORKERS: 2 });
    const slow = postLayer(app, 'fault', { inputs: { x: [7] }, params: { kind: 'hang', ms: 300 } });
    const dying = postLayer(app, 'fault', { inputs: { x: [1] }, params: { kind: 'exit' } });
    const [s, d] = await Promise.all([slow, dying]);
    expect(d.status).toBe(500);
    expect(s.status).toBe(200);
    expect(s.json.out).toEqual([7]);
    for (let i = 0; i < 4; i++) expect((await postLayer(app, 'relu', { inputs: { x: [i] } })).status).toBe(200);
    expect(app.pool.restarts).toBeGreaterThanOrEqual(1);
    await app.close();
  });

  it('a kernel past COMPUTE_TIMEOUT_MS is a 504; its worker is terminated and replaced', async () => {
    const app = await buildTestApp({ ENABLE_FAULT_LAYER: true, COMPUTE_TIMEOUT_MS: 200 });
    const t = performance.now();
    const r = await postLayer(app, 'fault', { inputs: { x: [1] }, params: { kind: 'hang', ms: 60_000 } });
    expect(r.status).toBe(504);
    expect(isProblem(r.headers)).toBe(true);
    expect(performance.now() - t).toBeLessThan(10_000);
    expect((await postLayer(app, 'relu', { inputs: { x: [2] } })).json.out).toEqual([2]);
    expect(app.pool.restarts).toBe(1);
    await app.close();
  });

  it('a full work queue is a 503 with Retry-After', async () => {
    const app = await buildTestApp({ ENABLE_FAULT_LAYER: true, MAX_QUEUE: 1 });
    const hang = { inputs: { x: [1] }, params: { kind: 'hang', ms: 500 } };
    const running = postLayer(app, 'fault', hang);
    await new Promise((r) => setTimeout(r, 50));
    const queued = postLayer(app, 'fault', hang);
    await new Promise((r) => setTimeout(r, 50));
    const refused = await postLayer(app, 'relu', { inputs: { x: [1] } });
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect((await running).status).toBe(200);
    expect((await queued).status).toBe(200);
    await app.close();
  });
});

describe('outputs are limited like inputs', () => {
  it('a convolution whose output would exceed MAX_ELEMENTS is a 413 before any work', async () => {
    const app = await buildTestApp();
    const r = await postLayer(app, 'conv', { inputs: { x: [[[[1]]]], w: [[[[1]]]], b: [0] }, params: { pad: 1_000_000 } });
    expect(r.status).toBe(413);
    expect(r.json.detail).toMatch(/out would have shape \[1, 1, 2000001, 2000001\]/);
    await app.close();
  });
});

describe('a client that disconnects', () => {
  it('cancels its running work: the worker is stopped at once, not when the kernel would end', async () => {
    const { request } = await import('node:http');
    const app = await buildTestApp({ ENABLE_FAULT_LAYER: true });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const body = JSON.stringify({ inputs: { x: [1] }, params: { kind: 'hang', ms: 20_000 } });
    const req = request({ port, host: '127.0.0.1', path: '/v1/layers/fault', method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => {}); // we hang up on purpose
    req.end(body);
    await new Promise((r) => setTimeout(r, 300));
    req.destroy();
    const t = performance.now();
    while (app.pool.restarts === 0 && performance.now() - t < 5_000) await new Promise((r) => setTimeout(r, 20));
    expect(app.pool.restarts).toBe(1); // the hung kernel's worker was terminated and replaced
    expect(performance.now() - t).toBeLessThan(5_000);
    expect((await postLayer(app, 'relu', { inputs: { x: [3] } })).json.out).toEqual([3]);
    await app.close();
  });
});
