/**
 * npm run bench:transport [-- --quick] [-- --rounds N]        (npm run bench runs it after bench/run.ts)
 *
 * The transport targets of issue 11, as ratios measured in one run (never pass/fail; these machines
 * are shared and noisy). The service runs as its own process (node --import tsx src/server.ts,
 * WORKERS=1 so that every ratio compares one thread with one thread), and so does the bare-fastify
 * baseline; this process is only the client, plus the in-process kernel and the PyTorch/numpy child.
 *   1. conv A fwd+bwd float32, binary over HTTP / the same kernel in-process (conv.compute)
 *   2. the same HTTP figure / PyTorch 1 thread
 *   3. conv A fwd+bwd float64, binary over HTTP / numpy im2col (OpenBLAS, 1 thread)
 *   4. conv A fwd+bwd float32, nested JSON over HTTP / in-process
 *   5. /health/live max latency while one ~64 MiB nested request is parsed, computed and encoded
 *   6. relu on 64 values, 10 connections: the service's req/s / a bare fastify route's
 * Writes bench/results/transport.md and prints it.
 */
import autocannon from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CASES, makeData, type Dtype } from './lib/cases.ts';
import { FULL, measure, median, QUICK } from './lib/measure.ts';
import { Results } from './lib/results.ts';
import { runPython } from './peers/python.ts';
import { post, postReading, startChild as start, startService } from './lib/child-service.ts';
import { conv } from '../src/layers/conv.ts';
import type { LayerTask } from '../src/layers/types.ts';

const { values: opts } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string', default: '3' } } });
/** rounds of the WORKERS=1 / WORKERS=2 alternation (issue 16 item 5) */
const rounds = Math.max(1, Number(opts.rounds) || 3);
const budget = opts.quick ? QUICK : FULL;
const log = (line: string) => console.error(`bench:transport: ${line}`);

const convA = CASES.find((c) => c.id === 'conv-A')!;
const bytesOf = (a: Float32Array | Float64Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** conv A as a framed body: JSON header with bytes tensors, then x, w, b, dout. */
function framed(dtype: Dtype): Buffer {
  const d = makeData(convA, dtype);
  const parts: Buffer[] = [];
  let offset = 0;
  const t = (a: Float32Array | Float64Array, shape: number[]) => {
    parts.push(bytesOf(a));
    offset += a.byteLength;
    return { shape, dtype, bytes: [offset - a.byteLength, offset] };
  };
  const inputs = Object.fromEntries(Object.entries(convA.shapes).map(([k, s]) => [k, t(d.inputs[k], s)]));
  const head = Buffer.from(JSON.stringify({ dtype, params: { stride: convA.stride, pad: convA.pad }, inputs, dout: t(d.dout, convA.out) }));
  return Object.assign(Buffer.concat([head, ...parts]), { headerLength: head.length });
}

function nestedText(a: Float32Array | Float64Array, shape: readonly number[]): string {
  let level: string[] = [];
  const row = shape[shape.length - 1];
  for (let o = 0; o < a.length; o += row) level.push(`[${a.subarray(o, o + row).join(',')}]`);
  for (let axis = shape.length - 2; axis >= 0; axis--) {
    const next: string[] = [];
    for (let g = 0; g < level.length; g += shape[axis]) next.push(`[${level.slice(g, g + shape[axis]).join(',')}]`);
    level = next;
  }
  return level[0];
}

function nestedConv(dtype: Dtype): Buffer {
  const d = makeData(convA, dtype);
  const inputs = Object.entries(convA.shapes).map(([k, s]) => `"${k}":${nestedText(d.inputs[k], s)}`);
  return Buffer.from(`{"dtype":"${dtype}","params":{"stride":${convA.stride},"pad":${convA.pad}},"inputs":{${inputs.join(',')}},"dout":${nestedText(d.dout, convA.out)}}`);
}

function inProcessTask(dtype: Dtype): LayerTask<any> {
  const d = makeData(convA, dtype);
  const inputs = Object.fromEntries(Object.entries(convA.shapes).map(([k, s]) => [k, { shape: s, data: d.inputs[k] }]));
  return { layer: 'conv', dtype, mode: 'train', labels: {}, state: {}, params: { stride: convA.stride, pad: convA.pad, dilation: 1, groups: 1 }, inputs, dout: { shape: convA.out, data: d.dout } };
}

async function timeHttp(url: string, body: Buffer, headers: Record<string, string>) {
  const timings: string[] = [];
  const first = await post(url, body, headers);
  if (first.status !== 200) throw new Error(`HTTP ${first.status}: ${first.body.toString('utf8', 0, 300)}`);
  const t = await measure(async () => {
    const r = await postReading(url, body, headers);
    timings.push(r.timing);
  }, budget);
  return { ...t, answerBytes: first.body.length, timing: medianTiming(timings) };
}

function medianTiming(headers: string[]): string {
  const by: Record<string, number[]> = {};
  for (const h of headers) for (const m of h.matchAll(/([\w-]+);dur=([\d.]+)/g)) (by[m[1]] ??= []).push(Number(m[2]));
  return Object.entries(by).map(([k, v]) => `${k} ${median(v).toFixed(1)}`).join(', ');
}

/**
 * Probes /health/live from a process of its own (this one holds the big body and would pause its own
 * probes for garbage collection), one keep-alive request after another with 2 ms between them, until
 * its stdin closes; then prints the count and the largest latency.
 */
const PROBER = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let stop = false, max = 0, n = 0;
process.stdin.on('end', () => (stop = true)); process.stdin.resume();
const once = () => new Promise((res, rej) => { const t = performance.now(); http.get(process.argv[1], { agent }, (r) => { r.resume(); r.on('end', () => res(performance.now() - t)); }).on('error', rej); });
(async () => { await once(); console.log('ready'); while (!stop) { const ms = await once(); max = Math.max(max, ms); n++; await new Promise((r) => setTimeout(r, 2)); } console.log(JSON.stringify({ max, n })); })();
`;

async function healthWhileBig(base: string) {
  const row = `[${Array.from({ length: 1024 }, (_, i) => (((i % 7) - 3) / 7 + 1e-12 * i).toFixed(12)).join(',')}]`;
  const rows = Math.floor((63 * 2 ** 20) / (row.length + 1));
  const body = Buffer.from(`{"inputs":{"x":[${new Array(rows).fill(row).join(',')}]}}`);
  const prober = spawn(process.execPath, ['-e', PROBER, `${base}/health/live`], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const ready = new Promise<void>((resolve) => prober.stdout!.on('data', (b: Buffer) => ((out += b), out.includes('ready') && resolve())));
  const done = new Promise<void>((resolve) => prober.once('exit', () => resolve()));
  await ready;
  const t0 = performance.now();
  const answer = await post(`${base}/v1/layers/relu`, body, { 'content-type': 'application/json' });
  const requestMs = performance.now() - t0;
  prober.stdin!.end();
  await done;
  if (answer.status !== 200) throw new Error(`big request: HTTP ${answer.status}`);
  const { max, n } = JSON.parse(out.slice(out.indexOf('{'))) as { max: number; n: number };
  return { maxMs: max, probes: n, requestMs, mib: body.length / 2 ** 20, timing: answer.timing };
}

async function reqPerSec(url: string, body: string, seconds: number): Promise<number> {
  // A warm-up first: the first second runs before the JIT has compiled the path (a third of the rate).
  await autocannon({ url, method: 'POST', connections: 10, duration: 2, headers: { 'content-type': 'application/json' }, body });
  const r = await autocannon({ url, method: 'POST', connections: 10, duration: seconds, headers: { 'content-type': 'application/json' }, body });
  if (r.non2xx) throw new Error(`${url}: ${r.non2xx} non-2xx answers`);
  return r.requests.average;
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));

async function main() {
  const load0 = loadavg()[0];
  log('starting the service (WORKERS=1) and the bare fastify baseline, each in its own process');
  const service = await start(['--import', 'tsx', 'src/server.ts'], { PORT: '0', HOST: '127.0.0.1', WORKERS: '1', LOG_LEVEL: 'info', BODY_LIMIT_BYTES: String(512 << 20), MAX_EVENT_LOOP_DELAY_MS: '0' }, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/);
  const bare = await start(['--import', 'tsx', 'bench/lib/bare-fastify.ts'], {}, /listening (http:\/\/127\.0\.0\.1:\d+)/);
  try {
    const convUrl = `${service.url}/v1/layers/conv`;
    log('conv A over HTTP, binary float32 and float64, nested float32');
    const f32 = framed('float32');
    const f64 = framed('float64');
    const headersOf = (b: Buffer) => ({ 'inference-header-content-length': String((b as Buffer & { headerLength: number }).headerLength) });
    const http32 = await timeHttp(convUrl, f32, headersOf(f32));
    const http64 = await timeHttp(convUrl, f64, headersOf(f64));
    const nested = nestedConv('float32');
    const nested32 = await timeHttp(convUrl, nested, { 'content-type': 'application/json' });

    log('the same kernel in this process');
    const task32 = inProcessTask('float32');
    const local32 = await measure(() => conv.compute(task32), budget);

    log('PyTorch and numpy, one thread (bench/peers/torch_bench.py)');
    const results = new Results();
    await runPython({ cases: [convA], data: (c, dt) => makeData(c, dt), budget, quick: opts.quick, round: 1, results, log });
    const torch32 = results.get('torch', 'conv-A', 'float32', 'fwd+bwd')?.ms;
    const numpy64 = results.get('numpy', 'conv-A', 'float64', 'fwd+bwd')?.ms;

    log('/health/live while a 63 MiB nested request runs');
    const health = await healthWhileBig(service.url);

    log('relu on 64 values, 10 connections');
    const small = JSON.stringify({ inputs: { x: Array.from({ length: 64 }, (_, i) => i - 32) } });
    const seconds = opts.quick ? 3 : 8;
    const svcRps = await reqPerSec(`${service.url}/v1/layers/relu`, small, seconds);
    const bareRps = await reqPerSec(`${bare.url}/relu`, small, seconds);

    // Issue 16 item 5: both cores on one big request, end to end (the service splits conv A along N).
    // WORKERS=1 and WORKERS=2 are timed in alternation, `--rounds` rounds (3), each figure the lowest median,
    // so that a change in the machine's load hits both alike; the bare /bytes route gives the floor:
    // the same bytes moved over HTTP with no work at all.
    log('conv A over HTTP with WORKERS=1 and WORKERS=2 in alternation (binary float32 and float64), and the bare byte mover');
    const two = await startService({ WORKERS: '2', MAX_EVENT_LOOP_DELAY_MS: '0', BODY_LIMIT_BYTES: String(512 << 20) });
    const best = { one32: Infinity, two32: Infinity, one64: Infinity, two64: Infinity, floor32: Infinity, floor64: Infinity };
    let two32 = http32;
    let two64 = http64;
    try {
      const octet = { 'content-type': 'application/octet-stream' };
      for (let round = 0; round < rounds; round++) {
        best.one32 = Math.min(best.one32, (await timeHttp(convUrl, f32, headersOf(f32))).ms);
        two32 = await timeHttp(`${two.url}/v1/layers/conv`, f32, headersOf(f32));
        best.two32 = Math.min(best.two32, two32.ms);
        best.floor32 = Math.min(best.floor32, (await timeHttp(`${bare.url}/bytes`, f32, octet)).ms);
        best.one64 = Math.min(best.one64, (await timeHttp(convUrl, f64, headersOf(f64))).ms);
        two64 = await timeHttp(`${two.url}/v1/layers/conv`, f64, headersOf(f64));
        best.two64 = Math.min(best.two64, two64.ms);
        best.floor64 = Math.min(best.floor64, (await timeHttp(`${bare.url}/bytes`, f64, octet)).ms);
      }
    } finally {
      two.child.kill('SIGTERM');
    }
    // What is left of the request once the bytes have moved: the part two workers can share.
    const ideal = (one: number, floor: number) => one / (floor + (one - floor) / 2);

    const ratio = (a: number, b: number | undefined) => (b ? `${(a / b).toFixed(2)}×` : 'n/a');
    const lines = [
      `# Transport targets (issue 11): one run of \`npm run bench:transport${opts.quick || rounds !== 3 ? ' --' : ''}${opts.quick ? ' --quick' : ''}${rounds !== 3 ? ` --rounds ${rounds}` : ''}\``,
      '',
      `${new Date().toISOString()}; ${availableParallelism()} cores, load average ${load0.toFixed(1)} at the start and ${loadavg()[0].toFixed(1)} at the end ` +
        '(other work shares these cores: figures are noisy; only ratios from the same run mean anything). ' +
        'The service runs in its own process with WORKERS=1; this process is the client (keep-alive node:http, answers read into one reused buffer) and runs the in-process kernel.',
      '',
      '| what | measured | ratio | target | moonshot |',
      '|---|---|---:|---:|---:|',
      `| conv A fwd+bwd float32, binary over HTTP / the same kernel in-process | ${fmt(http32.ms)} ms / ${fmt(local32.ms)} ms | ${ratio(http32.ms, local32.ms)} | ≤ 1.3× | ≤ 1.1× |`,
      `| conv A fwd+bwd float32, binary over HTTP / PyTorch 1 thread | ${fmt(http32.ms)} ms / ${torch32 ? fmt(torch32) : 'n/a'} ms | ${ratio(http32.ms, torch32)} | ≤ 2.5× | ≤ 1.5× |`,
      `| conv A fwd+bwd float64, binary over HTTP / numpy im2col (OpenBLAS, 1 thread) | ${fmt(http64.ms)} ms / ${numpy64 ? fmt(numpy64) : 'n/a'} ms | ${ratio(http64.ms, numpy64)} | ≤ 1× | ≤ 0.7× |`,
      `| conv A fwd+bwd float32, nested JSON over HTTP / in-process | ${fmt(nested32.ms)} ms / ${fmt(local32.ms)} ms | ${ratio(nested32.ms, local32.ms)} | ≤ 12× | ≤ 6× |`,
      `| /health/live max latency while one ${health.mib.toFixed(0)} MiB nested request is parsed, computed and encoded | ${fmt(health.maxMs)} ms (${health.probes} probes from their own process during ${fmt(health.requestMs)} ms) | | ≤ 50 ms | ≤ 10 ms |`,
      `| relu on 64 values, 10 connections: req/s / a bare fastify route in-process | ${svcRps.toFixed(0)} / ${bareRps.toFixed(0)} req/s | ${(svcRps / bareRps).toFixed(2)} | ≥ 0.3 | ≥ 0.5 |`,
      '',
      'Both cores on one request (issue 16 item 5: the time with one worker / with two, client in its own process; ' +
        `timed in alternation, ${rounds} rounds, lowest median of each). "Bytes alone": a bare fastify route that reads the same body and ` +
        'answers as many bytes (no work); "at best" is WORKERS=1 / (bytes alone + half of the rest), what two workers could give if ' +
        'everything but moving the bytes were halved:',
      '',
      '| what | WORKERS=1 | WORKERS=2 | ratio | bytes alone | at best | target |',
      '|---|---:|---:|---:|---:|---:|---:|',
      `| conv A fwd+bwd float32, binary over HTTP | ${fmt(best.one32)} ms | ${fmt(best.two32)} ms | ${ratio(best.one32, best.two32)} | ${fmt(best.floor32)} ms | ${ideal(best.one32, best.floor32).toFixed(2)}× | ≥ 1.6× |`,
      `| conv A fwd+bwd float64, binary over HTTP | ${fmt(best.one64)} ms | ${fmt(best.two64)} ms | ${ratio(best.one64, best.two64)} | ${fmt(best.floor64)} ms | ${ideal(best.one64, best.floor64).toFixed(2)}× | ≥ 1.5× |`,
      `- WORKERS=2 Server-Timing medians (last round): float32 ${two32.timing}; float64 ${two64.timing}`,
      '',
      'Server-Timing medians (ms):',
      `- binary float32 (${(f32.length / 2 ** 20).toFixed(1)} MiB in, ${(http32.answerBytes / 2 ** 20).toFixed(1)} MiB out): ${http32.timing}`,
      `- binary float64 (${(f64.length / 2 ** 20).toFixed(1)} MiB in, ${(http64.answerBytes / 2 ** 20).toFixed(1)} MiB out): ${http64.timing}`,
      `- nested float32 (${(nested.length / 2 ** 20).toFixed(1)} MiB in, ${(nested32.answerBytes / 2 ** 20).toFixed(1)} MiB out): ${nested32.timing}`,
      `- the ${health.mib.toFixed(0)} MiB nested relu: ${health.timing}`,
      ...results.info.map((l) => `- ${l}`),
    ];
    const text = lines.join('\n') + '\n';
    mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('./results/transport.md', import.meta.url), text);
    console.log(text);
  } finally {
    service.child.kill('SIGTERM');
    bare.child.kill('SIGTERM');
  }
}

await main();
