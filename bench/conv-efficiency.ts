/**
 * Per-FLOP efficiency of our conv paths (issue 16 item 2): GFLOP/s of strided, 1x1, depthwise and dilated
 * convs next to conv A forced onto its im2col + GEMM path (the yardstick: "at least as efficient per
 * FLOP as conv A's GEMM path"), and conv A and B on their default paths; PyTorch (one thread) on the
 * same shapes (bench/peers/torch_conv_shapes.py) in the same run.
 *
 *   npx tsx bench/conv-efficiency.ts [--rounds 9] [--only B,1x1] [--dtype float32] [--no-peers] [--fresh] [--md FILE]
 *
 * Outputs are given back to the thread's buffer pool after each call (src/kernels/buffers.ts), as a
 * worker that encodes its own answer can, so page faults on fresh outputs (issue 16 item 4, ~2.3 µs per
 * 4 KiB) do not count against the kernels; --fresh leaves them to the garbage collector instead.
 *
 * Our variants run interleaved round-robin (one call of each per round: a noisy neighbour hits them
 * alike); each cell is the median over the rounds. fwd = convForward, fwd+bwd = convForwardBackward (what
 * the service runs when dout is sent). FLOPs: 2·N·F·Ho·Wo·(C/groups)·HH·WW forward, 3× that forward +
 * backward, whatever the algorithm does (Winograd does fewer multiplies: its GF/s are "effective").
 * "÷ A im2col" is the case's GF/s over conv A im2col-GEMM's, same dtype and pass. No pass/fail: the
 * machine is noisy; compare ratios within one run.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { recycle } from '../src/kernels/buffers.ts';
import { chooseConvAlgorithm, convForward, convForwardBackward, type ConvOptions } from '../src/kernels/conv.ts';
import { gemmBackend } from '../src/kernels/gemm.ts';
import { convInfo, type ConvParams } from '../src/kernels/geometry.ts';
import type { Dtype, FloatArray } from '../src/kernels/types.ts';
import { phasePlan } from '../src/kernels/conv/phases.ts';
import { random } from './lib/cases.ts';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '9' },
    only: { type: 'string' },
    dtype: { type: 'string' },
    'no-peers': { type: 'boolean', default: false },
    fresh: { type: 'boolean', default: false },
    md: { type: 'string' },
  },
});

interface Case {
  id: string;
  label: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  pad: number;
  dilation: number;
  groups: number;
  options?: ConvOptions;
  /** no PyTorch column (the same shape as another row) */
  noPeer?: boolean;
}

const CASES: Case[] = [
  { id: 'A im2col', label: 'conv A, im2col + GEMM forced', x: [16, 32, 32, 32], w: [64, 32, 3, 3], stride: 1, pad: 1, dilation: 1, groups: 1, options: { algorithm: 'im2col-gemm' } },
  { id: 'A', label: 'conv A (default path)', x: [16, 32, 32, 32], w: [64, 32, 3, 3], stride: 1, pad: 1, dilation: 1, groups: 1 },
  { id: 'B im2col', label: 'conv B, im2col + GEMM forced', x: [16, 64, 16, 16], w: [128, 64, 3, 3], stride: 2, pad: 1, dilation: 1, groups: 1, options: { algorithm: 'im2col-gemm' }, noPeer: true },
  { id: 'B', label: 'conv B 3x3 s2 (default path)', x: [16, 64, 16, 16], w: [128, 64, 3, 3], stride: 2, pad: 1, dilation: 1, groups: 1 },
  { id: '1x1', label: '1x1 s1', x: [16, 64, 16, 16], w: [128, 64, 1, 1], stride: 1, pad: 0, dilation: 1, groups: 1 },
  { id: '1x1 s2', label: '1x1 s2 (downsampling shortcut)', x: [16, 64, 32, 32], w: [128, 64, 1, 1], stride: 2, pad: 0, dilation: 1, groups: 1 },
  { id: 'depthwise', label: 'depthwise 3x3 s1 (groups = C)', x: [16, 64, 32, 32], w: [64, 1, 3, 3], stride: 1, pad: 1, dilation: 1, groups: 64 },
  { id: 'dilated', label: 'dilated 3x3 d2 s1 (conv A\'s size)', x: [16, 32, 32, 32], w: [64, 32, 3, 3], stride: 1, pad: 2, dilation: 2, groups: 1 },
  { id: 'dilated im2col', label: 'dilated 3x3 d2 s1, unsplit (phases: false)', x: [16, 32, 32, 32], w: [64, 32, 3, 3], stride: 1, pad: 2, dilation: 2, groups: 1, options: { phases: false }, noPeer: true },
];
const PASSES = ['fwd', 'fwd+bwd'] as const;
type Pass = (typeof PASSES)[number];

/** n values of the bench's seeded LCG (bench/lib/cases.ts), as every other bench case gets. */
const rand = (dtype: Dtype, n: number, seed: number): FloatArray => random(dtype, [n], seed);

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const paramsOf = (c: Case): ConvParams => ({ stride: c.stride, pad: c.pad, dilation: c.dilation, groups: c.groups });

function flops(c: Case, pass: Pass): number {
  const g = convInfo(c.x, c.w, paramsOf(c));
  const f = 2 * g.N * g.F * g.Ho * g.Wo * g.Cg * g.HH * g.WW;
  return pass === 'fwd' ? f : 3 * f;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const only = opts.only?.split(',').map((s) => s.trim());
const cases = CASES.filter((c) => c.id === 'A im2col' || !only || only.includes(c.id));
const dtypes: Dtype[] = opts.dtype ? [opts.dtype as Dtype] : ['float32', 'float64'];
const rounds = Math.max(3, Number(opts.rounds));
const log = (s: string) => console.error(`conv-efficiency: ${s}`);
const started = new Date();
const load0 = loadavg();

// ours: every (case, pass) of one dtype interleaved round-robin
const ours = new Map<string, number>();
const algorithms = new Map<string, string>();
for (const dtype of dtypes) {
  const fns: { key: string; fn: () => unknown }[] = [];
  for (const c of cases) {
    const p = paramsOf(c);
    const g = convInfo(c.x, c.w, p);
    const x = { shape: c.x, data: rand(dtype, size(c.x), 1) };
    const w = { shape: c.w, data: rand(dtype, size(c.w), 2) };
    const b = { shape: [c.w[0]], data: rand(dtype, c.w[0], 3) };
    const dout = { shape: [g.N, g.F, g.Ho, g.Wo], data: rand(dtype, g.N * g.F * g.Ho * g.Wo, 4) };
    algorithms.set(`${c.id}/${dtype}`, chooseConvAlgorithm(g, c.options ?? {}, dtype).name);
    const give = (...a: FloatArray[]) => {
      if (!opts.fresh) recycle(...a);
    };
    fns.push({ key: `${c.id}/${dtype}/fwd`, fn: () => give(convForward(x, w, b, p, c.options).data) });
    fns.push({
      key: `${c.id}/${dtype}/fwd+bwd`,
      fn: () => {
        const r = convForwardBackward(x, w, b, dout, p, c.options);
        give(r.out.data, r.dx.data, r.dw.data, r.db.data);
      },
    });
  }
  for (const { fn } of fns) for (let i = 0; i < 3; i++) fn();
  const times = new Map<string, number[]>(fns.map((f) => [f.key, []]));
  for (let r = 0; r < rounds; r++) {
    for (const { key, fn } of fns) {
      const t = performance.now();
      fn();
      times.get(key)!.push(performance.now() - t);
    }
  }
  for (const [k, t] of times) ours.set(k, median(t));
  log(`ours ${dtype} done`);
}

// PyTorch on the same shapes
const torch = new Map<string, number>();
let torchInfo = 'not run (--no-peers)';
if (!opts['no-peers']) {
  const req = {
    cases: cases.filter((c) => !c.noPeer).map((c) => ({ id: c.id, x: c.x, w: c.w, stride: c.stride, pad: c.pad, dilation: c.dilation, groups: c.groups })),
    dtypes, minReps: 7, budgetMs: 600,
  };
  const r = spawnSync('/usr/bin/python3', [new URL('./peers/torch_conv_shapes.py', import.meta.url).pathname], {
    input: JSON.stringify(req), encoding: 'utf8', stdio: ['pipe', 'pipe', 'inherit'], maxBuffer: 1 << 24,
  });
  if (r.status === 0) {
    const out = JSON.parse(r.stdout) as { info: string; samples: { id: string; dtype: Dtype; pass: Pass; ms: number }[] };
    torchInfo = out.info;
    for (const s of out.samples) torch.set(`${s.id}/${s.dtype}/${s.pass}`, s.ms);
  } else {
    torchInfo = `failed: ${r.error?.message ?? `exit ${r.status}`}`;
  }
}

/** The algorithm, or "phases → algorithm" where the dilated conv is split (src/kernels/conv/phases.ts). */
function pathOf(c: Case, dtype: Dtype): string {
  const alg = algorithms.get(`${c.id}/${dtype}`)!;
  const g = convInfo(c.x, c.w, paramsOf(c));
  if (c.options?.algorithm !== undefined || c.options?.phases === false || (g.dilationH === 1 && g.dilationW === 1) || c.stride !== 1) return alg;
  const q = phasePlan(g);
  const gq = convInfo([g.N * q.dh * q.dw, g.C, q.Hq, q.Wq], c.w, { groups: c.groups });
  const sub = chooseConvAlgorithm(gq, c.options ?? {}, dtype).name;
  return sub === 'im2col-gemm' ? alg : `phases → ${sub}`;
}

const fmtMs = (ms: number) => (ms < 1 ? ms.toFixed(3) : ms < 10 ? ms.toFixed(2) : ms.toFixed(1));
const lines: string[] = [];
lines.push(`# Conv per-FLOP efficiency (issue 16 item 2)`, '');
lines.push(`${started.toISOString().slice(0, 16).replace('T', ' ')} UTC · \`npx tsx bench/conv-efficiency.ts ${process.argv.slice(2).join(' ')}\`` +
  ` · ${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, Node ${process.version}, our GEMM backend ${gemmBackend()}` +
  ` · ${rounds} interleaved rounds, medians, outputs ${opts.fresh ? 'fresh (not recycled)' : 'recycled to the buffer pool'} · load average ${load0.map((l) => l.toFixed(2)).join(' / ')} at the start, ` +
  `${loadavg().map((l) => l.toFixed(2)).join(' / ')} at the end · ${torchInfo}.`, '');
lines.push('FLOPs: 2·N·F·Ho·Wo·(C/groups)·HH·WW forward, 3× forward + backward, whatever the algorithm does (Winograd paths do fewer multiplies, so their GF/s are effective). "÷ A im2col": GF/s over conv A\'s on its im2col + GEMM path, same dtype and pass, same run. The machine is shared and noisy: ±30 %; compare within one run.', '');
for (const dtype of dtypes) {
  lines.push(`## ${dtype}`, '');
  lines.push('| case | x · w | path | pass | ours ms | ours GF/s | ÷ A im2col | PyTorch ms | PyTorch GF/s | ours / PyTorch |');
  lines.push('|---|---|---|---|---:|---:|---:|---:|---:|---:|');
  for (const c of cases) {
    for (const pass of PASSES) {
      const ms = ours.get(`${c.id}/${dtype}/${pass}`)!;
      const gf = flops(c, pass) / ms / 1e6;
      const ref = flops(CASES[0], pass) / ours.get(`A im2col/${dtype}/${pass}`)! / 1e6;
      const t = torch.get(`${c.id}/${dtype}/${pass}`);
      const shape = `x(${c.x}) w(${c.w}) s${c.stride} p${c.pad}${c.dilation > 1 ? ` d${c.dilation}` : ''}${c.groups > 1 ? ` g${c.groups}` : ''}`;
      lines.push(`| ${c.label} | ${shape} | ${pathOf(c, dtype)} | ${pass} | ${fmtMs(ms)} | ${gf.toFixed(1)} | ${(gf / ref).toFixed(2)} | ` +
        (t === undefined ? ' | | |' : `${fmtMs(t)} | ${(flops(c, pass) / t / 1e6).toFixed(1)} | **${(ms / t).toFixed(2)}×** |`));
    }
  }
  lines.push('');
}
const md = lines.join('\n');
console.log(md);
if (opts.md) writeFileSync(opts.md, md + '\n');
