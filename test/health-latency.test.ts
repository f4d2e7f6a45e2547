import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from './helpers/server.ts';

/**
 * The main thread only routes and moves bytes: while one ~64 MiB nested JSON request is parsed,
 * computed and encoded (on a worker), /health/live keeps answering. Measured against a real server
 * process over TCP; the bound is relative to the big request's own duration, so a loaded machine
 * stretches both sides alike.
 */
let server: RunningServer;
beforeAll(async () => {
  server = await startServer({ WORKERS: '1' });
}, 30_000);
afterAll(() => server?.stop());

/** x as nested JSON text of about `bytes` bytes: rows of 1024 numbers like -0.123456789012 (15 characters). */
function nestedBody(bytes: number): { text: string; rows: number } {
  const row = `[${Array.from({ length: 1024 }, (_, i) => ((i % 7) - 3) / 7 + 1e-12 * i).map((v) => v.toFixed(12)).join(',')}]`;
  const rows = Math.floor(bytes / (row.length + 1));
  return { text: `{"inputs":{"x":[${new Array(rows).fill(row).join(',')}]}}`, rows };
}

function post(url: string, body: Buffer): Promise<{ status: number; bytes: number; ms: number; timing: string }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode!, bytes, ms: performance.now() - t0, timing: String(res.headers['server-timing']) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('no request size stalls another request', () => {
  it('/health/live answers while a ~64 MiB nested request is parsed, computed and encoded', async () => {
    const { text, rows } = nestedBody(63 * 1024 * 1024);
    // Bytes ready beforehand: encoding 63 MiB of text in this process would stall this process's own probes.
    const body = Buffer.from(text);
    // The probes run in a process of their own: this one holds the big body and pauses for its garbage.
    const prober = spawn(process.execPath, [fileURLToPath(new URL('./helpers/health-prober.cjs', import.meta.url)), `${server.url}/health/live`], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    await new Promise<void>((resolve) => prober.stdout!.on('data', (b: Buffer) => ((out += b), out.includes('ready') && resolve())));
    const exited = new Promise<void>((resolve) => prober.once('exit', () => resolve()));
    const answer = await post(`${server.url}/v1/layers/relu`, body);
    prober.stdin!.end();
    await exited;
    const latencies = JSON.parse(out.slice(out.indexOf('['))) as number[];
    const worst = Math.max(...latencies);
    console.log(
      `health-latency: body ${(text.length / 2 ** 20).toFixed(1)} MiB (${rows}x1024 nested), answer ${(answer.bytes / 2 ** 20).toFixed(1)} MiB in ${answer.ms.toFixed(0)} ms ` +
        `(${answer.timing}); /health/live ${latencies.length} probes, max ${worst.toFixed(1)} ms, median ${latencies.sort((a, b) => a - b)[latencies.length >> 1].toFixed(1)} ms`,
    );
    expect(answer.status).toBe(200);
    expect(answer.bytes).toBeGreaterThan(30 * 2 ** 20);
    expect(latencies.length).toBeGreaterThan(10);
    // Before the work moved to the workers, the probe waited for the whole encode (about 1/3 to 1/2 of
    // the request). A tenth of the request's duration is generous on a loaded machine and still fails that.
    expect(worst).toBeLessThan(answer.ms / 10);
  }, 120_000);
});
