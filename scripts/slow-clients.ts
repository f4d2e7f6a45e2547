/**
 * npm run slow-clients: how the built service holds up against slow clients, on loopback.
 *  1. slow readers: SLOW_READERS (20) clients each ask for a 75 MB answer (nested JSON) and read it at
 *     SLOW_RATE (50 KB/s) for SLOW_SECONDS (60); refused ones retry after Retry-After. Reports the
 *     answers by status, the unsent bytes and the server's RSS (start / peak / end), once with the
 *     service's defaults and once with MAX_UNSENT_BYTES=0 (no bound), to show what the bound does.
 *  2. slowloris: LORIS (200) connections each send one header byte a second for LORIS_SECONDS (40),
 *     reopened when the server closes them, while one client sends relu requests back to back.
 *     Reports that client's throughput and latency before and during, and the 408s.
 * A report, not a test: nothing here fails on a number.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { freePort } from '../bench/lib/child-service.ts';

const READERS = Number(process.env.SLOW_READERS ?? 20);
const RATE = Number(process.env.SLOW_RATE ?? 50_000);
const SLOW_SECONDS = Number(process.env.SLOW_SECONDS ?? 60);
const LORIS = Number(process.env.LORIS ?? 200);
const LORIS_SECONDS = Number(process.env.LORIS_SECONDS ?? 40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = (b: number) => (b / 2 ** 20).toFixed(1);

async function start(env: Record<string, string>): Promise<{ base: string; child: ChildProcess }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, ['dist/server.js'], {
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKERS: '2', LOG_LEVEL: 'error', MAX_RSS_BYTES: '1073741824', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (let i = 0; !(await fetch(`${base}/health/ready`).then((r) => r.ok, () => false)); i++) {
    if (i > 120 || child.exitCode !== null) throw new Error('the server did not start: run `npm run build` first');
    await sleep(250);
  }
  return { base, child };
}
const rssOf = (pid: number) => {
  try {
    return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  } catch {
    return Number.NaN; // the process is gone
  }
};
const gauge = async (base: string, name: string) =>
  Number(new RegExp(`^${name} (\\d+)`, 'm').exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? Number.NaN);

// A conv whose nested answer is 75 MB: x (16, 1, 64, 64), w (64, 1, 1, 1); the request is 1.3 MB.
const n = 16;
const big = JSON.stringify({
  inputs: {
    x: { shape: [n, 1, 64, 64], data: Array.from({ length: n * 4096 }, (_, i) => (i % 101) - 50) },
    w: { shape: [64, 1, 1, 1], data: Array.from({ length: 64 }, (_, k) => 1 / (k + 3)) },
    b: { shape: [64], data: Array.from({ length: 64 }, (_, k) => k / 7) },
  },
  params: { pad: 0 },
  encoding: 'nested',
});

let reading = 0; // answers with status 200 being read right now, counted by the clients
/** One client: asks, reads at RATE until `until`, retries after Retry-After when refused. */
async function slowReader(base: string, until: number, tally: Record<string, number>): Promise<void> {
  while (Date.now() < until) {
    const outcome = await new Promise<{ status: number; retryAfter: number }>((resolve) => {
      const req = request(`${base}/v1/layers/conv`, { method: 'POST', headers: { 'content-type': 'application/json' } });
      req.on('error', () => resolve({ status: 0, retryAfter: 1 }));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status !== 200) {
          res.resume();
          res.on('end', () => resolve({ status, retryAfter: Number(res.headers['retry-after'] ?? 1) }));
          return;
        }
        let budget = 0;
        let hungUp = false;
        const late = Date.now() >= until; // computed, but after the run: hung up at once
        reading++;
        const timer = setInterval(() => {
          if (Date.now() >= until) {
            clearInterval(timer);
            hungUp = true;
            req.destroy();
            return;
          }
          budget += RATE / 10;
          for (let c: Buffer | null; budget > 0 && (c = res.read()) !== null; ) budget -= c.length;
        }, 100);
        res.on('close', () => {
          reading--;
          clearInterval(timer);
          resolve({ status: res.complete ? 200 : late ? -2 : hungUp ? -200 : -1, retryAfter: 0 });
        });
      });
      req.end(big);
    });
    const key = { [-200]: '200, still reading at the end', [-2]: '200 after the end (hung up)', [-1]: '200, cut by the server' }[outcome.status] ?? String(outcome.status);
    tally[key] = (tally[key] ?? 0) + 1;
    if (outcome.retryAfter > 0) await sleep(outcome.retryAfter * 1000);
  }
}

async function slowReaders(label: string, env: Record<string, string>) {
  const { base, child } = await start(env);
  const pid = child.pid!;
  const samples: { rss: number; unsent: number; reading: number }[] = [{ rss: rssOf(pid), unsent: 0, reading: 0 }];
  // /metrics is refused (503) while RSS is over MAX_RSS_BYTES: then the gauge is missing (NaN)
  const sampler = setInterval(async () => {
    const rss = rssOf(pid);
    const now = reading;
    samples.push({ rss, reading: now, unsent: await gauge(base, 'layerserve_unsent_bytes').catch(() => Number.NaN) });
  }, 1_000);
  const tally: Record<string, number> = {};
  const until = Date.now() + SLOW_SECONDS * 1000;
  await Promise.all(Array.from({ length: READERS }, () => slowReader(base, until, tally)));
  await sleep(2_000); // the hung-up answers are released
  clearInterval(sampler);
  const end = rssOf(pid);
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  const peak = Math.max(...samples.map((s) => s.rss));
  const unsent = samples.map((s) => s.unsent);
  const peakUnsent = `${MiB(Math.max(...unsent.filter(Number.isFinite)))}${unsent.some(Number.isNaN) ? ` (${unsent.filter(Number.isNaN).length} samples refused)` : ''}`;
  const peakReading = Math.max(...samples.map((s) => s.reading));
  return `| ${label} | ${JSON.stringify(tally)} | ${peakReading} | ${peakUnsent} | ${MiB(samples[0].rss)} / ${MiB(peak)} / ${MiB(end)} | ${code} |`;
}

async function relu(base: string): Promise<{ ms: number; status: number }> {
  const t = performance.now();
  const res = await fetch(`${base}/v1/layers/relu`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"inputs":{"x":[1,-1,2,-2]}}' });
  await res.arrayBuffer();
  return { ms: performance.now() - t, status: res.status };
}

async function driveRelu(base: string, ms: number) {
  const lat: number[] = [];
  const statuses: Record<number, number> = {};
  for (const end = Date.now() + ms; Date.now() < end; ) {
    const r = await relu(base);
    lat.push(r.ms);
    statuses[r.status] = (statuses[r.status] ?? 0) + 1;
  }
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2);
  return { n: lat.length, perS: (lat.length / (ms / 1000)).toFixed(0), p50: q(0.5), p99: q(0.99), max: lat.at(-1)!.toFixed(1), statuses };
}

async function slowloris() {
  const { base, child } = await start({});
  const { port } = new URL(base);
  const before = await driveRelu(base, 10_000);
  const head = 'POST /v1/layers/relu HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Padding: ' + 'a'.repeat(200) + '\r\n\r\n';
  let stop = false;
  let opened = 0;
  let got408 = 0;
  let open = 0;
  const lifetimes: number[] = [];
  const loris = async () => {
    while (!stop) {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect').catch(() => undefined);
      opened++;
      open++;
      const t = Date.now();
      let i = 0;
      let answer = '';
      socket.on('data', (d) => (answer += d.toString()));
      const drip = setInterval(() => !socket.destroyed && i < head.length && socket.write(head[i++]), 1_000);
      await once(socket, 'close');
      clearInterval(drip);
      open--;
      if (answer.startsWith('HTTP/1.1 408')) got408++;
      if (!stop) lifetimes.push(Date.now() - t);
    }
  };
  const lorises = Array.from({ length: LORIS }, () => loris());
  await sleep(2_000);
  const openAtStart = open;
  const during = await driveRelu(base, (LORIS_SECONDS - 2) * 1000);
  stop = true;
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  await Promise.all(lorises);
  lifetimes.sort((a, b) => a - b);
  return [
    `| relu back to back, 10 s before | ${before.n} requests (${before.perS}/s) | p50 ${before.p50} ms, p99 ${before.p99} ms, max ${before.max} ms | ${JSON.stringify(before.statuses)} |`,
    `| relu back to back, ${LORIS_SECONDS - 2} s with ${LORIS} slowloris connections open | ${during.n} requests (${during.perS}/s) | p50 ${during.p50} ms, p99 ${during.p99} ms, max ${during.max} ms | ${JSON.stringify(during.statuses)} |`,
    `| slowloris connections | ${opened} opened (${openAtStart} open at once), ${got408} closed by the server with 408 after ${(lifetimes[Math.floor(lifetimes.length / 2)] / 1000).toFixed(1)} s (median) | exit code ${code} | |`,
  ];
}

console.log(`slow-clients: ${READERS} readers × 75 MB at ${RATE / 1000} KB/s for ${SLOW_SECONDS} s; ${LORIS} slowloris connections for ${LORIS_SECONDS} s`);
const rows = [
  '| run | answers by status (a client counts once per answer) | 200s read at once, peak | unsent bytes, peak (MiB) | server RSS start / peak / end (MiB) | exit |',
  '|---|---|---:|---:|---|---|',
  await slowReaders('defaults (MAX_UNSENT_BYTES 256 MiB)', {}),
  await slowReaders('MAX_UNSENT_BYTES=0 (no bound)', { MAX_UNSENT_BYTES: '0' }),
  '',
  '| slowloris | served | latency | statuses |',
  '|---|---|---|---|',
  ...(await slowloris()),
];
console.log(rows.join('\n'));
