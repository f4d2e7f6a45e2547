/**
 * skewedBlock (src/kernels/wasm/norm-engine.ts): the result and dout blocks of the normalization
 * kernels are placed so that their rows do not share their address modulo 4 KiB with the rows of
 * the blocks walked in step (4K aliasing); the view must still cover exactly the block's n values.
 */
import { describe, expect, it } from 'vitest';
import { normEngine, skewedBlock } from '../../src/kernels/wasm/norm-engine.ts';

const distance = (a: number, b: number) => {
  const d = (a - b) & 4095;
  return Math.min(d, 4096 - d);
};

describe('skewedBlock', () => {
  const eng = normEngine();
  it('has the engine (npm run build:wasm)', () => expect(eng).toBeDefined());

  it.each([4096, 8192, 2048, 4000, 1024 * 3, 64])('rows of %i bytes: every row of the block at least 256 bytes (mod 4 KiB) from the other blocks\' rows', (rowBytes) => {
    const { arena } = eng!;
    arena.scope(() => {
      const x = arena.alloc('float32', 8 * rowBytes / 4);
      const g = skewedBlock(arena, 'float32', 8 * rowBytes / 4, rowBytes, [x.byteOffset]);
      const y = skewedBlock(arena, 'float32', 4 * rowBytes / 4, rowBytes, [x.byteOffset, g.ptr]);
      for (const b of [g, y]) expect(b.ptr % 64, 'on a cache line').toBe(0);
      // rows walked together: up to four apart either way
      let worst = 4096;
      for (let k = -4; k <= 4; k++) {
        worst = Math.min(worst, distance(g.ptr, x.byteOffset + k * rowBytes));
        worst = Math.min(worst, distance(y.ptr, x.byteOffset + k * rowBytes), distance(y.ptr, g.ptr + k * rowBytes));
      }
      // 18 rows (mod 4 KiB) to avoid at most: the widest gap is at least 4096 / 18, its middle half that
      expect(worst).toBeGreaterThanOrEqual(64);
      if (rowBytes % 4096 === 0) expect(worst).toBeGreaterThanOrEqual(1024);
      // the view is the block's values, inside the arena's memory, and writable without touching x
      x.view.fill(0);
      g.view().fill(1);
      const v = y.view();
      expect(v.length).toBe(rowBytes);
      expect(v.byteOffset).toBe(y.ptr);
      v.fill(7);
      expect(x.view.every((e) => e === 0), 'x untouched').toBe(true);
      expect(g.view().every((e) => e === 1), 'g untouched').toBe(true);
    });
  });
});
