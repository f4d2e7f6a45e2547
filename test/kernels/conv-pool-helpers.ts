/**
 * Shared pieces of the conv and pooling kernel tests: reading the PyTorch reference vectors,
 * element-wise tolerance checks, scale-relative differences and tie-free random data.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { Dtype, FloatArray, Tensor } from '../../src/kernels/types.ts';
import { maxAbsDiff, rng, TOL } from '../helpers/gradcheck.ts';

export interface FlatTensor {
  shape: number[];
  data: number[];
}

export interface VectorCase {
  name: string;
  request: {
    dtype?: Dtype;
    inputs: Record<string, FlatTensor>;
    params?: Record<string, unknown>;
    dout?: FlatTensor;
  };
  expect: { out: FlatTensor; grads?: Record<string, FlatTensor> };
  tol: { rtol: number; atol: number };
}

export function loadVectors(layer: 'conv' | 'max-pool' | 'avg-pool'): VectorCase[] {
  const url = new URL(`../vectors/${layer}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { cases: VectorCase[] }).cases;
}

export function tensor(t: FlatTensor, dtype: Dtype = 'float64'): Tensor {
  return { shape: [...t.shape], data: dtype === 'float32' ? Float32Array.from(t.data) : Float64Array.from(t.data) };
}

/** Shapes equal and |got − want| <= atol + rtol·|want| element by element (the vectors' rule). */
export function expectClose(what: string, got: Tensor, want: FlatTensor, tol: { rtol: number; atol: number }): void {
  expect(got.shape, `${what} shape`).toEqual(want.shape);
  expect(got.data.length, `${what} length`).toBe(want.data.length);
  for (let i = 0; i < want.data.length; i++) {
    const bound = tol.atol + tol.rtol * Math.abs(want.data[i]);
    if (!(Math.abs(got.data[i] - want.data[i]) <= bound)) {
      expect.fail(`${what}[${i}] = ${got.data[i]}, want ${want.data[i]} (bound ${bound})`);
    }
  }
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** max |a − b| relative to the scale of b: the fast-vs-reference measure. */
export function scaledDiff(a: FloatArray, b: FloatArray): number {
  const d = maxAbsDiff(a, b);
  return d === 0 ? 0 : d / Math.max(maxAbs(b), Number.MIN_VALUE);
}

/**
 * n distinct values, spaced 0.01 apart and shuffled: no ties, and a ±1e-5 perturbation never changes
 * which cell of a window is the maximum.
 */
export function distinctValues(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = (i - n / 2) * 0.01;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
  return v;
}

/** Small integers: many ties, to exercise the first-maximum rule. */
export function tiedValues(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.floor(r() * 3));
}

export function toFloat32(t: Tensor): Tensor<Float32Array> {
  return { shape: [...t.shape], data: Float32Array.from(t.data) };
}

/** A float64 case tensor in the dtype under test (float32: each value rounded once). */
export const inDtype = <T extends Tensor>(t: T, dtype: Dtype): Tensor => (dtype === 'float32' ? toFloat32(t) : t);

/** The dtypes every "fast == reference" property runs in, with its runs: float32's failures are mostly float64's plus rounding. */
export const dtypeRuns = (float64: number, float32: number): [Dtype, number][] => [
  ['float64', float64],
  ['float32', float32],
];

/**
 * The body every "fast kernel == reference" property shares: each fast output has the reference's
 * shape, the input's dtype, and is within TOL.fastVsReference64/32 of the reference relative to the
 * reference's scale (scaledDiff).
 */
export function expectFastMatchesReference(dtype: Dtype, fast: Record<string, Tensor>, reference: Record<string, Tensor>): void {
  const tol = dtype === 'float32' ? TOL.fastVsReference32 : TOL.fastVsReference64;
  for (const [k, want] of Object.entries(reference)) {
    const got = fast[k];
    expect(got.shape, `${k} shape`).toEqual(want.shape);
    expect(got.data, `${k} dtype`).toBeInstanceOf(dtype === 'float32' ? Float32Array : Float64Array);
    const d = scaledDiff(got.data, want.data);
    if (!(d <= tol)) expect.fail(`${k}: max |fast − reference| / scale = ${d} > ${tol}`);
  }
}
