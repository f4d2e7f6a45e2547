/**
 * Conv and pooling geometry: output sizes, and errors that name the field and show the numbers.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  convInfo,
  GeometryError,
  insideEnd,
  insideStart,
  poolInfo,
  poolWindows,
  type ConvParams,
  type PoolParams,
} from '../../src/kernels/geometry.ts';
import { convBackward } from '../../src/kernels/conv.ts';
import { maxPoolBackward } from '../../src/kernels/max-pool.ts';

/** Runs f, which must throw a GeometryError; returns it. */
function geometryError(f: () => unknown): GeometryError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GeometryError);
    expect(e).toBeInstanceOf(Error);
    return e as GeometryError;
  }
  throw new Error('expected a GeometryError');
}

describe('conv sizes', () => {
  test('3x3 same padding keeps H, W; stride 2 halves them (floor)', () => {
    expect(convInfo([2, 3, 7, 7], [4, 3, 3, 3], { pad: 1 }).outShape).toEqual([2, 4, 7, 7]);
    expect(convInfo([1, 1, 6, 6], [1, 1, 3, 3], { stride: 2 }).outShape).toEqual([1, 1, 2, 2]);
  });

  test('pairs set height and width separately; dilation widens the kernel', () => {
    const g = convInfo([1, 2, 5, 6], [3, 2, 2, 3], { stride: [2, 1], pad: [0, 1] });
    expect([g.strideH, g.strideW, g.padH, g.padW, g.Ho, g.Wo]).toEqual([2, 1, 0, 1, 2, 6]);
    expect(convInfo([2, 2, 9, 9], [4, 2, 3, 3], { pad: 2, dilation: 2 }).outShape).toEqual([2, 4, 9, 9]);
  });

  test('groups: channels and filters per group', () => {
    const g = convInfo([1, 6, 4, 4], [9, 2, 1, 1], { groups: 3 });
    expect([g.Cg, g.Fg]).toEqual([2, 3]);
  });
});

describe('conv geometry errors', () => {
  test('output below 1 shows the formula with the numbers (API.md example)', () => {
    const e = geometryError(() => convInfo([1, 1, 2, 2], [1, 1, 3, 3]));
    expect(e.message).toBe(
      'conv: output height floor((2 + 2·0 − 1·(3 − 1) − 1) / 1) + 1 = 0 is below 1: the kernel (3) is larger than the padded input (2)',
    );
    expect(e.path).toBe('inputs.w');
  });

  test('output width below 1, with dilation and stride', () => {
    const e = geometryError(() => convInfo([1, 1, 9, 4], [1, 1, 3, 3], { dilation: 2, stride: [1, 2] }));
    expect(e.message).toBe(
      'conv: output width floor((4 + 2·0 − 2·(3 − 1) − 1) / 2) + 1 = 0 is below 1: ' +
        'the dilated kernel (2·(3 − 1) + 1 = 5) is larger than the padded input (4)',
    );
  });

  test('channel mismatch says what w must be (API.md example)', () => {
    const e = geometryError(() => convInfo([2, 3, 8, 8], [8, 4, 3, 3]));
    expect(e.message).toBe('conv: inputs.w has shape [8, 4, 3, 3]; with x [2, 3, 8, 8] and groups 1 it must be [F, 3, HH, WW]');
    expect(e.path).toBe('inputs.w');
  });

  test('channel mismatch with groups divides C', () => {
    const e = geometryError(() => convInfo([1, 4, 5, 5], [4, 4, 3, 3], { groups: 2 }));
    expect(e.message).toContain('with x [1, 4, 5, 5] and groups 2 it must be [F, 2, HH, WW]');
  });

  test('groups must divide C and F', () => {
    const c = geometryError(() => convInfo([1, 3, 4, 4], [2, 1, 3, 3], { groups: 2 }));
    expect([c.path, c.message]).toEqual(['params.groups', 'conv: groups 2 does not divide the 3 channels of x [1, 3, 4, 4]']);
    const f = geometryError(() => convInfo([1, 4, 4, 4], [3, 2, 3, 3], { groups: 2 }));
    expect([f.path, f.message]).toEqual(['params.groups', 'conv: groups 2 does not divide the 3 filters of w [3, 2, 3, 3]']);
  });

  test('b must hold one bias per filter', () => {
    const e = geometryError(() => convInfo([1, 3, 4, 4], [4, 3, 3, 3], {}, [3]));
    expect([e.path, e.message]).toEqual([
      'inputs.b',
      'conv: inputs.b has shape [3]; it must be [4], one bias per filter of w [4, 3, 3, 3]',
    ]);
  });

  test('x and w must be 4-D', () => {
    const x = geometryError(() => convInfo([2, 3, 8], [4, 3, 3, 3]));
    expect([x.path, x.message]).toEqual(['inputs.x', 'conv: inputs.x has shape [2, 3, 8] (3-D); it must be 4-D [N, C, H, W]']);
    const w = geometryError(() => convInfo([2, 3, 8, 8], [4, 27]));
    expect([w.path, w.message]).toEqual(['inputs.w', 'conv: inputs.w has shape [4, 27] (2-D); it must be 4-D [F, C/groups, HH, WW]']);
  });

  test.each<[ConvParams, string, string]>([
    [{ stride: 0 }, 'params.stride', 'conv: stride 0 is below 1: strides must be integers >= 1'],
    [{ stride: [2, 0] }, 'params.stride', 'conv: stride [2, 0] has width 0, which is below 1: strides must be integers >= 1'],
    [{ pad: -1 }, 'params.pad', 'conv: pad -1 is below 0: pads must be integers >= 0'],
    [{ dilation: 0 }, 'params.dilation', 'conv: dilation 0 is below 1: dilations must be integers >= 1'],
    [{ stride: 1.5 }, 'params.stride', 'conv: stride 1.5 is not an integer: strides must be integers >= 1'],
    [{ groups: 0 }, 'params.groups', 'conv: groups 0 is below 1: groups must be an integer >= 1'],
    [{ pad: [1, 2, 3] as unknown as [number, number] }, 'params.pad', 'conv: pad must be an integer or a pair [h, w]; got [1,2,3]'],
  ])('bad params %j', (params, path, message) => {
    const e = geometryError(() => convInfo([1, 1, 4, 4], [1, 1, 3, 3], params));
    expect([e.path, e.message]).toEqual([path, message]);
  });

  test('backward refuses a dout that is not shaped like out', () => {
    const x = { shape: [1, 1, 4, 4], data: new Float64Array(16) };
    const w = { shape: [1, 1, 3, 3], data: new Float64Array(9) };
    const e = geometryError(() => convBackward(x, w, { shape: [1, 1, 3, 3], data: new Float64Array(9) }));
    expect([e.path, e.message]).toEqual(['dout', 'conv: dout has shape [1, 1, 3, 3]; it must be the shape of out, [N, F, Ho, Wo] = [1, 1, 2, 2]']);
  });
});

describe('pool geometry', () => {
  test('stride defaults to the pool size; sizes floor', () => {
    const g = poolInfo([1, 2, 7, 6], { poolHeight: 3, poolWidth: 2 });
    expect([g.strideH, g.strideW, g.Ho, g.Wo]).toEqual([3, 2, 2, 3]);
  });

  test('pad over half the pool side', () => {
    const e = geometryError(() => poolInfo([1, 1, 4, 4], { poolHeight: 2, poolWidth: 2, pad: 2 }));
    expect([e.path, e.message]).toEqual([
      'params.pad',
      'max-pool: pad 2 is more than half the pool height 2 (2·2 = 4 > 2): each pad must be at most half its pool side, here at most 1',
    ]);
    const w = geometryError(() => poolInfo([1, 1, 9, 9], { poolHeight: 4, poolWidth: 3, pad: [2, 2] }, 'avg-pool'));
    expect(w.message).toBe(
      'avg-pool: pad 2 is more than half the pool width 3 (2·2 = 4 > 3): each pad must be at most half its pool side, here at most 1',
    );
  });

  test('output below 1 shows the formula', () => {
    const e = geometryError(() => poolInfo([1, 1, 2, 5], { poolHeight: 3, poolWidth: 2, stride: 2 }));
    expect([e.path, e.message]).toEqual([
      'params.poolHeight',
      'max-pool: output height floor((2 + 2·0 − 3) / 2) + 1 = 0 is below 1: the pool window (3) is larger than the padded input (2)',
    ]);
  });

  test('pool sizes are required and >= 1', () => {
    const missing = geometryError(() => poolInfo([1, 1, 4, 4], { poolWidth: 2 } as PoolParams));
    expect([missing.path, missing.message]).toEqual([
      'params.poolHeight',
      'max-pool: poolHeight is required: pool sizes must be integers >= 1',
    ]);
    const zero = geometryError(() => poolInfo([1, 1, 4, 4], { poolHeight: 2, poolWidth: 0 }));
    expect(zero.message).toBe('max-pool: poolWidth 0 is below 1: pool sizes must be integers >= 1');
  });

  test('backward refuses a dout that is not shaped like out', () => {
    const x = { shape: [1, 2, 4, 4], data: new Float64Array(32) };
    const e = geometryError(() => maxPoolBackward(x, { shape: [1, 2, 4, 4], data: new Float64Array(32) }, { poolHeight: 2, poolWidth: 2 }));
    expect(e.message).toBe('max-pool: dout has shape [1, 2, 4, 4]; it must be the shape of out, [N, C, Ho, Wo] = [1, 2, 2, 2]');
  });
});

describe('errors.json cases that are geometry', () => {
  interface ErrorCase {
    name: string;
    layer: string;
    request: { inputs: Record<string, { shape: number[] }>; params?: Record<string, unknown> };
    status: number;
  }
  const all = (JSON.parse(readFileSync(new URL('../vectors/errors.json', import.meta.url), 'utf8')) as { cases: ErrorCase[] }).cases;
  // missing inputs and unknown params are schema errors, decided before geometry
  const geometric = all.filter((c) => /conv|pool/.test(c.layer) && c.name !== 'conv-missing-bias' && c.name !== 'unknown-param');

  test('there are some', () => expect(geometric.length).toBeGreaterThanOrEqual(6));

  test.each(geometric.map((c) => [c.name, c] as const))('%s throws a GeometryError', (_, c) => {
    const { x, w, b } = c.request.inputs;
    const params = c.request.params ?? {};
    expect(c.status).toBe(400);
    geometryError(() =>
      c.layer === 'conv'
        ? convInfo(x.shape, w.shape, params as ConvParams, b?.shape)
        : poolInfo(x.shape, params as unknown as PoolParams, c.layer as 'max-pool'),
    );
  });
});

describe('window bounds', () => {
  test('insideStart/insideEnd agree with a brute-force scan', () => {
    for (let offset = -5; offset <= 6; offset++) {
      for (let stride = 1; stride <= 3; stride++) {
        for (const limit of [1, 4, 5]) {
          const count = 6;
          const inside = Array.from({ length: count }, (_, o) => o * stride + offset).map((i) => i >= 0 && i < limit);
          const lo = insideStart(offset, stride, count);
          const hi = insideEnd(offset, stride, limit, count);
          expect(hi).toBeGreaterThanOrEqual(lo);
          expect(inside.map((_, o) => o >= lo && o < hi)).toEqual(inside);
        }
      }
    }
  });

  test('poolWindows clips to the input and counts cells inside the padded input', () => {
    // H = 5, window 3, stride 2, pad 1: starts −1, 1, 3
    expect(Array.from(poolWindows(3, 2, 1, 3, 5))).toEqual([0, 2, 3, 1, 4, 3, 3, 5, 3]);
    // H = 2, window 3, stride 2, pad 1: the second window (1..3) runs past the padded input (−1..2),
    // as only ceil mode would make it; PyTorch's include-pad divisor counts it clipped at H + pad
    expect(Array.from(poolWindows(2, 2, 1, 3, 2))).toEqual([0, 2, 3, 1, 2, 2]);
    expect(Array.from(poolWindows(1, 1, 0, 3, 2))).toEqual([0, 2, 2]);
  });
});
