import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './helpers/server.ts';

// The real server process on an ephemeral port, over real HTTP.
let server: RunningServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  if (server.child.exitCode === null) await server.stop();
});

describe('end to end over HTTP', () => {
  it('answers a layer request with out, grads and Server-Timing', async () => {
    const res = await fetch(`${server.url}/v1/layers/relu`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: { x: [[1, -2]] }, dout: [[3, 4]] }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ out: [[1, 0]], grads: { x: [[3, 0]] } });
    expect(res.headers.get('server-timing')).toMatch(/decode;dur=[\d.]+.*queue;dur=[\d.]+.*kernel;dur=[\d.]+.*encode;dur=[\d.]+/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('answers problems as application/problem+json', async () => {
    const res = await fetch(`${server.url}/v1/layers/nope`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('is ready, and never logs tensor bodies', async () => {
    expect((await fetch(`${server.url}/health/ready`)).status).toBe(200);
    await fetch(`${server.url}/v1/layers/relu`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs":{"x":[123456.789]}}' });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.logs.join('')).not.toContain('123456.789');
    expect(server.logs.join('')).toMatch(/"reqId":"[0-9a-f-]{36}"/);
  });

  it('exits 0 on SIGTERM', async () => {
    expect(await server.stop('SIGTERM')).toBe(0);
  });
});
