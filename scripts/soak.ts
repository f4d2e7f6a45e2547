/**
 * npm run soak: a bounded load test on loopback. Starts the built service in its own process and
 * for SOAK_SECONDS (default 300) drives it with
 *  - autocannon: SOAK_CONNECTIONS (16) connections with a mix of small valid and invalid requests;
 *  - big answers: conv A (x 16×32×32×32, w 64×32×3×3, pad 1, forward + backward) answered nested
 *    (30 MB) and base64 (17 MB), by SOAK_BIG_CLIENTS (2) clients reading at full speed and
 *    SOAK_SLOW_CLIENTS (2) reading at SOAK_SLOW_RATE (1 MB/s); every 200 is checked whole: its bytes
 *    against Content-Length and its SHA-256 against the first answer to the same request;
 *  - at the end, SIGTERM with a nested conv A answer in flight, which must still arrive whole.
 * It samples the server's resident memory every second and prints a report. A report, not a test:
 * it never fails on a timing. It exits 1 if a 5xx was answered or a 200 arrived incomplete.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { freePort } from '../bench/lib/child-service.ts';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
const BIG_CLIENTS = Number(process.env.SOAK_BIG_CLIENTS ?? 2);
const SLOW_CLIENTS = Number(process.env.SOAK_SLOW_CLIENTS ?? 2);
const SLOW_RATE = Number(process.env.SOAK_SLOW_RATE ?? 1_000_000);
const WORKERS = process.env.WORKERS ?? '2';

const json = (body: unknown) => ({ method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const rand = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 2);
const convC = {
  inputs: {
    x: { shape: [2, 3, 8, 8], data: rand(384, 1) },
    w: { shape: [4, 3, 3, 3], data: rand(108, 2) },
    b: { shape: [4], data: [0.1, 0.2, 0.3, 0.4] },
  },
  params: { pad: 1 },
  dout: { shape: [2, 4, 8, 8], data: rand(512, 3) },
};
const f32 = Float32Array.from(rand(1024, 4));
const requests = [
  { path: '/v1/layers/relu', ...json({ inputs: { x: rand(64, 5) }, dout: rand(64, 6) }) },
  { path: '/v1/layers/conv', ...json(convC) },
  { path: '/v1/layers/relu', ...json({ dtype: 'float32', inputs: { x: { shape: [1024], dtype: 'float32', b64: Buffer.from(f32.buffer).toString('base64') } } }) },
  { path: '/v1/layers/softmax-loss', ...json({ inputs: { x: [[1, 2, 3], [3, 2, 1]], y: [0, 2] } }) },
  // invalid: ragged, bad params, unknown layer, malformed JSON, not JSON
  { path: '/v1/layers/relu', ...json({ inputs: { x: [[1, 2], [3]] } }) },
  { path: '/v1/layers/conv', ...json({ ...convC, params: { stride: 0 } }) },
  { path: '/v1/layers/nope', ...json({ inputs: {} }) },
  { path: '/v1/layers/relu', method: 'POST' as const, headers: { 'content-type': 'text/plain' }, body: 'x' },
];
// Malformed JSON makes fastify close the connection after its 400; in the same request cycle that
// would cost the next request its connection, so these run on connections of their own.
const closing = [{ path: '/v1/layers/relu', method: 'POST' as const, headers: { 'content-type': 'application/json' }, body: '{"inputs":{"x":[1,' }];

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const child = spawn(process.execPath, ['dist/server.js'], {
  env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKERS, LOG_LEVEL: 'warn', MAX_EVENT_LOOP_DELAY_MS: '0' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
for (let i = 0; ; i++) {
  if (await fetch(`${base}/health/ready`).then((r) => r.ok, () => false)) break;
  if (i > 120 || child.exitCode !== null) throw new Error('the server did not start: run `npm run build` first');
  await new Promise((r) => setTimeout(r, 250));
}

/** The server's resident set size: from /proc (every second is cheap), else its own metrics. */
async function rssMiB(): Promise<number> {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = /^layerserve_process_resident_memory_bytes (\d+)/m.exec(text);
    return m ? Number(m[1]) / 2 ** 20 : NaN;
  }
}

// ---- big answers: conv A forward + backward, nested and base64, read fast or slowly, checked whole
const convA = (encoding: 'nested' | 'base64') =>
  JSON.stringify({
    inputs: {
      x: { shape: [16, 32, 32, 32], data: rand(16 * 32 * 32 * 32, 11) },
      w: { shape: [64, 32, 3, 3], data: rand(64 * 32 * 9, 12) },
      b: { shape: [64], data: rand(64, 13) },
    },
    params: { pad: 1 },
    dout: { shape: [16, 64, 32, 32], data: rand(16 * 64 * 32 * 32, 14) },
    encoding,
  });
const bigBodies = { nested: convA('nested'), base64: convA('base64') };
interface Fetched {
  status: number;
  expected: number; // Content-Length
  delivered: number;
  complete: boolean;
  sha: string;
}
/** One request; the body is read at `rate` bytes/s (Infinity: as it comes) and hashed. */
function fetchBig(body: string, rate: number, onHeaders?: () => void): Promise<Fetched> {
  return new Promise((resolve) => {
    const req = httpRequest(`${base}/v1/layers/conv`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    req.on('error', () => resolve({ status: 0, expected: 0, delivered: 0, complete: false, sha: '' }));
    req.on('response', (res) => {
      onHeaders?.();
      const hash = createHash('sha256');
      let delivered = 0;
      let budget = 0;
      const take = () => {
        for (let c: Buffer | null; (rate === Infinity || budget > 0) && (c = res.read()) !== null; ) {
          hash.update(c);
          delivered += c.length;
          budget -= c.length;
        }
      };
      const timer = rate === Infinity ? undefined : setInterval(() => ((budget = Math.min(budget + rate / 10, rate)), take()), 100);
      res.on('readable', take);
      res.on('end', () => undefined);
      res.once('close', () => {
        clearInterval(timer);
        const expected = Number(res.headers['content-length'] ?? NaN);
        resolve({ status: res.statusCode ?? 0, expected, delivered, complete: res.complete && delivered === expected, sha: hash.digest('hex') });
      });
    });
    req.end(body);
  });
}
const reference: Record<string, Fetched> = {};
for (const [form, body] of Object.entries(bigBodies)) reference[form] = await fetchBig(body, Infinity);
const big = { requests: 0, byStatus: {} as Record<string, number>, delivered: 0, expected: 0, truncated: 0, differing: 0, slowRequests: 0 };
const tally = (form: string, f: Fetched, slow: boolean) => {
  big.requests++;
  if (slow) big.slowRequests++;
  big.byStatus[f.status] = (big.byStatus[f.status] ?? 0) + 1;
  if (f.status !== 200) return;
  big.delivered += f.delivered;
  big.expected += f.expected;
  if (!f.complete) big.truncated++;
  else if (f.sha !== reference[form].sha) big.differing++;
};
async function bigClient(rate: number, until: number, i: number) {
  for (let k = i; Date.now() < until; k++) {
    const form = k % 2 ? 'base64' : 'nested';
    tally(form, await fetchBig(bigBodies[form], rate), rate !== Infinity);
  }
}

const samples: { t: number; rss: number }[] = [{ t: 0, rss: await rssMiB() }];
const started = Date.now();
const sampler = setInterval(async () => samples.push({ t: (Date.now() - started) / 1000, rss: await rssMiB() }), 1_000);

console.log(
  `soak: ${SECONDS} s against ${base}, ${WORKERS} workers: ${CONNECTIONS} + 2 connections with 9 small request kinds (4 valid, 5 invalid); ` +
    `conv A answers nested (${(reference.nested.expected / 1e6).toFixed(1)} MB) and base64 (${(reference.base64.expected / 1e6).toFixed(1)} MB) ` +
    `to ${BIG_CLIENTS} clients at full speed and ${SLOW_CLIENTS} at ${SLOW_RATE / 1e6} MB/s`,
);
const until = Date.now() + SECONDS * 1000;
const [result, closed] = await Promise.all([
  autocannon({ url: base, connections: CONNECTIONS, duration: SECONDS, requests, timeout: 30 }),
  autocannon({ url: base, connections: 2, duration: SECONDS, requests: closing, timeout: 30 }),
  ...Array.from({ length: BIG_CLIENTS }, (_, i) => bigClient(Infinity, until, i)),
  ...Array.from({ length: SLOW_CLIENTS }, (_, i) => bigClient(SLOW_RATE, until, i)),
]);
clearInterval(sampler);
samples.push({ t: (Date.now() - started) / 1000, rss: await rssMiB() });

// SIGTERM with a big answer in flight: it must still arrive whole, and the process exit 0.
let inFlight!: Promise<Fetched>;
await new Promise<void>((headers) => (inFlight = fetchBig(bigBodies.nested, Infinity, headers)));
child.kill('SIGTERM');
const [code] = (await once(child, 'exit')) as [number | null];
const last = await inFlight;
tally('nested', last, false);

const byStatus: Record<string, number> = {};
for (const r of [result, closed]) {
  for (const [k, v] of Object.entries(r.statusCodeStats ?? {})) byStatus[k] = (byStatus[k] ?? 0) + (v as { count: number }).count;
}
const warm = samples.find((s) => s.t >= Math.min(60, SECONDS / 5)) ?? samples[0];
const end = samples.at(-1)!;
const peak = samples.reduce((a, s) => (s.rss > a.rss ? s : a));
// the load runs SECONDS; the slow readers' last answers and the idle tail come after
const loaded = samples.filter((s) => s.t <= SECONDS);
const loadEnd = loaded.at(-1)!;
const lateHalf = loaded.filter((s) => s.t >= SECONDS / 2);
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const range = (xs: { rss: number }[]) => `${Math.min(...xs.map((s) => s.rss)).toFixed(1)}–${Math.max(...xs.map((s) => s.rss)).toFixed(1)} MiB`;
const lines = [
  `| metric | value |`,
  `|---|---|`,
  `| duration | ${SECONDS} s |`,
  `| requests | ${result.requests.total + closed.requests.total} (${(result.requests.average + closed.requests.average).toFixed(0)} req/s average) |`,
  `| latency p50 / p99 / max (keep-alive connections) | ${result.latency.p50} / ${result.latency.p99} / ${result.latency.max} ms |`,
  // autocannon's latency is meaningless on connections the server closes after each answer.
  `| malformed JSON on 2 connections closed after each answer | ${closed.requests.total} answered (${closed.requests.average.toFixed(0)} req/s) |`,
  `| small answers by status | ${JSON.stringify(byStatus)} |`,
  `| socket errors / timeouts | ${result.errors + closed.errors} / ${result.timeouts + closed.timeouts} |`,
  `| conv A answers (nested and base64; ${big.slowRequests} read at ${SLOW_RATE / 1e6} MB/s) | ${big.requests}, by status ${JSON.stringify(big.byStatus)} |`,
  `| conv A bytes delivered / expected (200s) | ${big.delivered} / ${big.expected} (${mib(big.delivered)} MiB) |`,
  `| conv A 200s truncated / differing from the first answer | ${big.truncated} / ${big.differing} |`,
  `| server RSS start / peak (at ${peak.t.toFixed(0)} s) / end | ${samples[0].rss.toFixed(1)} / ${peak.rss.toFixed(1)} / ${end.rss.toFixed(1)} MiB |`,
  `| RSS under load: after warm-up (${warm.t.toFixed(0)} s) → at ${loadEnd.t.toFixed(0)} s; range over the second half; range over the first half after warm-up | ${warm.rss.toFixed(1)} → ${loadEnd.rss.toFixed(1)} MiB (${(((loadEnd.rss - warm.rss) / warm.rss) * 100).toFixed(1)} %); ${range(lateHalf)}; ${range(loaded.filter((s) => s.t >= warm.t && s.t < SECONDS / 2))} |`,
  `| RSS samples (1 s) | ${samples.length}, ${loaded.length} under load |`,
  `| SIGTERM with a nested conv A answer in flight | ${last.status}, ${last.delivered} of ${last.expected} bytes, ${last.complete && last.sha === reference.nested.sha ? 'whole and identical' : 'NOT WHOLE'}; exit code ${code} |`,
];
console.log(lines.join("\n"));
if (process.env.SOAK_DEBUG) console.log(samples.map((s) => `${s.t.toFixed(1)}:${s.rss.toFixed(0)}`).join(" "));
const fiveXX = [byStatus, big.byStatus].flatMap((b) => Object.entries(b)).filter(([k]) => k.startsWith('5')).reduce((a, [, v]) => a + Number(v), 0);
process.exit(fiveXX > 0 || big.truncated > 0 || big.differing > 0 || code !== 0 ? 1 : 0);
