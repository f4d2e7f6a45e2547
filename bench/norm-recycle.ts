/**
 * The normalization rows of issue 16 as `npm run bench` times them (our kernels called in this thread,
 * outputs dropped: today's service, which transfers its outputs away) and as a worker that recycles its
 * outputs after encoding would run them (issue 16 item 4: `recycle()` from src/kernels/buffers.ts, so
 * the next call writes into pages it already touched), against PyTorch in the same run. Also minor
 * page faults per call in each mode (process-wide, around the timed calls).
 *
 *   npx tsx bench/norm-recycle.ts [--rounds 2] [--only batchnorm,layernorm,spatial-batchnorm]
 *
 * Each cell keeps its lowest median over the rounds (as bench/run.ts). Prints a markdown table.
 */
import { parseArgs } from 'node:util';
import { CASES, DTYPES, makeData, PASSES, type Case, type CaseData, type Dtype } from './lib/cases.ts';
import { ourRunner } from './lib/ours.ts';
import { FULL, measure } from './lib/measure.ts';
import { Results, type PeerContext } from './lib/results.ts';
import { runPython } from './peers/python.ts';
import { recycle } from '../src/kernels/buffers.ts';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    only: { type: 'string', default: 'batchnorm,layernorm,spatial-batchnorm' },
  },
});
const only = opts.only.split(',');
const cases = CASES.filter((c) => only.includes(c.id));
const dataCache = new Map<string, CaseData>();
const data = (c: Case, dtype: Dtype) => {
  const key = `${c.id}/${dtype}`;
  let d = dataCache.get(key);
  if (!d) dataCache.set(key, (d = makeData(c, dtype)));
  return d;
};

type Mode = 'fresh' | 'recycled';
const best = new Map<string, { ms: number; faults: number }>();
const keep = (key: string, ms: number, faults: number) => {
  const b = best.get(key);
  if (!b || ms < b.ms) best.set(key, { ms, faults });
};

/** The big arrays of a result (out, dx), given back to the pool. */
function giveBack(r: unknown): void {
  const o = r as { out?: { data?: Float32Array }; dx?: { data?: Float32Array } };
  recycle(o.out?.data, o.dx?.data);
}

const results = new Results();
for (let round = 1; round <= Number(opts.rounds); round++) {
  for (const c of cases) {
    for (const dtype of DTYPES) {
      const runner = await ourRunner(c, data(c, dtype));
      for (const pass of PASSES) {
        const fn = pass === 'fwd' ? runner.fwd : runner.fwdBwd;
        for (const mode of ['fresh', 'recycled'] as Mode[]) {
          const timed = mode === 'fresh' ? fn : () => giveBack(fn());
          const before = process.resourceUsage().minorPageFault;
          const t = await measure(timed, FULL);
          const faults = (process.resourceUsage().minorPageFault - before) / (t.reps + FULL.warmups);
          keep(`${c.id}/${dtype}/${pass}/${mode}`, t.ms, faults);
        }
      }
    }
  }
  const ctx: PeerContext = { cases, data, budget: FULL, quick: false, round, results, log: () => {} };
  await runPython(ctx);
}

const fmt = (ms: number | undefined) => (ms === undefined ? '—' : ms < 1 ? ms.toFixed(3) : ms.toFixed(2));
console.log('| case | dtype | pass | ours, outputs dropped (ms) | ours, outputs recycled (ms) | PyTorch (ms) | dropped / PyTorch | recycled / PyTorch | faults per call dropped / recycled |');
console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
for (const c of cases) {
  for (const dtype of DTYPES) {
    for (const pass of PASSES) {
      const fresh = best.get(`${c.id}/${dtype}/${pass}/fresh`);
      const rec = best.get(`${c.id}/${dtype}/${pass}/recycled`);
      const torch = results.get('torch', c.id, dtype, pass)?.ms;
      const ratio = (a?: number) => (a === undefined || torch === undefined ? '—' : `**${(a / torch).toFixed(2)}×**`);
      console.log(`| ${c.label} | ${dtype} | ${pass} | ${fmt(fresh?.ms)} | ${fmt(rec?.ms)} | ${fmt(torch)} | ${ratio(fresh?.ms)} | ${ratio(rec?.ms)} | ${fresh?.faults.toFixed(0)} / ${rec?.faults.toFixed(0)} |`);
    }
  }
}
for (const [impl, note] of results.implNotes) console.log(`\n${impl}: ${note}`);
