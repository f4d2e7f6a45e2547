/**
 * Accuracy of each conv algorithm against the float64 reference (src/kernels/reference/conv.ts), on
 * random shapes and magnitudes (inputs scaled by 10^−3 … 10^3, each tensor its own scale): the worst
 * scaled error of out, dx, dw and db per algorithm and dtype (max |got − want| over the largest value of
 * the same computation on |x|, |w|, |b|, |dout|: the magnitude of the terms, which cancellation cannot
 * shrink) is printed
 * and must stay within the algorithm's budget (src/kernels/conv/accuracy.ts). The float32 runs take the
 * float32-rounded inputs in float64 as the reference, so only the algorithm's own rounding counts.
 * Also: the default choice never picks an algorithm whose budget the rules exclude.
 */
import { describe, expect, it } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { chooseConvAlgorithm, convForwardBackward, type ConvOptions } from '../../src/kernels/conv.ts';
import { accurateEnough, CONV_ERROR_BUDGET, FLOAT32_CONTRACT, FLOAT32_MARGIN } from '../../src/kernels/conv/accuracy.ts';
import type { ConvAlgorithmName } from '../../src/kernels/conv/types.ts';
import { convBackwardReference, convForwardReference } from '../../src/kernels/reference/conv.ts';
import { convInfo, type ConvParams } from '../../src/kernels/geometry.ts';
import { gemmBackend } from '../../src/kernels/gemm.ts';
import type { Dtype, Tensor } from '../../src/kernels/types.ts';
import { randn } from '../helpers/gradcheck.ts';

const RUNS = Number(process.env.CONV_ACCURACY_RUNS ?? 12);
const wasm = gemmBackend() !== 'js';

type Key = `${ConvAlgorithmName} ${Dtype}`;
const worst = new Map<Key, { error: number; what: string }>();


interface Case {
  N: number;
  C: number;
  F: number;
  H: number;
  W: number;
  pad: number;
  /** log10 of the magnitudes of x, w, b, dout */
  mags: [number, number, number, number];
  seed: number;
}

const shapes = fc.record({
  N: fc.integer({ min: 1, max: 2 }),
  C: fc.integer({ min: 1, max: 24 }),
  F: fc.integer({ min: 1, max: 24 }),
  H: fc.integer({ min: 3, max: 18 }),
  W: fc.integer({ min: 3, max: 18 }),
  pad: fc.integer({ min: 0, max: 2 }),
  mags: fc.tuple(...[0, 1, 2, 3].map(() => fc.integer({ min: -3, max: 3 }))) as fc.Arbitrary<[number, number, number, number]>,
  seed: fc.integer({ min: 1, max: 1e6 }),
});

/** max |got − want| / max scale (scale: the result on absolute values, ≥ |want| everywhere). */
function scaledError(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): number {
  let d = 0, s = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs(got[i] - want[i]));
    s = Math.max(s, scale[i]);
  }
  return s === 0 ? d : d / s;
}

function measure(alg: ConvAlgorithmName, dtype: Dtype, c: Case, depthwise: boolean, extra: ConvOptions = {}): void {
  const stride = alg === 'winograd-s2' ? 2 : 1;
  const groups = depthwise ? c.C : 1;
  const F = depthwise ? c.C * (1 + (c.F % 2)) : c.F;
  const Cg = c.C / groups;
  const t = (shape: number[], k: number): Tensor<Float64Array> => {
    const d = randn(shape.reduce((a, b) => a * b, 1), c.seed * 5 + k, 10 ** c.mags[k]);
    return { shape, data: dtype === 'float32' ? Float64Array.from(Float32Array.from(d)) : d };
  };
  const params: ConvParams = { pad: c.pad, groups, stride };
  const x = t([c.N, c.C, c.H, c.W], 0), w = t([F, Cg, 3, 3], 1), b = t([F], 2);
  const want = convForwardReference(x, w, b, params);
  const dout = t(want.shape, 3);
  const grads = convBackwardReference(x, w, dout, params);
  // the scale of each result: the same computation on absolute values (the terms' magnitude, which
  // cancellation cannot shrink)
  const abs = (a: Tensor<Float64Array>): Tensor<Float64Array> => ({ shape: a.shape, data: a.data.map(Math.abs) });
  const outScale = convForwardReference(abs(x), abs(w), abs(b), params);
  const gradScale = convBackwardReference(abs(x), abs(w), abs(dout), params);
  const cast = (a: Tensor<Float64Array>): Tensor => ({ shape: a.shape, data: dtype === 'float32' ? Float32Array.from(a.data) : a.data });
  const options: ConvOptions = { ...extra, algorithm: alg };
  const got = convForwardBackward(cast(x), cast(w), cast(b), cast(dout), params, options);
  const errors = {
    out: scaledError(got.out.data, want.data, outScale.data),
    dx: scaledError(got.dx.data, grads.dx.data, gradScale.dx.data),
    dw: scaledError(got.dw.data, grads.dw.data, gradScale.dw.data),
    db: scaledError(got.db.data, grads.db.data, gradScale.db.data),
  };
  const key: Key = `${alg} ${dtype}`;
  for (const [name, e] of Object.entries(errors)) {
    const w0 = worst.get(key);
    if (w0 === undefined || e > w0.error || Number.isNaN(e)) {
      worst.set(key, { error: e, what: `${name}, x ${[c.N, c.C, c.H, c.W]} F ${F} pad ${c.pad} stride ${stride} mags ${c.mags}` });
    }
    expect(Number.isFinite(e), `${key} ${name}`).toBe(true);
  }
}

const cases: [ConvAlgorithmName, Dtype, boolean][] = [
  ['im2col-gemm', 'float32', false],
  ['im2col-gemm', 'float64', false],
  ['winograd-2x2', 'float32', false],
  ['winograd-2x2', 'float64', false],
  ['winograd-4x4', 'float32', false],
  ['winograd-s2', 'float32', false],
  ['winograd-s2', 'float64', false],
  ['depthwise', 'float32', true],
  ['depthwise', 'float64', true],
];

describe.skipIf(!wasm)('conv algorithms against the float64 reference (wasm backend)', () => {
  for (const [alg, dtype, dw] of cases) {
    test.prop([shapes], { numRuns: RUNS })(`${alg} ${dtype}: measured on random shapes and magnitudes`, (c) => {
      measure(alg, dtype, c, dw);
    });
  }

  it('conv A-sized layers (C 32, F 64, 32×32, two images) are measured too, in float32', () => {
    const c: Case = { N: 2, C: 32, F: 64, H: 32, W: 32, pad: 1, mags: [0, 0, 0, 0], seed: 7 };
    for (const alg of ['im2col-gemm', 'winograd-2x2', 'winograd-4x4'] as const) measure(alg, 'float32', c, false);
    // and in bands of tile rows (a small budget), one image per band
    measure('winograd-4x4', 'float32', { ...c, N: 3, C: 16, F: 16 }, false, { maxColElements: 36 * 16 * 8 * 3 });
    measure('winograd-2x2', 'float32', { ...c, N: 3, C: 16, F: 16 }, false, { maxColElements: 16 * 16 * 16 * 3 });
  });

  it('conv B-sized layers (C 64, F 128, 16×16, stride 2, four images) are measured too, both dtypes', () => {
    const c: Case = { N: 4, C: 64, F: 128, H: 16, W: 16, pad: 1, mags: [0, 0, 0, 0], seed: 11 };
    for (const dtype of ['float32', 'float64'] as const) measure('winograd-s2', dtype, c, false);
  });

  it('depthwise layers with long rows (64 channels, 32×32, one filter each) are measured too, both dtypes', () => {
    // F even: one filter per channel, the register-blocked 3x3 paths (dw summed along each row in the dtype)
    const c: Case = { N: 2, C: 64, F: 2, H: 32, W: 32, pad: 1, mags: [0, 0, 0, 0], seed: 13 };
    for (const dtype of ['float32', 'float64'] as const) measure('depthwise', dtype, c, true);
  });

  it('the worst error of each algorithm is within its budget', () => {
    const rows = [...worst].map(([k, v]) => {
      const [alg, dtype] = k.split(' ') as [ConvAlgorithmName, Dtype];
      return `  ${k.padEnd(22)} worst ${v.error.toExponential(2)}  budget ${CONV_ERROR_BUDGET[alg][dtype].toExponential(1)}  (${v.what})`;
    });
    console.log(`conv accuracy against the float64 reference, scaled error, ${RUNS} random cases each:\n${rows.join('\n')}`);
    expect(worst.size).toBe(cases.length);
    for (const [k, v] of worst) {
      const [alg, dtype] = k.split(' ') as [ConvAlgorithmName, Dtype];
      expect(v.error, k).toBeLessThanOrEqual(CONV_ERROR_BUDGET[alg][dtype]);
    }
  });
});

describe('budgets and the default choice', () => {
  it('every float32 algorithm chosen by default has a budget at most half the contract; float64 ones no worse than im2col', () => {
    for (const alg of Object.keys(CONV_ERROR_BUDGET) as ConvAlgorithmName[]) {
      expect(accurateEnough(alg, 'float32')).toBe(CONV_ERROR_BUDGET[alg].float32 <= FLOAT32_CONTRACT * FLOAT32_MARGIN);
      expect(accurateEnough(alg, 'float64')).toBe(CONV_ERROR_BUDGET[alg].float64 <= CONV_ERROR_BUDGET['im2col-gemm'].float64);
    }
    expect(accurateEnough('winograd-4x4', 'float64')).toBe(false);
  });

  it('the default choice follows the budgets: conv A takes F(4×4) in float32 only', () => {
    const g = convInfo([16, 32, 32, 32], [64, 32, 3, 3], { pad: 1 });
    const f64 = chooseConvAlgorithm(g, {}, 'float64').name;
    expect(accurateEnough(f64, 'float64')).toBe(true);
    expect(f64).not.toBe('winograd-4x4');
    if (wasm) expect(chooseConvAlgorithm(g, {}, 'float32').name).toBe('winograd-4x4');
    expect(() => chooseConvAlgorithm(g, { algorithm: 'winograd-4x4' }, 'float64')).toThrow(/cannot run/);
  });
});
