import type { FloatArray } from './types.ts';

/**
 * Inverted dropout (cs231n dropout_forward / dropout_backward), p = the probability of KEEPING a unit:
 *
 *   train:  mask[i] = 1/p if u(seed, i) < p else 0;   out = x · mask;   dx = dout · mask
 *   test:   out = x;   dx = dout
 *
 * The mask's generator is counter-based: element i (its flat row-major index) draws
 *
 *   u(seed, i) = H(H(i XOR K1) XOR K2) / 2³²,   K1 = H(seed XOR 0x9e3779b9),  K2 = H(seed XOR 0x7f4a7c15)
 *
 * where H is MurmurHash3's 32-bit finalizer (fmix32: h ^= h >>> 16; h ·= 0x85ebca6b; h ^= h >>> 13;
 * h ·= 0xc2b2ae35; h ^= h >>> 16, all mod 2³²). Nothing carries from one element to the next, so the
 * same seed and shape give the same mask whatever the dtype, the encoding, or how the elements are
 * split between workers (a part starting at flat index `offset` draws u(seed, offset + i)).
 * Indices are taken mod 2³² (the service's element limit is far below).
 */

/** MurmurHash3's fmix32: a bijection of 32-bit integers with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const TWO_TO_32 = 4294967296;

/** u(seed, i) in [0, 1), as documented above. */
export function dropoutUniform(seed: number, index: number): number {
  const k1 = fmix32((seed ^ 0x9e3779b9) >>> 0);
  const k2 = fmix32((seed ^ 0x7f4a7c15) >>> 0);
  return fmix32((fmix32((index ^ k1) >>> 0) ^ k2) >>> 0) / TWO_TO_32;
}

/** The mask of n elements starting at flat index `offset`, in the dtype of `like`: 0 or 1/p (rounded to that dtype). */
export function dropoutMask<A extends FloatArray>(like: A, n: number, p: number, seed: number, offset = 0): A {
  const mask = (like instanceof Float32Array ? new Float32Array(n) : new Float64Array(n)) as A;
  const scale = 1 / p;
  const k1 = fmix32((seed ^ 0x9e3779b9) >>> 0);
  const k2 = fmix32((seed ^ 0x7f4a7c15) >>> 0);
  // u < p  ⇔  H < p·2³² (H is an integer, so compare against the real threshold)
  const threshold = p * TWO_TO_32;
  for (let i = 0; i < n; i++) {
    const h = fmix32((fmix32(((offset + i) ^ k1) >>> 0) ^ k2) >>> 0);
    mask[i] = h < threshold ? scale : 0;
  }
  return mask;
}

/** x · mask, elementwise (train mode); a fresh array of x's dtype. */
export function dropoutForward<A extends FloatArray>(x: A, mask: FloatArray): A {
  const out = (x instanceof Float32Array ? new Float32Array(x.length) : new Float64Array(x.length)) as A;
  for (let i = 0; i < x.length; i++) out[i] = x[i] * mask[i];
  return out;
}

/** dout · mask (train mode): the mask is the derivative of out with respect to x. */
export const dropoutBackward = dropoutForward;
