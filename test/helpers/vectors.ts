import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** v1 vectors (API.md v1) and, in a folder of their own, the v1.1 ones (both have an errors.json). */
export const VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors');
export const V11_DIR = join(VECTOR_DIR, 'v1.1');

export interface Flat {
  shape: number[];
  data: number[];
}
export interface Tol {
  rtol: number;
  atol: number;
}
/** `expect` may hold any keys of the answer at any depth (v1.1: `mask`, `w`, `state.t`, ...). */
export type Expected = { [key: string]: Flat | number | Expected };
export interface VectorCase {
  name: string;
  request: Record<string, any>;
  expect: { out?: Flat; loss?: number; grads?: Record<string, Flat>; state?: Record<string, Flat> } & Expected;
  tol: Tol;
}
export interface VectorFile {
  /** the file it came from, e.g. `v1.1/optimizer-adam.json` */
  file: string;
  layer: string;
  /** where its cases post: the file's `route`, else /v1/layers/{layer} */
  route: string;
  cases: VectorCase[];
}
export interface ErrorCase {
  name: string;
  layer: string;
  /** the case's `route`, else /v1/layers/{layer} */
  route: string;
  request: Record<string, any>;
  status: number;
}

const read = (dir: string, f: string) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
const label = (dir: string, f: string) => (dir === V11_DIR ? `v1.1/${f}` : f);

/** Every vector file of a folder but its errors.json, each with its route. */
export function vectorFiles(dir: string): VectorFile[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json') && f !== 'errors.json')
    .sort()
    .map((f) => {
      const doc = read(dir, f) as Omit<VectorFile, 'file' | 'route'> & { route?: string };
      return { ...doc, file: label(dir, f), route: doc.route ?? `/v1/layers/${doc.layer}` };
    });
}

/** Every layer's vectors, v1 and v1.1: the files that post to /v1/layers/{layer}. */
export function layerVectorFiles(): VectorFile[] {
  return [...vectorFiles(VECTOR_DIR), ...vectorFiles(V11_DIR)].filter((f) => f.route === `/v1/layers/${f.layer}`);
}

/** A folder's errors.json, each case with its route. */
export function errorCases(dir = VECTOR_DIR): ErrorCase[] {
  return (read(dir, 'errors.json') as { cases: Omit<ErrorCase, 'route'>[] & { route?: string }[] }).cases.map((c: any) => ({
    ...c,
    route: c.route ?? `/v1/layers/${c.layer}`,
  }));
}

export const isFlat = (t: unknown): t is Flat =>
  typeof t === 'object' && t !== null && !Array.isArray(t) && Array.isArray((t as Flat).shape) && Array.isArray((t as Flat).data);

/** {shape, data} → nested arrays. */
export function nest({ shape, data }: Flat): unknown[] {
  const build = (d: number, off: number): unknown[] => {
    const stride = shape.slice(d + 1).reduce((a, b) => a * b, 1);
    return d === shape.length - 1
      ? data.slice(off, off + shape[d])
      : Array.from({ length: shape[d] }, (_, i) => build(d + 1, off + i * stride));
  };
  return build(0, 0);
}

export function toBase64({ shape, data }: Flat, dtype: string) {
  const arr = dtype === 'float32' ? Float32Array.from(data) : Float64Array.from(data);
  return { shape, dtype, b64: Buffer.from(arr.buffer).toString('base64') };
}

/** Any wire form back to {shape, data}. */
export function unwire(t: any): Flat {
  if (Array.isArray(t)) {
    const shape: number[] = [];
    let p: any = t;
    while (Array.isArray(p)) {
      shape.push(p.length);
      p = p[0];
    }
    return { shape, data: t.flat(Infinity) as number[] };
  }
  if (t && typeof t.b64 === 'string') {
    const buf = Buffer.from(t.b64, 'base64');
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    return { shape: t.shape, data: Array.from(t.dtype === 'float32' ? new Float32Array(ab) : new Float64Array(ab)) };
  }
  return t as Flat;
}

/** The request with every float tensor of inputs, state and dout (nested or flat; not labels) mapped by f: the fuzz bodies' forms. */
export function mapTensors(req: Record<string, any>, f: (t: any) => unknown): Record<string, any> {
  const r = structuredClone(req);
  // a tensor in the nested or the flat form; labels (y) and integers (adam's state.t) stay as they are
  const tensor = (v: unknown) => Array.isArray(v) || isFlat(v);
  for (const k of Object.keys(r.inputs ?? {})) if (k !== 'y' && tensor(r.inputs[k])) r.inputs[k] = f(r.inputs[k]);
  for (const k of Object.keys(r.state ?? {})) if (tensor(r.state[k])) r.state[k] = f(r.state[k]);
  if (r.dout) r.dout = f(r.dout);
  return r;
}

/**
 * Every {shape, data} tensor anywhere in a request (inputs, mask, state, dout, a network's x, params and
 * update state) mapped by f; labels (`y`) stay JSON integers.
 */
export function mapEveryTensor(req: Record<string, any>, f: (t: Flat) => unknown): Record<string, any> {
  const walk = (v: any, key: string | null): any => {
    if (key === 'y' || v === null || typeof v !== 'object') return v;
    if (isFlat(v)) return f(v);
    if (Array.isArray(v)) return v.map((e) => walk(e, null));
    return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, walk(e, k)]));
  };
  return walk(structuredClone(req), null);
}

export function inAllForms(req: Record<string, any>): Record<'flat' | 'nested' | 'base64', Record<string, any>> {
  const dtype = req.dtype ?? 'float64';
  return { flat: req, nested: mapEveryTensor(req, nest), base64: mapEveryTensor(req, (t) => toBase64(t, dtype)) };
}

/** Failures of `got` against `want` within tol, as readable strings (empty when it matches). */
export function compareTensor(path: string, got: unknown, want: Flat | number, tol: Tol): string[] {
  if (typeof want === 'number') {
    return typeof got === 'number' && Math.abs(got - want) <= tol.atol + tol.rtol * Math.abs(want) ? [] : [`${path}: got ${got}, want ${want}`];
  }
  if (got === undefined) return [`${path}: missing`];
  const g = unwire(got);
  if (JSON.stringify(g.shape) !== JSON.stringify(want.shape)) return [`${path}: shape ${JSON.stringify(g.shape)}, want ${JSON.stringify(want.shape)}`];
  for (let i = 0; i < want.data.length; i++) {
    if (!(Math.abs(g.data[i] - want.data[i]) <= tol.atol + tol.rtol * Math.abs(want.data[i]))) {
      return [`${path}[${i}]: got ${g.data[i]}, want ${want.data[i]}`];
    }
  }
  return [];
}

/**
 * Failures of an answer against every key of `expect`, at any depth: tensors and numbers within tol,
 * integer step counts (`t`, adam's) exactly.
 */
export function compareAnswer(got: any, want: Expected, tol: Tol, path = ''): string[] {
  const fails: string[] = [];
  for (const [k, w] of Object.entries(want)) {
    const p = path ? `${path}.${k}` : k;
    const g = got?.[k];
    if (typeof w === 'number') fails.push(...compareTensor(p, g, w, k === 't' && Number.isInteger(w) ? { rtol: 0, atol: 0 } : tol));
    else if (isFlat(w)) fails.push(...compareTensor(p, g, w, tol));
    else if (!g || typeof g !== 'object') fails.push(`${p}: missing`);
    else fails.push(...compareAnswer(g, w, tol, p));
  }
  return fails;
}
