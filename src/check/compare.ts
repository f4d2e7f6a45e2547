/**
 * Element-wise comparison of a claimed tensor with a reference, in cs231n's terms:
 * relError = max_i |a_i − b_i| / max(1e-8, |a_i| + |b_i|), as in the assignments' `rel_error`.
 */

export const REL_ERROR_FLOOR = 1e-8;

export interface Comparison {
  relError: number;
  maxAbsError: number;
  /** flat index of the element with the largest relative error */
  worst: number;
  /** elements whose relative error is above the threshold */
  mismatches: number;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(REL_ERROR_FLOOR, Math.abs(a) + Math.abs(b));

/** Full comparison of two arrays of the same length. */
export function compare(claimed: ArrayLike<number>, expected: ArrayLike<number>, threshold: number): Comparison {
  let relError = 0;
  let maxAbsError = 0;
  let worst = 0;
  let mismatches = 0;
  for (let i = 0; i < expected.length; i++) {
    const r = rel(claimed[i], expected[i]);
    if (r > relError) {
      relError = r;
      worst = i;
    }
    if (r > threshold) mismatches++;
    const d = Math.abs(claimed[i] - expected[i]);
    if (d > maxAbsError) maxAbsError = d;
  }
  return { relError, maxAbsError, worst, mismatches };
}

/**
 * Whether `claimed` matches `scale · candidate(i)` within the threshold everywhere; stops at the first
 * element that does not (candidate checks are many, and most fail at once).
 */
export function matches(claimed: ArrayLike<number>, candidate: ArrayLike<number>, threshold: number, scale = 1): boolean {
  if (claimed.length !== candidate.length) return false;
  for (let i = 0; i < claimed.length; i++) if (!(rel(claimed[i], scale * candidate[i]) <= threshold)) return false;
  return true;
}

/** Row-major coordinates of a flat index. */
export function unravel(flat: number, shape: readonly number[]): number[] {
  const index = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    index[d] = flat % shape[d];
    flat = Math.floor(flat / shape[d]);
  }
  return index;
}

/** `data` (row-major, `shape`) with its axes permuted: out.shape[k] = shape[perm[k]], like numpy's transpose. */
export function transpose(data: ArrayLike<number>, shape: readonly number[], perm: readonly number[]): Float64Array {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  for (let d = rank - 1, s = 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  const outShape = perm.map((p) => shape[p]);
  const outStrides = perm.map((p) => strides[p]);
  const out = new Float64Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = data[src];
    // Odometer over the output's coordinates, moving the source offset with the permuted strides.
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      src += outStrides[k];
      if (idx[k] < outShape[k]) break;
      src -= outStrides[k] * outShape[k];
      idx[k] = 0;
    }
  }
  return out;
}

/** Every permutation of 0..n−1 except the identity, for small n. */
export function permutations(n: number): number[][] {
  const out: number[][] = [];
  const walk = (prefix: number[], rest: number[]) => {
    if (rest.length === 0) {
      if (prefix.some((p, i) => p !== i)) out.push(prefix);
      return;
    }
    rest.forEach((r, i) => walk([...prefix, r], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  walk([], Array.from({ length: n }, (_, i) => i));
  return out;
}

/** The permutation q with transpose(transpose(a, p), q) = a. */
export function inverse(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** Sum over the leading axis: (K, ...rest) → (...rest). */
export function sumLeading(data: ArrayLike<number>, leading: number): Float64Array {
  const rest = data.length / leading;
  const out = new Float64Array(rest);
  for (let k = 0; k < leading; k++) for (let i = 0; i < rest; i++) out[i] += data[k * rest + i];
  return out;
}

/** Least-squares scale k minimising |claimed − k·expected|, or undefined when expected is all zeros. */
export function bestScale(claimed: ArrayLike<number>, expected: ArrayLike<number>): number | undefined {
  let ce = 0;
  let ee = 0;
  for (let i = 0; i < expected.length; i++) {
    ce += claimed[i] * expected[i];
    ee += expected[i] * expected[i];
  }
  return ee > 0 ? ce / ee : undefined;
}
