/**
 * Conv: numeric gradient checks of dx, dw, db, and the fast im2col + gemm kernel against the direct
 * loops on random shapes, strides, pads, dilations and groups (float64 and float32).
 */
import { describe, expect, test as vtest } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { chooseConvAlgorithm, convBackward, convForward, convForwardBackward, WINOGRAD_MIN_CHANNELS, WINOGRAD_S2_MIN_CHANNELS, type ConvOptions } from '../../src/kernels/conv.ts';
import { gemmBackend } from '../../src/kernels/gemm.ts';
import { convBackwardReference, convForwardReference } from '../../src/kernels/reference/conv.ts';
import { convInfo, type ConvParams } from '../../src/kernels/geometry.ts';
import type { Dtype, Tensor } from '../../src/kernels/types.ts';
import { expectGradients, randn, relError, relErrorScaled, TOL } from '../helpers/gradcheck.ts';
import { dtypeRuns, expectFastMatchesReference, inDtype, scaledDiff, toFloat32 } from './conv-pool-helpers.ts';

const wasmBackend = gemmBackend() !== 'js';

interface ConvCase {
  x: Tensor<Float64Array>;
  w: Tensor<Float64Array>;
  b: Tensor<Float64Array>;
  dout: Tensor<Float64Array>;
  params: ConvParams;
}

interface Shape {
  N: number;
  groups: number;
  Cg: number;
  Fg: number;
  HH: number;
  WW: number;
  stride: [number, number];
  pad: [number, number];
  dilation: [number, number];
  /** input rows and columns beyond the smallest that gives one output */
  extra: [number, number];
  /** params as ints (both axes taken from the height) instead of pairs */
  ints: boolean;
  seed: number;
}

function makeCase(s: Shape): ConvCase {
  const ints = s.ints;
  const pick = (p: [number, number]): [number, number] => (ints ? [p[0], p[0]] : p);
  const [sh, sw] = pick(s.stride), [ph, pw] = pick(s.pad), [dh, dw] = pick(s.dilation);
  const H = Math.max(1, dh * (s.HH - 1) + 1 - 2 * ph + s.extra[0]);
  const W = Math.max(1, dw * (s.WW - 1) + 1 - 2 * pw + s.extra[1]);
  const C = s.groups * s.Cg, F = s.groups * s.Fg;
  const Ho = Math.floor((H + 2 * ph - dh * (s.HH - 1) - 1) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - dw * (s.WW - 1) - 1) / sw) + 1;
  const t = (shape: number[], k: number): Tensor<Float64Array> => ({
    shape,
    data: randn(shape.reduce((a, b) => a * b, 1), s.seed * 7 + k),
  });
  const params: ConvParams = ints
    ? { stride: sh, pad: ph, dilation: dh, groups: s.groups }
    : { stride: [sh, sw], pad: [ph, pw], dilation: [dh, dw], groups: s.groups };
  return {
    x: t([s.N, C, H, W], 1),
    w: t([F, s.Cg, s.HH, s.WW], 2),
    b: t([F], 3),
    dout: t([s.N, F, Ho, Wo], 4),
    params,
  };
}

const pair = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));

const general = fc.record({
  N: fc.integer({ min: 1, max: 2 }),
  groups: fc.integer({ min: 1, max: 3 }),
  Cg: fc.integer({ min: 1, max: 3 }),
  Fg: fc.integer({ min: 1, max: 3 }),
  HH: fc.integer({ min: 1, max: 3 }),
  WW: fc.integer({ min: 1, max: 3 }),
  stride: pair(1, 3),
  pad: pair(0, 2),
  dilation: pair(1, 2),
  extra: pair(0, 4),
  ints: fc.boolean(),
  seed: fc.nat(),
});
/** Depthwise: one input channel per group. */
const depthwise = general.map((s) => ({ ...s, Cg: 1, groups: s.groups + 1 }));
/** 1x1, stride 1, pad 0: the path that skips im2col. */
const oneByOne = general.map((s) => ({ ...s, HH: 1, WW: 1, stride: [1, 1] as [number, number], pad: [0, 0] as [number, number] }));
/** "Same" width and height at stride 1 (odd kernels, pad = dilation·(k − 1)/2): the contiguous im2col path. */
const same = fc
  .record({ s: general, HH: fc.constantFrom(1, 3), WW: fc.constantFrom(1, 3) })
  .map(({ s, HH, WW }) => ({
    ...s, HH, WW, ints: false,
    stride: [1, 1] as [number, number],
    pad: [(s.dilation[0] * (HH - 1)) / 2, (s.dilation[1] * (WW - 1)) / 2] as [number, number],
  }));
const shapes = fc.oneof(general, general, depthwise, oneByOne, same);
/**
 * Small im2col budgets force tiles of a few output rows (1 = one row per tile) and, once an image is
 * over the budget, col2im straight into dx; wasmHelpers: false runs the JS col2im and row sums.
 */
const options = fc.constantFrom<ConvOptions>(
  {}, { maxColElements: 1 }, { maxColElements: 40 }, { wasmHelpers: false }, { maxColElements: 40, wasmHelpers: false },
);

/**
 * The conv property body, one for every path and dtype: convForward + convBackward ('separate') or
 * convForwardBackward ('one call') against the reference, on the case in the dtype; 'as the separate
 * calls' also asks the one call to equal the separate calls bit for bit (same operations, same order).
 */
function convMatchesReference(c: ConvCase, opts: ConvOptions, dtype: Dtype, how: 'separate' | 'one call' | 'one call, as the separate calls'): void {
  const [x, w, b, dout] = [c.x, c.w, c.b, c.dout].map((t) => inDtype(t, dtype));
  const separate = () => ({ out: convForward(x, w, b, c.params, opts), ...convBackward(x, w, dout, c.params, opts) });
  const got = how === 'separate' ? separate() : convForwardBackward(x, w, b, dout, c.params, opts);
  const r = convBackwardReference(x, w, dout, c.params);
  expectFastMatchesReference(dtype, { out: got.out, dx: got.dx, dw: got.dw, db: got.db }, { out: convForwardReference(x, w, b, c.params), dx: r.dx, dw: r.dw, db: r.db });
  if (how === 'one call, as the separate calls') {
    const sep = separate();
    for (const k of ['out', 'dx', 'dw', 'db'] as const) expect(Array.from(got[k].data), k).toEqual(Array.from(sep[k].data));
  }
}

describe('conv: fast == reference (property)', () => {
  for (const [dtype, numRuns] of dtypeRuns(120, 80)) {
    test.prop([shapes, options], { numRuns })(dtype, (s, opts) => convMatchesReference(makeCase(s), opts, dtype, 'separate'));
  }
});

describe('conv: convForwardBackward (one pass) == reference, and == the separate calls (property)', () => {
  for (const [dtype, numRuns] of dtypeRuns(120, 80)) {
    test.prop([shapes, options], { numRuns })(dtype, (s, opts) => convMatchesReference(makeCase(s), opts, dtype, 'one call, as the separate calls'));
  }

  vtest('checks dout like convBackward', () => {
    const c = makeCase(base);
    const bad = { shape: [c.dout.shape[0], c.dout.shape[1] + 1, ...c.dout.shape.slice(2)], data: c.dout.data };
    expect(() => convForwardBackward(c.x, c.w, c.b, bad, c.params)).toThrow(/dout has shape/);
    const f32 = toFloat32(c.dout) as unknown as Tensor<Float64Array>;
    expect(() => convForwardBackward(c.x, c.w, c.b, f32, c.params)).toThrow(/dtype of x/);
  });
});

describe('conv: im2col path on wider planes == reference (property)', () => {
  // Rows long enough for the vector steps of the wasm im2col (unit and double stride) and their tails.
  const wide = fc.record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 2 }),
    Cg: fc.integer({ min: 2, max: 3 }),
    Fg: fc.integer({ min: 1, max: 3 }),
    HH: fc.integer({ min: 1, max: 5 }),
    WW: fc.integer({ min: 1, max: 5 }),
    stride: pair(1, 3),
    pad: pair(0, 2),
    dilation: pair(1, 2),
    extra: pair(0, 24),
    ints: fc.boolean(),
    seed: fc.nat(),
  });
  const wideOptions = fc.constantFrom<ConvOptions>({ winograd: false }, { winograd: false, maxColElements: 200 });

  for (const [dtype, numRuns] of dtypeRuns(80, 60)) {
    test.prop([wide, wideOptions], { numRuns })(dtype, (s, opts) => convMatchesReference(makeCase(s), opts, dtype, 'one call'));
  }
});

describe('conv: depthwise direct path (groups = C) == reference (property)', () => {
  // Wider planes than `shapes`, so the vectorized rows and their tails are reached.
  const dwShapes = fc.record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 5 }),
    Cg: fc.constant(1),
    Fg: fc.integer({ min: 1, max: 3 }),
    HH: fc.integer({ min: 1, max: 5 }),
    WW: fc.integer({ min: 1, max: 5 }),
    stride: pair(1, 3),
    pad: pair(0, 2),
    dilation: pair(1, 2),
    extra: pair(0, 20),
    ints: fc.boolean(),
    seed: fc.nat(),
  });
  const dwOptions = fc.constantFrom<ConvOptions>({}, { maxColElements: 1 }, { maxColElements: 300 });

  for (const [dtype, numRuns] of dtypeRuns(100, 60)) {
    test.prop([dwShapes, dwOptions], { numRuns })(dtype, (s, opts) => convMatchesReference(makeCase(s), opts, dtype, 'one call, as the separate calls'));
  }
});

describe('conv: Winograd F(2x2, 3x3) path (3x3, stride 1) == reference (property)', () => {
  const wShapes = fc.record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.constant(1),
    Cg: fc.integer({ min: 1, max: 6 }),
    Fg: fc.integer({ min: 1, max: 6 }),
    HH: fc.constant(3),
    WW: fc.constant(3),
    stride: fc.constant<[number, number]>([1, 1]),
    pad: pair(0, 3),
    dilation: fc.constant<[number, number]>([1, 1]),
    extra: pair(0, 19),
    ints: fc.constant(false),
    seed: fc.nat(),
  });
  // maxColElements: 1 gives bands of one tile row
  const wOptions = fc.constantFrom<ConvOptions>({ winograd: true }, { winograd: true, maxColElements: 1 });

  for (const [dtype, numRuns] of dtypeRuns(100, 60)) {
    test.prop([wShapes, wOptions], { numRuns })(dtype, (s, opts) => convMatchesReference(makeCase(s), opts, dtype, 'one call, as the separate calls'));
  }

  vtest(`is the default from ${WINOGRAD_MIN_CHANNELS} channels and filters on, and not below`, () => {
    const c = makeCase({ ...base, N: 2, Cg: WINOGRAD_MIN_CHANNELS, Fg: WINOGRAD_MIN_CHANNELS, pad: [1, 1], extra: [4, 5], seed: 12 });
    const same = (o1: ConvOptions, o2: ConvOptions) => {
      const a = convForwardBackward(c.x, c.w, c.b, c.dout, c.params, o1);
      const z = convForwardBackward(c.x, c.w, c.b, c.dout, c.params, o2);
      return (['out', 'dx', 'dw', 'db'] as const).every((k) => a[k].data.every((v, i) => v === z[k].data[i]));
    };
    expect(same({}, { winograd: true })).toBe(true);
    expect(same({ winograd: false }, { winograd: true })).toBe(false); // the two paths round differently
    const small = makeCase({ ...base, N: 2, Cg: WINOGRAD_MIN_CHANNELS - 1, Fg: WINOGRAD_MIN_CHANNELS, pad: [1, 1], seed: 13 });
    const a = convForward(small.x, small.w, small.b, small.params);
    expect(Array.from(a.data)).toEqual(Array.from(convForward(small.x, small.w, small.b, small.params, { winograd: false }).data));
  });
});

describe('conv: strided Winograd path (3x3, stride 2) == reference (property)', () => {
  const sShapes = fc.record({
    N: fc.integer({ min: 1, max: 3 }),
    groups: fc.constant(1),
    Cg: fc.integer({ min: 1, max: 6 }),
    Fg: fc.integer({ min: 1, max: 6 }),
    HH: fc.constant(3),
    WW: fc.constant(3),
    stride: fc.constant<[number, number]>([2, 2]),
    pad: pair(0, 3),
    dilation: fc.constant<[number, number]>([1, 1]),
    extra: pair(0, 21),
    ints: fc.boolean(),
    seed: fc.nat(),
  });
  // maxColElements: 1 gives bands of one tile row (one image per band); the default lays images side by side
  const sOptions = fc.constantFrom<ConvOptions>({ algorithm: 'winograd-s2' }, { algorithm: 'winograd-s2', maxColElements: 1 });

  for (const [dtype, numRuns] of dtypeRuns(100, 60)) {
    test.prop([sShapes, sOptions], { numRuns })(dtype, (s, opts) => convMatchesReference(makeCase(s), opts, dtype, 'one call, as the separate calls'));
  }

  vtest(`is the default for 3x3 stride 2 from ${WINOGRAD_S2_MIN_CHANNELS} channels and filters on, not below, not with winograd: false`, () => {
    const params = { stride: 2, pad: 1 };
    for (const dtype of ['float32', 'float64'] as const) {
      const g = convInfo([2, WINOGRAD_S2_MIN_CHANNELS, 9, 10], [WINOGRAD_S2_MIN_CHANNELS, WINOGRAD_S2_MIN_CHANNELS, 3, 3], params);
      expect(chooseConvAlgorithm(g, {}, dtype).name).toBe(wasmBackend ? 'winograd-s2' : 'im2col-gemm');
      expect(chooseConvAlgorithm(g, { winograd: false }, dtype).name).toBe('im2col-gemm');
      const thin = convInfo([2, WINOGRAD_S2_MIN_CHANNELS - 1, 9, 10], [WINOGRAD_S2_MIN_CHANNELS, WINOGRAD_S2_MIN_CHANNELS - 1, 3, 3], params);
      expect(chooseConvAlgorithm(thin, {}, dtype).name).toBe('im2col-gemm');
      const dilated = convInfo([2, 16, 9, 10], [16, 16, 3, 3], { ...params, dilation: 2 });
      expect(chooseConvAlgorithm(dilated, {}, dtype).name).toBe('im2col-gemm');
      expect(() => chooseConvAlgorithm(dilated, { algorithm: 'winograd-s2' }, dtype)).toThrow(/cannot run/);
    }
    // conv B's shape, both dtypes, by default against the reference (images side by side in one band)
    const c = makeCase({ ...base, N: 3, Cg: 16, Fg: 16, stride: [2, 2], pad: [1, 1], extra: [13, 13], seed: 5 });
    for (const dtype of ['float32', 'float64'] as const) convMatchesReference(c, {}, dtype, 'one call');
  });
});

describe('conv: dilated stride-1 convs split into dilation phases == reference (property)', () => {
  const dShapes = fc.record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 2 }),
    Cg: fc.integer({ min: 1, max: 4 }),
    Fg: fc.integer({ min: 1, max: 4 }),
    HH: fc.integer({ min: 1, max: 3 }),
    WW: fc.integer({ min: 1, max: 3 }),
    stride: fc.constant<[number, number]>([1, 1]),
    pad: pair(0, 3),
    dilation: pair(1, 3),
    extra: pair(0, 9),
    ints: fc.boolean(),
    seed: fc.nat(),
  });
  // phases: true splits whatever the undilated conv's path (im2col for most of these small shapes,
  // Winograd with winograd: true where it applies)
  const dOptions = fc.constantFrom<ConvOptions>({ phases: true }, { phases: true, winograd: true }, { phases: true, maxColElements: 1 });

  for (const [dtype, numRuns] of dtypeRuns(100, 60)) {
    test.prop([dShapes, dOptions], { numRuns })(dtype, (s, opts) => convMatchesReference(makeCase(s), opts, dtype, 'one call, as the separate calls'));
  }

  vtest('is the default where the undilated conv takes Winograd, and not otherwise', () => {
    // 16 channels, 3x3, dilation 2: the phases' conv is a Winograd one; results equal forcing the split
    const c = makeCase({ ...base, N: 2, Cg: 16, Fg: 16, dilation: [2, 2], pad: [2, 2], extra: [9, 8], seed: 21 });
    for (const dtype of ['float32', 'float64'] as const) {
      const [x, w, b, dout] = [c.x, c.w, c.b, c.dout].map((t) => inDtype(t, dtype));
      const byDefault = convForwardBackward(x, w, b, dout, c.params);
      const split = convForwardBackward(x, w, b, dout, c.params, { phases: true });
      const unsplit = convForwardBackward(x, w, b, dout, c.params, { phases: false });
      for (const k of ['out', 'dx', 'dw', 'db'] as const) {
        expect(Array.from(byDefault[k].data), k).toEqual(Array.from((wasmBackend ? split : unsplit)[k].data));
      }
      convMatchesReference(c, {}, dtype, 'one call');
    }
    // 2 channels: the undilated conv would be im2col as well, so no split (same bits as phases: false)
    const thin = makeCase({ ...base, N: 1, Cg: 2, Fg: 2, dilation: [2, 2], pad: [2, 2], extra: [5, 5], seed: 22 });
    const a = convForward(thin.x, thin.w, thin.b, thin.params);
    expect(Array.from(a.data)).toEqual(Array.from(convForward(thin.x, thin.w, thin.b, thin.params, { phases: false }).data));
  });
});

describe('conv: depthwise 3x3 with unit-stride columns (register-blocked forward) == reference (property)', () => {
  const dwShapes = fc.record({
    N: fc.integer({ min: 1, max: 2 }),
    groups: fc.integer({ min: 1, max: 5 }),
    Cg: fc.constant(1),
    Fg: fc.integer({ min: 1, max: 3 }),
    HH: fc.constant(3),
    WW: fc.constant(3),
    stride: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.constant(1)),
    pad: pair(0, 3),
    dilation: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.constant(1)),
    extra: pair(0, 13),
    ints: fc.constant(false),
    seed: fc.nat(),
  });
  for (const [dtype, numRuns] of dtypeRuns(100, 60)) {
    test.prop([dwShapes], { numRuns })(dtype, (s) => convMatchesReference(makeCase(s), {}, dtype, 'one call, as the separate calls'));
  }

  vtest('a padded plane larger than the GEMM workspace (the plain loops then) matches the reference too', () => {
    // 1 × 1 × 730 × 730 float64, pad 1: a padded plane of 732² · 8 bytes (4.3 MB) does not fit
    const c = makeCase({ ...base, N: 1, groups: 1, Cg: 1, Fg: 1, pad: [1, 1], extra: [728, 728], seed: 31 });
    convMatchesReference(c, {}, 'float64', 'one call');
  });
});

/** d(sum(out · dout)) by centered differences vs the analytic dx, dw, db of the fast kernel. */
function gradcheck(c: ConvCase, error = relError): void {
  const { x, w, b, dout, params } = c;
  const f = () => convForward(x, w, b, params).data;
  const g = convBackward(x, w, dout, params);
  expectGradients(f, { x: [g.dx.data, x.data], w: [g.dw.data, w.data], b: [g.db.data, b.data] }, dout.data, error);
}

const base: Shape = {
  N: 2, groups: 1, Cg: 2, Fg: 2, HH: 3, WW: 3,
  stride: [1, 1], pad: [0, 0], dilation: [1, 1], extra: [2, 2], ints: false, seed: 1,
};

describe('conv: numeric gradient check (float64)', () => {
  vtest.each<[string, Partial<Shape>]>([
    ['plain 3x3', {}],
    ['stride 2, pad 1', { stride: [2, 2], pad: [1, 1], seed: 2 }],
    ['per-axis stride [2, 1], pad [0, 2], 2x3 kernel', { stride: [2, 1], pad: [0, 2], HH: 2, WW: 3, seed: 3 }],
    ['dilation 2 with pad [2, 1]', { dilation: [2, 2], pad: [2, 1], seed: 4 }],
    ['dilation [1, 2], no pad', { dilation: [1, 2], extra: [1, 3], seed: 10 }],
    ['groups 2', { groups: 2, Cg: 2, Fg: 3, pad: [1, 1], seed: 5 }],
    ['depthwise with multiplier 2', { groups: 3, Cg: 1, Fg: 2, pad: [1, 1], stride: [2, 2], seed: 6 }],
    ['1x1', { HH: 1, WW: 1, Cg: 3, seed: 7 }],
    ['stride over the kernel (cells skipped)', { HH: 2, WW: 2, stride: [3, 3], extra: [3, 4], seed: 8 }],
  ])('%s', (_, shape) => gradcheck(makeCase({ ...base, ...shape })));

  test.prop([general], { numRuns: 8 })('random small shapes', (s) => gradcheck(makeCase(s), relErrorScaled));
});

describe('conv: regressions found by the properties', () => {
  vtest('dilated kernel wider than a 1-wide input, same width, one-row tiles', () => {
    // W = 1, WW = 3, dilation 2, pad 2: taps kw = 0 and 2 read only padding, so their im2col block is empty
    const c = makeCase({ ...base, N: 1, Cg: 1, Fg: 1, HH: 1, WW: 3, pad: [2, 2], dilation: [2, 2], extra: [0, 0], ints: true, seed: 0 });
    for (const opts of [{}, { maxColElements: 1 }]) {
      const out = convForward(c.x, c.w, c.b, c.params, opts);
      expect(scaledDiff(out.data, convForwardReference(c.x, c.w, c.b, c.params).data)).toBeLessThan(TOL.fastVsReference64);
      const g = convBackward(c.x, c.w, c.dout, c.params, opts);
      expect(scaledDiff(g.dx.data, convBackwardReference(c.x, c.w, c.dout, c.params).dx.data)).toBeLessThan(TOL.fastVsReference64);
    }
  });
});

describe('conv: the batch can be split', () => {
  vtest('forward on slices concatenates, backward partial dw and db sum to the whole', () => {
    const c = makeCase({ ...base, N: 5, groups: 2, pad: [1, 1], stride: [2, 1], seed: 9 });
    const whole = convBackward(c.x, c.w, c.dout, c.params);
    const outWhole = convForward(c.x, c.w, c.b, c.params).data;
    const dwSum = new Float64Array(whole.dw.data.length);
    const dbSum = new Float64Array(whole.db.data.length);
    const slices: [number, number][] = [[0, 2], [2, 3], [3, 5]];
    for (const [n0, n1] of slices) {
      const sliceOf = (t: Tensor<Float64Array>): Tensor<Float64Array> => {
        const per = t.data.length / t.shape[0];
        return { shape: [n1 - n0, ...t.shape.slice(1)], data: t.data.subarray(n0 * per, n1 * per) };
      };
      const xs = sliceOf(c.x), ds = sliceOf(c.dout);
      const out = convForward(xs, c.w, c.b, c.params).data;
      const perOut = outWhole.length / 5;
      expect(Array.from(out)).toEqual(Array.from(outWhole.subarray(n0 * perOut, n1 * perOut)));
      const g = convBackward(xs, c.w, ds, c.params);
      expect(Array.from(g.dx.data)).toEqual(Array.from(sliceOf(whole.dx).data));
      g.dw.data.forEach((v, i) => (dwSum[i] += v));
      g.db.data.forEach((v, i) => (dbSum[i] += v));
    }
    expect(scaledDiff(dwSum, whole.dw.data)).toBeLessThan(TOL.fastVsReference64);
    expect(scaledDiff(dbSum, whole.db.data)).toBeLessThan(TOL.fastVsReference64);
  });
});

describe('conv: the batch can be split (one pass)', () => {
  vtest('convForwardBackward on slices: out and dx concatenate, dw and db sum to the whole', () => {
    const c = makeCase({ ...base, N: 5, groups: 2, pad: [1, 1], stride: [2, 1], seed: 11 });
    const whole = convForwardBackward(c.x, c.w, c.b, c.dout, c.params);
    const dwSum = new Float64Array(whole.dw.data.length);
    const dbSum = new Float64Array(whole.db.data.length);
    for (const [n0, n1] of [[0, 1], [1, 4], [4, 5]] as const) {
      const sliceOf = (t: Tensor<Float64Array>): Tensor<Float64Array> => {
        const per = t.data.length / t.shape[0];
        return { shape: [n1 - n0, ...t.shape.slice(1)], data: t.data.subarray(n0 * per, n1 * per) };
      };
      const g = convForwardBackward(sliceOf(c.x), c.w, c.b, sliceOf(c.dout), c.params);
      expect(Array.from(g.out.data)).toEqual(Array.from(sliceOf(whole.out).data));
      expect(Array.from(g.dx.data)).toEqual(Array.from(sliceOf(whole.dx).data));
      g.dw.data.forEach((v, i) => (dwSum[i] += v));
      g.db.data.forEach((v, i) => (dbSum[i] += v));
    }
    expect(scaledDiff(dwSum, whole.dw.data)).toBeLessThan(TOL.fastVsReference64);
    expect(scaledDiff(dbSum, whole.db.data)).toBeLessThan(TOL.fastVsReference64);
  });
});

describe('conv: input checks', () => {
  vtest('mixed dtypes are refused', () => {
    const c = makeCase(base);
    expect(() => convForward(c.x, toFloat32(c.w) as unknown as Tensor<Float64Array>, c.b)).toThrow(/share a dtype/);
  });

  vtest('data length must match the shape', () => {
    const c = makeCase(base);
    expect(() => convForward({ shape: c.x.shape, data: c.x.data.subarray(1) }, c.w, c.b)).toThrow(/inputs.x has shape/);
  });
});
