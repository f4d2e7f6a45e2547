/**
 * Conv kernel timings in this thread, for the conv cases of bench/lib/cases.ts (A, B, C) and a depthwise
 * case D, float32 and float64. Variants are interleaved round-robin (one run of each per round), so a
 * noisy neighbour hits them all alike; prints median and minimum milliseconds per variant.
 *
 *   npx tsx bench/conv-profile.ts [--rounds 25] [--only A,B] [--dtype float32] [--baseline FILE] [--compare JSON]
 *
 * --baseline FILE: another conv module (e.g. a copy of an older src/kernels/conv.ts with absolute
 * imports) whose convForward / convBackward are timed in the same rounds as "base fwd", "base fwd+bwd".
 * --compare JSON: ConvOptions (e.g. '{"winograd":false}') for extra variants "alt fwd" and "alt fused".
 *
 * Variants: fwd = convForward; bwd = convBackward; fwd+bwd = convForward then convBackward (what
 * bench/run.ts times); fused = convForwardBackward (what the service runs when dout is sent), when
 * exported; gemm = conv A's three im2col GEMMs per image on arena operands (the floor of the im2col
 * path; conv A itself now takes the Winograd path, whose GEMMs do 2.25x fewer multiply-adds).
 * No pass/fail: the machine is noisy.
 */
import { parseArgs } from 'node:util';
import * as conv from '../src/kernels/conv.ts';
import { gemmArena, gemmBackend, gemmInArena } from '../src/kernels/gemm.ts';
import type { ConvParams } from '../src/kernels/geometry.ts';
import type { Dtype, FloatArray, Tensor } from '../src/kernels/types.ts';
import { random } from './lib/cases.ts';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '25' },
    only: { type: 'string' },
    dtype: { type: 'string' },
    baseline: { type: 'string' },
    compare: { type: 'string' },
  },
});

interface Case {
  id: string;
  x: number[];
  w: number[];
  params: ConvParams;
}

const CASES: Case[] = [
  { id: 'A', x: [16, 32, 32, 32], w: [64, 32, 3, 3], params: { stride: 1, pad: 1 } },
  { id: 'B', x: [16, 64, 16, 16], w: [128, 64, 3, 3], params: { stride: 2, pad: 1 } },
  { id: 'C', x: [2, 3, 8, 8], w: [4, 3, 3, 3], params: { stride: 1, pad: 1 } },
  { id: 'D', x: [16, 64, 32, 32], w: [64, 1, 3, 3], params: { stride: 1, pad: 1, groups: 64 } },
];

/** n values of the bench's seeded LCG (bench/lib/cases.ts). */
const rand = (dtype: Dtype, n: number, seed: number): FloatArray => random(dtype, [n], seed);

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

type Fused = (x: Tensor, w: Tensor, b: Tensor, dout: Tensor, p: ConvParams, o?: conv.ConvOptions) => unknown;
const alt = opts.compare ? (JSON.parse(opts.compare) as conv.ConvOptions) : undefined;
const fused = (conv as Record<string, unknown>).convForwardBackward as Fused | undefined;
type Fwd = (x: Tensor, w: Tensor, b: Tensor, p: ConvParams) => Tensor;
type Bwd = (x: Tensor, w: Tensor, dout: Tensor, p: ConvParams) => unknown;
const base = opts.baseline
  ? ((await import(new URL(opts.baseline, `file://${process.cwd()}/`).href)) as { convForward: Fwd; convBackward: Bwd })
  : undefined;

function variants(c: Case, dtype: Dtype): Record<string, () => unknown> {
  const x = { shape: c.x, data: rand(dtype, size(c.x), 1) };
  const w = { shape: c.w, data: rand(dtype, size(c.w), 2) };
  const b = { shape: [c.w[0]], data: rand(dtype, c.w[0], 3) };
  const out = conv.convForward(x, w, b, c.params);
  const dout = { shape: out.shape, data: rand(dtype, out.data.length, 4) };
  const v: Record<string, () => unknown> = {
    fwd: () => conv.convForward(x, w, b, c.params),
    bwd: () => conv.convBackward(x, w, dout, c.params),
    'fwd+bwd': () => {
      conv.convForward(x, w, b, c.params);
      return conv.convBackward(x, w, dout, c.params);
    },
  };
  if (fused) v.fused = () => fused(x, w, b, dout, c.params);
  if (alt) {
    v['alt fwd'] = () => conv.convForward(x, w, b, c.params, alt);
    if (fused) v['alt fused'] = () => fused(x, w, b, dout, c.params, alt);
  }
  if (base) {
    v['base fwd'] = () => base.convForward(x, w, b, c.params);
    v['base fwd+bwd'] = () => {
      base.convForward(x, w, b, c.params);
      return base.convBackward(x, w, dout, c.params);
    };
  }
  if (c.id === 'A') v.gemm = gemmOnly(c, dtype);
  return v;
}

/** Conv A's three per-image im2col GEMMs × N on arena operands: the floor of the im2col path. */
function gemmOnly(c: Case, dtype: Dtype): () => void {
  const [N, C, H, W] = c.x;
  const [F, , HH, WW] = c.w;
  const K = C * HH * WW, P = H * W;
  return () => {
    const arena = gemmArena();
    arena.scope(() => {
      const wb = arena.alloc(dtype, F * K);
      const col = arena.alloc(dtype, K * P);
      const out = arena.alloc(dtype, F * P);
      const dcol = arena.alloc(dtype, K * P);
      const dw = arena.alloc(dtype, F * K);
      for (let n = 0; n < N; n++) {
        gemmInArena({ transA: false, transB: false, M: F, N: P, K, A: wb, lda: K, B: col, ldb: P, beta: 0, C: out, ldc: P });
        gemmInArena({ transA: false, transB: true, M: F, N: K, K: P, A: out, lda: P, B: col, ldb: P, beta: 1, C: dw, ldc: K });
        gemmInArena({ transA: true, transB: false, M: K, N: P, K: F, A: wb, lda: K, B: out, ldb: P, beta: 0, C: dcol, ldc: P });
      }
    });
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const rounds = Number(opts.rounds);
const only = opts.only?.split(',');
const dtypes: Dtype[] = opts.dtype ? [opts.dtype as Dtype] : ['float32', 'float64'];
console.log(`backend ${gemmBackend()}, ${rounds} rounds, node ${process.version}`);
for (const c of CASES) {
  if (only && !only.includes(c.id)) continue;
  for (const dtype of dtypes) {
    const v = variants(c, dtype);
    const names = Object.keys(v);
    const times: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (const n of names) for (let i = 0; i < 3; i++) v[n]();
    const inner = c.id === 'C' ? 200 : 1;
    for (let r = 0; r < rounds; r++) {
      for (const n of names) {
        const t = performance.now();
        for (let i = 0; i < inner; i++) v[n]();
        times[n].push((performance.now() - t) / inner);
      }
    }
    const cells = names.map((n) => `${n} ${fmt(median(times[n]))} (min ${fmt(Math.min(...times[n]))})`);
    console.log(`conv ${c.id} ${dtype}: ${cells.join(' | ')}`);
  }
}

function fmt(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(1)} µs` : `${ms.toFixed(2)} ms`;
}
