/**
 * Minor page faults per conv A forward+backward (x (16,32,32,32), w (64,32,3,3), pad 1), as a worker
 * serves it: process.resourceUsage().minorPageFault around each convForwardBackward call, after
 * warm-up, in this thread. Modes:
 *   drop     the results are dropped (or transferred away, the same for this thread's malloc): each
 *            call's outputs are fresh memory, as before the buffer pool;
 *   recycle  the results are read (a checksum, standing in for the encoder) and given back with
 *            recycle() from src/kernels/buffers.ts: what the worker pipeline does after encoding
 *            (src/pool/pipeline.ts).
 *
 *   npx tsx bench/page-faults.ts [--calls 40] [--warmup 5] [--dtype float32|float64|both] [--mode drop|recycle|both]
 *
 * Prints per mode: median, mean and max faults per call, and the median time. The count includes the
 * whole process (every thread), so run it on its own. No pass/fail: glibc's reuse of freed memory
 * depends on garbage-collection timing (see src/kernels/wasm/README.md).
 */
import { parseArgs } from 'node:util';
import { recycle } from '../src/kernels/buffers.ts';
import { convForwardBackward } from '../src/kernels/conv.ts';
import type { Dtype, FloatArray } from '../src/kernels/types.ts';
import { random } from './lib/cases.ts';

const { values: opts } = parseArgs({
  options: {
    calls: { type: 'string', default: '40' },
    warmup: { type: 'string', default: '5' },
    dtype: { type: 'string', default: 'both' },
    mode: { type: 'string', default: 'both' },
  },
});

/** n values of the bench's seeded LCG (bench/lib/cases.ts). */
const rand = (dtype: Dtype, n: number, seed: number): FloatArray => random(dtype, [n], seed);

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

function run(dtype: Dtype, mode: 'drop' | 'recycle'): void {
  const x = { shape: [16, 32, 32, 32], data: rand(dtype, 16 * 32 * 32 * 32, 1) };
  const w = { shape: [64, 32, 3, 3], data: rand(dtype, 64 * 32 * 9, 2) };
  const b = { shape: [64], data: rand(dtype, 64, 3) };
  const dout = { shape: [16, 64, 32, 32], data: rand(dtype, 16 * 64 * 32 * 32, 4) };
  const calls = Number(opts.calls);
  const warmup = Number(opts.warmup);
  const faults: number[] = [];
  const ms: number[] = [];
  let check = 0;
  for (let i = 0; i < warmup + calls; i++) {
    const f0 = process.resourceUsage().minorPageFault;
    const t0 = performance.now();
    const r = convForwardBackward(x, w, b, dout, { pad: 1 });
    // stand-in for the encoder: read every output once
    for (const t of [r.out, r.dx, r.dw, r.db]) for (let j = 0; j < t.data.length; j += 1024) check += t.data[j];
    if (mode === 'recycle') recycle(r.out.data, r.dx.data, r.dw.data, r.db.data);
    const t = performance.now() - t0;
    const f = process.resourceUsage().minorPageFault - f0;
    if (i >= warmup) {
      faults.push(f);
      ms.push(t);
    }
  }
  const mean = faults.reduce((a, c) => a + c, 0) / faults.length;
  console.log(
    `${dtype.padEnd(8)} ${mode.padEnd(8)} faults/call median ${median(faults)}, mean ${mean.toFixed(1)}, max ${Math.max(...faults)}; ` +
      `time median ${median(ms).toFixed(1)} ms (${calls} calls after ${warmup} warm-up; checksum ${check.toFixed(3)})`,
  );
}

const dtypes: Dtype[] = opts.dtype === 'both' ? ['float32', 'float64'] : [opts.dtype as Dtype];
const modes = opts.mode === 'both' ? (['drop', 'recycle'] as const) : [opts.mode as 'drop' | 'recycle'];
console.log(`node ${process.version}, GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? '(unset)'}`);
for (const dtype of dtypes) for (const mode of modes) run(dtype, mode);
