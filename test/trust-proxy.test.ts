import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { startServer, type RunningServer } from './helpers/server.ts';

// TRUST_PROXY: X-Forwarded-For names the client only when the TCP peer is a listed proxy. The servers
// below run as real processes and are reached over loopback, so the peer is 127.0.0.1: trusted when
// TRUST_PROXY lists it, untrusted when it lists only another network (as in compose, where only
// HAProxy's address is listed and a client connecting directly must not pass for someone else).

const FORGED = '203.0.113.7';
const relu = { inputs: { x: { shape: [3], data: [1, -2, 3] } } };

async function post(server: RunningServer, xff?: string) {
  const res = await fetch(`${server.url}/v1/layers/relu`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(xff ? { 'x-forwarded-for': xff } : {}) },
    body: JSON.stringify(relu),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The remoteAddress of every request log line (fastify logs request.ip there). */
function loggedAddresses(server: RunningServer): string[] {
  return server.logs
    .join('')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { req?: { url?: string; remoteAddress?: string } })
    .filter((l) => l.req?.url?.startsWith('/v1/') && l.req.remoteAddress)
    .map((l) => l.req!.remoteAddress!);
}

/** The server's stdout arrives through a pipe: wait (generously) until `n` request lines are there. */
async function loggedAtLeast(server: RunningServer, n: number): Promise<string[]> {
  for (let i = 0; i < 200 && loggedAddresses(server).length < n; i++) await new Promise((r) => setTimeout(r, 50));
  return loggedAddresses(server);
}

describe('TRUST_PROXY setting', () => {
  it('is off by default and takes addresses, CIDRs and named ranges', () => {
    expect(loadConfig({}).TRUST_PROXY).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: '' }).TRUST_PROXY).toEqual([]);
    expect(loadConfig({ TRUST_PROXY: '172.30.80.10, 10.0.0.0/8,fd00::/8 ,loopback' }).TRUST_PROXY).toEqual([
      '172.30.80.10',
      '10.0.0.0/8',
      'fd00::/8',
      'loopback',
    ]);
  });

  it.each(['true', '*', '10.0.0.0/33', '10.0.0/8', 'fd00::/129', 'example.com', '10.0.0.1/8/8'])('refuses %s', (bad) => {
    expect(() => loadConfig({ TRUST_PROXY: bad })).toThrow(/TRUST_PROXY/);
  });
});

describe('X-Forwarded-For from an untrusted peer changes nothing', () => {
  let server: RunningServer;
  beforeAll(async () => {
    // a proxy network is configured, but this client (127.0.0.1) is not in it
    server = await startServer({ TRUST_PROXY: '10.0.0.0/8', RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '60000' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('rate limit key, logs and metrics all see the peer address, whatever the header says', async () => {
    // three forged client addresses and a metrics scrape: one client all the same, at its limit of 4
    const statuses = [await post(server, FORGED), await post(server, '198.51.100.1'), await post(server, `${FORGED}, 10.1.2.3`)];
    expect(statuses).toEqual([200, 200, 200]);
    const scrape = await fetch(`${server.url}/metrics`, { headers: { 'x-forwarded-for': '198.51.100.2' } });
    expect(scrape.status).toBe(200);
    const metrics = await scrape.text();
    expect(await post(server, '198.51.100.3')).toBe(429);
    expect(await post(server)).toBe(429);
    const addresses = await loggedAtLeast(server, 5);
    expect(addresses.length).toBeGreaterThanOrEqual(5);
    expect(new Set(addresses)).toEqual(new Set(['127.0.0.1']));
    expect(metrics).toMatch(/layerserve_requests_total\{layer="relu",status="200"\} 3/);
    expect(metrics).not.toContain(FORGED);
  });
});

describe('X-Forwarded-For from a trusted proxy is honoured', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ TRUST_PROXY: '127.0.0.1', RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '60000' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('each forwarded client has its own rate limit and appears in the logs', async () => {
    // client A twice (at its limit), then client B is still allowed, then A is over the limit
    const a = '198.51.100.20';
    const b = '198.51.100.30';
    const statuses = [await post(server, a), await post(server, a), await post(server, b), await post(server, a)];
    expect(statuses).toEqual([200, 200, 200, 429]);
    // a client's own forged entry further left is ignored: the proxy appended the address it saw
    expect(await post(server, `${FORGED}, ${b}`)).toBe(200);
    expect(await post(server, `${FORGED}, ${b}`)).toBe(429);
    const addresses = await loggedAtLeast(server, 6);
    expect(addresses).toEqual(expect.arrayContaining([a, b]));
    expect(addresses).not.toContain(FORGED);
    expect(addresses).not.toContain('127.0.0.1');
  });
});
