/**
 * The conv helpers next to the GEMM in the wasm module (col2imInArena, rowSumsInArena, the Winograd
 * transforms): they write into arena memory with no bounds checks of their own, so the engine must
 * refuse operands that do not fit. Their results are covered by the conv properties (fast == reference) in conv.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { convInfo } from '../../src/kernels/geometry.ts';
import { availableGemmBackends, GemmEngine } from '../../src/kernels/wasm/engine.ts';
import { ConvKernels } from '../../src/kernels/wasm/conv-kernels.ts';

const wasmBackends = availableGemmBackends().filter((b) => b !== 'js');

describe.each(wasmBackends)('conv helpers on %s', (backend) => {
  const g = convInfo([1, 2, 5, 4], [3, 2, 3, 3], { pad: 1 }); // Ho = 5, Wo = 4, K = 18

  it('col2imInArena adds the adjoint of im2col: ones in dcol count the taps that read each pixel', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      const dcol = arena.alloc('float64', 18 * 20);
      const dx = arena.alloc('float64', 2 * 20 + 3);
      dcol.view.fill(1);
      dx.view.fill(0.5);
      kernels.col2imInArena(g, 0, 5, dcol, dx, 3);
      const v = dx.view;
      expect([v[0], v[1], v[2]]).toEqual([0.5, 0.5, 0.5]); // before the offset: untouched
      // 3x3 kernel, pad 1, stride 1: a corner pixel is read by 4 taps, an edge one by 6, an inner one by 9.
      expect(v[3]).toBe(4.5);
      expect(v[3 + 1]).toBe(6.5);
      expect(v[3 + 4 + 1]).toBe(9.5);
      expect(v[3 + 20 + 19]).toBe(4.5);
    });
  });

  it('col2imInArena refuses rows outside the output, a short dcol, a short dx, mixed dtypes, dead blocks', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    let dead: ReturnType<typeof arena.alloc<'float32'>> | undefined;
    arena.scope(() => {
      const dcol = arena.alloc('float32', 18 * 20);
      const dx = arena.alloc('float32', 40);
      const dx64 = arena.alloc('float64', 40);
      dead = arena.alloc('float32', 40);
      expect(() => kernels.col2imInArena(g, 0, 6, dcol, dx)).toThrow(/bad rows/);
      expect(() => kernels.col2imInArena(g, 3, 3, dcol, dx)).toThrow(/bad rows/);
      expect(() => kernels.col2imInArena(g, 0, 5, arena.alloc('float32', 18 * 20 - 1), dx)).toThrow(/dcol needs/);
      expect(() => kernels.col2imInArena(g, 0, 5, dcol, dx, 1)).toThrow(/dx needs/);
      expect(() => kernels.col2imInArena(g, 0, 5, dcol, dx64)).toThrow(/share a dtype/);
      kernels.col2imInArena(g, 2, 3, dcol, dx); // one output row: 18 × 4 elements of dcol suffice
    });
    expect(() => kernels.col2imInArena(g, 0, 5, dead!, dead!)).toThrow(/after its scope ended/);
  });

  it('im2colInArena refuses rows outside the output, a short col, a short x', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      const x = arena.alloc('float32', 2 * 20);
      const col = arena.alloc('float32', 18 * 20);
      kernels.im2colInArena(g, 0, 5, x, col);
      expect(() => kernels.im2colInArena(g, 0, 6, x, col)).toThrow(/bad rows/);
      expect(() => kernels.im2colInArena(g, 0, 5, x, arena.alloc('float32', 18 * 20 - 1))).toThrow(/col needs/);
      expect(() => kernels.im2colInArena(g, 0, 5, arena.alloc('float32', 39), col)).toThrow(/x needs/);
      expect(() => kernels.im2colInArena(g, 0, 5, arena.alloc('float64', 40), col)).toThrow(/share a dtype/);
    });
  });

  it('rowSumsInArena sums rows in double and adds to dst; refuses operands that do not fit', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      const src = arena.alloc('float32', 3 * 7);
      const dst = arena.alloc('float64', 3);
      src.view.forEach((_, i, a) => (a[i] = i % 7 === 0 ? 2 ** 24 : 1)); // 2^24 + 1 + … is exact only in double
      dst.view.set([1, 2, 3]);
      kernels.rowSumsInArena(src, 0, 3, 6, 7, dst); // columns 0..5 of each row
      expect([...dst.view]).toEqual([1 + 2 ** 24 + 5, 2 + 2 ** 24 + 5, 3 + 2 ** 24 + 5]);
      expect(() => kernels.rowSumsInArena(src, 1, 3, 7, 7, dst)).toThrow(/src needs/);
      expect(() => kernels.rowSumsInArena(src, 0, 4, 5, 5, dst)).toThrow(/dst needs/);
    });
  });
});

describe('conv helpers on js', () => {
  it('say they need wasm', () => {
    const engine = new GemmEngine('js');
    const kernels = new ConvKernels(engine);
    expect(engine.hasWasm).toBe(false);
    expect(kernels.available).toBe(false);
    engine.arena.scope(() => {
      const a = engine.arena.alloc('float64', 400);
      expect(() => kernels.col2imInArena(convInfo([1, 1, 3, 3], [1, 1, 1, 1]), 0, 3, a, a)).toThrow(/needs a wasm backend/);
    });
  });
});

describe.each(wasmBackends)('depthwise helpers on %s', (backend) => {
  // 3 channels, multiplier 2, 3x3, pad 1: 6 filters
  const g = convInfo([1, 3, 4, 5], [6, 1, 3, 3], { pad: 1, groups: 3 });

  it('refuse operands that do not fit', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      const x = arena.alloc('float64', 3 * 20);
      const w = arena.alloc('float64', 6 * 9);
      const b = arena.alloc('float64', 6);
      const out = arena.alloc('float64', 6 * 20);
      const dx = arena.alloc('float64', 3 * 20);
      const dwAcc = arena.alloc('float64', 6 * 9);
      const w32 = arena.alloc('float32', 6 * 9);
      kernels.depthwiseForwardInArena(g, 3, x, w, 0, b, 0, out);
      kernels.depthwiseForwardInArena(g, 1, x, w, 4 * 9, b, 4, out); // the last channel's two filters
      expect(() => kernels.depthwiseForwardInArena(g, 3, x, w, 9, b, 0, out)).toThrow(/w needs/);
      expect(() => kernels.depthwiseForwardInArena(g, 3, x, w, 0, b, 1, out)).toThrow(/b needs/);
      expect(() => kernels.depthwiseForwardInArena(g, 4, x, w, 0, b, 0, out)).toThrow(/x needs/);
      expect(() => kernels.depthwiseForwardInArena(g, 0, x, w, 0, b, 0, out)).toThrow(/channel count/);
      expect(() => kernels.depthwiseForwardInArena(g, 3, x, w32, 0, b, 0, out)).toThrow(/share a dtype/);
      expect(() => kernels.depthwiseForwardInArena(g, 3, x, w, 0, b, 0, arena.alloc('float64', 119))).toThrow(/out needs/);
      kernels.depthwiseBackwardInArena(g, 3, x, w, 0, out, dx, dwAcc, 0);
      expect(() => kernels.depthwiseBackwardInArena(g, 3, x, w, 0, out, dx, dwAcc, 1)).toThrow(/dwAcc needs/);
      expect(() => kernels.depthwiseBackwardInArena(g, 3, x, w, 0, arena.alloc('float64', 119), dx, dwAcc, 0)).toThrow(/dout needs/);
      expect(() => kernels.depthwiseBackwardInArena(g, 3, x, w, 0, out, arena.alloc('float64', 59), dwAcc, 0)).toThrow(/dx needs/);
      const dw32 = arena.alloc('float32', 54) as unknown as typeof dwAcc;
      expect(() => kernels.depthwiseBackwardInArena(g, 3, x, w, 0, out, dx, dw32, 0)).toThrow(/must be float64/);
    });
  });
});

describe.each(wasmBackends)('Winograd helpers on %s', (backend) => {
  it('refuse bands and planes that do not fit', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      // 2 channels, 2 tile rows of 4 tiles: padded planes 6 × 10, tiles 16 × 2 × 8
      const band = { tr0: 0, tr1: 2, tW: 4, xs: 16 };
      const mBand = { ...band, xs: 24 };
      const xpad = arena.alloc('float32', 2 * 60);
      const V = arena.alloc('float32', 16 * 2 * 8);
      kernels.winogradInputInArena(xpad, V, 2, 10, 60, band);
      kernels.winogradDxInArena(V, xpad, 2, 10, 60, band);
      expect(() => kernels.winogradInputInArena(xpad, V, 2, 10, 61, band)).toThrow(/xpad needs/);
      expect(() => kernels.winogradInputInArena(xpad, V, 2, 9, 60, band)).toThrow(/ld 9 < 10/);
      expect(() => kernels.winogradInputInArena(xpad, V, 2, 10, 60, { ...band, tW: 2 })).toThrow(/multiple of 4/);
      expect(() => kernels.winogradInputInArena(xpad, V, 2, 10, 60, { ...band, tr0: 2 })).toThrow(/bad tile rows/);
      expect(() => kernels.winogradInputInArena(xpad, V, 2, 10, 60, { ...band, xs: 15 })).toThrow(/xs 15 < 16/);
      expect(() => kernels.winogradInputInArena(xpad, arena.alloc('float32', 255), 2, 10, 60, band)).toThrow(/V needs/);
      expect(() => kernels.winogradDxInArena(V, arena.alloc('float64', 120), 2, 10, 60, band)).toThrow(/share a dtype/);
      // outputs: 3 filters, planes 4 × 8
      const M = arena.alloc('float32', 16 * 3 * 8);
      const b = arena.alloc('float32', 3);
      const opad = arena.alloc('float32', 3 * 32);
      kernels.winogradOutputInArena(M, b, opad, 3, 32, mBand);
      kernels.winogradDoutInArena(opad, M, 3, 32, mBand);
      expect(() => kernels.winogradOutputInArena(M, b, opad, 3, 33, mBand)).toThrow(/opad needs/);
      expect(() => kernels.winogradOutputInArena(M, arena.alloc('float32', 2), opad, 3, 32, mBand)).toThrow(/b needs/);
      expect(() => kernels.winogradDoutInArena(opad, arena.alloc('float32', 383), 3, 32, mBand)).toThrow(/D needs/);
      expect(() => kernels.winogradDoutInArena(opad, M, 3, 32, { ...mBand, xs: 25 })).toThrow(/D needs 399/);
      // plane copies
      kernels.copyPlanesInArena(xpad, 11, 60, 10, opad, 0, 32, 8, 2, 4, 8);
      expect(() => kernels.copyPlanesInArena(xpad, 13, 60, 10, opad, 0, 32, 8, 2, 5, 8)).toThrow(/src needs/);
      expect(() => kernels.copyPlanesInArena(xpad, 0, 60, 10, opad, 60, 32, 8, 2, 4, 8)).toThrow(/dst needs/);
    });
  });

  it('copyPlanesInArena moves rows between strided planes', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      const src = arena.alloc('float64', 12);
      const dst = arena.alloc('float64', 2 * 9);
      src.view.set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // 2 planes of 2 × 3
      dst.view.fill(0);
      kernels.copyPlanesInArena(src, 0, 6, 3, dst, 4, 9, 3, 2, 2, 2); // columns 0..1 of each row, at (1, 1) of 3 × 3 planes
      expect([...dst.view]).toEqual([0, 0, 0, 0, 1, 2, 0, 4, 5, 0, 0, 0, 0, 7, 8, 0, 10, 11]);
    });
  });
});

describe.each(wasmBackends)('Winograd F(4x4) helpers on %s', (backend) => {
  it('refuse float64, bands that do not fit their rows and planes or matrices too small', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      // 2 channels, 2 tile rows of 4 tiles: padded planes 10 × 20, 36 matrices of 2 × 8 tiles
      const band = { tr0: 0, tr1: 2, tW: 4, xs: 16, ldt: 8, tOffset: 0 };
      const xpad = arena.alloc('float32', 2 * 200);
      const V = arena.alloc('float32', 36 * 16);
      kernels.winograd4InputInArena(xpad, V, 2, 20, 200, band);
      kernels.winograd4DxInArena(V, xpad, 2, 20, 200, band);
      expect(() => kernels.winograd4InputInArena(xpad, V, 2, 20, 201, band)).toThrow(/xpad needs/);
      expect(() => kernels.winograd4InputInArena(xpad, V, 2, 19, 200, band)).toThrow(/ld 19 < 20/);
      expect(() => kernels.winograd4InputInArena(xpad, V, 2, 20, 200, { ...band, tOffset: 1 })).toThrow(/do not fit rows of 8/);
      expect(() => kernels.winograd4InputInArena(xpad, V, 2, 20, 200, { ...band, xs: 15 })).toThrow(/xs 15 < 16/);
      expect(() => kernels.winograd4InputInArena(xpad, arena.alloc('float32', 36 * 16 - 1), 2, 20, 200, band)).toThrow(/V needs/);
      const x64 = arena.alloc('float64', 400);
      expect(() => kernels.winograd4InputInArena(x64, arena.alloc('float64', 576), 2, 20, 200, band)).toThrow(/float32 only/);
      // output planes 8 × 16 per filter
      const M = arena.alloc('float32', 36 * 16);
      const b = arena.alloc('float32', 2);
      const opad = arena.alloc('float32', 2 * 128);
      kernels.winograd4OutputInArena(M, b, opad, 2, 128, band);
      kernels.winograd4DoutInArena(opad, M, 2, 128, band);
      expect(() => kernels.winograd4OutputInArena(M, b, opad, 2, 129, band)).toThrow(/opad needs/);
      expect(() => kernels.winograd4DoutInArena(opad, M, 3, 128, band)).toThrow(/xs 16 < 24/);
      // two images of one tile row side by side in rows of 8 tiles: images × F planes of opad
      const one = { ...band, tr1: 1 };
      kernels.winograd4OutputInArena(M, b, opad, 2, 64, one, 2);
      kernels.winograd4DoutInArena(opad, M, 2, 64, one, 2);
      expect(() => kernels.winograd4OutputInArena(M, b, opad, 2, 64, one, 3)).toThrow(/do not fit rows of 8/);
      expect(() => kernels.winograd4OutputInArena(M, b, opad, 2, 80, one, 2)).toThrow(/opad needs/);
      expect(() => kernels.winograd4DoutInArena(opad, M, 2, 64, one, 0)).toThrow(/bad image count/);
    });
  });
});


describe.each(wasmBackends)('strided Winograd (3x3, stride 2) helpers on %s', (backend) => {
  it('refuse bands that do not fit their rows, planes or matrices; several images per output call', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      for (const dtype of ['float32', 'float64'] as const) {
        // 2 channels, 2 tile rows of 4 tiles: padded planes 9 × 20, 25 matrices of 2 × 8 tiles
        const band = { tr0: 0, tr1: 2, tW: 4, xs: 16, ldt: 8, tOffset: 0 };
        const xpad = arena.alloc(dtype, 2 * 180);
        const V = arena.alloc(dtype, 25 * 16);
        kernels.winogradS2InputInArena(xpad, V, 2, 20, 180, band);
        kernels.winogradS2DxInArena(V, xpad, 2, 20, 180, band);
        expect(() => kernels.winogradS2InputInArena(xpad, V, 2, 20, 181, band)).toThrow(/xpad needs/);
        expect(() => kernels.winogradS2DxInArena(V, xpad, 2, 19, 180, band)).toThrow(/ld 19 < 20/);
        expect(() => kernels.winogradS2InputInArena(xpad, V, 2, 20, 180, { ...band, tOffset: 1 })).toThrow(/do not fit rows of 8/);
        expect(() => kernels.winogradS2InputInArena(xpad, V, 2, 20, 180, { ...band, xs: 15 })).toThrow(/xs 15 < 16/);
        expect(() => kernels.winogradS2InputInArena(xpad, V, 2, 20, 180, { ...band, tW: 3 })).toThrow(/multiple of/);
        expect(() => kernels.winogradS2InputInArena(xpad, arena.alloc(dtype, 25 * 16 - 1), 2, 20, 180, band)).toThrow(/V needs/);
        // output planes 4 × 8 per filter; two images of one tile row each side by side in rows of 8 tiles
        const M = arena.alloc(dtype, 25 * 16);
        const b = arena.alloc(dtype, 2);
        const opad = arena.alloc(dtype, 2 * 2 * 32);
        const one = { ...band, tr1: 1 };
        kernels.winogradS2OutputInArena(M, b, opad, 2, 32, one, 2);
        kernels.winogradS2DoutInArena(opad, M, 2, 32, one, 2);
        expect(() => kernels.winogradS2OutputInArena(M, b, opad, 2, 32, one, 3)).toThrow(/do not fit rows of 8/);
        expect(() => kernels.winogradS2OutputInArena(M, b, opad, 2, 40, one, 2)).toThrow(/opad needs/);
        expect(() => kernels.winogradS2DoutInArena(opad, M, 3, 32, band)).toThrow(/xs 16 < 24/);
        expect(() => kernels.winogradS2DoutInArena(opad, M, 2, 32, one, 0)).toThrow(/bad image count/);
      }
    });
  });

  it('the filter transform sums the taps of G g Gᵀ (16 matrices) and its adjoint is its transpose', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      for (const dtype of ['float32', 'float64'] as const) {
        // one filter g = [1 2 3; 4 5 6; 7 8 9]; G rows: g0, g0 + g2, g2, g1
        const w = arena.alloc(dtype, 9);
        const U = arena.alloc(dtype, 16);
        w.view.set([1, 2, 3, 4, 5, 6, 7, 8, 9]);
        kernels.winogradS2FilterInArena(w, U, 1, 1);
        const h = [[1, 2, 3], [8, 10, 12], [7, 8, 9], [4, 5, 6]]; // G g
        expect([...U.view]).toEqual(h.flatMap((r) => [r[0], r[0] + r[2], r[2], r[1]]));
        // <U, dU> = <w, dw> for the adjoint, on integers (exact)
        const dU = arena.alloc(dtype, 16);
        const dw = arena.alloc(dtype, 9);
        dU.view.set(Array.from({ length: 16 }, (_, i) => (i * 7) % 5 - 2));
        kernels.winogradS2FilterAdjointInArena(dU, dw, 1, 1);
        const dot = (a: ArrayLike<number>, c: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * c[i], 0);
        expect(dot(dw.view, w.view)).toBe(dot(dU.view, U.view));
        expect(() => kernels.winogradS2FilterInArena(w, U, 2, 1)).toThrow(/w needs/);
        expect(() => kernels.winogradS2FilterAdjointInArena(dU, dw, 1, 2)).toThrow(/dU needs/);
      }
    });
  });

  it('copyPlanesInArena copies short rows (16-byte steps) and long rows (memory.copy) alike', () => {
    const engine = new GemmEngine(backend);
    const kernels = new ConvKernels(engine);
    const arena = engine.arena;
    arena.scope(() => {
      for (const cols of [5, 64, 70]) { // 20, 256, 280 bytes of float32
        const src = arena.alloc('float32', 3 * cols);
        const dst = arena.alloc('float32', 3 * (cols + 3));
        src.view.set(Array.from({ length: 3 * cols }, (_, i) => i + 1));
        dst.view.fill(0);
        kernels.copyPlanesInArena(src, 0, 3 * cols, cols, dst, 1, 3 * (cols + 3), cols + 3, 1, 3, cols);
        for (let r = 0; r < 3; r++) {
          const row = [...dst.view.subarray(r * (cols + 3), (r + 1) * (cols + 3))];
          // row r of dst starts one element in: (0, src row r, 0, 0)
          expect(row).toEqual([0, ...Array.from({ length: cols }, (_, j) => r * cols + j + 1), 0, 0]);
        }
      }
    });
  });
});
