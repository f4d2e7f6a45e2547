import { expect } from 'vitest';

/**
 * Centered-difference numeric gradients in float64, as in cs231n's gradient_check.py.
 * numericGradient(f, x, dout) returns d(sum(f(x) * dout))/dx, perturbing x in place and restoring it.
 */
export function numericGradient(
  f: () => Float64Array | number,
  x: Float64Array,
  dout?: Float64Array,
  h = 1e-5,
): Float64Array {
  const grad = new Float64Array(x.length);
  const scalar = (v: Float64Array | number): number => {
    if (typeof v === 'number') return v;
    let s = 0;
    for (let i = 0; i < v.length; i++) s += v[i] * (dout ? dout[i] : 1);
    return s;
  };
  for (let i = 0; i < x.length; i++) {
    const old = x[i];
    x[i] = old + h;
    const plus = scalar(f());
    x[i] = old - h;
    const minus = scalar(f());
    x[i] = old;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

/** cs231n's relative error: max |a − b| / max(1e-8, |a| + |b|). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(1e-8, Math.abs(a[i]) + Math.abs(b[i]));
    if (e > worst) worst = e;
  }
  return worst;
}

/**
 * relError with each element's denominator floored at `floor` × the tensor's largest |gradient|.
 * Centered differences err in absolute terms (h², and rounding of f / h), so an element many orders
 * below the rest of its tensor can show a relative error of 1e-6 with a correct backward; random
 * shapes hit such elements now and then (seed 1389919956 of conv's property did: 1.5e-6).
 */
export function relErrorScaled(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-3): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]), Math.abs(b[i]));
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / Math.max(1e-8, Math.abs(a[i]) + Math.abs(b[i]), floor * scale);
    if (e > worst) worst = e;
  }
  return worst;
}

/** Largest absolute elementwise difference. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/**
 * The body of every numeric gradient check: each analytic gradient, by name, against centered
 * differences of f (a scalar, or sum(f() · dout)) with respect to its input, within TOL.gradcheck by
 * `measure`: the scale-aware relative error by default, because the properties draw random seeds and
 * now and then an element orders of magnitude below its tensor (1.06e-6 on one such draw of simple-layers.test.ts).
 */
export function expectGradients(
  f: () => Float64Array | number,
  grads: Record<string, [analytic: ArrayLike<number>, input: Float64Array]>,
  dout?: Float64Array,
  measure: (a: ArrayLike<number>, b: ArrayLike<number>) => number = relErrorScaled,
): void {
  for (const [name, [analytic, input]] of Object.entries(grads)) {
    expect(measure(analytic, numericGradient(f, input, dout)), `d${name}`).toBeLessThan(TOL.gradcheck);
  }
}

/** Seeded randomness shared with the service's gradcheck, so failures replay. */
export { randn, rng } from '../../src/util/random.ts';

/** Named tolerances, so a loosened bound is visible in review. */
export const TOL = {
  /** numeric vs analytic gradient, float64, h = 1e-5 */
  gradcheck: 1e-6,
  /** fast kernel vs reference kernel, float64 */
  fastVsReference64: 1e-10,
  /** fast kernel vs reference kernel, float32 (relative to the output scale) */
  fastVsReference32: 1e-4,
  /**
   * WebAssembly normalization kernels vs their JS reference (src/kernels/reference/), float32 data:
   * both compute in float64 and round once at the store, so they differ by about one float32 rounding
   * (2⁻²⁴ relative) of the result's scale; this allows a few.
   */
  normalizationWasm32: 2 ** -21,
  /** normalization on data with a large common offset (~1e6, spread ~1e-2) vs a float64 reference on the shifted data, relative to the result's scale */
  offsetStability64: 1e-6,
  /**
   * GEMM, float64: |fast − reference| ≤ gemm64 · (Σₚ|a·b| + |C₀|) elementwise. Rounding error of a
   * K-term dot product in any order is ≤ K·2⁻⁵³·Σ|a·b| (3e-14 at K = 300); this leaves headroom.
   */
  gemm64: 1e-12,
  /**
   * GEMM, float32 (accumulated in float32 by the wasm kernels) against a float64 reference of the same
   * float32 inputs: |fast − ref64| ≤ (K + 2) · gemm32PerTerm · (Σₚ|a·b| + |C₀|), the textbook γ_K
   * bound with u = 2⁻²⁴, doubled.
   */
  gemm32PerTerm: 2 ** -23,
  /**
   * A request split across workers against the whole computation, float64, relative to 1 + |want|:
   * only the order of the partial sums of shared gradients (dw, db) differs, a few ulps per part.
   */
  splitVsWhole64: 1e-12,
  /** the same through HTTP on a larger convolution (K ~ 10⁴ terms per dw element, JSON round trip exact) */
  splitVsWholeLarge64: 1e-9,
  /** mean of a normalized group: 0 up to the rounding of a mean of O(1) values */
  normalizedMean64: 1e-9,
  /** std of a normalized group: 1 up to eps's share of the variance (eps 1e-5 against variances ~1e-2 and up) */
  normalizedStd: 1e-3,
  /** float32 outputs computed in double against float64 on the same (float32-rounded) inputs: one float32 rounding, 2⁻²⁴ ≈ 6e-8, with headroom for sums of several terms */
  float32VsFloat64: 1e-5,
  /** /check's float64 reference of float32 inputs against PyTorch's float64 expectations of the same inputs */
  checkReference64: 1e-12,
  /**
   * /check's relative error for a reference vector's own expectations claimed (cs231n's measure, which
   * magnifies differences on elements near 0): float64 cases; float32 cases, whose float64 expectations
   * PyTorch computed from the float32 inputs in another order of operations.
   */
  checkVectorClaim64: 1e-8,
  checkVectorClaim32: 1e-7,
} as const;
