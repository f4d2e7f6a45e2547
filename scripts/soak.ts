/**
 * npm run soak: a bounded load test on loopback. Starts the built service in its own process,
 * drives it with autocannon for SOAK_SECONDS (default 300) with a mix of valid and invalid
 * requests, samples the server's resident memory from /metrics, and prints a report.
 * A report, not a test: it never fails on a timing. It exits 1 only if a 5xx was answered.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300);
const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 16);
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

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as AddressInfo;
  srv.close();
  return port;
}

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

/** The server's resident set size, from its own Prometheus metrics. */
async function rssMiB(): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = /^layerserve_process_resident_memory_bytes (\d+)/m.exec(text);
  return m ? Number(m[1]) / 2 ** 20 : NaN;
}

const samples: { t: number; rss: number }[] = [{ t: 0, rss: await rssMiB() }];
const started = Date.now();
const sampler = setInterval(async () => samples.push({ t: (Date.now() - started) / 1000, rss: await rssMiB() }), 10_000);

console.log(`soak: ${SECONDS} s, ${CONNECTIONS} + 2 connections, ${WORKERS} workers, 9 request kinds (4 valid, 5 invalid) against ${base}`);
const [result, closed] = await Promise.all([
  autocannon({ url: base, connections: CONNECTIONS, duration: SECONDS, requests, timeout: 30 }),
  autocannon({ url: base, connections: 2, duration: SECONDS, requests: closing, timeout: 30 }),
]);
clearInterval(sampler);
samples.push({ t: SECONDS, rss: await rssMiB() });

child.kill('SIGTERM');
const [code] = (await once(child, 'exit')) as [number | null];

const byStatus: Record<string, number> = {};
for (const r of [result, closed]) {
  for (const [k, v] of Object.entries(r.statusCodeStats ?? {})) byStatus[k] = (byStatus[k] ?? 0) + (v as { count: number }).count;
}
const warm = samples.find((s) => s.t >= Math.min(60, SECONDS / 5)) ?? samples[0];
const end = samples.at(-1)!;
const lines = [
  `| metric | value |`,
  `|---|---|`,
  `| duration | ${SECONDS} s |`,
  `| requests | ${result.requests.total + closed.requests.total} (${(result.requests.average + closed.requests.average).toFixed(0)} req/s average) |`,
  `| latency p50 / p99 / max (keep-alive connections) | ${result.latency.p50} / ${result.latency.p99} / ${result.latency.max} ms |`,
  // autocannon's latency is meaningless on connections the server closes after each answer.
  `| malformed JSON on 2 connections closed after each answer | ${closed.requests.total} answered (${closed.requests.average.toFixed(0)} req/s) |`,
  `| answers by status | ${JSON.stringify(byStatus)} |`,
  `| socket errors / timeouts | ${result.errors + closed.errors} / ${result.timeouts + closed.timeouts} |`,
  `| server RSS at start / after warm-up (${warm.t.toFixed(0)} s) / end | ${samples[0].rss.toFixed(1)} / ${warm.rss.toFixed(1)} / ${end.rss.toFixed(1)} MiB |`,
  `| RSS change after warm-up | ${(end.rss - warm.rss).toFixed(1)} MiB (${(((end.rss - warm.rss) / warm.rss) * 100).toFixed(1)} %) |`,
  `| exit code after SIGTERM | ${code} |`,
];
console.log(lines.join('\n'));
const fiveXX = Object.entries(byStatus).filter(([k]) => k.startsWith('5')).reduce((a, [, v]) => a + Number(v), 0);
process.exit(fiveXX > 0 ? 1 : 0);
