import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { ProblemError } from '../src/errors/problems.ts';
import { decodeTensor, readHeader } from '../src/tensors/decode.ts';
import { encodeTensor } from '../src/tensors/encode.ts';
import { nest, toBase64, unwire } from './helpers/vectors.ts';

const shapeArb = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 });
const tensorArb = shapeArb.chain((shape) =>
  fc
    .array(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), {
      minLength: shape.reduce((a, b) => a * b, 1),
      maxLength: shape.reduce((a, b) => a * b, 1),
    })
    .map((data) => ({ shape, data })),
);

describe('wire forms round-trip through typed arrays', () => {
  test.prop([tensorArb, fc.constantFrom('flat', 'nested', 'base64' as const)])('decode(encode(t)) == t in float64', (t, form) => {
    const wire = form === 'flat' ? t : form === 'nested' ? nest(t) : toBase64(t, 'float64');
    const decoded = decodeTensor(readHeader('x', wire as never, 8), 'float64');
    expect(decoded.shape).toEqual(t.shape);
    expect(Array.from(decoded.data, (v) => v + 0)).toEqual(t.data.map((v) => v + 0)); // JSON prints -0 as 0
    const back = unwire(JSON.parse(encodeTensor(decoded, form, 'float64')));
    expect(back.shape).toEqual(t.shape);
    expect(back.data.map((v) => v + 0)).toEqual(t.data.map((v) => v + 0));
  });

  test.prop([tensorArb])('float32 decoding rounds each value once', (t) => {
    const decoded = decodeTensor(readHeader('x', t as never, 8), 'float32');
    expect(decoded.data).toBeInstanceOf(Float32Array);
    expect(Array.from(decoded.data)).toEqual(Array.from(Float32Array.from(t.data)));
  });
});

describe('decode refuses what is not a tensor', () => {
  const problem = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(ProblemError);
      return (e as ProblemError).message;
    }
    throw new Error('expected a problem');
  };
  it('nesting deeper than the rank limit', () => {
    expect(problem(() => readHeader('inputs.x', [[[1]]], 2))).toMatch(/deeper than the maximum rank 2/);
  });
  it('an empty nested dimension', () => {
    expect(problem(() => readHeader('inputs.x', [[]], 8))).toMatch(/empty array at depth 1/);
  });
  it('a flat rank above the limit', () => {
    expect(problem(() => readHeader('inputs.x', { shape: [1, 1, 1], data: [1] }, 2))).toMatch(/rank 3 is above the maximum rank 2/);
  });
  it('a shape whose element count overflows', () => {
    expect(problem(() => readHeader('inputs.x', { shape: [2 ** 30, 2 ** 30, 2 ** 30], data: [] }, 8))).toMatch(/more elements than can be counted/);
  });
  it('a leaf that is an array', () => {
    expect(problem(() => decodeTensor(readHeader('inputs.x', [[1, [2]]], 8), 'float64'))).toMatch(/inputs.x\[0\]\[1\]: expected a finite number, got an array/);
  });
  it('an Infinity inside base64 float64', () => {
    const b64 = Buffer.from(Float64Array.of(1, Infinity, 2).buffer).toString('base64');
    expect(problem(() => decodeTensor(readHeader('inputs.x', { shape: [3], dtype: 'float64', b64 }, 8), 'float64'))).toMatch(/Infinity at flat index 1/);
  });
});

describe('encoding', () => {
  it('nested output follows the shape, flat keeps row-major order', () => {
    const t = { shape: [2, 1, 3], data: Float64Array.of(1, 2, 3, 4, 5, 6) };
    expect(JSON.parse(encodeTensor(t, 'nested', 'float64'))).toEqual([[[1, 2, 3]], [[4, 5, 6]]]);
    expect(JSON.parse(encodeTensor(t, 'flat', 'float64'))).toEqual({ shape: [2, 1, 3], data: [1, 2, 3, 4, 5, 6] });
  });
  it('base64 carries the dtype and the exact bytes', () => {
    const t = { shape: [2], data: Float32Array.of(0.1, -2.5) };
    const w = JSON.parse(encodeTensor(t, 'base64', 'float32'));
    expect(w.dtype).toBe('float32');
    expect(Array.from(new Float32Array(Uint8Array.from(Buffer.from(w.b64, 'base64')).buffer))).toEqual(Array.from(t.data));
  });
});

describe('base64 validation', () => {
  const wire = (b64: string) => ({ shape: [2], dtype: 'float32', b64 }) as never;
  it('accepts padding or none and the URL-safe alphabet, refuses other characters and wrong padding', () => {
    expect(Array.from(decodeTensor(readHeader('x', wire('AACAPwAAAEA='), 8), 'float32').data)).toEqual([1, 2]);
    expect(Array.from(decodeTensor(readHeader('x', wire('AACAPwAAAEA'), 8), 'float32').data)).toEqual([1, 2]);
    const values = new Float32Array(Uint8Array.of(0xfb, 0xff, 0xbf, 0x3f, 0xff, 0xef, 0x7f, 0x3f).buffer);
    const urlSafe = Buffer.from(values.buffer).toString('base64url');
    expect(urlSafe).toMatch(/[-_]/);
    expect(Array.from(decodeTensor(readHeader('x', wire(urlSafe), 8), 'float32').data)).toEqual(Array.from(values));
    for (const bad of ['AACAPw$AAEA=', 'AACAPwAAA EA', 'AACAPwAAAEA==', 'AACAPwAAAE==', 'AA=APwAAAEA=', 'AACAP\nwAAAEA=', '!!!!!!!!!!!=']) {
      expect(() => decodeTensor(readHeader('x', wire(bad), 8), 'float32'), bad).toThrow(/valid base64|bytes/);
    }
  });
});
