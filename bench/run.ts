/**
 * npm run bench:kernels [-- --quick] [-- --only conv,affine]   (npm run bench runs it with no flags, then transport and network)
 *
 * One run times, for every case in bench/lib/cases.ts, float32 and float64, forward and forward +
 * backward: our kernels in this thread; the service over HTTP (base64 and nested bodies); and the
 * peers — tfjs CPU and wasm, onnxruntime-node (bench/peers, its own package), PyTorch and numpy
 * (Debian's /usr/bin/python3). A missing peer or an unfinished kernel is a note in the table.
 * Writes bench/results/latest.md (a --quick or --only run writes partial.md instead) and prints it.
 *
 *   --quick        fewer repetitions, skips tfjs CPU's minute-long conv backward: a smoke run
 *   --only LIST    families (conv, pool, affine, norm), kinds (max-pool, …) or case ids (conv-A, …)
 *   --rounds N     repeat everything N times, each cell keeping its lowest median (default 2; --quick 1)
 *   --no-http, --no-peers   leave those sections out
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CASES, DTYPES, FAMILY, makeData, PASSES, type Case, type CaseData, type Dtype } from './lib/cases.ts';
import { environment, loadLine, srcFingerprint } from './lib/env.ts';
import { ENCODINGS, LAYER, poster, requestBody, startService } from './lib/http.ts';
import { FULL, measure, QUICK, type Budget } from './lib/measure.ts';
import { firstLine, ourRunner, Skip } from './lib/ours.ts';
import { report, type PageFaults } from './lib/report.ts';
import { Results, type PeerContext } from './lib/results.ts';
import { runOnnx } from './peers/onnx.ts';
import { runPython } from './peers/python.ts';
import { runTfjs } from './peers/tfjs.ts';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-http': { type: 'boolean', default: false },
    'no-peers': { type: 'boolean', default: false },
    rounds: { type: 'string' },
  },
});

const only = opts.only?.split(',').map((s) => s.trim()).filter(Boolean);
const cases = only ? CASES.filter((c) => only.some((w) => w === c.id || w === c.kind || w === FAMILY[c.kind])) : CASES;
if (cases.length === 0) {
  console.error(`--only ${opts.only}: no case matches; use ${[...new Set(Object.values(FAMILY))].join(', ')}, a kind or a case id`);
  process.exit(2);
}
const budget: Budget = opts.quick ? QUICK : FULL;
const rounds = Math.max(1, Number(opts.rounds ?? (opts.quick ? 1 : 2)));
const log = (line: string) => console.error(`bench: ${line}`);
const results = new Results();

const dataCache = new Map<string, CaseData>();
function data(c: Case, dtype: Dtype): CaseData {
  const key = `${c.id}/${dtype}`;
  let d = dataCache.get(key);
  if (!d) dataCache.set(key, (d = makeData(c, dtype)));
  return d;
}

async function ours(): Promise<void> {
  for (const c of cases) {
    for (const dtype of DTYPES) {
      let runner;
      try {
        runner = await ourRunner(c, data(c, dtype));
      } catch (e) {
        const note = e instanceof Skip ? e.message : `failed: ${firstLine(e)}`;
        for (const pass of PASSES) results.add({ impl: 'ours', caseId: c.id, dtype, pass, note });
        continue;
      }
      results.addInfo(`our ${c.kind} timed as: ${runner.calls}`);
      for (const pass of PASSES) {
        log(`ours ${c.id} ${dtype} ${pass}`);
        const t = await measure(pass === 'fwd' ? runner.fwd : runner.fwdBwd, budget);
        results.add({ impl: 'ours', caseId: c.id, dtype, pass, ...t });
      }
    }
  }
}

async function http(): Promise<void> {
  let service;
  try {
    service = await startService();
  } catch (e) {
    const note = `the service did not start: ${firstLine(e)}`;
    results.implNotes.set('http-base64', note);
    results.implNotes.set('http-nested', note);
    return;
  }
  try {
    for (const c of cases) {
      for (const dtype of DTYPES) {
        for (const pass of PASSES) {
          for (const encoding of ENCODINGS) {
            const impl = encoding === 'base64' ? 'http-base64' : 'http-nested';
            const sample = { impl, caseId: c.id, dtype, pass } as const;
            if (!service.layers.has(LAYER[c.kind])) {
              results.add({ ...sample, note: `the service has no /v1/layers/${LAYER[c.kind]} route yet` });
              continue;
            }
            log(`http ${c.id} ${dtype} ${pass} ${encoding}`);
            try {
              const body = requestBody(c, data(c, dtype), dtype, pass, encoding);
              const p = await poster(service, c, body, pass);
              const t = await measure(() => p.post(), budget);
              results.add({ ...sample, ...t, serverTiming: p.timing(), requestBytes: p.bytes });
            } catch (e) {
              results.add({ ...sample, note: `failed: ${firstLine(e)}` });
            }
          }
        }
      }
    }
  } finally {
    await service.close();
  }
}

async function peers(round: number): Promise<void> {
  const ctx: PeerContext = { cases, data, budget, quick: opts.quick, round, results, log };
  await runTfjs(ctx);
  await runOnnx(ctx);
  await runPython(ctx);
}

const started = Date.now();
const fingerprint = srcFingerprint();
results.info.push(...(await environment()));
// Every round times everything again and each cell keeps its lowest median: a burst of other work on
// these two cores then spoils a cell only if it hits the same cell in every round.
for (let round = 1; round <= rounds; round++) {
  log(`round ${round} of ${rounds}`);
  results.info.push(`round ${round}: load average at the start ${loadLine()}`);
  if (loadavg()[0] > cpus().length) {
    results.info.push(`round ${round}: **timed under contention** (1-min load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores): each cell keeps its lowest median over the rounds`);
  }
  await ours();
  if (opts['no-http']) {
    results.implNotes.set('http-base64', 'left out (--no-http)');
    results.implNotes.set('http-nested', 'left out (--no-http)');
  } else await http();
  if (opts['no-peers']) {
    for (const impl of ['torch', 'numpy', 'tfjs-wasm', 'tfjs-cpu', 'onnx'] as const) results.implNotes.set(impl, 'left out (--no-peers)');
  } else await peers(round);
}

results.info.push(`load average at the end: ${loadLine()}`);

/** bench/page-faults.ts in its own process (its count is process-wide), parsed. */
function pageFaults(): PageFaults {
  if (!cases.some((c) => c.id === 'conv-A')) return { mean: {}, note: 'conv A not in this run' };
  log('page faults per conv A call (bench/page-faults.ts)');
  const r = spawnSync(process.execPath, ['--import', 'tsx', new URL('page-faults.ts', import.meta.url).pathname, '--calls', opts.quick ? '15' : '40'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return { mean: {}, note: `page-faults.ts failed: ${firstLine(r.stderr)}` };
  const mean: PageFaults['mean'] = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^(float32|float64)\s+(drop|recycle)\s+faults\/call median \S+, mean ([\d.]+)/.exec(line);
    if (m) (mean[m[1]] ??= {})[m[2]] = Number(m[3]);
  }
  return { mean };
}
const faults = pageFaults();
if (srcFingerprint() !== fingerprint) {
  results.info.push(`**warning: src/ changed during the run** (${fingerprint} → ${srcFingerprint()}): rows may have timed different code`);
}

const partial = opts.quick || only !== undefined || opts['no-http'] || opts['no-peers'];
const file = new URL(`results/${partial ? 'partial' : 'latest'}.md`, import.meta.url);
const args = process.argv.slice(2).join(' ');
const md = report(results, cases, {
  date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  command: args ? `npm run bench:kernels -- ${args}` : 'npm run bench',
  budget: `${opts.quick ? 'quick' : 'full'} budget (≥ ${budget.minReps} runs or ${budget.budgetMs} ms per cell), ` +
    `${rounds} round${rounds > 1 ? 's (each cell: the lowest median)' : ''}, took ${((Date.now() - started) / 60000).toFixed(1)} min`,
}, faults);
mkdirSync(new URL('results/', import.meta.url), { recursive: true });
writeFileSync(file, md);
console.log(md);
log(`written to ${file.pathname}`);
