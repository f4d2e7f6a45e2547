/**
 * The WebAssembly 2x2 stride-2 pooling kernels (src/kernels/pool-wasm.ts → wasm/assembly/pool.ts):
 * equal to the plain reference (reference/pool.ts) and bit for bit to the JS loops they replace for
 * large tensors (max-pool.ts, avg-pool.ts below POOL_MIN_WASM_ELEMENTS values), in float64 and float32,
 * on odd sizes (an odd last row or column belongs to no window and gets dx = 0), with ties (first
 * maximum wins), special values (±0, ±∞, and NaN against the JS loops) and several chunks of planes.
 */
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { poolInfo, type AvgPoolParams } from '../../src/kernels/geometry.ts';
import { maxPoolBackward, maxPoolForward, maxPoolForwardBackward } from '../../src/kernels/max-pool.ts';
import { avgPoolBackward, avgPoolForward, avgPoolForwardBackward } from '../../src/kernels/avg-pool.ts';
import { pool2x2Wasm, POOL_MIN_WASM_ELEMENTS } from '../../src/kernels/pool-wasm.ts';
import {
  avgPoolBackwardReference,
  avgPoolForwardReference,
  maxPoolBackwardReference,
  maxPoolForwardReference,
} from '../../src/kernels/reference/pool.ts';
import type { FloatArray, Tensor } from '../../src/kernels/types.ts';
import { randn, rng } from '../helpers/gradcheck.ts';
import { distinctValues, tiedValues } from './conv-pool-helpers.ts';

const params: AvgPoolParams = { poolHeight: 2, poolWidth: 2, stride: 2 };

/** ±0, ±∞ and ties in every window position; with NaN too for `nan`. */
function specialValues(n: number, seed: number, nan = false): Float64Array {
  const r = rng(seed);
  const pick = [nan ? NaN : 2, -0, 0, Infinity, -Infinity, 1, -1, 1];
  return Float64Array.from({ length: n }, () => pick[Math.floor(r() * pick.length)]);
}

/** Element by element with Object.is (NaN equals NaN, +0 differs from −0). */
function expectIdentical(what: string, got: FloatArray, want: FloatArray): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
  }
}

/** Equal as numbers (NaN equals NaN, +0 equals −0): the reference sums dx from +0. */
function expectEqual(what: string, got: FloatArray, want: FloatArray): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(got[i] === want[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) expect.fail(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
  }
}

const poolCase = fc.record({
  N: fc.integer({ min: 1, max: 3 }),
  C: fc.integer({ min: 1, max: 4 }),
  H: fc.integer({ min: 2, max: 19 }),
  W: fc.integer({ min: 2, max: 19 }),
  dtype: fc.constantFrom('float64' as const, 'float32' as const),
  data: fc.constantFrom('randn' as const, 'distinct' as const, 'ties' as const, 'special' as const, 'nan' as const),
  /** planes per chunk as a fraction of all planes */
  chunk: fc.constantFrom(1, 0.5, 0.01),
  seed: fc.integer({ min: 0, max: 2 ** 30 }),
});

describe.each(['max', 'avg'] as const)('%s-pool 2x2 stride 2 on the wasm kernels', (kind) => {
  test.prop([poolCase], { numRuns: 200 })('equal the reference, and the JS loops bit for bit', (c) => {
    // NaN: the service refuses non-finite inputs, and the plain reference's sequential argmax differs
    // from the JS loops' pairwise maximum there; the wasm kernels must still match the JS loops, which
    // the public functions run below POOL_MIN_WASM_ELEMENTS values.
    const nan = c.data === 'nan';
    const [H, W] = nan ? [Math.min(c.H, 12), Math.min(c.W, 12)] : [c.H, c.W];
    const n = c.N * c.C * H * W;
    const generators = { randn, distinct: distinctValues, ties: tiedValues, special: specialValues, nan: (k: number, s: number) => specialValues(k, s, true) };
    const values = generators[c.data](n, c.seed);
    const typed = (v: Float64Array) => (c.dtype === 'float32' ? Float32Array.from(v) : v);
    const x: Tensor = { shape: [c.N, c.C, H, W], data: typed(values) };
    const g = poolInfo(x.shape, params, `${kind}-pool`);
    const dout: Tensor = { shape: [...g.outShape], data: typed(randn(c.N * c.C * g.Ho * g.Wo, c.seed + 1)) };
    const capElements = H * W * Math.max(1, Math.floor(c.chunk * c.N * c.C));
    const before = [Array.from(x.data), Array.from(dout.data)];

    const fwd = pool2x2Wasm(kind, g, x.data, x.data, undefined, { out: true, dx: false }, { capElements })!;
    const bwd = pool2x2Wasm(kind, g, x.data, kind === 'max' ? x.data : undefined, dout.data, { out: false, dx: true }, { capElements })!;
    const both = pool2x2Wasm(kind, g, x.data, x.data, dout.data, { out: true, dx: true }, { capElements })!;
    for (const r of [fwd.out!, bwd.dx!, both.out!, both.dx!]) expect(r.constructor).toBe(x.data.constructor);

    const [refOut, refDx] = kind === 'max'
      ? [maxPoolForwardReference(x, params), maxPoolBackwardReference(x, dout, params)]
      : [avgPoolForwardReference(x, params), avgPoolBackwardReference(x, dout, params)];
    if (!nan) {
      for (const [what, got, want] of [['out', fwd.out!, refOut.data], ['dx', bwd.dx!, refDx.data], ['both out', both.out!, refOut.data], ['both dx', both.dx!, refDx.data]] as const) {
        expectEqual(what, got, want);
      }
    }
    if (n < POOL_MIN_WASM_ELEMENTS) {
      // the public functions run the JS loops here
      const [jsOut, jsDx] = kind === 'max'
        ? [maxPoolForward(x, params), maxPoolBackward(x, dout, params)]
        : [avgPoolForward(x, params), avgPoolBackward(x, dout, params)];
      expectIdentical('out vs JS', fwd.out!, jsOut.data);
      expectIdentical('dx vs JS', bwd.dx!, jsDx.data);
      expectIdentical('both out vs JS', both.out!, jsOut.data);
      expectIdentical('both dx vs JS', both.dx!, jsDx.data);
    }
    expect([Array.from(x.data), Array.from(dout.data)], 'inputs not mutated').toEqual(before);
  });
});

describe('the public functions on large tensors', () => {
  it.each(['float64', 'float32'] as const)('take the wasm path (%s); forward + backward equals forward then backward', (dtype) => {
    const shape = [2, 3, 40, 41];
    const n = 2 * 3 * 40 * 41;
    const typed = (v: Float64Array) => (dtype === 'float32' ? Float32Array.from(v) : v);
    const x: Tensor = { shape, data: typed(tiedValues(n, 1)) };
    const dout: Tensor = { shape: [2, 3, 20, 20], data: typed(randn(2 * 3 * 20 * 20, 2)) };
    expect(n).toBeGreaterThanOrEqual(POOL_MIN_WASM_ELEMENTS);
    const g = poolInfo(shape, params, 'max-pool');
    for (const kind of ['max', 'avg'] as const) {
      const [forward, backward, both] = kind === 'max'
        ? [maxPoolForward, maxPoolBackward, maxPoolForwardBackward]
        : [avgPoolForward, avgPoolBackward, avgPoolForwardBackward];
      const out = forward(x, params);
      const dx = backward(x, dout, params);
      const fb = both(x, dout, params);
      const wasm = pool2x2Wasm(kind, g, x.data, x.data, dout.data, { out: true, dx: true })!;
      expect(out.shape).toEqual([2, 3, 20, 20]);
      expect(dx.shape).toEqual(shape);
      expectIdentical(`${kind} out`, out.data, wasm.out!);
      expectIdentical(`${kind} dx`, dx.data, wasm.dx!);
      expectIdentical(`${kind} both out`, fb.out.data, out.data);
      expectIdentical(`${kind} both dx`, fb.dx.data, dx.data);
      // the odd last column belongs to no window
      for (let r = 0; r < 2 * 3 * 40; r++) expect(dx.data[r * 41 + 40]).toBe(0);
      expect(dx.data.byteOffset).toBe(0);
      expect(dx.data.buffer.byteLength).toBe(dx.data.byteLength);
    }
  });

  it('other geometries keep the JS loops (the wasm kernels cover 2x2 stride 2 without padding)', () => {
    const x: Tensor = { shape: [2, 3, 40, 40], data: randn(9600, 3) };
    const g = poolInfo(x.shape, { poolHeight: 3, poolWidth: 3, stride: 2 }, 'max-pool');
    expect(pool2x2Wasm('max', g, x.data, x.data, undefined, { out: true, dx: false })).toBeUndefined();
    const p3 = { poolHeight: 3, poolWidth: 3, stride: 2 };
    expectEqual('3x3 out', maxPoolForward(x, p3).data, maxPoolForwardReference(x, p3).data);
  });
});
