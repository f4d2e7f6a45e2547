import { describe, expect, it } from 'vitest';
import { buildTestApp, postLayer } from './helpers/app.ts';

const isProblem = (h: Record<string, unknown>) => String(h['content-type']).startsWith('application/problem+json');
const relu = { inputs: { x: [1, -1] } };

describe('bearer tokens (API_TOKENS)', () => {
  it('when set, /v1 needs one of them; health stays open', async () => {
    const app = await buildTestApp({ API_TOKENS: ['alpha', 'beta-token'] });
    const post = (auth?: string) =>
      app.inject({ method: 'POST', url: '/v1/layers/relu', payload: relu, headers: auth ? { authorization: auth } : {} });
    const none = await post();
    expect(none.statusCode).toBe(401);
    expect(isProblem(none.headers)).toBe(true);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await post('Bearer wrong')).statusCode).toBe(401);
    expect((await post('Basic YWxwaGE=')).statusCode).toBe(401);
    expect((await post('Bearer alpha')).statusCode).toBe(200);
    expect((await post('Bearer beta-token')).statusCode).toBe(200);
    expect((await app.inject({ url: '/v1/layers' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200);
    // docs and metrics stay public unless configured otherwise
    expect((await app.inject({ url: '/docs/json' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/metrics' })).statusCode).toBe(200);
    await app.close();
  });

  it('/docs and /metrics can each require a token or be turned off', async () => {
    const guarded = await buildTestApp({ API_TOKENS: ['t'], DOCS_ACCESS: 'token', METRICS_ACCESS: 'token' });
    expect((await guarded.inject({ url: '/docs/json' })).statusCode).toBe(401);
    expect((await guarded.inject({ url: '/docs/json', headers: { authorization: 'Bearer t' } })).statusCode).toBe(200);
    expect((await guarded.inject({ url: '/metrics' })).statusCode).toBe(401);
    expect((await guarded.inject({ url: '/metrics', headers: { authorization: 'Bearer t' } })).statusCode).toBe(200);
    await guarded.close();
    const off = await buildTestApp({ DOCS_ACCESS: 'off', METRICS_ACCESS: 'off' });
    expect((await off.inject({ url: '/docs/json' })).statusCode).toBe(404);
    expect((await off.inject({ url: '/metrics' })).statusCode).toBe(404);
    await off.close();
  });
});

describe('overload', () => {
  it('per-client rate limit answers 429 problems with the rate-limit headers', async () => {
    const app = await buildTestApp({ RATE_LIMIT_MAX: 2, RATE_LIMIT_WINDOW_MS: 60_000 });
    expect((await postLayer(app, 'relu', relu)).status).toBe(200);
    const second = await postLayer(app, 'relu', relu);
    expect(second.headers['x-ratelimit-remaining']).toBe('0');
    const third = await postLayer(app, 'relu', relu);
    expect(third.status).toBe(429);
    expect(isProblem(third.headers)).toBe(true);
    expect(third.headers['retry-after']).toBeDefined();
    expect(third.headers['x-ratelimit-limit']).toBe('2');
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
    await app.close();
  });

  it('under pressure (here: a heap limit of 1 byte) /v1 answers 503 problems; health still answers', { timeout: 20_000 }, async () => {
    const app = await buildTestApp({ MAX_HEAP_USED_BYTES: 1 });
    await new Promise((r) => setTimeout(r, 5_200)); // under-pressure samples every 5 s
    const r = await postLayer(app, 'relu', relu);
    expect(r.status).toBe(503);
    expect(isProblem(r.headers)).toBe(true);
    expect(r.headers['retry-after']).toBeDefined();
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
    await app.close();
  });

  it('while shutting down, readiness is 503; work is served through the drain, then refused with 503', async () => {
    const app = await buildTestApp();
    app.shuttingDown = true; // SIGTERM: the drain begins
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(503);
    const served = await postLayer(app, 'relu', relu);
    expect(served.status).toBe(200);
    expect(served.headers.connection).toBe('close');
    app.delivery.refusing = true; // SHUTDOWN_DRAIN_MS later
    const r = await postLayer(app, 'relu', relu);
    expect(r.status).toBe(503);
    expect(r.json.type).toBe('urn:layerserve:problem:shutting-down');
    expect(r.headers['retry-after']).toBe('5');
    expect(r.headers.connection).toBe('close');
    expect((await app.inject({ url: '/health/live' })).statusCode).toBe(200);
    await app.close();
  });
});

describe('metrics', () => {
  it('exposes requests by layer and status, latency, queue depth, busy workers, restarts and event-loop lag', async () => {
    const app = await buildTestApp();
    await postLayer(app, 'relu', relu);
    await postLayer(app, 'relu', { inputs: { x: 'nope' } });
    const text = (await app.inject({ url: '/metrics' })).body;
    expect(text).toMatch(/layerserve_requests_total\{layer="relu",status="200"\} 1/);
    expect(text).toMatch(/layerserve_requests_total\{layer="relu",status="400"\} 1/);
    expect(text).toMatch(/layerserve_request_duration_seconds_bucket\{le="0.1",layer="relu"\} 2/);
    for (const name of ['layerserve_queue_depth', 'layerserve_workers_busy', 'layerserve_worker_restarts_total', 'layerserve_nodejs_eventloop_lag_seconds']) {
      expect(text).toContain(name);
    }
    await app.close();
  });
});

describe('hardening', () => {
  it('sets security headers, and no response leaks a stack trace or an internal path', async () => {
    const app = await buildTestApp({ ENABLE_FAULT_LAYER: true });
    const docs = await app.inject({ url: '/docs/' });
    expect(docs.headers['x-content-type-options']).toBe('nosniff');
    expect(docs.headers['content-security-policy']).toMatch(/default-src 'self'/);
    for (const res of [
      await app.inject({ method: 'POST', url: '/v1/layers/fault', payload: { inputs: { x: [1] } } }),
      await app.inject({ method: 'POST', url: '/v1/layers/relu', payload: '{"inputs":', headers: { 'content-type': 'application/json' } }),
      await app.inject({ method: 'POST', url: '/v1/layers/relu', payload: { inputs: { x: [[1], [2, 3]] } } }),
    ]) {
      expect(res.body).not.toMatch(/\/work\/|node_modules|\.ts:\d+|\bat \w+ \(/);
    }
    await app.close();
  });

  it('__proto__ in a body cannot pollute Object.prototype, anywhere in the body', async () => {
    const app = await buildTestApp();
    for (const payload of [
      '{"__proto__":{"polluted":true},"inputs":{"x":[1]}}',
      '{"inputs":{"x":[1],"__proto__":{"polluted":true}}}',
      '{"inputs":{"x":{"shape":[1],"data":[1],"__proto__":{"polluted":true}}}}',
      '{"inputs":{"x":[1]},"params":{"constructor":{"prototype":{"polluted":true}}}}',
    ]) {
      const res = await app.inject({ method: 'POST', url: '/v1/layers/relu', payload, headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(400);
      expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
      expect((Object.prototype as { polluted?: boolean }).polluted).toBeUndefined();
    }
    await app.close();
  });
});
