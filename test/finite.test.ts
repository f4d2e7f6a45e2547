import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { firstNonFinite } from '../src/tensors/finite.ts';

/** The plain scan the bit-level one must agree with. */
const reference = (a: Float32Array | Float64Array) => a.findIndex((v) => !Number.isFinite(v));

describe('firstNonFinite: the branch-free block scan finds what a plain scan finds', () => {
  const bad = [NaN, Infinity, -Infinity];
  // finite extremes and denormals must not be taken for non-finite
  const edge = [0, -0, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 3.4028234663852886e38, 1.401298464324817e-45];
  for (const T of [Float32Array, Float64Array]) {
    test.prop([
      fc.array(fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constantFrom(...edge)), { minLength: 1, maxLength: 10_000 }),
      fc.option(fc.tuple(fc.nat(), fc.constantFrom(...bad))),
    ])(`${T.name}: one bad value at a random place, or none`, (values, put) => {
      const a = T.from(values);
      if (put) a[put[0] % a.length] = put[1];
      expect(firstNonFinite(a)).toBe(reference(a));
    });
  }

  test.prop([fc.integer({ min: 1, max: 3 * 4096 + 7 }), fc.nat()])('the first of several, across block edges', (n, seed) => {
    const a = new Float32Array(n).fill(1);
    const i = seed % n;
    a[i] = NaN;
    if (i + 4096 < n) a[i + 4096] = Infinity;
    expect(firstNonFinite(a)).toBe(i);
    expect(firstNonFinite(new Float64Array(a))).toBe(i);
  });
});
