import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VECTOR_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors');

export interface Flat {
  shape: number[];
  data: number[];
}
export interface Tol {
  rtol: number;
  atol: number;
}
export interface VectorCase {
  name: string;
  request: Record<string, any>;
  expect: { out?: Flat; loss?: number; grads?: Record<string, Flat>; state?: Record<string, Flat> };
  tol: Tol;
}
export interface VectorFile {
  layer: string;
  cases: VectorCase[];
}
export interface ErrorCase {
  name: string;
  layer: string;
  request: Record<string, any>;
  status: number;
}

export function layerVectorFiles(): VectorFile[] {
  return readdirSync(VECTOR_DIR)
    .filter((f) => f.endsWith('.json') && f !== 'errors.json')
    .sort()
    .map((f) => JSON.parse(readFileSync(join(VECTOR_DIR, f), 'utf8')) as VectorFile);
}

export function errorCases(): ErrorCase[] {
  return (JSON.parse(readFileSync(join(VECTOR_DIR, 'errors.json'), 'utf8')) as { cases: ErrorCase[] }).cases;
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

/** The request with every float tensor (not labels) mapped to another wire form. */
export function mapTensors(req: Record<string, any>, f: (t: Flat) => unknown): Record<string, any> {
  const r = structuredClone(req);
  for (const k of Object.keys(r.inputs ?? {})) if (k !== 'y' && isFlat(r.inputs[k])) r.inputs[k] = f(r.inputs[k]);
  for (const k of Object.keys(r.state ?? {})) r.state[k] = f(r.state[k]);
  if (r.dout) r.dout = f(r.dout);
  return r;
}

export function inAllForms(req: Record<string, any>): Record<'flat' | 'nested' | 'base64', Record<string, any>> {
  const dtype = req.dtype ?? 'float64';
  return { flat: req, nested: mapTensors(req, nest), base64: mapTensors(req, (t) => toBase64(t, dtype)) };
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
