/**
 * The per-thread arena and gemmInArena: scoping, growth and stale views, offsets inside blocks, and
 * that every thread gets its own compiled instance.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { gemmReference } from '../../src/kernels/reference/gemm.ts';
import { WasmArena } from '../../src/kernels/wasm/arena.ts';
import { availableGemmBackends, GemmEngine } from '../../src/kernels/wasm/engine.ts';
import { randn } from '../helpers/gradcheck.ts';

describe('WasmArena', () => {
  it('allocates only inside scope() and frees everything the scope allocated', () => {
    const arena = new WasmArena({ initialBytes: 1 << 16 });
    expect(() => arena.alloc('float64', 4)).toThrow(/outside arena.scope/);
    let kept: ReturnType<typeof arena.alloc<'float64'>> | undefined;
    arena.scope(() => {
      const a = arena.alloc('float64', 10);
      arena.scope(() => {
        arena.alloc('float32', 100);
      });
      expect(arena.used).toBe(128); // 80 bytes rounded up to the 64-byte alignment
      kept = a;
      expect(a.byteOffset % 64).toBe(0);
    });
    expect(arena.used).toBe(0);
    expect(() => kept!.view).toThrow(/after its scope ended/);
  });

  it('frees the scope when it throws', () => {
    const arena = new WasmArena();
    expect(() =>
      arena.scope(() => {
        arena.alloc('float32', 1000);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(arena.used).toBe(0);
  });

  it('grows on demand; block.view follows the new buffer while a kept typed array goes stale', () => {
    const arena = new WasmArena({ initialBytes: 1 << 16 });
    arena.scope(() => {
      const a = arena.alloc('float64', 8);
      const stale = a.view;
      stale.fill(3);
      const before = arena.capacity;
      arena.alloc('float64', 1 << 20); // 8 MiB: must grow
      expect(arena.capacity).toBeGreaterThan(before);
      // This is the hazard the API steers around: growth detaches the old buffer.
      expect(stale.length).toBe(0);
      expect([...a.view]).toEqual([3, 3, 3, 3, 3, 3, 3, 3]);
    });
  });
});

describe.each(availableGemmBackends())('gemmInArena on %s', (backend) => {
  it('multiplies operands at element offsets inside one shared block, without growing memory', () => {
    const engine = new GemmEngine(backend);
    const arena = engine.arena;
    const [M, N, K] = [37, 21, 19];
    arena.scope(() => {
      // A (Kᵀ layout: transA) at 3, B (transB) at 3 + K·M + 5, C after that, all in one block.
      const aOff = 3;
      const bOff = aOff + K * M + 5;
      const cOff = bOff + N * K + 7;
      const block = arena.alloc('float64', cOff + M * N);
      const capacity = arena.capacity;
      const data = randn(block.length, 42);
      block.view.set(data);
      engine.gemmInArena({
        transA: true, transB: true, M, N, K,
        A: block, aOffset: aOff, lda: M, B: block, bOffset: bOff, ldb: K, beta: 1, C: block, cOffset: cOff, ldc: N,
      });
      const ref = data.slice(cOff);
      gemmReference({
        transA: true, transB: true, M, N, K,
        A: data.subarray(aOff), lda: M, B: data.subarray(bOff), ldb: K, beta: 1, C: ref, ldc: N,
      });
      const got = block.view.subarray(cOff);
      for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(1e-12 * (1 + Math.abs(ref[i])));
      // Everything before C is untouched.
      expect(block.view.subarray(0, cOff)).toEqual(data.subarray(0, cOff));
      expect(arena.capacity).toBe(capacity);
    });
  });

  it('rejects blocks of another arena, freed blocks, mixed dtypes and out-of-range offsets', () => {
    const engine = new GemmEngine(backend);
    const other = new WasmArena();
    const arena = engine.arena;
    let freed: ReturnType<typeof arena.alloc<'float32'>> | undefined;
    arena.scope(() => {
      freed = arena.alloc('float32', 4);
    });
    arena.scope(() => {
      const A = arena.alloc('float32', 4);
      const C = arena.alloc('float32', 4);
      const base = { transA: false, transB: false, M: 2, N: 2, K: 2, A, lda: 2, B: A, ldb: 2, beta: 0 as const, C, ldc: 2 };
      engine.gemmInArena(base);
      other.scope(() => {
        expect(() => engine.gemmInArena({ ...base, B: other.alloc('float32', 4) })).toThrow(/another arena/);
      });
      expect(() => engine.gemmInArena({ ...base, B: freed! })).toThrow(/after its scope/);
      expect(() => engine.gemmInArena({ ...base, C: arena.alloc('float64', 4) })).toThrow(TypeError);
      expect(() => engine.gemmInArena({ ...base, aOffset: 1 })).toThrow(RangeError);
      expect(() => engine.gemmInArena({ ...base, ldc: 3 })).toThrow(RangeError);
    });
  });
});

it('each worker thread compiles its own instance and picks the same backend', async () => {
  // A .ts module loads in a worker only through tsx's hooks; on Node 20 `execArgv: ['--import', 'tsx']`
  // does not reach them, so the worker registers tsx itself.
  const gemmUrl = new URL('../../src/kernels/gemm.ts', import.meta.url).href;
  const code = `
    const { parentPort } = require('node:worker_threads');
    (async () => {
      (await import('tsx/esm/api')).register(); // resolved from the cwd, the project root
      const m = await import(${JSON.stringify(gemmUrl)});
      const A = new Float64Array(64 * 64).fill(1);
      const C = new Float64Array(64 * 64);
      m.gemm({ transA: false, transB: false, M: 64, N: 64, K: 64, A, lda: 64, B: A, ldb: 64, beta: 0, C, ldc: 64 });
      parentPort.postMessage({ backend: m.gemmBackend(), c: C[4095] });
    })();`;
  const worker = new Worker(code, { eval: true });
  try {
    const msg = await new Promise<{ backend: string; c: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(msg).toEqual({ backend: availableGemmBackends()[0], c: 64 });
  } finally {
    await worker.terminate();
  }
});
