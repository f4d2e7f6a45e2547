/**
 * npm run bench:network [-- --quick] [-- --only digits] [-- --rounds N]
 *
 * One training step of cs231n's three-layer convnet (conv - relu - 2x2 max pool - affine - relu -
 * affine - softmax, L2 reg, adam), timed in one run as:
 *   - kernels: the sum of each layer's own forward+backward call (its definition's compute with
 *     dout, what POST /v1/layers/{layer} runs) on that layer's real input, plus adam over every tensor;
 *   - step in-process: the network step the worker runs (src/networks/step.ts: forward with caches,
 *     backward-only kernels, reg, adam), in this thread;
 *   - step, naive chain: the same with every layer's backward as its compute with dout (each forward
 *     runs twice), what the network step avoids;
 *   - HTTP: POST /v1/networks/step with update to a service on loopback (1 worker), framed binary and
 *     base64 bodies, from the call until the whole answer has arrived;
 *   - PyTorch, one thread: forward, backward and torch.optim.Adam (bench/peers/torch_network.py).
 * Everything is timed `--rounds` times (default 3; --quick 1), each cell keeping its lowest median,
 * as bench/run.ts does. Medians and ratios only, never pass/fail: the machine is shared and noisy. Writes
 * bench/results/network.md and prints it.
 */
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Dtype, Tensor } from '../src/kernels/types.ts';
import { findLayer } from '../src/layers/registry.ts';
import type { LayerTask } from '../src/layers/types.ts';
import { key, type NetworkPlan, type PlannedLayer } from '../src/networks/plan.ts';
import { runStep } from '../src/networks/step.ts';
import { findRule } from '../src/optimizers/registry.ts';
import { randn } from '../src/util/random.ts';
import { environment, loadLine } from './lib/env.ts';
import { FULL, measure, median, QUICK, type Budget } from './lib/measure.ts';
import { post, startService } from './lib/child-service.ts';

const { values: opts } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, rounds: { type: 'string' } } });
const rounds = Math.max(1, Number(opts.rounds ?? (opts.quick ? 1 : 3)));
const budget: Budget = opts.quick ? QUICK : FULL;
const log = (line: string) => console.error(`bench: ${line}`);

interface NetCase {
  id: string;
  what: string;
  N: number;
  C: number;
  H: number;
  W: number;
  filters: number;
  size: number;
  hidden: number;
  classes: number;
}

const CASES: NetCase[] = [
  { id: 'digits', what: 'batch 64 of 1x8x8, 16 filters 3x3, hidden 64', N: 64, C: 1, H: 8, W: 8, filters: 16, size: 3, hidden: 64, classes: 10 },
  { id: 'cifar', what: 'batch 50 of 3x32x32, 32 filters 7x7, hidden 100 (cs231n)', N: 50, C: 3, H: 32, W: 32, filters: 32, size: 7, hidden: 100, classes: 10 },
];
const DTYPES: Dtype[] = ['float32', 'float64'];
const REG = 1e-3;

const LAYERS = (c: NetCase) => [
  { layer: 'conv', name: 'conv1', params: { pad: c.size >> 1 }, inputs: { w: 'W1', b: 'b1' } },
  { layer: 'relu' },
  { layer: 'max-pool', name: 'pool1', params: { poolHeight: 2, poolWidth: 2 } },
  { layer: 'affine', name: 'fc1', inputs: { w: 'W2', b: 'b2' } },
  { layer: 'relu' },
  { layer: 'affine', name: 'fc2', inputs: { w: 'W3', b: 'b3' } },
  { layer: 'softmax-loss' },
];

interface NetData {
  params: Record<string, Tensor>;
  x: Tensor;
  y: Int32Array;
}

function makeData(c: NetCase, dtype: Dtype): NetData {
  let seed = 1;
  const t = (shape: number[], scale: number): Tensor => {
    const d = randn(shape.reduce((a, b) => a * b, 1), seed++, scale);
    return { shape, data: dtype === 'float32' ? Float32Array.from(d) : d };
  };
  const pooled = c.filters * (c.H >> 1) * (c.W >> 1);
  return {
    params: {
      W1: t([c.filters, c.C, c.size, c.size], Math.sqrt(2 / (c.C * c.size * c.size))),
      b1: t([c.filters], 0.01),
      W2: t([pooled, c.hidden], Math.sqrt(2 / pooled)),
      b2: t([c.hidden], 0.01),
      W3: t([c.hidden, c.classes], Math.sqrt(2 / c.hidden)),
      b3: t([c.classes], 0.01),
    },
    x: t([c.N, c.C, c.H, c.W], 1),
    y: Int32Array.from({ length: c.N }, (_, i) => (i * 7) % c.classes),
  };
}

/** The worker's task for a step, built as prepare.ts builds it (the bench skips the wire). */
function stepTask(c: NetCase, d: NetData, dtype: Dtype): LayerTask<NetworkPlan> {
  const layers: PlannedLayer[] = LAYERS(c).map((l, index) => {
    const def = findLayer(l.layer)!;
    return { index, kind: l.layer, name: l.name, params: def.params.parse(l.params ?? {}), bind: l.inputs ?? {}, hasState: false, stateful: false, stateKeys: [], loss: !!def.loss };
  });
  const inputs: Record<string, Tensor> = { [key.x]: d.x };
  for (const [n, t] of Object.entries(d.params)) inputs[key.param(n)] = t;
  const rule = findRule('adam')!;
  return {
    layer: 'network-step',
    dtype,
    mode: 'train',
    params: {
      op: 'step',
      layers,
      tensors: Object.keys(d.params),
      loss: true,
      reg: REG,
      regularized: ['W1', 'W2', 'W3'],
      update: { rule: 'adam', params: rule.params.parse({}), integers: {} },
    },
    inputs,
    labels: { y: d.y },
    state: {},
  };
}

/** Each layer's task as the layer routes would run it: its real input, its bound tensors, a dout like its output. */
function layerTasks(task: LayerTask<NetworkPlan>): { name: string; run: () => unknown }[] {
  const out: { name: string; run: () => unknown }[] = [];
  let x = task.inputs[key.x];
  for (const l of task.params.layers) {
    const def = findLayer(l.kind)!;
    const inputs: Record<string, Tensor> = { x };
    for (const [i, n] of Object.entries(l.bind)) inputs[i] = task.inputs[key.param(n)];
    const t: LayerTask = { layer: l.kind, dtype: task.dtype, mode: 'train', params: l.params, inputs, labels: l.loss ? task.labels : {}, state: {} };
    if (l.loss) {
      out.push({ name: l.kind, run: () => def.compute(t) });
      break;
    }
    const fwd = def.compute(t).out!;
    const dout: Tensor = { shape: fwd.shape, data: fwd.data.map((_, i) => Math.sin(i) * 1e-2) };
    out.push({ name: l.kind, run: () => def.compute({ ...t, dout }) });
    x = fwd;
  }
  return out;
}

/** A network step with every layer's backward as its compute with dout: each forward runs twice. */
function naiveStep(task: LayerTask<NetworkPlan>): number {
  const tasks: LayerTask[] = [];
  let x = task.inputs[key.x];
  let loss = 0;
  let dout: Tensor | undefined;
  for (const l of task.params.layers) {
    const def = findLayer(l.kind)!;
    const inputs: Record<string, Tensor> = { x };
    for (const [i, n] of Object.entries(l.bind)) inputs[i] = task.inputs[key.param(n)];
    const t: LayerTask = { layer: l.kind, dtype: task.dtype, mode: 'train', params: l.params, inputs, labels: l.loss ? task.labels : {}, state: {} };
    const r = def.compute(t);
    if (l.loss) {
      loss = r.loss!;
      dout = r.grads!.x;
      break;
    }
    tasks.push(t);
    x = r.out!;
  }
  for (let i = tasks.length - 1; i >= 0; i--) dout = findLayer(tasks[i].layer)!.compute({ ...tasks[i], dout }).grads!.x;
  return loss;
}

function adamAll(task: LayerTask<NetworkPlan>): void {
  const rule = findRule('adam')!;
  const p = rule.params.parse({});
  for (const n of task.params.tensors) {
    const w = task.inputs[key.param(n)].data;
    rule.step(w, w, p, {});
  }
}

/** The HTTP body: framed binary (tensors' bytes after the JSON header) or base64 JSON. */
function httpBody(c: NetCase, d: NetData, dtype: Dtype, form: 'binary' | 'base64'): { body: Buffer; headers: Record<string, string> } {
  const chunks: Buffer[] = [];
  let offset = 0;
  const wire = (t: Tensor) => {
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (form === 'base64') return { shape: t.shape, dtype, b64: bytes.toString('base64') };
    chunks.push(bytes);
    offset += bytes.length;
    return { shape: t.shape, dtype, bytes: [offset - bytes.length, offset] };
  };
  const json = {
    dtype,
    layers: LAYERS(c),
    params: Object.fromEntries(Object.entries(d.params).map(([n, t]) => [n, wire(t)])),
    x: wire(d.x),
    y: Array.from(d.y),
    reg: REG,
    update: { rule: 'adam' },
  };
  const head = Buffer.from(JSON.stringify(json));
  if (form === 'base64') return { body: head, headers: { 'content-type': 'application/json' } };
  return { body: Buffer.concat([head, ...chunks]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(head.length) } };
}

const timingParts = (h: string | null) => Object.fromEntries((h ?? '').split(',').map((p) => /^\s*([\w-]+);dur=([\d.]+)/.exec(p)).filter(Boolean).map((m) => [m![1], Number(m![2])]));

async function torchPeer(cases: NetCase[]): Promise<{ info: string[]; ms: Map<string, number>; note?: string }> {
  const script = fileURLToPath(new URL('./peers/torch_network.py', import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  const child = spawn('/usr/bin/python3', [script], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b));
  child.stderr.on('data', (b: Buffer) => ((stderr += b), log(`python: ${String(b).trim()}`)));
  child.on('error', () => {});
  child.stdin.end(JSON.stringify({ cases: cases.flatMap((c) => DTYPES.map((dtype) => ({ ...c, dtype }))), budget, rounds }));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    const a = JSON.parse(stdout) as { info: string[]; samples: { id: string; dtype: string; ms: number }[] };
    return { info: a.info, ms: new Map(a.samples.map((s) => [`${s.id}/${s.dtype}`, s.ms])) };
  } catch {
    return { info: [], ms: new Map(), note: `torch_network.py failed (exit ${code}): ${stderr.trim().split('\n').at(-1) ?? ''}` };
  }
}

async function main() {
  const cases = opts.only ? CASES.filter((c) => opts.only!.split(',').includes(c.id)) : CASES;
  const started = new Date().toISOString();
  const load0 = loadLine();
  const rows: Record<string, number | string>[] = [];
  const detail: string[] = [];

  // The service in a process of its own, one worker, as `npm start` runs it (request logs included).
  const service = await startService({ MAX_EVENT_LOOP_DELAY_MS: '0' });
  const url = service.url;

  const cells = new Map<string, Record<string, number | string>>();
  const details = new Map<string, string>();
  const keep = (row: Record<string, number | string>, col: string, ms: number) => {
    const old = row[col];
    row[col] = typeof old === 'number' ? Math.min(old, ms) : ms;
  };
  for (let round = 1; round <= rounds; round++) {
    for (const c of cases) {
      for (const dtype of DTYPES) {
        const id = `${c.id}/${dtype}`;
        const row = cells.get(id) ?? { case: c.id, dtype };
        cells.set(id, row);
        const d = makeData(c, dtype);
        const task = stepTask(c, d, dtype);
        log(`round ${round}/${rounds} ${c.id} ${dtype}: kernels`);
        const parts: string[] = [];
        let sum = 0;
        for (const l of layerTasks(task)) {
          const t = await measure(l.run, budget);
          sum += t.ms;
          parts.push(`${l.name} ${t.ms.toFixed(3)}`);
        }
        const adam = (await measure(() => adamAll(task), budget)).ms;
        if (typeof row.kernels !== 'number' || sum < row.kernels) details.set(id, `${c.id} ${dtype}: per layer (forward+backward, ms): ${parts.join(', ')}; adam over every tensor ${adam.toFixed(3)}`);
        keep(row, 'kernels', sum);
        keep(row, 'adam', adam);
        log(`round ${round}/${rounds} ${c.id} ${dtype}: step in-process`);
        keep(row, 'step', (await measure(() => runStep(task, findLayer), budget)).ms);
        keep(row, 'naive', (await measure(() => {
          naiveStep(task);
          adamAll(task);
        }, budget)).ms);
        for (const form of ['binary', 'base64'] as const) {
          log(`round ${round}/${rounds} ${c.id} ${dtype}: HTTP ${form}`);
          const { body, headers } = httpBody(c, d, dtype, form);
          const kernel: number[] = [];
          const parts = new Map<string, number[]>();
          const t = await measure(async () => {
            const res = await post(`${url}/v1/networks/step`, body, headers);
            if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
            const timing = timingParts(res.timing);
            kernel.push(timing.kernel);
            for (const [k, v] of Object.entries(timing)) parts.set(k, [...(parts.get(k) ?? []), v]);
          }, budget);
          keep(row, `http ${form}`, t.ms);
          if (form === 'binary') keep(row, 'kernel (Server-Timing)', median(kernel));
          const where = [...parts].map(([k, v]) => `${k} ${median(v).toFixed(3)}`).join(', ');
          details.set(`${id}/${form}`, `${c.id} ${dtype} HTTP ${form}: Server-Timing medians (ms): ${where}; body ${(body.length / 1024).toFixed(0)} KiB`);
        }
      }
    }
  }
  rows.push(...cells.values());
  detail.push(...details.values());

  // In-process, interleaved: one run of each in turn, many times, keeping each one's minimum. Under
  // contention a minimum is the least disturbed figure, and interleaving exposes all three alike.
  const interleaved: string[] = [];
  for (const c of cases) {
    for (const dtype of DTYPES) {
      const task = stepTask(c, makeData(c, dtype), dtype);
      const layersCalls = layerTasks(task);
      const reps = Math.max(3, Math.round((opts.quick ? 300 : 1500) / Math.max(1, (cells.get(`${c.id}/${dtype}`)!.kernels as number) * 3)));
      log(`interleaved ${c.id} ${dtype}: ${reps} runs`);
      let kernels = Infinity;
      let step = Infinity;
      let naive = Infinity;
      const time = (f: () => unknown) => {
        const t = performance.now();
        f();
        return performance.now() - t;
      };
      for (let r = 0; r < reps; r++) {
        let sum = 0;
        for (const l of layersCalls) sum += time(l.run);
        kernels = Math.min(kernels, sum + time(() => adamAll(task)));
        step = Math.min(step, time(() => runStep(task, findLayer)));
        naive = Math.min(naive, time(() => (naiveStep(task), adamAll(task))));
      }
      interleaved.push(`| ${c.id} | ${dtype} | ${reps} | ${kernels.toFixed(3)} | ${step.toFixed(3)} | ${naive.toFixed(3)} | ${(step / kernels).toFixed(2)}× | ${(naive / step).toFixed(2)}× |`);
    }
  }
  service.child.kill('SIGTERM');
  log('torch');
  const torch = await torchPeer(cases);
  for (const row of rows) row.torch = torch.ms.get(`${row.case}/${row.dtype}`) ?? NaN;

  const f = (v: number | string) => (typeof v === 'number' ? (Number.isNaN(v) ? '—' : v.toFixed(3)) : v);
  const ratio = (a: number | string, b: number | string) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
  const lines = [
    '# One training step of the three-layer convnet: service vs kernels vs PyTorch',
    '',
    `Run ${started}, ${opts.quick ? 'quick budget' : 'full budget'}, ${rounds} round${rounds > 1 ? 's' : ''} (each cell: its lowest median); load ${load0} at start, ${loadLine()} at end. Medians in ms.`,
    'The machine is shared (2 cores, several sessions at once): figures move between runs; compare ratios within a run.',
    '',
    ...(await environment()).map((l) => `- ${l}`),
    ...torch.info.map((l) => `- ${l}`),
    ...(torch.note ? [`- ${torch.note}`] : []),
    '',
    'Cases: ' + cases.map((c) => `${c.id} = ${c.what}`).join('; ') + `. Every step: softmax loss, reg ${REG}, adam.`,
    '',
    '| case | dtype | layer kernels (sum) | + adam | step in-process | naive chain | HTTP binary | HTTP base64 | kernel (Server-Timing) | PyTorch 1 thread | HTTP binary / (kernels + adam) | HTTP binary / PyTorch | naive / step |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => {
      const kernelsAdam = (r.kernels as number) + (r.adam as number);
      return `| ${r.case} | ${r.dtype} | ${f(r.kernels)} | ${f(kernelsAdam)} | ${f(r.step)} | ${f(r.naive)} | ${f(r['http binary'])} | ${f(r['http base64'])} | ${f(r['kernel (Server-Timing)'])} | ${f(r.torch)} | ${ratio(r['http binary'], kernelsAdam)} | ${ratio(r['http binary'], r.torch)} | ${ratio(r.naive, r.step)} |`;
    }),
    '',
    'Columns: *layer kernels* sums each layer\'s forward+backward call as POST /v1/layers/{layer} runs it (softmax-loss: its one call), on that layer\'s real input; *+ adam* adds the update of every tensor. ' +
      '*step in-process* is the worker\'s network step (forward keeping caches, backward-only kernels, reg, adam) in this thread; *naive chain* computes the same with every layer\'s backward as its forward+backward call (each forward twice). ' +
      '*HTTP* is the whole round trip to a 1-worker service on loopback, request bodies built beforehand; *kernel (Server-Timing)* is the step\'s compute on the worker as the service reports it. ' +
      'Targets (issue 14): HTTP / kernels ≤ 1.2×, HTTP / PyTorch ≤ 3×.',
    '',
    ...detail.map((l) => `- ${l}`),
    '',
    'In-process, interleaved (each run of the three in turn, the minimum of each over the runs):',
    '',
    '| case | dtype | runs | layer kernels + adam | step in-process | naive chain | step / kernels | naive / step |',
    '|---|---|---|---|---|---|---|---|',
    ...interleaved,
    '',
  ];
  const text = lines.join('\n');
  writeFileSync(new URL(`./results/${opts.quick || opts.only ? 'network-partial' : 'network'}.md`, import.meta.url), text);
  console.log(text);
}

await main();
