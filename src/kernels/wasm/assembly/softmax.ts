// The softmax loss kernel (cs231n softmax_loss), part of the pointwise module (./pointwise.ts). The JS
// side (src/kernels/softmax-loss.ts) streams blocks of whole rows through the GEMM arena's memory.
//
// Why wasm: the loss is one exp per score, and Math.exp costs ~6 ns in V8 (fdlibm, one value at a
// time): 512 × 1000 scores took 11 ms against PyTorch's 1 ms. Here exp runs on two doubles at once.
//
// float64 scores: every value is computed in f64. float32 scores: see softmaxRowsF32 below.
// exp(t) for t ≤ 0 (scores minus their row's max): t = k·ln2 + r with k = nearest(t/ln2), |r| ≤ ln2/2,
// r from a two-part ln2 (Cody–Waite), exp(r) by its Taylor polynomial to degree 13 (truncation below
// 2e-17 relative on |r| ≤ 0.347), evaluated by Estrin's scheme, times 2^k built in the exponent bits. t below −708 is taken as −708
// (exp ≈ 3e-308: a probability that is 0 to every reader). Relative error: a few ulp (test against Math.exp).
//
// Maxima are pmax (b < a ? a : b: one maxps/maxpd). V8 lowers f32x4.max and f64x2.max, whose NaN
// and ±0 rules need fix-ups, to a longer sequence that made the float32 kernel twice as slow (1.48 vs
// 0.75 ms on 512 × 1000); scores are finite, so the plain maximum is the same.

const LOG2E: f64 = 1.4426950408889634;
const LN2_HI: f64 = 0.693147180369123816490; // ln2's upper bits: k·LN2_HI is exact for |k| < 2^11
const LN2_LO: f64 = 1.90821492927058770002e-10;
const T_MIN: f64 = -708.0;
const ROUNDER: f64 = 6755399441055744.0; // 1.5 · 2^52

// 1/n! for n = 13 … 2 (Horner from the highest degree)
const C13: f64 = 1.0 / 6227020800.0;
const C12: f64 = 1.0 / 479001600.0;
const C11: f64 = 1.0 / 39916800.0;
const C10: f64 = 1.0 / 3628800.0;
const C9: f64 = 1.0 / 362880.0;
const C8: f64 = 1.0 / 40320.0;
const C7: f64 = 1.0 / 5040.0;
const C6: f64 = 1.0 / 720.0;
const C5: f64 = 1.0 / 120.0;
const C4: f64 = 1.0 / 24.0;
const C3: f64 = 1.0 / 6.0;
const C2: f64 = 0.5;

@inline function madd(a: v128, b: v128, c: v128): v128 {
  // a·b + c; fused where relaxed SIMD is enabled
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_madd<f64>(a, b, c);
  return f64x2.add(f64x2.mul(a, b), c);
}

/** exp of both lanes of t (t ≤ 0). */
@inline function exp2x(t: v128): v128 {
  t = f64x2.pmax(t, f64x2.splat(T_MIN));
  // k = nearest(t·log2e) by adding 1.5·2^52: the sum's low mantissa bits hold k as an integer
  const kb = madd(t, f64x2.splat(LOG2E), f64x2.splat(ROUNDER));
  const k = f64x2.sub(kb, f64x2.splat(ROUNDER));
  let r = madd(k, f64x2.splat(-LN2_HI), t);
  r = madd(k, f64x2.splat(-LN2_LO), r);
  // Estrin's scheme: the same polynomial with a dependency chain of 5 operations instead of 13
  const r2 = f64x2.mul(r, r);
  const r4 = f64x2.mul(r2, r2);
  const r8 = f64x2.mul(r4, r4);
  const one = f64x2.splat(1.0);
  const q0 = madd(r2, madd(r, f64x2.splat(C3), f64x2.splat(C2)), madd(r, one, one));
  const q1 = madd(r2, madd(r, f64x2.splat(C7), f64x2.splat(C6)), madd(r, f64x2.splat(C5), f64x2.splat(C4)));
  const q2 = madd(r2, madd(r, f64x2.splat(C11), f64x2.splat(C10)), madd(r, f64x2.splat(C9), f64x2.splat(C8)));
  const q3 = madd(r, f64x2.splat(C13), f64x2.splat(C12));
  const p = madd(r8, madd(r4, q3, q2), madd(r4, q1, q0));
  // 2^k: k in [−1022, 0] here, so k + 1023 is a normal exponent; the shift drops kb's upper bits
  const scale = i64x2.shl(i64x2.add(kb, i64x2.splat(1023)), 52);
  return f64x2.mul(p, scale);
}


/**
 * Rows of float64 scores x (rows × C) with labels y (i32): writes dx = (softmax − onehot(y)) · scale
 * (scale = 1/N of the whole batch), and for each row its max and Σ exp(x − max) as two f64 at
 * stats + 16·row: the caller takes the logs (Math.log here would bring lookup tables into memory
 * this module does not own). exp(x − max) is kept in dx between the two passes over a row.
 */
export function softmaxRowsF64(x: usize, y: usize, dx: usize, rows: i32, C: i32, scale: f64, stats: usize): void {
  const pairs = C & ~1;
  for (let n = 0; n < rows; n++) {
    const xr = x + ((<usize>n * <usize>C) << 3);
    const gr = dx + ((<usize>n * <usize>C) << 3);
    let mv = f64x2.splat(-Infinity);
    for (let c = 0; c < pairs; c += 2) mv = f64x2.pmax(mv, v128.load(xr + (<usize>c << 3)));
    let top = max<f64>(f64x2.extract_lane(mv, 0), f64x2.extract_lane(mv, 1));
    if (pairs < C) top = max<f64>(top, load<f64>(xr + (<usize>pairs << 3)));

    const m2 = f64x2.splat(top);
    let s2 = f64x2.splat(0);
    for (let c = 0; c < pairs; c += 2) {
      const e = exp2x(f64x2.sub(v128.load(xr + (<usize>c << 3)), m2));
      v128.store(gr + (<usize>c << 3), e);
      s2 = f64x2.add(s2, e);
    }
    let sum = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1);
    if (pairs < C) {
      const e = f64x2.extract_lane(exp2x(f64x2.splat(load<f64>(xr + (<usize>pairs << 3)) - top)), 0);
      store<f64>(gr + (<usize>pairs << 3), e);
      sum += e;
    }
    const label = load<i32>(y + (<usize>n << 2));
    store<f64>(stats + (<usize>n << 4), top);
    store<f64>(stats + (<usize>n << 4) + 8, sum);
    const f2 = f64x2.splat(scale / sum);
    for (let c = 0; c < pairs; c += 2) v128.store(gr + (<usize>c << 3), f64x2.mul(v128.load(gr + (<usize>c << 3)), f2));
    if (pairs < C) store<f64>(gr + (<usize>pairs << 3), load<f64>(gr + (<usize>pairs << 3)) * (scale / sum));
    const at = gr + (<usize>label << 3);
    store<f64>(at, load<f64>(at) - scale);
  }
}

// float32 scores: exp on four f32 lanes (Cephes' expf: the same reduction with a single-precision ln2
// split and a degree-7 polynomial, relative error about 2 ulp of float32), the row sums in f64.
const LOG2E_F: f32 = 1.44269504;
const LN2_HI_F: f32 = 0.693359375;
const LN2_LO_F: f32 = -2.12194440e-4;
const T_MIN_F: f32 = -87.0; // exp(−87) is about float32's smallest normal
const ROUNDER_F: f32 = 12582912.0; // 1.5 · 2^23

@inline function exp4x(t: v128): v128 {
  t = f32x4.pmax(t, f32x4.splat(T_MIN_F));
  const kb = f32x4.add(f32x4.mul(t, f32x4.splat(LOG2E_F)), f32x4.splat(ROUNDER_F));
  const k = f32x4.sub(kb, f32x4.splat(ROUNDER_F));
  let r = f32x4.sub(t, f32x4.mul(k, f32x4.splat(LN2_HI_F)));
  r = f32x4.sub(r, f32x4.mul(k, f32x4.splat(LN2_LO_F)));
  const r2 = f32x4.mul(r, r);
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, r2), r), f32x4.splat(1.0));
  // 2^k, k in [−126, 0]: the low bits of kb hold k; the shift drops the rest
  const scale = i32x4.shl(i32x4.add(kb, i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

export function softmaxRowsF32(x: usize, y: usize, dx: usize, rows: i32, C: i32, scale: f64, stats: usize): void {
  const quads = C & ~3;
  for (let n = 0; n < rows; n++) {
    const xr = x + (<usize>n * <usize>C << 2);
    const gr = dx + (<usize>n * <usize>C << 2);
    let mv = f32x4.splat(-Infinity);
    for (let c = 0; c < quads; c += 4) mv = f32x4.pmax(mv, v128.load(xr + (<usize>c << 2)));
    let top = max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (let c = quads; c < C; c++) top = max<f32>(top, load<f32>(xr + (<usize>c << 2)));
    const m4 = f32x4.splat(top);
    let s2 = f64x2.splat(0);
    for (let c = 0; c < quads; c += 4) {
      const e = exp4x(f32x4.sub(v128.load(xr + (<usize>c << 2)), m4));
      v128.store(gr + (<usize>c << 2), e);
      s2 = f64x2.add(s2, f64x2.add(f64x2.promote_low_f32x4(e), f64x2.promote_low_f32x4(i32x4.shuffle(e, e, 2, 3, 0, 1))));
    }
    let sum = f64x2.extract_lane(s2, 0) + f64x2.extract_lane(s2, 1);
    for (let c = quads; c < C; c++) {
      const e = f32x4.extract_lane(exp4x(f32x4.splat(load<f32>(xr + (<usize>c << 2)) - top)), 0);
      store<f32>(gr + (<usize>c << 2), e);
      sum += <f64>e;
    }
    store<f64>(stats + (<usize>n << 4), <f64>top);
    store<f64>(stats + (<usize>n << 4) + 8, sum);
    const f = <f32>(scale / sum);
    const f4 = f32x4.splat(f);
    for (let c = 0; c < quads; c += 4) v128.store(gr + (<usize>c << 2), f32x4.mul(v128.load(gr + (<usize>c << 2)), f4));
    for (let c = quads; c < C; c++) store<f32>(gr + (<usize>c << 2), load<f32>(gr + (<usize>c << 2)) * f);
    const at = gr + (<usize>load<i32>(y + (<usize>n << 2)) << 2);
    store<f32>(at, <f32>(<f64>load<f32>(at) - scale));
  }
}

/** exp of n doubles (t ≤ 0) at src into dst: for the accuracy test against Math.exp. */
export function expF64(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i += 2) v128.store(dst + (<usize>i << 3), exp2x(v128.load(src + (<usize>i << 3))));
}
