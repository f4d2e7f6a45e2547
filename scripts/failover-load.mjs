#!/usr/bin/env node
// Steady mixed load for scripts/failover.sh: node built-ins only, so it runs on any host with node.
//
//   node scripts/failover-load.mjs URL [RATE=60] [CONCURRENCY=16]
//
// Sends about RATE requests/s over CONCURRENCY keep-alive connections to URL until SIGINT or SIGTERM,
// then prints one JSON line: requests, statuses, transport errors, failures (anything but 200) with
// the second they happened in, and latency percentiles per kind of request. The mix covers the cheap
// and the expensive: small requests of every family that HAProxy can retry (they fit in its 64 KiB
// buffer), a medium conv in nested JSON that also fits, and a large conv in base64 (about 180 KB) that
// does not, so it is sent once and only the service's graceful shutdown keeps it from failing.
const [url = 'http://127.0.0.1:8090', rateArg = '60', concArg = '16'] = process.argv.slice(2);
const RATE = Number(rateArg);
const CONCURRENCY = Number(concArg);

// deterministic pseudo-random values (a small LCG): the same requests on every run
let seed = 12345;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const values = (n) => Array.from({ length: n }, () => Number(rnd().toFixed(4)));
const nest = (flat, shape) =>
  shape.length === 1 ? flat : Array.from({ length: shape[0] }, (_, i) => nest(flat.slice((i * flat.length) / shape[0], ((i + 1) * flat.length) / shape[0]), shape.slice(1)));
const tensor = (shape) => nest(values(shape.reduce((a, b) => a * b)), shape);
const b64 = (shape) => {
  const n = shape.reduce((a, b) => a * b);
  const f = new Float32Array(n);
  for (let i = 0; i < n; i++) f[i] = rnd();
  return { shape, dtype: 'float32', b64: Buffer.from(f.buffer).toString('base64') };
};

const KINDS = [
  { kind: 'relu', weight: 30, layer: 'relu', body: { inputs: { x: { shape: [64], data: values(64) } } } },
  { kind: 'affine', weight: 20, layer: 'affine', body: { inputs: { x: tensor([4, 8]), w: tensor([8, 5]), b: values(5) }, dout: tensor([4, 5]) } },
  {
    kind: 'conv-small',
    weight: 15,
    layer: 'conv',
    body: { inputs: { x: tensor([2, 3, 8, 8]), w: tensor([4, 3, 3, 3]), b: values(4) }, params: { pad: 1 }, dout: tensor([2, 4, 8, 8]) },
  },
  { kind: 'max-pool', weight: 10, layer: 'max-pool', body: { inputs: { x: tensor([2, 3, 8, 8]) }, params: { poolHeight: 2, poolWidth: 2 }, dout: tensor([2, 3, 4, 4]) } },
  {
    kind: 'batchnorm',
    weight: 10,
    layer: 'batchnorm',
    body: { mode: 'train', inputs: { x: tensor([16, 8]), gamma: values(8), beta: values(8) }, state: { runningMean: values(8), runningVar: values(8).map(Math.abs) }, dout: tensor([16, 8]) },
  },
  { kind: 'softmax-loss', weight: 5, layer: 'softmax-loss', body: { inputs: { x: tensor([8, 10]), y: [0, 1, 2, 3, 4, 5, 6, 7] } } },
  {
    kind: 'conv-medium',
    weight: 5,
    layer: 'conv',
    body: { inputs: { x: tensor([2, 8, 12, 12]), w: tensor([8, 8, 3, 3]), b: values(8) }, params: { pad: 1 } },
  },
  {
    kind: 'conv-large-b64',
    weight: 5,
    layer: 'conv',
    body: { dtype: 'float32', inputs: { x: b64([8, 16, 16, 16]), w: b64([16, 16, 3, 3]), b: b64([16]) }, params: { pad: 1 }, dout: b64([8, 16, 16, 16]) },
  },
].map((k) => ({ ...k, json: JSON.stringify(k.body) }));
const totalWeight = KINDS.reduce((s, k) => s + k.weight, 0);
const pick = () => {
  let r = Math.random() * totalWeight;
  for (const k of KINDS) if ((r -= k.weight) < 0) return k;
  return KINDS[0];
};

const started = performance.now();
const stats = { requests: 0, statuses: {}, errors: {}, failures: [], latency: {}, samples: {} };
let running = true;

async function one() {
  const k = pick();
  const t0 = performance.now();
  let outcome;
  try {
    const res = await fetch(`${url}/v1/layers/${k.layer}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: k.json,
      signal: AbortSignal.timeout(70_000),
    });
    const body = await res.text();
    outcome = res.status;
    // the first answer of each failing status, to tell who refused (HAProxy or a replica) and why
    if (res.status !== 200 && !(res.status in stats.samples)) stats.samples[res.status] = `${res.headers.get('content-type')}: ${body.slice(0, 300)}`;
    stats.statuses[res.status] = (stats.statuses[res.status] ?? 0) + 1;
  } catch (e) {
    outcome = e.cause?.code ?? e.code ?? e.name;
    stats.errors[outcome] = (stats.errors[outcome] ?? 0) + 1;
  }
  stats.requests++;
  (stats.latency[k.kind] ??= []).push(performance.now() - t0);
  if (outcome !== 200) stats.failures.push({ at_s: Number(((t0 - started) / 1000).toFixed(2)), kind: k.kind, outcome });
}

async function worker(i) {
  const period = (CONCURRENCY / RATE) * 1000;
  let next = performance.now() + (i * period) / CONCURRENCY;
  while (running) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (!running) break;
    await one();
    next = Math.max(next + period, performance.now());
  }
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? Number(s[Math.min(s.length - 1, Math.floor(p * s.length))].toFixed(1)) : null;
};

const workers = Array.from({ length: CONCURRENCY }, (_, i) => worker(i));
const stop = async () => {
  running = false;
  await Promise.all(workers); // requests in flight finish and are counted
  const seconds = (performance.now() - started) / 1000;
  const latency = Object.fromEntries(
    KINDS.map((k) => [k.kind, { n: stats.latency[k.kind]?.length ?? 0, p50_ms: pct(stats.latency[k.kind] ?? [], 0.5), p99_ms: pct(stats.latency[k.kind] ?? [], 0.99), bytes: k.json.length }]),
  );
  const all = Object.values(stats.latency).flat();
  console.log(
    JSON.stringify({
      url,
      p50_ms: pct(all, 0.5),
      p99_ms: pct(all, 0.99),
      max_ms: all.length ? Number(Math.max(...all).toFixed(1)) : null,
      over_1s: all.filter((x) => x > 1000).length,
      seconds: Number(seconds.toFixed(1)),
      requests: stats.requests,
      rate: Number((stats.requests / seconds).toFixed(1)),
      statuses: stats.statuses,
      errors: stats.errors,
      failed: stats.failures.length,
      samples: stats.samples,
      failures: stats.failures,
      latency,
    }),
  );
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
