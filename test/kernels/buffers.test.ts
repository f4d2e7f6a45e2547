/**
 * The per-thread output buffer pool (src/kernels/buffers.ts): recycled buffers come back to the next
 * taker of their size class, never to two takers at once; detached, foreign and twice-recycled arrays
 * are ignored; idle memory stays within its bounds; and kernels whose outputs come from the pool still
 * write every element (outputs poisoned with NaN before recycling must not show through).
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  bufferPoolStats, configureBufferPool, MIN_POOLED_BYTES, recycle, resetBufferPool, takeArray,
} from '../../src/kernels/buffers.ts';
import { convForwardBackward } from '../../src/kernels/conv.ts';
import { convBackwardReference, convForwardReference } from '../../src/kernels/reference/conv.ts';
import type { ConvParams } from '../../src/kernels/geometry.ts';
import type { Tensor } from '../../src/kernels/types.ts';
import { randn } from '../helpers/gradcheck.ts';
import { scaledDiff } from './conv-pool-helpers.ts';

afterEach(() => {
  resetBufferPool();
  configureBufferPool({ maxIdleBytes: 96 << 20, maxPerClass: 4 });
});

describe('buffer pool', () => {
  it('hands a recycled buffer to the next taker of its byte length, as a standalone array', () => {
    resetBufferPool();
    const a = takeArray('float32', 100_000);
    expect(a.length).toBe(100_000);
    expect(a.buffer.byteLength).toBe(400_000);
    const buffer = a.buffer;
    recycle(a);
    expect(takeArray('float32', 100_001).buffer).not.toBe(buffer); // another length
    const b = takeArray('float64', 50_000); // 400 000 bytes
    expect(b.buffer).toBe(buffer);
    expect(b.byteOffset).toBe(0);
    expect(b.length).toBe(50_000);
    expect(bufferPoolStats()).toMatchObject({ hits: 1, misses: 2, recycled: 1 });
  });

  it('never lends one buffer twice: a second recycle of the same array is ignored', () => {
    resetBufferPool();
    const a = takeArray('float64', 20_000);
    recycle(a);
    recycle(a);
    const b = takeArray('float64', 20_000);
    const c = takeArray('float64', 20_000);
    expect(b.buffer).not.toBe(c.buffer);
    expect(bufferPoolStats().ignored).toBe(1);
  });

  it('ignores foreign, small and detached arrays', () => {
    resetBufferPool();
    const foreign = new Float64Array(20_000);
    const small = takeArray('float32', 100);
    expect(small.byteLength).toBeLessThan(MIN_POOLED_BYTES);
    const sent = takeArray('float32', 50_000);
    structuredClone(sent.buffer, { transfer: [sent.buffer as ArrayBuffer] }); // as a transfer to another thread does
    expect(sent.buffer.byteLength).toBe(0);
    recycle(foreign, small, sent, undefined);
    expect(bufferPoolStats()).toMatchObject({ recycled: 0, idleBytes: 0 });
    expect(takeArray('float32', 50_000).buffer.byteLength).toBeGreaterThan(0); // a new one
  });

  it('zeroes on request and keeps idle memory within its bounds, evicting the least recently used lengths', () => {
    resetBufferPool();
    configureBufferPool({ maxIdleBytes: 1_000_000, maxPerClass: 2 });
    const arrays = [1, 2, 3].map(() => takeArray('float32', 100_000));
    arrays[0].fill(7);
    recycle(...arrays);
    expect(bufferPoolStats()).toMatchObject({ recycled: 2, idleBytes: 800_000 }); // per-length bound
    const z = takeArray('float32', 100_000, true);
    expect(z.every((v) => v === 0)).toBe(true);
    const other = takeArray('float64', 60_000); // 480 000 bytes
    recycle(other); // 400 000 + 480 000 fit
    expect(bufferPoolStats().idleBytes).toBe(880_000);
    recycle(z); // 1 280 000 would not: the 400 000-byte length (least recently used) gives one up
    expect(bufferPoolStats().idleBytes).toBe(880_000);
    expect(takeArray('float64', 60_000).buffer).toBe(other.buffer);
    configureBufferPool({ maxIdleBytes: 0 });
    expect(bufferPoolStats().idleBytes).toBe(0);
  });
});

describe('conv outputs from the pool', () => {
  const t = (shape: number[], seed: number, f32: boolean): Tensor => {
    const d = randn(shape.reduce((a, b) => a * b, 1), seed);
    return { shape, data: f32 ? Float32Array.from(d) : d };
  };
  const cases: { name: string; x: number[]; w: number[]; params: ConvParams }[] = [
    // outputs of at least MIN_POOLED_BYTES in float32, so that they come from the pool
    { name: 'winograd', x: [4, 16, 24, 24], w: [16, 16, 3, 3], params: { pad: 1 } },
    { name: 'im2col stride 2', x: [4, 16, 32, 32], w: [32, 16, 3, 3], params: { pad: 1, stride: 2 } },
    { name: 'depthwise', x: [4, 32, 24, 24], w: [32, 1, 3, 3], params: { pad: 1, groups: 32 } },
  ];
  for (const c of cases) {
    for (const f32 of [false, true]) {
      it(`${c.name} ${f32 ? 'float32' : 'float64'}: every output element is written on reused buffers`, () => {
        resetBufferPool();
        const x = t(c.x, 1, f32), w = t(c.w, 2, f32);
        const b = t([c.w[0]], 3, f32);
        const x64 = { shape: x.shape, data: Float64Array.from(x.data) };
        const w64 = { shape: w.shape, data: Float64Array.from(w.data) };
        const b64 = { shape: b.shape, data: Float64Array.from(b.data) };
        const want = convForwardReference(x64, w64, b64, c.params);
        const dout = t(want.shape, 4, f32);
        const wantGrads = convBackwardReference(x64, w64, { shape: dout.shape, data: Float64Array.from(dout.data) }, c.params);
        const first = convForwardBackward(x, w, b, dout, c.params);
        for (const a of [first.out.data, first.dx.data, first.dw.data, first.db.data]) a.fill(Number.NaN);
        recycle(first.out.data, first.dx.data, first.dw.data, first.db.data);
        const second = convForwardBackward(x, w, b, dout, c.params);
        expect(bufferPoolStats().hits).toBeGreaterThan(0);
        const tol = f32 ? 1e-4 : 1e-12;
        expect(scaledDiff(second.out.data, want.data)).toBeLessThan(tol);
        expect(scaledDiff(second.dx.data, wantGrads.dx.data)).toBeLessThan(tol);
        expect(scaledDiff(second.dw.data, wantGrads.dw.data)).toBeLessThan(tol);
        expect(scaledDiff(second.db.data, wantGrads.db.data)).toBeLessThan(tol);
      });
    }
  }
});
