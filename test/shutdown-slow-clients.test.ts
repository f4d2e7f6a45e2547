import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { bigConv, download } from './helpers/client.ts';
import { logLines, startServer } from './helpers/server.ts';

// Slow clients against a real process: readers that hold answers back, and slowloris senders.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, ok: () => Promise<boolean>, ms = 20_000) => {
  for (const end = Date.now() + ms; !(await ok()); await sleep(50)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const metric = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
};
const relu = async (url: string) => {
  const t = performance.now();
  const res = await fetch(`${url}/v1/layers/relu`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs":{"x":[1,-1]}}' });
  return { status: res.status, body: await res.text(), ms: performance.now() - t };
};

describe('slow readers', () => {
  it('answers still being written count against MAX_UNSENT_BYTES (503 past it); a reader that takes nothing is cut after SEND_TIMEOUT_MS and logged', async () => {
    const limit = 24_000_000;
    const server = await startServer({ WORKERS: '1', MAX_UNSENT_BYTES: String(limit), SEND_TIMEOUT_MS: '3000' });
    const conv = bigConv(2); // 9.4 MB of nested JSON; loopback's socket buffers hold about 4 MB of it
    const url = `${server.url}/v1/layers/conv`;

    // One reader that reads nothing, then four at 50 KB/s: 2 × 9.4 MB fit under 24 MB, a third does not.
    const stalled = await download(url, { body: conv.body, pace: 0 });
    expect(stalled.status).toBe(200);
    const slow = await Promise.all(Array.from({ length: 4 }, () => download(url, { body: conv.body, pace: 50_000 })));
    const statuses = slow.map((d) => d.status).sort();
    expect(statuses).toEqual([200, 503, 503, 503]);
    for (const refused of slow.filter((d) => d.status === 503)) {
      expect(refused.headers['retry-after']).toBe('5');
      const problem = JSON.parse((await refused.done).body.toString());
      expect(problem.type).toBe('urn:layerserve:problem:overloaded');
      expect(problem.detail).toMatch(/MAX_UNSENT_BYTES/);
    }
    const bytes = Number(stalled.headers['content-length']);
    expect(await metric(server.url, 'layerserve_unsent_bytes')).toBe(2 * bytes);
    // small answers still fit beside them
    expect((await relu(server.url)).body).toBe('{"out":[1,0]}');

    // The reader that takes nothing is cut after SEND_TIMEOUT_MS, and the log says how far it got.
    // (The one at 50 KB/s hangs up: whether it counts as stalled depends on the kernel's socket
    // buffers, which take a reader's progress in steps of about a megabyte; see the README.)
    const reading = slow.find((d) => d.status === 200)!;
    reading.abort();
    const cutLine = () => logLines(server).find((l) => l.reqId === stalled.headers['x-request-id'] && /answer cut/.test(l.msg));
    await until('the stalled answer cut', async () => cutLine() !== undefined);
    stalled.pace(Infinity); // what the kernel holds still arrives, then the end: short
    const cut = await stalled.done;
    expect(cut.whole).toBe(false);
    expect(cut.body.length).toBeLessThan(bytes);
    const stallLine = cutLine();
    expect(stallLine?.msg).toMatch(/^answer cut: the client took none of it for 3000 ms \(SEND_TIMEOUT_MS\): \d+ of \d+ bytes sent$/);
    expect(stallLine).toMatchObject({ bytes });
    expect(stallLine!.sent).toBeGreaterThan(0);
    expect(stallLine!.sent).toBeLessThan(bytes);

    // Their bytes are released: a new big answer fits, and arrives whole.
    await until('no unsent bytes', async () => (await metric(server.url, 'layerserve_unsent_bytes')) === 0);
    const next = await download(url, { body: conv.body });
    expect(next.status).toBe(200);
    const body = await next.done;
    expect(body.whole).toBe(true);
    expect(conv.mismatch(body.body.toString())).toBeUndefined();

    expect(await server.stop('SIGTERM')).toBe(0);
  }, 60_000);
});

describe('slowloris', () => {
  it('200 connections sending one header byte a second do not stop others being served, and are closed with 408 after HEADERS_TIMEOUT_MS', async () => {
    const headersTimeoutMs = 2_000;
    const server = await startServer({ WORKERS: '1', HEADERS_TIMEOUT_MS: String(headersTimeoutMs) });
    const { hostname, port } = new URL(server.url);
    const before: number[] = [];
    for (let i = 0; i < 20; i++) before.push((await relu(server.url)).ms);

    const head = 'POST /v1/layers/relu HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
    const lorises = await Promise.all(
      Array.from({ length: 200 }, async () => {
        const socket: Socket = connect(Number(port), hostname);
        await new Promise((r) => socket.once('connect', r));
        const opened = Date.now();
        let answer = '';
        socket.on('data', (d) => (answer += d.toString()));
        socket.on('error', () => undefined);
        let sent = 0;
        const drip = setInterval(() => {
          if (sent < head.length && !socket.destroyed) socket.write(head[sent++]);
        }, 1_000);
        socket.write(head[sent++]);
        const closedAfter = new Promise<{ ms: number; answer: string; sent: number }>((resolve) =>
          socket.once('close', () => {
            clearInterval(drip);
            resolve({ ms: Date.now() - opened, answer, sent });
          }),
        );
        return { closedAfter, socket };
      }),
    );

    await sleep(500);
    const during: Awaited<ReturnType<typeof relu>>[] = [];
    for (let i = 0; i < 20; i++) during.push(await relu(server.url));
    expect(during.map((r) => r.status)).toEqual(Array(20).fill(200));
    // generous: a fixed cost of the open connections would show as a large factor, not a few ms
    expect(median(during.map((r) => r.ms))).toBeLessThan(20 * median(before) + 50);

    const closed = await Promise.race([
      Promise.all(lorises.map((l) => l.closedAfter)),
      sleep(30_000).then(() => undefined),
    ]);
    expect(closed, 'every slowloris connection closed by the server').toBeDefined();
    for (const c of closed!) {
      expect(c.answer).toMatch(/^HTTP\/1\.1 408/);
      expect(c.ms).toBeGreaterThanOrEqual(headersTimeoutMs);
      expect(c.sent).toBeLessThan(head.length);
    }
    expect((await relu(server.url)).status).toBe(200);
    expect(await server.stop('SIGTERM')).toBe(0);
  }, 60_000);
});
