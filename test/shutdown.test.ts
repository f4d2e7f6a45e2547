import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { bigConv, download } from './helpers/client.ts';
import { logLines, startServer, type RunningServer } from './helpers/server.ts';

// Real processes, real sockets: shutdown is about bytes on connections, which inject() has none of.

const until = async (what: string, ok: () => boolean, ms = 20_000) => {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const logged = (server: RunningServer, pattern: RegExp) => until(`a log line ${pattern}`, () => pattern.test(server.logs.join('')));

describe('graceful shutdown of the real process', () => {
  it('on SIGTERM: ready turns 503, the drain still serves, then 503 + Retry-After; answers of 1 KB, 10 MB and 75 MB in flight arrive whole; exit 0', async () => {
    const server = await startServer({ ENABLE_FAULT_LAYER: 'true', WORKERS: '2', SHUTDOWN_DRAIN_MS: '1000', SHUTDOWN_GRACE_MS: '15000' });
    const keptAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    expect((await download(`${server.url}/health/live`, { agent: keptAlive })).status).toBe(200);
    // a request whose headers never complete holds no answer, and must not hold the shutdown
    const { hostname, port } = new URL(server.url);
    const halfOpen = connect(Number(port), hostname).on('error', () => undefined);
    halfOpen.write('POST /v1/layers/relu HTTP/1.1\r\nHost: x');

    // Two big answers started (status and headers received) and left unread, then a kernel that
    // is still running when the signal comes.
    const ten = bigConv(2);
    const seventyFive = bigConv(16);
    const [d10, d75] = await Promise.all([
      download(`${server.url}/v1/layers/conv`, { body: ten.body, pace: 0 }),
      download(`${server.url}/v1/layers/conv`, { body: seventyFive.body, pace: 0 }),
    ]);
    expect([d10.status, d75.status]).toEqual([200, 200]);
    // a client that leaves while its kernel runs: its request is cancelled and must not hold the shutdown
    const leaving = request(`${server.url}/v1/layers/fault`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    leaving.on('error', () => undefined).end(JSON.stringify({ inputs: { x: [1] }, params: { kind: 'hang', ms: 1_000 } }));
    await new Promise((r) => setTimeout(r, 100));
    leaving.destroy();
    await logged(server, /client disconnected; its work was cancelled/);
    const x = Array.from({ length: 150 }, (_, i) => i + 0.25);
    const small = download(`${server.url}/v1/layers/fault`, { body: { inputs: { x }, params: { kind: 'hang', ms: 1_500 } } });
    await new Promise((r) => setTimeout(r, 200));
    const exited = server.stop('SIGTERM');
    // The signal is taken once the process says so (under load that can come after our next request).
    await logged(server, /"signal":"SIGTERM"/);

    // The drain: not ready, but still serving; answers close their connections.
    expect((await download(`${server.url}/health/ready`)).status).toBe(503);
    const during = await download(`${server.url}/v1/layers/relu`, { body: { inputs: { x: [1, -1] } } });
    expect(during.status).toBe(200);
    expect(during.headers.connection).toBe('close');
    expect((await during.done).body.toString()).toBe('{"out":[1,0]}');

    // Past the drain: the listener is closed, and a request on a kept-alive connection gets 503.
    await logged(server, /listener closed/);
    await expect(download(`${server.url}/health/live`, { agent: false })).rejects.toThrow(/ECONNREFUSED/);
    const late = await download(`${server.url}/v1/layers/relu`, { body: { inputs: { x: [1] } }, agent: keptAlive });
    expect(late.status).toBe(503);
    expect(late.headers['retry-after']).toBe('5');
    expect(late.headers.connection).toBe('close');
    expect(JSON.parse((await late.done).body.toString()).type).toBe('urn:layerserve:problem:shutting-down');

    // Every started answer arrives whole, byte for byte.
    const smallAnswer = await small;
    expect(smallAnswer.status).toBe(200);
    const smallBody = await smallAnswer.done;
    expect(smallBody.whole).toBe(true);
    expect(smallBody.body.length).toBeGreaterThan(900);
    expect(JSON.parse(smallBody.body.toString())).toEqual({ out: x });
    d10.pace(Infinity);
    d75.pace(Infinity);
    const [b10, b75] = await Promise.all([d10.done, d75.done]);
    expect(b10).toMatchObject({ whole: true, error: undefined });
    expect(b75).toMatchObject({ whole: true, error: undefined });
    expect(b10.body.length).toBeGreaterThan(9_000_000);
    expect(b75.body.length).toBeGreaterThan(74_000_000);
    expect(ten.mismatch(b10.body.toString())).toBeUndefined();
    expect(seventyFive.mismatch(b75.body.toString())).toBeUndefined();

    expect(await exited).toBe(0);
    const log = server.logs.join('');
    expect(log).toMatch(/"signal":"SIGTERM"/);
    expect(log).toMatch(/every answer delivered/);
    expect(log).not.toMatch(/answer cut/);
    halfOpen.destroy();
    keptAlive.destroy();
  }, 60_000);

  it('a slow reader (100 KB/s) gets its answer whole if it fits in the grace period, else it is cut at the deadline and logged; exit 1', async () => {
    const graceMs = 3_000;
    const server = await startServer({ WORKERS: '1', SHUTDOWN_GRACE_MS: String(graceMs) });
    const big = bigConv(2); // 9.4 MB: 94 s at 100 KB/s
    const fits = bigConv(1, 20); // 1.5 MB: sliced too, and it fits in the socket buffers of loopback
    const [cut, whole] = await Promise.all([
      download(`${server.url}/v1/layers/conv`, { body: big.body, pace: 100_000 }),
      download(`${server.url}/v1/layers/conv`, { body: fits.body, pace: 100_000 }),
    ]);
    expect([cut.status, whole.status]).toEqual([200, 200]);
    await new Promise((r) => setTimeout(r, 500));
    const signalledAt = Date.now();
    const code = await server.stop('SIGTERM');
    const exitedAt = Date.now();
    expect(code).toBe(1);
    expect(exitedAt - signalledAt).toBeGreaterThanOrEqual(graceMs);

    // The process is gone; whatever it handed to the kernel still arrives: read it all now.
    cut.pace(Infinity);
    whole.pace(Infinity);
    const [c, w] = await Promise.all([cut.done, whole.done]);
    expect(w.whole).toBe(true);
    expect(fits.mismatch(w.body.toString())).toBeUndefined();
    expect(c.whole).toBe(false);
    expect(c.body.length).toBeLessThan(Number(cut.headers['content-length']));

    // Cut at the deadline, not before, and the log says so, with how far it got.
    const cutLines = logLines(server).filter((l) => /answer cut/.test(l.msg));
    expect(cutLines).toHaveLength(1);
    expect(cutLines[0].msg).toMatch(/answer cut at the shutdown deadline \(SHUTDOWN_GRACE_MS=3000\): \d+ of \d+ bytes sent/);
    expect(cutLines[0].bytes).toBe(Number(cut.headers['content-length']));
    expect(cutLines[0].sent).toBeLessThan(cutLines[0].bytes);
    expect(cutLines[0].sent).toBeGreaterThan(0);
    const closing = logLines(server).find((l) => l.signal === 'SIGTERM')!;
    expect(cutLines[0].time - closing.time).toBeGreaterThanOrEqual(graceMs - 5);
    expect(server.logs.join('')).toMatch(/shutdown took longer than SHUTDOWN_GRACE_MS=3000: exiting with 1/);
  }, 60_000);
});
