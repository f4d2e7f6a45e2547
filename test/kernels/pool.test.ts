/**
 * Max and average pooling: numeric gradient checks of dx, the fast loops against the plain ones on
 * random windows, strides and pads (float64 and float32), and the semantics the API pins down.
 */
import { describe, expect, test as vtest } from 'vitest';
import { fc, test } from '@fast-check/vitest';
import { maxPoolBackward, maxPoolForward } from '../../src/kernels/max-pool.ts';
import { avgPoolBackward, avgPoolForward } from '../../src/kernels/avg-pool.ts';
import {
  avgPoolBackwardReference,
  avgPoolForwardReference,
  maxPoolBackwardReference,
  maxPoolForwardReference,
} from '../../src/kernels/reference/pool.ts';
import type { AvgPoolParams } from '../../src/kernels/geometry.ts';
import type { Tensor } from '../../src/kernels/types.ts';
import { expectGradients, randn } from '../helpers/gradcheck.ts';
import { distinctValues, dtypeRuns, expectFastMatchesReference, inDtype, tiedValues } from './conv-pool-helpers.ts';

interface PoolShape {
  N: number;
  C: number;
  PH: number;
  PW: number;
  /** undefined: the default (the pool size) */
  stride: [number, number] | undefined;
  /** as a fraction of the largest allowed pad, floor(side / 2) */
  pad: [number, number];
  extra: [number, number];
  countIncludePad: boolean | undefined;
  data: 'randn' | 'distinct' | 'ties';
  seed: number;
}

interface PoolCase {
  x: Tensor<Float64Array>;
  dout: Tensor<Float64Array>;
  params: AvgPoolParams;
}

function makeCase(s: PoolShape): PoolCase {
  const ph = Math.floor(s.pad[0] * Math.floor(s.PH / 2));
  const pw = Math.floor(s.pad[1] * Math.floor(s.PW / 2));
  const [sh, sw] = s.stride ?? [s.PH, s.PW];
  const H = Math.max(1, s.PH - 2 * ph + s.extra[0]);
  const W = Math.max(1, s.PW - 2 * pw + s.extra[1]);
  const Ho = Math.floor((H + 2 * ph - s.PH) / sh) + 1;
  const Wo = Math.floor((W + 2 * pw - s.PW) / sw) + 1;
  const n = s.N * s.C * H * W;
  const values = { randn, distinct: distinctValues, ties: tiedValues }[s.data];
  const params: AvgPoolParams = { poolHeight: s.PH, poolWidth: s.PW, pad: [ph, pw] };
  if (s.stride) params.stride = s.stride;
  if (s.countIncludePad !== undefined) params.countIncludePad = s.countIncludePad;
  return {
    x: { shape: [s.N, s.C, H, W], data: values(n, s.seed) },
    dout: { shape: [s.N, s.C, Ho, Wo], data: randn(s.N * s.C * Ho * Wo, s.seed + 1) },
    params,
  };
}

const pair = (min: number, max: number) => fc.tuple(fc.integer({ min, max }), fc.integer({ min, max }));

const general = fc.record({
  N: fc.integer({ min: 1, max: 2 }),
  C: fc.integer({ min: 1, max: 3 }),
  PH: fc.integer({ min: 1, max: 4 }),
  PW: fc.integer({ min: 1, max: 4 }),
  stride: fc.option(pair(1, 4), { nil: undefined }),
  pad: fc.tuple(fc.constantFrom(0, 0.5, 1), fc.constantFrom(0, 0.5, 1)),
  extra: pair(0, 5),
  countIncludePad: fc.option(fc.boolean(), { nil: undefined }),
  data: fc.constantFrom<PoolShape['data']>('randn', 'ties'),
  seed: fc.nat(),
});
/** The specialised loop: 2x2, stride 2, no padding. */
const twoByTwo = general.map((s) => ({ ...s, PH: 2, PW: 2, stride: [2, 2] as [number, number], pad: [0, 0] as [number, number] }));
/** Overlapping windows with padding. */
const overlapping = general.map((s) => ({ ...s, PH: 3, PW: 3, stride: [1, 2] as [number, number], pad: [1, 1] as [number, number] }));
const shapes = fc.oneof(general, general, twoByTwo, overlapping);

const kernels = {
  'max-pool': {
    fast: { forward: maxPoolForward, backward: maxPoolBackward },
    reference: { forward: maxPoolForwardReference, backward: maxPoolBackwardReference },
  },
  'avg-pool': {
    fast: { forward: avgPoolForward, backward: avgPoolBackward },
    reference: { forward: avgPoolForwardReference, backward: avgPoolBackwardReference },
  },
} as const;

for (const layer of ['max-pool', 'avg-pool'] as const) {
  const { fast, reference } = kernels[layer];

  describe(`${layer}: fast == reference (property)`, () => {
    for (const [dtype, numRuns] of dtypeRuns(150, 100)) {
      test.prop([shapes], { numRuns })(dtype, (s) => {
        const c = makeCase(s);
        const x = inDtype(c.x, dtype), dout = inDtype(c.dout, dtype);
        expectFastMatchesReference(
          dtype,
          { out: fast.forward(x, c.params), dx: fast.backward(x, dout, c.params) },
          { out: reference.forward(x, c.params), dx: reference.backward(x, dout, c.params) },
        );
      });
    }
  });

  describe(`${layer}: numeric gradient check of dx (float64)`, () => {
    const base: PoolShape = {
      N: 2, C: 2, PH: 2, PW: 2, stride: undefined, pad: [0, 0], extra: [2, 3],
      countIncludePad: undefined, data: 'distinct', seed: 1,
    };
    const check = (s: PoolShape) => {
      // distinct values 0.01 apart: h = 1e-5 never moves a window's maximum
      const { x, dout, params } = makeCase({ ...s, data: 'distinct' });
      expectGradients(() => fast.forward(x, params).data as Float64Array, { x: [fast.backward(x, dout, params).data, x.data as Float64Array] }, dout.data as Float64Array);
    };
    vtest.each<[string, Partial<PoolShape>]>([
      ['2x2 stride 2', {}],
      ['3x3 default stride', { PH: 3, PW: 3, seed: 2 }],
      ['3x2 stride [2, 1] (overlapping)', { PH: 3, PW: 2, stride: [2, 1], seed: 3 }],
      ['3x3 stride 2 pad 1', { PH: 3, PW: 3, stride: [2, 2], pad: [1, 1], seed: 4 }],
      ['3x3 stride 2 pad 1, countIncludePad false', { PH: 3, PW: 3, stride: [2, 2], pad: [1, 1], countIncludePad: false, seed: 5 }],
      ['4x3 stride 1 pad [2, 1]', { PH: 4, PW: 3, stride: [1, 1], pad: [1, 1], seed: 6 }],
    ])('%s', (_, s) => check({ ...base, ...s }));

    test.prop([general], { numRuns: 15 })('random small shapes', (s) => check(s));
  });
}

describe('pooling semantics', () => {
  vtest('max-pool: a tied window sends its gradient to the first maximum in row-major order', () => {
    // windows [[5, 5], [5, 5]] and, with pad 1 and 3x3, windows that see the ties from the padded border
    const x = { shape: [1, 1, 2, 4], data: Float64Array.from([5, 5, 1, 7, 5, 5, 7, 7]) };
    const dout = { shape: [1, 1, 1, 2], data: Float64Array.from([1, 2]) };
    for (const backward of [maxPoolBackward, maxPoolBackwardReference]) {
      const dx = backward(x, dout, { poolHeight: 2, poolWidth: 2 }).data;
      expect(Array.from(dx)).toEqual([1, 0, 0, 2, 0, 0, 0, 0]);
    }
    const padded = { poolHeight: 3, poolWidth: 3, stride: 2, pad: 1 };
    const dout2 = { shape: [1, 1, 1, 2], data: Float64Array.from([1, 2]) };
    for (const backward of [maxPoolBackward, maxPoolBackwardReference]) {
      // window 0 covers cols −1..1 → first max 5 at (0, 0); window 1 cols 1..3 → first 7 at (0, 3)
      expect(Array.from(backward(x, dout2, padded).data)).toEqual([1, 0, 0, 2, 0, 0, 0, 0]);
    }
  });

  vtest('max-pool: padding is −∞ (an all-negative window does not return 0)', () => {
    const x = { shape: [1, 1, 2, 2], data: Float64Array.from([-3, -2, -4, -5]) };
    for (const forward of [maxPoolForward, maxPoolForwardReference]) {
      expect(Array.from(forward(x, { poolHeight: 2, poolWidth: 2, stride: 1, pad: 1 }).data)).toEqual([-3, -2, -2, -3, -2, -2, -4, -4, -5]);
    }
  });

  vtest('avg-pool: padding is 0; the divisor counts padded cells unless countIncludePad is false', () => {
    const x = { shape: [1, 1, 2, 2], data: Float64Array.from([1, 2, 3, 4]) };
    const p = { poolHeight: 2, poolWidth: 2, stride: 1, pad: 1 };
    for (const forward of [avgPoolForward, avgPoolForwardReference]) {
      expect(Array.from(forward(x, p).data)).toEqual([1 / 4, 3 / 4, 2 / 4, 4 / 4, 10 / 4, 6 / 4, 3 / 4, 7 / 4, 4 / 4]);
      expect(Array.from(forward(x, { ...p, countIncludePad: false }).data)).toEqual([1, 1.5, 2, 2, 2.5, 3, 3, 3.5, 4]);
    }
  });
});
