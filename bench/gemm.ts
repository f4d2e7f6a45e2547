/**
 * GEMM throughput (GFLOP/s, median of repeated runs, one thread) for every backend:
 *   npx tsx bench/gemm.ts               the table
 *   npx tsx bench/gemm.ts --crossover   JS loop vs wasm (with copies) on tiny problems
 * Shapes: 512³ and conv A's im2col GEMMs (x 16×32×32×32, w 64×32×3×3, pad 1): forward
 * out = cols·Wᵀ (M 16384, N 64, K 288), dW = doutᵀ·cols (64, 288, 16384), dcols = dout·W (16384, 288, 64).
 * "arena" runs gemmInArena on operands already in wasm memory; "gemm()" includes the copies in and out.
 * The reference and the JS loop run on the small shape only. No pass/fail: machines are noisy.
 */
import type { GemmArgs } from '../src/kernels/gemm-types.ts';
import { gemmReference } from '../src/kernels/reference/gemm.ts';
import { gemmSmall } from '../src/kernels/gemm-small.ts';
import { availableGemmBackends, GemmEngine, type GemmBackend } from '../src/kernels/wasm/engine.ts';
import type { Dtype, FloatArray } from '../src/kernels/types.ts';

interface Shape {
  name: string;
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
}

const SHAPES: Shape[] = [
  { name: '128³ (small)', transA: false, transB: false, M: 128, N: 128, K: 128 },
  { name: '512³', transA: false, transB: false, M: 512, N: 512, K: 512 },
  { name: 'conv A fwd cols·Wᵀ', transA: false, transB: true, M: 16384, N: 64, K: 288 },
  { name: 'conv A dW doutᵀ·cols', transA: true, transB: false, M: 64, N: 288, K: 16384 },
  { name: 'conv A dcols dout·W', transA: false, transB: false, M: 16384, N: 288, K: 64 },
  // The same three per image, in the NCHW layout src/kernels/conv.ts uses (P = Ho·Wo = 1024), ×16 images.
  { name: 'per image fwd W·col', transA: false, transB: false, M: 64, N: 1024, K: 288 },
  { name: 'per image dW dout·colᵀ', transA: false, transB: true, M: 64, N: 288, K: 1024 },
  { name: 'per image dcol Wᵀ·dout', transA: true, transB: false, M: 288, N: 1024, K: 64 },
];
const SMALL_ONLY = 128 * 128 * 128;

function randArray(dtype: Dtype, n: number, seed: number): FloatArray {
  const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

/** Median milliseconds of fn over at least `minReps` runs and ~`budgetMs`, after a warm-up. */
function medianMs(fn: () => void, minReps = 7, budgetMs = 400): number {
  fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || (performance.now() - start < budgetMs && times.length < 50)) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function args(s: Shape, dtype: Dtype): GemmArgs {
  const { M, N, K, transA, transB } = s;
  return {
    transA, transB, M, N, K, beta: 0,
    A: randArray(dtype, M * K, 1), lda: transA ? M : K,
    B: randArray(dtype, K * N, 2), ldb: transB ? K : N,
    C: randArray(dtype, M * N, 3), ldc: N,
  };
}

/** Median ms of gemmInArena with the operands already in wasm memory (allocated for the measurement). */
function arenaMs(engine: GemmEngine, g: GemmArgs, dtype: Dtype): number {
  const arena = engine.arena;
  return arena.scope(() => {
    const A = arena.alloc(dtype, g.A.length);
    const B = arena.alloc(dtype, g.B.length);
    const C = arena.alloc(dtype, g.C.length);
    A.view.set(g.A);
    B.view.set(g.B);
    return medianMs(() => engine.gemmInArena({ ...g, A, B, C }));
  });
}

function main(): void {
  const backends = availableGemmBackends().filter((b): b is Exclude<GemmBackend, 'js'> => b !== 'js');
  const engines = new Map(backends.map((b) => [b, new GemmEngine(b)] as const));
  const short = (b: string) => b.replace('wasm-', '');
  const cols = ['reference', 'JS loop', ...backends.flatMap((b) => [`${short(b)} arena`, `${short(b)} gemm()`])];
  console.log(`node ${process.version}, backends: ${backends.join(', ') || 'none (JS only)'}; GFLOP/s, median\n`);
  console.log(['shape'.padEnd(26), 'dtype'.padEnd(8), ...cols.map((c) => c.padStart(21))].join(''));
  const totals = new Map<string, number>();
  for (const dtype of ['float64', 'float32'] as const) {
    for (const s of SHAPES) {
      const g = args(s, dtype);
      const flop = 2 * s.M * s.N * s.K;
      const small = s.M * s.N * s.K <= SMALL_ONLY;
      const cells: string[] = [];
      const gf = (ms: number) => (flop / ms / 1e6).toFixed(1);
      cells.push(small ? gf(medianMs(() => gemmReference(g), 3, 200)) : '—');
      cells.push(small ? gf(medianMs(() => gemmSmall(g), 3, 200)) : '—');
      for (const b of backends) {
        const engine = engines.get(b)!;
        const inArenaMs = arenaMs(engine, g, dtype);
        const copyMs = medianMs(() => engine.gemm(g));
        cells.push(gf(inArenaMs), gf(copyMs));
        const group = s.name.startsWith('conv A') ? 'im2col' : s.name.startsWith('per image') ? 'per image ×16' : '';
        if (group) {
          const per = group === 'im2col' ? 1 : 16;
          const key = `${dtype} ${b} ${group}`;
          totals.set(`${key} arena`, (totals.get(`${key} arena`) ?? 0) + per * inArenaMs);
          totals.set(`${key} gemm()`, (totals.get(`${key} gemm()`) ?? 0) + per * copyMs);
        }
      }
      console.log([s.name.padEnd(26), dtype.padEnd(8), ...cells.map((c) => c.padStart(21))].join(''));
    }
  }
  console.log('\nconv A forward + backward, the three GEMMs only (ms):');
  for (const [k, ms] of totals) console.log(`  ${k.padEnd(48)} ${ms.toFixed(1)}`);
  console.log('  peers (PERFORMANCE.md, whole layer): numpy/OpenBLAS float64 62.6, PyTorch float32 14.4–15.4');
}

function crossover(): void {
  const b = availableGemmBackends()[0];
  if (b === 'js') throw new Error('no wasm backend');
  const engine = new GemmEngine(b, { smallGemmWork: 0 });
  console.log(`JS loop vs ${b} gemm() with copies, µs per call (median)\n`);
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [M, N, K] of [[2, 2, 2], [4, 4, 4], [6, 6, 6], [32, 4, 2], [8, 8, 8], [48, 6, 3], [10, 10, 10], [16, 16, 16], [4, 64, 16]]) {
      const g = args({ name: '', transA: false, transB: false, M, N, K }, dtype);
      const us = (fn: () => void) => {
        let reps = 1;
        for (;;) {
          const t = performance.now();
          for (let r = 0; r < reps; r++) fn();
          const dt = performance.now() - t;
          if (dt > 20) return (dt * 1000) / reps;
          reps *= 2;
        }
      };
      const js = Math.min(us(() => gemmSmall(g)), us(() => gemmSmall(g)));
      const w = Math.min(us(() => engine.gemm(g)), us(() => engine.gemm(g)));
      console.log(`${dtype} ${`${M}×${N}×${K}`.padEnd(10)} work ${String(M * N * K).padStart(5)}  JS ${js.toFixed(2).padStart(6)}  wasm ${w.toFixed(2).padStart(6)}  ${js < w ? 'JS' : 'wasm'}`);
    }
  }
}

if (process.argv.includes('--crossover')) crossover();
else main();
