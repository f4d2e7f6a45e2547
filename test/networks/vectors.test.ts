import type { FastifyInstance } from 'fastify';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp } from '../helpers/app.ts';
import { binary, frame, unframe } from '../helpers/frame.ts';
import { compareTensor, isFlat, type Flat, type Tol } from '../helpers/vectors.ts';

/**
 * The v1.1 network vectors in the fourth wire form, framed binary bodies with a binary answer
 * (test/vectors.test.ts replays them in the three JSON forms, test/errors.test.ts their error cases).
 */
const DIR = new URL('../vectors/v1.1/', import.meta.url);
const file = JSON.parse(readFileSync(new URL('networks.json', DIR), 'utf8')) as {
  route: string;
  cases: { name: string; request: Record<string, any>; expect: Record<string, any>; tol: Tol }[];
};

/** Every {shape, data} tensor of a request (not the labels) mapped by f. */
function mapTensors(v: unknown, f: (t: Flat) => unknown, k?: string): unknown {
  if (k === 'y' || v === null || typeof v !== 'object') return v;
  if (isFlat(v)) return f(v);
  if (Array.isArray(v)) return v.map((e) => mapTensors(e, f));
  return Object.fromEntries(Object.entries(v).map(([key, e]) => [key, mapTensors(e, f, key)]));
}

/** Every expected value at any depth: numbers and tensors within tol, adam's t exactly. */
function compareAll(path: string, got: any, want: any, tol: Tol, fails: string[]): void {
  if (typeof want === 'number') {
    fails.push(...compareTensor(path, got, want, /(^|\.)t$/.test(path) ? { rtol: 0, atol: 0 } : tol));
  } else if (isFlat(want)) {
    fails.push(...compareTensor(path, got, want, tol));
  } else if (want && typeof want === 'object') {
    if (!got || typeof got !== 'object') fails.push(`${path}: missing`);
    else for (const [k, v] of Object.entries(want)) compareAll(path ? `${path}.${k}` : k, got[k], v, tol, fails);
  }
}

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

describe('vectors: v1.1/networks.json, binary bodies', () => {
  it('has cases', () => expect(file.cases.length).toBeGreaterThan(0));

  for (const c of file.cases) {
    const dtype = c.request.dtype ?? 'float64';
    it(`${c.name} (binary)`, async () => {
      const typed = (t: Flat) => binary(t.shape, dtype === 'float32' ? Float32Array.from(t.data) : Float64Array.from(t.data));
      const f = frame({ ...(mapTensors(c.request, typed) as object), y: c.request.y && binary([c.request.y.length], Int32Array.from(c.request.y)) });
      const res = await app.inject({ method: 'POST', url: file.route, payload: f.payload, headers: f.headers });
      expect(res.statusCode, res.body.slice(0, 400)).toBe(200);
      expect(res.headers['content-type']).toBe('application/octet-stream');
      const { json, tensor } = unframe(res.rawPayload, res.headers['inference-header-content-length']);
      // Every bytes tensor of the answer, read back to {shape, data}.
      const read = (v: any): any =>
        v && typeof v === 'object' && Array.isArray(v.bytes) ? (({ shape, data }) => ({ shape, data: Array.from(data as Float64Array) }))(tensor(v)) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, e]) => [k, read(e)])) : v;
      const fails: string[] = [];
      compareAll('', read(json), c.expect, c.tol, fails);
      expect(fails).toEqual([]);
    });
  }
});
