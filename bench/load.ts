/**
 * npm run bench:load [-- --quick] [-- --duration 10 --connections 10]
 *
 * Throughput of small requests under load: the service (src/server.ts, default config but WORKERS)
 * runs as its own process with WORKERS=1, then WORKERS=2; autocannon, in this process, keeps
 * `connections` requests in flight for `duration` seconds per scenario. Both share the machine's
 * two cores, as a client on the same host would. Writes bench/results/load.md and prints it.
 * Every loop is bounded by the duration, and traffic goes to 127.0.0.1 only.
 */
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CASES, makeData } from './lib/cases.ts';
import { markdownTable } from './lib/table.ts';
import { freePort } from './lib/child-service.ts';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '10' },
  },
});
const duration = Number(opts.duration ?? (opts.quick ? 3 : 10));
const connections = Number(opts.connections);
const log = (line: string) => console.error(`bench:load: ${line}`);

/** nested JSON of a typed array with its shape */
function nested(data: Float64Array, shape: number[]): unknown {
  if (shape.length === 1) return Array.from(data);
  const step = data.length / shape[0];
  return Array.from({ length: shape[0] }, (_, i) => nested(data.subarray(i * step, (i + 1) * step), shape.slice(1)));
}

const convC = CASES.find((c) => c.id === 'conv-C')!;
const convData = makeData(convC, 'float64');
const SCENARIOS = [
  {
    name: 'relu, x (64), forward',
    layer: 'relu',
    body: { inputs: { x: Array.from({ length: 64 }, (_, i) => Math.sin(i)) } },
  },
  {
    name: `conv C, x (${convC.shapes.x}) w (${convC.shapes.w}) pad ${convC.pad}, forward`,
    layer: 'conv',
    body: {
      inputs: Object.fromEntries(Object.entries(convC.shapes).map(([k, s]) => [k, nested(convData.inputs[k] as Float64Array, s)])),
      params: { stride: convC.stride, pad: convC.pad },
    },
  },
];

async function startServer(workers: number): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const entry = new URL('../src/server.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKERS: String(workers) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited with code ${child.exitCode}`);
    const ok = await fetch(`${url}/health/ready`).then((r) => r.ok, () => false);
    if (ok) return { url, child };
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGTERM');
  throw new Error('the service was not ready within 60 s');
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

const rows: string[][] = [];
for (const workers of [1, 2]) {
  log(`starting the service with WORKERS=${workers}`);
  const { url, child } = await startServer(workers);
  try {
    for (const s of SCENARIOS) {
      const body = JSON.stringify(s.body);
      const check = await fetch(`${url}/v1/layers/${s.layer}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (check.status !== 200) {
        const detail = ((await check.json().catch(() => ({}))) as { detail?: string }).detail ?? '';
        rows.push([s.name, String(workers), `skipped: HTTP ${check.status} ${detail}`.slice(0, 120), '', '', '', '', '', '']);
        continue;
      }
      log(`${s.name}, WORKERS=${workers}: ${connections} connections for ${duration} s`);
      const r = await autocannon({
        url: `${url}/v1/layers/${s.layer}`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections,
        duration,
      });
      rows.push([
        s.name, String(workers), r.requests.average.toFixed(0), r.latency.average.toFixed(2), String(r.latency.p50), String(r.latency.p99),
        String(r.errors + r.timeouts), String(r.non2xx), String(r.requests.total),
      ]);
    }
  } finally {
    await stopServer(child);
  }
}

const md = [
  '# layerserve under load',
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC · \`npm run bench:load${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\` · ` +
    `autocannon, ${connections} connections, ${duration} s per row, nested JSON float64 bodies. The service is ` +
    '`src/server.ts` in its own process with its default configuration (LOG_LEVEL info to /dev/null, guards on) ' +
    'except WORKERS; autocannon runs in the bench process on the same two cores. autocannon records latency in whole ms.',
  markdownTable(['request', 'workers', 'requests/s', 'mean ms', 'p50 ms', 'p99 ms', 'errors + timeouts', 'non-2xx', 'requests'], rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']),
].join('\n\n') + '\n';
writeFileSync(new URL('results/load.md', import.meta.url), md);
console.log(md);
