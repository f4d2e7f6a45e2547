import fc from 'fast-check';
import { mapTensors, nest, toBase64, type Flat } from './vectors.ts';

/** Values that break assumptions: wrong types, huge, negative, fractional, deep, non-finite-in-base64. */
const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(-1, 0, 0.5, 1e308, -1e308, 2 ** 53, 2 ** 31, Number.MAX_SAFE_INTEGER + 2, '', 'NaN', null, true, [], {}, [[]], [[], []]),
  fc.integer({ min: 1, max: 200 }).map((d) => JSON.parse('['.repeat(d) + ']'.repeat(d))),
  fc.array(fc.oneof(fc.integer({ min: -3, max: 5 }), fc.double({ noNaN: true, noDefaultInfinity: true })), { maxLength: 10 }).map((shape) => ({ shape, data: [] })),
  fc.constantFrom('float16', 'int8', 'FLOAT32').map((dtype) => ({ shape: [2], dtype, b64: 'AACAPwAAAEA=' })),
  fc.constantFrom('AADAfwAAAEA=', 'AACAfwAAAEA=', 'AACA/wAAAEA=', 'AACAPw', 'AACAP===', '!!!!', 'AACAPwAAAE').map((b64) => ({ shape: [2], dtype: 'float32', b64 })),
  fc.constantFrom({ shape: [1e9, 1e9], data: [1] }, { shape: [-2, 2], data: [1] }, { shape: [1.5], data: [1] }, { shape: [2], data: [1, [2]] }, { shape: [2], data: ['1', 2] }),
);

type Json = Record<string, unknown>;

/** Every path into an object, so a mutation can hit any field, however deep. */
function paths(v: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(prefix);
  if (prefix.length > 6) return out;
  if (Array.isArray(v)) v.slice(0, 3).forEach((x, i) => paths(x, [...prefix, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...prefix, k], out);
  return out;
}

function setAt(root: Json, path: (string | number)[], value: unknown): Json {
  if (path.length === 0) return value as Json;
  const copy = structuredClone(root);
  let p: any = copy;
  for (const k of path.slice(0, -1)) p = p[k];
  p[path.at(-1)!] = value;
  return copy;
}

/** A valid body in one of the three forms. */
export function inForm(example: Json, form: 'nested' | 'flat' | 'base64', dtype: 'float64' | 'float32'): Json {
  const toFlat = (t: unknown): Flat => {
    const shape: number[] = [];
    let p: any = t;
    while (Array.isArray(p)) {
      shape.push(p.length);
      p = p[0];
    }
    return { shape, data: (t as unknown[]).flat(Infinity) as number[] };
  };
  const flat = mapTensors({ ...example, dtype }, toFlat);
  if (form === 'flat') return flat;
  if (form === 'nested') return mapTensors(flat, nest);
  return mapTensors(flat, (t) => toBase64(t, dtype));
}

export type FuzzBody = { kind: 'json'; body: unknown } | { kind: 'raw'; text: string };

/** Malformed bodies for a layer: mutated valid bodies, truncated JSON, and arbitrary JSON. */
export function malformedBody(example: Json): fc.Arbitrary<FuzzBody> {
  const valid = fc
    .tuple(fc.constantFrom('nested', 'flat', 'base64' as const), fc.constantFrom('float64', 'float32' as const))
    .map(([form, dtype]) => inForm(example, form, dtype));
  const mutated = valid.chain((body) =>
    fc.tuple(fc.constantFrom(...paths(body)), hostileValue, fc.boolean()).map(([path, value, extraKey]) => {
      const b = setAt(body, path, value);
      return { kind: 'json' as const, body: extraKey && b && typeof b === 'object' ? { ...b, surplus: value } : b };
    }),
  );
  const truncated = fc.tuple(valid, fc.double({ min: 0, max: 0.999, noNaN: true })).map(([body, f]) => {
    const text = JSON.stringify(body);
    return { kind: 'raw' as const, text: text.slice(0, Math.floor(text.length * f)) };
  });
  const arbitrary = fc.jsonValue({ maxDepth: 4 }).map((body) => ({ kind: 'json' as const, body }));
  return fc.oneof({ weight: 6, arbitrary: mutated }, { weight: 2, arbitrary: truncated }, { weight: 1, arbitrary: arbitrary });
}
