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

/** cs231n's relative error of one pair. */
export const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(REL_ERROR_FLOOR, Math.abs(a) + Math.abs(b));

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

/**
 * Whether `claimed` matches the reference (row-major, `shape`) with its axes permuted like numpy's
 * transpose (claimed.shape[k] = shape[perm[k]]), within the threshold. Walks the permuted view
 * without building it, and stops at the first element that does not match.
 */
export function matchesTransposed(claimed: ArrayLike<number>, data: ArrayLike<number>, shape: readonly number[], perm: readonly number[], threshold: number): boolean {
  if (claimed.length !== data.length) return false;
  const rank = shape.length;
  const strides = new Array<number>(rank);
  for (let d = rank - 1, s = 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  const outShape = perm.map((p) => shape[p]);
  const outStrides = perm.map((p) => strides[p]);
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < claimed.length; i++) {
    if (!(rel(claimed[i], data[src]) <= threshold)) return false;
    // Odometer over the claim's coordinates, moving the reference offset with the permuted strides.
    for (let k = rank - 1; k >= 0; k--) {
      idx[k]++;
      src += outStrides[k];
      if (idx[k] < outShape[k]) break;
      src -= outStrides[k] * outShape[k];
      idx[k] = 0;
    }
  }
  return true;
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

/** The permutation q that undoes p: a.transpose(p).transpose(q) = a. */
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
