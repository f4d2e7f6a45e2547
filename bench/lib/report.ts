/** The markdown report: kernel tables per dtype, the HTTP transport table, and the targets. */
import { flopsOf, PASSES, type Case, type Dtype, type Pass } from './cases.ts';
import type { Impl, Results, Sample } from './results.ts';
import { gflops, markdownTable, ms, Notes, ratio } from './table.ts';

const PEERS: [Impl, string][] = [
  ['torch', 'PyTorch'],
  ['numpy', 'numpy im2col'],
  ['tfjs-wasm', 'tfjs wasm'],
  ['tfjs-cpu', 'tfjs CPU'],
  ['onnx', 'onnxruntime'],
];

/** Matmul ceiling of this machine (PERFORMANCE.md: PyTorch float32, one thread). */
export const MATMUL_CEILING_F32 = 139;

const timed = (s: Sample | undefined): s is Sample & { ms: number } => s?.ms !== undefined;
const once = (s: Sample) => (s.reps === 1 ? '¹' : '');

function missing(results: Results, notes: Notes, impl: Impl, s: Sample | undefined): string {
  const why = results.implNotes.get(impl) ?? s?.note;
  return why ? `n/a ${notes.ref(why)}` : '';
}

export function kernelTable(results: Results, cases: readonly Case[], dtype: Dtype): string {
  const notes = new Notes();
  const rows: string[][] = [];
  for (const c of cases) {
    for (const pass of PASSES) {
      const ours = results.get('ours', c.id, dtype, pass);
      const flops = flopsOf(c, pass);
      const row = [c.label, pass];
      if (timed(ours)) row.push(ms(ours.ms) + once(ours), gflops(flops, ours.ms));
      else row.push(missing(results, notes, 'ours', ours), '');
      for (const [impl] of PEERS) {
        const p = results.get(impl, c.id, dtype, pass);
        if (!timed(p)) {
          row.push(missing(results, notes, impl, p));
          continue;
        }
        const parts = [`${ms(p.ms)}${once(p)}`];
        if (flops !== undefined) parts.push(`${gflops(flops, p.ms)} GF/s`);
        if (timed(ours)) parts.push(`**${ratio(ours.ms / p.ms)}**`);
        row.push(parts.join(' · '));
      }
      rows.push(row);
    }
  }
  const header = ['case', 'pass', 'ours ms', 'ours GFLOP/s', ...PEERS.map(([, name]) => name)];
  return `${markdownTable(header, rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'])}\n\n${notes.render()}`;
}

export function httpTable(results: Results, cases: readonly Case[]): string {
  const notes = new Notes();
  const rows: string[][] = [];
  for (const c of cases) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const pass of PASSES) {
        const ours = results.get('ours', c.id, dtype, pass);
        const row = [c.label, dtype, pass, timed(ours) ? ms(ours.ms) : missing(results, notes, 'ours', ours)];
        let timing = '';
        const sizes: string[] = [];
        for (const impl of ['http-base64', 'http-nested'] as const) {
          const h = results.get(impl, c.id, dtype, pass);
          if (!timed(h)) {
            row.push(missing(results, notes, impl, h), '');
            continue;
          }
          row.push(ms(h.ms), timed(ours) ? `**${ratio(h.ms / ours.ms)}**` : '');
          if (h.requestBytes) sizes.push((h.requestBytes / 2 ** 20).toFixed(h.requestBytes < 2 ** 20 ? 3 : 1));
          if (impl === 'http-base64' && h.serverTiming) {
            timing = Object.entries(h.serverTiming).map(([k, v]) => `${k} ${ms(v)}`).join(' · ');
          }
        }
        rows.push([...row, sizes.join(' / '), timing]);
      }
    }
  }
  const header = ['case', 'dtype', 'pass', 'in-process ms', 'base64 ms', 'base64 / in-process', 'nested ms', 'nested / in-process', 'request MiB (base64 / nested)', 'timing medians, base64 (ms)'];
  return `${markdownTable(header, rows, ['l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'l'])}\n\n${notes.render()}`;
}

interface TargetRow {
  target: string;
  measured: string;
  limit: string;
  result: string;
}

function whyMissing(results: Results, impl: Impl, s: Sample | undefined): string {
  return results.implNotes.get(impl) ?? s?.note ?? 'not run';
}

/** ours/peer time at most `limit` (a limit of 1 means "at least as fast"). */
function ratioTarget(results: Results, target: string, c: string, dtype: Dtype, pass: Pass, peer: Impl, limit: number): TargetRow {
  const ours = results.get('ours', c, dtype, pass);
  const p = results.get(peer, c, dtype, pass);
  const limitText = `ours / peer ≤ ${limit}×`;
  if (!timed(ours)) return { target, measured: '—', limit: limitText, result: `not measured: ours: ${whyMissing(results, 'ours', ours)}` };
  if (!timed(p)) return { target, measured: '—', limit: limitText, result: `not measured: peer: ${whyMissing(results, peer, p)}` };
  const r = ours.ms / p.ms;
  return { target, measured: `${ms(ours.ms)} / ${ms(p.ms)} ms = ${ratio(r)}`, limit: limitText, result: verdict(r, limit) };
}

function verdict(r: number, limit: number): string {
  return r <= limit ? `met (${Math.round((1 - r / limit) * 100)} % under)` : `**not met**: needs ${ratio(r / limit)} speed-up`;
}

export function targetsTable(results: Results, cases: readonly Case[]): string {
  const has = (id: string) => cases.some((c) => c.id === id);
  const rows: TargetRow[] = [];
  if (has('conv-A')) {
    rows.push(ratioTarget(results, 'conv A fwd+bwd float64 vs numpy im2col', 'conv-A', 'float64', 'fwd+bwd', 'numpy', 2));
    rows.push(ratioTarget(results, 'conv A fwd+bwd float32 vs PyTorch', 'conv-A', 'float32', 'fwd+bwd', 'torch', 3));
  }
  for (const c of cases.filter((k) => k.kind === 'conv')) {
    rows.push(ratioTarget(results, `${c.id} fwd float32 vs tfjs wasm`, c.id, 'float32', 'fwd', 'tfjs-wasm', 1));
  }
  for (const c of cases.filter((k) => k.kind !== 'conv' && k.kind !== 'affine')) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const pass of PASSES) rows.push(ratioTarget(results, `${c.id} ${pass} ${dtype} vs PyTorch`, c.id, dtype, pass, 'torch', 2));
    }
  }
  if (has('affine')) {
    const c = cases.find((k) => k.id === 'affine')!;
    for (const pass of PASSES) {
      const ours = results.get('ours', 'affine', 'float32', pass);
      const target = `affine ${pass} float32 vs the matmul ceiling (${MATMUL_CEILING_F32} GFLOP/s)`;
      const limit = `≥ 25 % (${(MATMUL_CEILING_F32 / 4).toFixed(1)} GFLOP/s)`;
      if (!timed(ours)) {
        rows.push({ target, measured: '—', limit, result: `not measured: ${whyMissing(results, 'ours', ours)}` });
        continue;
      }
      const g = flopsOf(c, pass)! / ours.ms / 1e6;
      const share = g / MATMUL_CEILING_F32;
      rows.push({
        target, limit,
        measured: `${g.toFixed(1)} GFLOP/s = ${(share * 100).toFixed(0)} %`,
        result: share >= 0.25 ? `met (${ratio(share / 0.25)} the floor)` : `**not met**: needs ${ratio(0.25 / share)} speed-up`,
      });
    }
  }
  if (has('conv-A')) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const pass of PASSES) {
        for (const impl of ['http-base64', 'http-nested'] as const) {
          const target = `conv A ${pass} ${dtype} over HTTP, ${impl.slice(5)} bodies`;
          const ours = results.get('ours', 'conv-A', dtype, pass);
          const h = results.get(impl, 'conv-A', dtype, pass);
          const limit = impl === 'http-base64' ? 'HTTP / in-process ≤ 1.3×' : 'reported';
          if (!timed(ours) || !timed(h)) {
            const why = !timed(ours) ? whyMissing(results, 'ours', ours) : whyMissing(results, impl, h);
            rows.push({ target, measured: '—', limit, result: `not measured: ${why}` });
            continue;
          }
          const r = h.ms / ours.ms;
          rows.push({
            target, limit,
            measured: `${ms(h.ms)} / ${ms(ours.ms)} ms = ${ratio(r)}`,
            result: impl === 'http-base64' ? verdict(r, 1.3) : '—',
          });
        }
      }
    }
  }
  return markdownTable(['target', 'measured', 'limit', 'result'], rows.map((r) => [r.target, r.measured, r.limit, r.result]));
}

/** Minor page faults per conv A fwd+bwd call (bench/page-faults.ts, run by bench/run.ts in its own process). */
export interface PageFaults {
  /** dtype → mode ('drop': today's service, outputs fresh per call; 'recycle': outputs given back) → mean faults per call */
  mean: Record<string, Record<string, number>>;
  note?: string;
}

interface Issue16Row {
  what: string;
  measured: string;
  target: string;
  moonshot: string;
  result: string;
}

/** ours/peer for one cell, against a target and a moonshot ratio. */
function issue16Ratio(results: Results, what: string, c: string, dtype: Dtype, pass: Pass, peer: Impl, target: number, moon: number): Issue16Row {
  const ours = results.get('ours', c, dtype, pass);
  const p = results.get(peer, c, dtype, pass);
  const row = { what, target: `≤ ${target}×`, moonshot: `≤ ${moon}×` };
  if (!timed(ours)) return { ...row, measured: '—', result: `not measured: ours: ${whyMissing(results, 'ours', ours)}` };
  if (!timed(p)) return { ...row, measured: '—', result: `not measured: peer: ${whyMissing(results, peer, p)}` };
  const r = ours.ms / p.ms;
  return { ...row, measured: `${ms(ours.ms)} / ${ms(p.ms)} ms = ${ratio(r)}`, result: r <= moon ? 'moonshot met' : r <= target ? 'met' : '**not met**' };
}

/** The rows of issue 16's targets table, from this run. */
export function issue16Table(results: Results, cases: readonly Case[], faults: PageFaults | undefined): string {
  const has = (id: string) => cases.some((c) => c.id === id);
  const rows: Issue16Row[] = [];
  if (has('conv-A')) rows.push(issue16Ratio(results, 'conv A fwd+bwd float32 / PyTorch 1 thread', 'conv-A', 'float32', 'fwd+bwd', 'torch', 1.6, 1.2));
  if (has('conv-B')) rows.push(issue16Ratio(results, 'conv B fwd+bwd float32 / PyTorch 1 thread', 'conv-B', 'float32', 'fwd+bwd', 'torch', 2.5, 1.5));
  if (has('conv-A')) rows.push(issue16Ratio(results, 'conv A fwd+bwd float64 / numpy im2col', 'conv-A', 'float64', 'fwd+bwd', 'numpy', 0.8, 0.5));
  if (has('batchnorm')) {
    for (const pass of PASSES) rows.push(issue16Ratio(results, `batchnorm (N, D) ${pass} float32 / PyTorch`, 'batchnorm', 'float32', pass, 'torch', 1.5, 1));
  }
  // every other layer against PyTorch: the worst ratio over both dtypes and passes (affine has its own
  // target below, against the matmul ceiling)
  // A loss computes its gradient with the loss (cs231n's API, and ours): its forward row would time
  // our loss + gradient against PyTorch's loss alone, so only its forward + backward counts here.
  let worst: { r: number; label: string; text: string } | undefined;
  const missing: string[] = [];
  const over: string[] = [];
  for (const c of cases.filter((k) => k.kind !== 'conv' && k.kind !== 'batchnorm' && k.kind !== 'affine')) {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const pass of c.labels ? (['fwd+bwd'] as const) : PASSES) {
        const ours = results.get('ours', c.id, dtype, pass);
        const p = results.get('torch', c.id, dtype, pass);
        if (!timed(ours) || !timed(p)) {
          missing.push(`${c.id} ${pass} ${dtype}`);
          continue;
        }
        const r = ours.ms / p.ms;
        if (r > 1.5) over.push(`${c.id} ${pass} ${dtype} ${ratio(r)}`);
        if (!worst || r > worst.r) worst = { r, label: `${c.id} ${pass} ${dtype}`, text: `${ms(ours.ms)} / ${ms(p.ms)} ms` };
      }
    }
  }
  if (worst) {
    rows.push({
      what: `every other layer but affine / PyTorch (worst: ${worst.label})`, measured: `${worst.text} = ${ratio(worst.r)}`,
      target: '≤ 1.5×', moonshot: '≤ 1×',
      result:
        (worst.r <= 1 ? 'moonshot met' : worst.r <= 1.5 ? 'met' : `**not met**: over 1.5× ${over.join('; ')}`) +
        (missing.length ? ` (not measured: ${missing.join(', ')})` : '') +
        (cases.some((c) => c.labels) ? '; losses: forward + backward only (they compute the gradient with the loss)' : ''),
    });
  }
  for (const dtype of ['float32', 'float64']) {
    const m = faults?.mean[dtype];
    const what = `minor page faults per conv A fwd+bwd call, ${dtype} (steady state)`;
    if (!m || m.drop === undefined || m.recycle === undefined) {
      rows.push({ what, measured: '—', target: '≤ 10 % of today\'s', moonshot: '0', result: `not measured${faults?.note ? `: ${faults.note}` : ''}` });
      continue;
    }
    const share = m.drop === 0 ? 0 : m.recycle / m.drop;
    rows.push({
      what, target: '≤ 10 % of today\'s', moonshot: '0',
      measured: `${m.recycle.toFixed(1)} with outputs recycled vs ${m.drop.toFixed(1)} fresh = ${(share * 100).toFixed(1)} %`,
      result: m.recycle === 0 ? 'moonshot met' : share <= 0.1 ? 'met' : '**not met**',
    });
  }
  return markdownTable(['what', 'measured', 'target', 'moonshot', 'result'], rows.map((r) => [r.what, r.measured, r.target, r.moonshot, r.result]));
}

export interface ReportMeta {
  date: string;
  command: string;
  budget: string;
}

export function report(results: Results, cases: readonly Case[], meta: ReportMeta, faults?: PageFaults): string {
  const sections = [
    '# layerserve benchmark',
    `${meta.date} · \`${meta.command}\` · ${meta.budget}. Medians of repeated runs after warm-up, one thread ` +
      'everywhere (one service worker over HTTP). Our kernels give their outputs back to the thread\'s buffer pool after each call, as the ' +
      'service\'s worker does after encoding (pages stay warm; `bench/page-faults.ts` and `bench/norm-recycle.ts` show the fresh-output cost). ' +
      'Machines are noisy: treat every figure as ±30 %. ' +
      'Nothing here passes or fails a test.',
    '## Environment',
    results.info.map((l) => `- ${l}`).join('\n'),
    '## Issue 16 targets (ratios from this run)',
    'One thread, the same run as the peers. Page faults: `bench/page-faults.ts` in its own process (process-wide ' +
      'minor faults around each call, mean over the calls after warm-up); "recycled" means the caller gives the ' +
      'outputs back with `recycle()` (src/kernels/buffers.ts) as the worker pipeline does after encoding ' +
      '(src/pool/pipeline.ts), "fresh" is every call on new memory (the service before the pool).',
    issue16Table(results, cases, faults),
    '## Targets (ratios from this run)',
    targetsTable(results, cases),
    '## Kernels, float32',
    LEGEND,
    kernelTable(results, cases, 'float32'),
    '## Kernels, float64',
    kernelTable(results, cases, 'float64'),
    '## HTTP transport (buildApp, WORKERS=1, loopback, keep-alive)',
    'Latency from the request until the whole response body has arrived; bodies prepared before timing. ' +
      'A ratio is HTTP latency over our in-process time for the same work (forward + backward when `dout` is sent). ' +
      'Server-Timing parts are the service\'s own medians (parse: from the request headers until the handler, so the ' +
      'body upload and JSON.parse; decode, queue, kernel, encode); "until headers" and "body download" are the client\'s.',
    httpTable(results, cases),
    'Throughput under load (autocannon): `npm run bench:load`, written to [load.md](load.md).',
  ];
  return `${sections.join('\n\n')}\n`;
}

const LEGEND =
  'Peer cells: median ms · GFLOP/s (conv, affine) · **ours / peer** time (below 1× we are faster). ' +
  'FLOPs: conv 2·N·F·Ho·Wo·C·HH·WW forward, affine 2·N·D·M; forward + backward counts 3×. ' +
  '¹ a single run: the first one took longer than the single-shot limit.';

