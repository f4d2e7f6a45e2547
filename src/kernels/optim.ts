import type { FloatArray } from './types.ts';

/**
 * The update rules of cs231n's `optim.py`, elementwise on typed arrays. Each returns fresh arrays of
 * w's dtype and never writes to its arguments. A state array that is `undefined` is read as zeros
 * (a fresh start). float32 arrays are read and written in float32; every step is computed in double.
 */

const like = <A extends FloatArray>(w: A): A => (w instanceof Float32Array ? new Float32Array(w.length) : new Float64Array(w.length)) as A;

/** w − lr·dw */
export function sgd<A extends FloatArray>(w: A, dw: A, learningRate: number): { w: A } {
  const next = like(w);
  for (let i = 0; i < w.length; i++) next[i] = w[i] - learningRate * dw[i];
  return { w: next };
}

/** v = momentum·v − lr·dw; w + v */
export function sgdMomentum<A extends FloatArray>(
  w: A,
  dw: A,
  velocity: A | undefined,
  learningRate: number,
  momentum: number,
): { w: A; velocity: A } {
  const next = like(w);
  const v = like(w);
  for (let i = 0; i < w.length; i++) {
    v[i] = momentum * (velocity ? velocity[i] : 0) - learningRate * dw[i];
    // v is read back from its own array so that float32 adds the rounded velocity, as a float32 numpy would.
    next[i] = w[i] + v[i];
  }
  return { w: next, velocity: v };
}

/** cache = dr·cache + (1 − dr)·dw²; w − lr·dw / (sqrt(cache) + eps) */
export function rmsprop<A extends FloatArray>(
  w: A,
  dw: A,
  cache: A | undefined,
  learningRate: number,
  decayRate: number,
  epsilon: number,
): { w: A; cache: A } {
  const next = like(w);
  const c = like(w);
  for (let i = 0; i < w.length; i++) {
    const g = dw[i];
    c[i] = decayRate * (cache ? cache[i] : 0) + (1 - decayRate) * g * g;
    next[i] = w[i] - (learningRate * g) / (Math.sqrt(c[i]) + epsilon);
  }
  return { w: next, cache: c };
}

/**
 * t += 1; m = b1·m + (1 − b1)·dw; v = b2·v + (1 − b2)·dw²;
 * w − lr·(m / (1 − b1^t)) / (sqrt(v / (1 − b2^t)) + eps)
 */
export function adam<A extends FloatArray>(
  w: A,
  dw: A,
  m0: A | undefined,
  v0: A | undefined,
  t0: number,
  learningRate: number,
  beta1: number,
  beta2: number,
  epsilon: number,
): { w: A; m: A; v: A; t: number } {
  const t = t0 + 1;
  const c1 = 1 - beta1 ** t;
  const c2 = 1 - beta2 ** t;
  const next = like(w);
  const m = like(w);
  const v = like(w);
  for (let i = 0; i < w.length; i++) {
    const g = dw[i];
    m[i] = beta1 * (m0 ? m0[i] : 0) + (1 - beta1) * g;
    v[i] = beta2 * (v0 ? v0[i] : 0) + (1 - beta2) * g * g;
    next[i] = w[i] - (learningRate * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + epsilon);
  }
  return { w: next, m, v, t };
}
