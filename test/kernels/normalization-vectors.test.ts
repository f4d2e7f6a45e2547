/**
 * Replays every PyTorch reference vector of the four normalization layers directly against the
 * kernels (no HTTP): out, grads and, in train mode, the updated running statistics.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { FloatArray } from '../../src/kernels/types.ts';
import { runNorm, type NormLayer } from './normalization-helpers.ts';

interface Flat {
  shape: number[];
  data: number[];
}
interface VectorCase {
  name: string;
  request: {
    dtype?: 'float64' | 'float32';
    mode?: 'train' | 'test';
    inputs: { x: Flat; gamma: Flat; beta: Flat };
    params?: { eps?: number; momentum?: number; runningVarEstimator?: 'biased' | 'unbiased'; groups?: number };
    state?: { runningMean: Flat; runningVar: Flat };
    dout?: Flat;
  };
  expect: {
    out: Flat;
    grads?: { x: Flat; gamma: Flat; beta: Flat };
    state?: { runningMean: Flat; runningVar: Flat };
  };
  tol: { rtol: number; atol: number };
}

const LAYERS: NormLayer[] = ['batchnorm', 'spatial-batchnorm', 'layernorm', 'spatial-groupnorm'];

function load(layer: NormLayer): VectorCase[] {
  const url = new URL(`../vectors/${layer}.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { cases: VectorCase[] }).cases;
}

/** The first element outside |got − want| <= atol + rtol·|want|, or undefined. */
function firstMiss(got: ArrayLike<number>, want: number[], tol: VectorCase['tol']): string | undefined {
  if (got.length !== want.length) return `length ${got.length}, want ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= tol.atol + tol.rtol * Math.abs(want[i]))) return `[${i}] got ${got[i]}, want ${want[i]}`;
  }
  return undefined;
}

describe.each(LAYERS)('%s reference vectors', (layer) => {
  const cases = load(layer);

  test('the file has cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { request: r, expect: want, tol } = c;
    const arr = (t: Flat): FloatArray => (r.dtype === 'float32' ? Float32Array.from(t.data) : Float64Array.from(t.data));
    const x = arr(r.inputs.x);
    const run = runNorm(
      layer,
      { shape: r.inputs.x.shape, data: x },
      arr(r.inputs.gamma),
      arr(r.inputs.beta),
      {
        ...r.params,
        mode: r.mode,
        runningMean: r.state && arr(r.state.runningMean),
        runningVar: r.state && arr(r.state.runningVar),
      },
      r.dout && arr(r.dout),
    );

    const check = (path: string, got: FloatArray | undefined, w: Flat) => {
      expect(got, `${path} missing`).toBeDefined();
      expect(got!.constructor, `${path} dtype`).toBe(x.constructor);
      expect(firstMiss(got!, w.data, tol), path).toBeUndefined();
    };
    expect(run.out.shape).toEqual(want.out.shape);
    check('out', run.out.data, want.out);
    if (want.grads) {
      check('grads.x', run.grads?.x, want.grads.x);
      check('grads.gamma', run.grads?.gamma, want.grads.gamma);
      check('grads.beta', run.grads?.beta, want.grads.beta);
    }
    if (want.state) {
      check('state.runningMean', run.runningMean, want.state.runningMean);
      check('state.runningVar', run.runningVar, want.state.runningVar);
    } else {
      expect(run.runningMean, 'no state expected').toBeUndefined();
      expect(run.runningVar, 'no state expected').toBeUndefined();
    }
  });
});
