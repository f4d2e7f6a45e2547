// AssemblyScript source of the normalization kernels (batchnorm, spatial batchnorm, layernorm; groupnorm
// reuses them) and, from ./pool, the 2x2 stride-2 pooling kernels: one module, built by
// scripts/build-wasm.mjs twice, norm-simd.wasm (plain SIMD) and norm-relaxed-simd.wasm (madd/nmadd are
// fused multiply-adds: one rounding instead of two, fewer instructions). The JS side
// (src/kernels/wasm/norm-engine.ts) streams whole planes or rows of the tensors through blocks of the
// GEMM's arena (same imported memory) and calls these on them.
//
// Memory is imported; nothing is allocated here and there is no static data. Pointers are byte
// addresses. T is the storage type (f32 or f64); every sum and statistic is computed in f64 (f32
// values are promoted on load: f64x2.promote_low_f32x4). The generic kernels compute the elementwise
// results in f64 too and round once at the store; the float32 (N, D) batchnorm and layernorm
// elementwise passes have f32x4 versions (the *F32x4 sections below).
//
// Statistics: shifted sums. A block of at most BLOCK values (or rows) is summed as d = x − x_first,
// Σd and Σd², giving the block's mean x_first + Σd/n and M2 = Σd² − (Σd)²/n; blocks are merged with
// Chan et al.'s pairwise update (δ = mean_b − mean_a, M2 += M2_b + δ²·n_a·n_b/n). Never E[x²] − E[x]²:
// the shift makes a common offset free, and |x_first − mean| ≤ sqrt(n·var) bounds the cancellation in
// Σd² − (Σd)²/n by a factor n + 1 ≤ BLOCK + 1 (test: values near 1e6 with spread 1e-2 keep 1e-6).

import { ld2, st2 } from './lanes';

const BLOCK: i32 = 4096;
/** Rows per block of the (N, D) batchnorm statistics (each block is shifted by its first row). */
const ROW_BLOCK: i32 = 256;

// ---- loads and stores: two elements as one f64x2 (./lanes), one as an f64 ------------------------

@inline function ld1<T>(p: usize): f64 {
  return <f64>load<T>(p);
}

@inline function st1<T>(p: usize, v: f64): void {
  store<T>(p, <T>v);
}

/**
 * a·b + c: fused (one rounding) in the relaxed-SIMD build (norm-relaxed-simd.wasm, x86 FMA), mul then
 * add in the plain one. ASC_FEATURE_RELAXED_SIMD is a compile-time constant.
 */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_madd<f64>(a, b, c);
  return f64x2.add(f64x2.mul(a, b), c);
}

/** c − a·b, fused in the relaxed-SIMD build. */
@inline function nmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_nmadd<f64>(a, b, c);
  return f64x2.sub(c, f64x2.mul(a, b));
}

@inline function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

@inline function E<T>(): usize {
  return <usize>sizeof<T>();
}

// Results of the last sumsShifted / merge (wasm globals: set once per call, never in an inner loop).
let rS: f64 = 0;
let rQ: f64 = 0;
let rMean: f64 = 0;
let rM2: f64 = 0;

/** rS = Σ (x − shift), rQ = Σ (x − shift)² over n contiguous values at p. */
function sumsShifted<T>(p: usize, n: i32, shift: f64): void {
  // four independent chains each: a fused multiply-add has a longer latency than an add
  const h = f64x2.splat(shift);
  let s0 = f64x2.splat(0);
  let s1 = s0;
  let s2 = s0;
  let s3 = s0;
  let q0 = s0;
  let q1 = s0;
  let q2 = s0;
  let q3 = s0;
  const e = E<T>();
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = f64x2.sub(ld2<T>(p), h);
    const b = f64x2.sub(ld2<T>(p + 2 * e), h);
    const c = f64x2.sub(ld2<T>(p + 4 * e), h);
    const d = f64x2.sub(ld2<T>(p + 6 * e), h);
    s0 = f64x2.add(s0, a);
    q0 = madd(a, a, q0);
    s1 = f64x2.add(s1, b);
    q1 = madd(b, b, q1);
    s2 = f64x2.add(s2, c);
    q2 = madd(c, c, q2);
    s3 = f64x2.add(s3, d);
    q3 = madd(d, d, q3);
    p += 8 * e;
  }
  for (; i + 2 <= n; i += 2) {
    const a = f64x2.sub(ld2<T>(p), h);
    s0 = f64x2.add(s0, a);
    q0 = madd(a, a, q0);
    p += 2 * e;
  }
  let s = hsum(f64x2.add(f64x2.add(s0, s1), f64x2.add(s2, s3)));
  let q = hsum(f64x2.add(f64x2.add(q0, q1), f64x2.add(q2, q3)));
  if (i < n) {
    const a = ld1<T>(p) - shift;
    s += a;
    q += a * a;
  }
  rS = s;
  rQ = q;
}

/** (rMean, rM2) = the mean and M2 of n contiguous values at p, in blocks of at most BLOCK. */
function contiguousStats<T>(p: usize, n: i32): void {
  let count: f64 = 0;
  let mean: f64 = 0;
  let m2: f64 = 0;
  for (let b = 0; b < n; b += BLOCK) {
    const len = min(BLOCK, n - b);
    const q = p + <usize>b * E<T>();
    const shift = ld1<T>(q);
    sumsShifted<T>(q, len, shift);
    const nb = <f64>len;
    const mb = shift + rS / nb;
    const Mb = max<f64>(0, rQ - (rS * rS) / nb);
    if (b == 0) {
      mean = mb;
      m2 = Mb;
    } else {
      const total = count + nb;
      const delta = mb - mean;
      mean += delta * (nb / total);
      m2 += Mb + delta * delta * ((count * nb) / total);
    }
    count += nb;
  }
  rMean = mean;
  rM2 = m2;
}

// ---- batchnorm, x viewed as (N, C, S) with S > 1: per-channel statistics over planes ---------------

/**
 * Merges planes [p0, p1) (plane p = n·C + c holds S contiguous values; x points at plane p0) into the
 * per-channel mean and M2 (f64 arrays of C). Planes must arrive in order: plane (n, c) is merged with
 * the n·S values of channel c before it (n = 0 overwrites).
 */
function bnPlaneStats<T>(x: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, m2: usize): void {
  const planeBytes = <usize>S * E<T>();
  let p = x;
  for (let plane = p0; plane < p1; plane++) {
    const c = plane % C;
    const n = plane / C;
    contiguousStats<T>(p, S);
    const pm = mean + <usize>c * 8;
    const pq = m2 + <usize>c * 8;
    if (n == 0) {
      store<f64>(pm, rMean);
      store<f64>(pq, rM2);
    } else {
      const na = <f64>n * <f64>S;
      const nb = <f64>S;
      const total = na + nb;
      const ma = load<f64>(pm);
      const delta = rMean - ma;
      store<f64>(pm, ma + delta * (nb / total));
      store<f64>(pq, load<f64>(pq) + rM2 + delta * delta * ((na * nb) / total));
    }
    p += planeBytes;
  }
}

/** out = (x − mean[c]) · scale[c] + shift[c] on planes [p0, p1); x and out point at plane p0. */
function bnPlaneAffine<T>(x: usize, out: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, scale: usize, shift: usize): void {
  const e = E<T>();
  for (let plane = p0; plane < p1; plane++) {
    const c = <usize>(plane % C) * 8;
    const ms = load<f64>(mean + c);
    const ks = load<f64>(scale + c);
    const bs = load<f64>(shift + c);
    const m = f64x2.splat(ms);
    const k = f64x2.splat(ks);
    const b = f64x2.splat(bs);
    let i = 0;
    for (; i + 4 <= S; i += 4) {
      st2<T>(out, madd(f64x2.sub(ld2<T>(x), m), k, b));
      st2<T>(out + 2 * e, madd(f64x2.sub(ld2<T>(x + 2 * e), m), k, b));
      x += 4 * e;
      out += 4 * e;
    }
    for (; i < S; i++) {
      st1<T>(out, (ld1<T>(x) - ms) * ks + bs);
      x += e;
      out += e;
    }
  }
}

/** sumG[c] += Σ g, sumGD[c] += Σ g · (x − mean[c]) over planes [p0, p1). */
function bnPlaneGradSums<T>(g: usize, x: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, sumG: usize, sumGD: usize): void {
  const e = E<T>();
  for (let plane = p0; plane < p1; plane++) {
    const c = <usize>(plane % C) * 8;
    const ms = load<f64>(mean + c);
    const m = f64x2.splat(ms);
    let a0 = f64x2.splat(0);
    let a1 = a0;
    let b0 = a0;
    let b1 = a0;
    let i = 0;
    for (; i + 4 <= S; i += 4) {
      const u = ld2<T>(g);
      const v = ld2<T>(g + 2 * e);
      a0 = f64x2.add(a0, u);
      b0 = madd(u, f64x2.sub(ld2<T>(x), m), b0);
      a1 = f64x2.add(a1, v);
      b1 = madd(v, f64x2.sub(ld2<T>(x + 2 * e), m), b1);
      g += 4 * e;
      x += 4 * e;
    }
    let sa = hsum(f64x2.add(a0, a1));
    let sb = hsum(f64x2.add(b0, b1));
    for (; i < S; i++) {
      const u = ld1<T>(g);
      sa += u;
      sb += u * (ld1<T>(x) - ms);
      g += e;
      x += e;
    }
    store<f64>(sumG + c, load<f64>(sumG + c) + sa);
    store<f64>(sumGD + c, load<f64>(sumGD + c) + sb);
  }
}

/** The forward's affine and the backward's sums in one sweep (forward + backward). */
function bnPlaneAffineGradSums<T>(
  x: usize, g: usize, out: usize, p0: i32, p1: i32, C: i32, S: i32,
  mean: usize, scale: usize, shift: usize, sumG: usize, sumGD: usize,
): void {
  const e = E<T>();
  for (let plane = p0; plane < p1; plane++) {
    const c = <usize>(plane % C) * 8;
    const ms = load<f64>(mean + c);
    const ks = load<f64>(scale + c);
    const bs = load<f64>(shift + c);
    const m = f64x2.splat(ms);
    const k = f64x2.splat(ks);
    const b = f64x2.splat(bs);
    let a0 = f64x2.splat(0);
    let a1 = a0;
    let d0 = a0;
    let d1 = a0;
    let i = 0;
    for (; i + 4 <= S; i += 4) {
      const xu = f64x2.sub(ld2<T>(x), m);
      const xv = f64x2.sub(ld2<T>(x + 2 * e), m);
      st2<T>(out, madd(xu, k, b));
      st2<T>(out + 2 * e, madd(xv, k, b));
      const u = ld2<T>(g);
      const v = ld2<T>(g + 2 * e);
      a0 = f64x2.add(a0, u);
      d0 = madd(u, xu, d0);
      a1 = f64x2.add(a1, v);
      d1 = madd(v, xv, d1);
      x += 4 * e;
      g += 4 * e;
      out += 4 * e;
    }
    let sa = hsum(f64x2.add(a0, a1));
    let sd = hsum(f64x2.add(d0, d1));
    for (; i < S; i++) {
      const xu = ld1<T>(x) - ms;
      st1<T>(out, xu * ks + bs);
      const u = ld1<T>(g);
      sa += u;
      sd += u * xu;
      x += e;
      g += e;
      out += e;
    }
    store<f64>(sumG + c, load<f64>(sumG + c) + sa);
    store<f64>(sumGD + c, load<f64>(sumGD + c) + sd);
  }
}

/** dx = p[c] · g + q[c] · (x − mean[c]) + r[c] on planes [p0, p1). */
function bnPlaneGrad<T>(
  g: usize, x: usize, dx: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, pc: usize, qc: usize, rc: usize,
): void {
  const e = E<T>();
  for (let plane = p0; plane < p1; plane++) {
    const c = <usize>(plane % C) * 8;
    const ms = load<f64>(mean + c);
    const ps = load<f64>(pc + c);
    const qs = load<f64>(qc + c);
    const rs = load<f64>(rc + c);
    const m = f64x2.splat(ms);
    const p = f64x2.splat(ps);
    const q = f64x2.splat(qs);
    const r = f64x2.splat(rs);
    let i = 0;
    for (; i + 4 <= S; i += 4) {
      const u = madd(p, ld2<T>(g), madd(q, f64x2.sub(ld2<T>(x), m), r));
      const v = madd(p, ld2<T>(g + 2 * e), madd(q, f64x2.sub(ld2<T>(x + 2 * e), m), r));
      st2<T>(dx, u);
      st2<T>(dx + 2 * e, v);
      g += 4 * e;
      x += 4 * e;
      dx += 4 * e;
    }
    for (; i < S; i++) {
      st1<T>(dx, ps * ld1<T>(g) + qs * (ld1<T>(x) - ms) + rs);
      g += e;
      x += e;
      dx += e;
    }
  }
}

// ---- batchnorm, x viewed as (N, D): per-feature statistics over rows, vectorized across D ----------
// Rows are walked in order, four at a time, with per-feature accumulators in memory (f64 arrays of D
// that stay in L1). Walking down the columns instead (accumulators in registers) missed L1 on every
// load once rows were 4 KiB apart (same cache set) and ran 3–5× slower.

/**
 * Merges rows [r0, r1) (x points at row r0) into the per-feature mean and M2 (f64 arrays of D), in
 * blocks of ROW_BLOCK rows, each feature of a block shifted by the block's first row. Rows must arrive
 * in order (row r0 is merged with the r0 rows before it; r0 = 0 overwrites). work: 2·D f64.
 */
function bnRowStats<T>(x: usize, r0: i32, r1: i32, D: i32, mean: usize, m2: usize, work: usize): void {
  const e = E<T>();
  const rowBytes = <usize>D * e;
  const sums = work;
  const squares = work + <usize>D * 8;
  for (let rb = r0; rb < r1; rb += ROW_BLOCK) {
    const nbi = min(ROW_BLOCK, r1 - rb);
    const h = x + <usize>(rb - r0) * rowBytes; // the shift row; its own deviations are 0
    memory.fill(work, 0, <usize>D * 16);
    let row = h + rowBytes;
    let r = 1;
    for (; r + 8 <= nbi; r += 8) {
      // eight rows per sweep: one update of the accumulators per eight values
      let d = 0;
      for (; d + 2 <= D; d += 2) {
        const o = <usize>d * e;
        const hv = ld2<T>(h + o);
        const a0 = f64x2.sub(ld2<T>(row + o), hv);
        const a1 = f64x2.sub(ld2<T>(row + rowBytes + o), hv);
        const a2 = f64x2.sub(ld2<T>(row + 2 * rowBytes + o), hv);
        const a3 = f64x2.sub(ld2<T>(row + 3 * rowBytes + o), hv);
        const a4 = f64x2.sub(ld2<T>(row + 4 * rowBytes + o), hv);
        const a5 = f64x2.sub(ld2<T>(row + 5 * rowBytes + o), hv);
        const a6 = f64x2.sub(ld2<T>(row + 6 * rowBytes + o), hv);
        const a7 = f64x2.sub(ld2<T>(row + 7 * rowBytes + o), hv);
        const so = sums + <usize>d * 8;
        const qo = squares + <usize>d * 8;
        const sl = f64x2.add(f64x2.add(a0, a1), f64x2.add(a2, a3));
        const sh = f64x2.add(f64x2.add(a4, a5), f64x2.add(a6, a7));
        v128.store(so, f64x2.add(v128.load(so), f64x2.add(sl, sh)));
        const ql = madd(a3, a3, madd(a2, a2, madd(a1, a1, f64x2.mul(a0, a0))));
        const qh = madd(a7, a7, madd(a6, a6, madd(a5, a5, f64x2.mul(a4, a4))));
        v128.store(qo, f64x2.add(v128.load(qo), f64x2.add(ql, qh)));
      }
      for (; d < D; d++) {
        const o = <usize>d * e;
        const hv = ld1<T>(h + o);
        let sd: f64 = 0;
        let qd: f64 = 0;
        for (let i: usize = 0; i < 8; i++) {
          const a = ld1<T>(row + i * rowBytes + o) - hv;
          sd += a;
          qd += a * a;
        }
        const so = sums + <usize>d * 8;
        const qo = squares + <usize>d * 8;
        store<f64>(so, load<f64>(so) + sd);
        store<f64>(qo, load<f64>(qo) + qd);
      }
      row += 8 * rowBytes;
    }
    for (; r + 4 <= nbi; r += 4) {
      let d = 0;
      for (; d + 2 <= D; d += 2) {
        const o = <usize>d * e;
        const hv = ld2<T>(h + o);
        const a = f64x2.sub(ld2<T>(row + o), hv);
        const b = f64x2.sub(ld2<T>(row + rowBytes + o), hv);
        const c = f64x2.sub(ld2<T>(row + 2 * rowBytes + o), hv);
        const f = f64x2.sub(ld2<T>(row + 3 * rowBytes + o), hv);
        const so = sums + <usize>d * 8;
        const qo = squares + <usize>d * 8;
        v128.store(so, f64x2.add(v128.load(so), f64x2.add(f64x2.add(a, b), f64x2.add(c, f))));
        const q = f64x2.add(madd(b, b, f64x2.mul(a, a)), madd(f, f, f64x2.mul(c, c)));
        v128.store(qo, f64x2.add(v128.load(qo), q));
      }
      if (d < D) {
        const o = <usize>d * e;
        const hv = ld1<T>(h + o);
        const a = ld1<T>(row + o) - hv;
        const b = ld1<T>(row + rowBytes + o) - hv;
        const c = ld1<T>(row + 2 * rowBytes + o) - hv;
        const f = ld1<T>(row + 3 * rowBytes + o) - hv;
        const so = sums + <usize>d * 8;
        const qo = squares + <usize>d * 8;
        store<f64>(so, load<f64>(so) + (a + b + (c + f)));
        store<f64>(qo, load<f64>(qo) + (a * a + b * b + (c * c + f * f)));
      }
      row += 4 * rowBytes;
    }
    for (; r < nbi; r++) {
      let d = 0;
      for (; d + 2 <= D; d += 2) {
        const o = <usize>d * e;
        const a = f64x2.sub(ld2<T>(row + o), ld2<T>(h + o));
        const so = sums + <usize>d * 8;
        const qo = squares + <usize>d * 8;
        v128.store(so, f64x2.add(v128.load(so), a));
        v128.store(qo, madd(a, a, v128.load(qo)));
      }
      if (d < D) {
        const o = <usize>d * e;
        const a = ld1<T>(row + o) - ld1<T>(h + o);
        const so = sums + <usize>d * 8;
        const qo = squares + <usize>d * 8;
        store<f64>(so, load<f64>(so) + a);
        store<f64>(qo, load<f64>(qo) + a * a);
      }
      row += rowBytes;
    }
    // merge the block into (mean, M2), two features per step
    const nb = <f64>nbi;
    const na = <f64>rb;
    const total = na + nb;
    const vnb = f64x2.splat(nb);
    const wb = f64x2.splat(nb / total);
    const wab = f64x2.splat((na * nb) / total);
    const zero = f64x2.splat(0);
    let d = 0;
    for (; d + 2 <= D; d += 2) {
      const o = <usize>d * 8;
      const sd = v128.load(sums + o);
      const mb = f64x2.add(ld2<T>(h + <usize>d * e), f64x2.div(sd, vnb));
      const Mb = f64x2.max(zero, f64x2.sub(v128.load(squares + o), f64x2.div(f64x2.mul(sd, sd), vnb)));
      if (rb == 0) {
        v128.store(mean + o, mb);
        v128.store(m2 + o, Mb);
      } else {
        const ma = v128.load(mean + o);
        const delta = f64x2.sub(mb, ma);
        v128.store(mean + o, f64x2.add(ma, f64x2.mul(delta, wb)));
        v128.store(m2 + o, f64x2.add(f64x2.add(v128.load(m2 + o), Mb), f64x2.mul(f64x2.mul(delta, delta), wab)));
      }
    }
    if (d < D) {
      const o = <usize>d * 8;
      const sd = load<f64>(sums + o);
      const mb = ld1<T>(h + <usize>d * e) + sd / nb;
      const Mb = max<f64>(0, load<f64>(squares + o) - (sd * sd) / nb);
      if (rb == 0) {
        store<f64>(mean + o, mb);
        store<f64>(m2 + o, Mb);
      } else {
        const ma = load<f64>(mean + o);
        const delta = mb - ma;
        store<f64>(mean + o, ma + delta * (nb / total));
        store<f64>(m2 + o, load<f64>(m2 + o) + Mb + delta * delta * ((na * nb) / total));
      }
    }
  }
}

/** out = (x − mean[d]) · scale[d] + shift[d] on rows [0, rows); four rows per sweep share the loads of the coefficients. */
function bnRowAffine<T>(x: usize, out: usize, rows: i32, D: i32, mean: usize, scale: usize, shift: usize): void {
  const e = E<T>();
  const rb = <usize>D * e;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let d = 0;
    for (; d + 2 <= D; d += 2) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      const m = v128.load(mean + f);
      const k = v128.load(scale + f);
      const b = v128.load(shift + f);
      st2<T>(out + o, madd(f64x2.sub(ld2<T>(x + o), m), k, b));
      st2<T>(out + rb + o, madd(f64x2.sub(ld2<T>(x + rb + o), m), k, b));
      st2<T>(out + 2 * rb + o, madd(f64x2.sub(ld2<T>(x + 2 * rb + o), m), k, b));
      st2<T>(out + 3 * rb + o, madd(f64x2.sub(ld2<T>(x + 3 * rb + o), m), k, b));
    }
    if (d < D) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      for (let i: usize = 0; i < 4; i++) {
        st1<T>(out + i * rb + o, (ld1<T>(x + i * rb + o) - load<f64>(mean + f)) * load<f64>(scale + f) + load<f64>(shift + f));
      }
    }
    x += 4 * rb;
    out += 4 * rb;
  }
  for (; r < rows; r++) {
    for (let d = 0; d < D; d++) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      st1<T>(out + o, (ld1<T>(x + o) - load<f64>(mean + f)) * load<f64>(scale + f) + load<f64>(shift + f));
    }
    x += rb;
    out += rb;
  }
}

/**
 * sumG[d] += Σ_rows g, sumGD[d] += Σ_rows g · (x − mean[d]) on rows [0, rows); with out ≠ 0 also the
 * forward's out = (x − mean[d]) · scale[d] + shift[d] in the same sweep (forward + backward).
 */
function bnRowGradSums<T>(
  g: usize, x: usize, out: usize, rows: i32, D: i32, mean: usize, scale: usize, shift: usize, sumG: usize, sumGD: usize,
): void {
  const e = E<T>();
  const rb = <usize>D * e;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let d = 0;
    for (; d + 2 <= D; d += 2) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      const m = v128.load(mean + f);
      const x0 = f64x2.sub(ld2<T>(x + o), m);
      const x1 = f64x2.sub(ld2<T>(x + rb + o), m);
      const x2 = f64x2.sub(ld2<T>(x + 2 * rb + o), m);
      const x3 = f64x2.sub(ld2<T>(x + 3 * rb + o), m);
      if (out != 0) {
        const k = v128.load(scale + f);
        const b = v128.load(shift + f);
        st2<T>(out + o, madd(x0, k, b));
        st2<T>(out + rb + o, madd(x1, k, b));
        st2<T>(out + 2 * rb + o, madd(x2, k, b));
        st2<T>(out + 3 * rb + o, madd(x3, k, b));
      }
      const u0 = ld2<T>(g + o);
      const u1 = ld2<T>(g + rb + o);
      const u2 = ld2<T>(g + 2 * rb + o);
      const u3 = ld2<T>(g + 3 * rb + o);
      v128.store(sumG + f, f64x2.add(v128.load(sumG + f), f64x2.add(f64x2.add(u0, u1), f64x2.add(u2, u3))));
      const t = f64x2.add(madd(u1, x1, f64x2.mul(u0, x0)), madd(u3, x3, f64x2.mul(u2, x2)));
      v128.store(sumGD + f, f64x2.add(v128.load(sumGD + f), t));
    }
    for (; d < D; d++) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      const m = load<f64>(mean + f);
      let a: f64 = 0;
      let c: f64 = 0;
      for (let i = 0; i < 4; i++) {
        const at = <usize>i * rb + o;
        const u = ld1<T>(g + at);
        const xu = ld1<T>(x + at) - m;
        if (out != 0) st1<T>(out + at, xu * load<f64>(scale + f) + load<f64>(shift + f));
        a += u;
        c += u * xu;
      }
      store<f64>(sumG + f, load<f64>(sumG + f) + a);
      store<f64>(sumGD + f, load<f64>(sumGD + f) + c);
    }
    g += 4 * rb;
    x += 4 * rb;
    if (out != 0) out += 4 * rb;
  }
  for (; r < rows; r++) {
    for (let d = 0; d < D; d++) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      const u = ld1<T>(g + o);
      const xu = ld1<T>(x + o) - load<f64>(mean + f);
      if (out != 0) st1<T>(out + o, xu * load<f64>(scale + f) + load<f64>(shift + f));
      store<f64>(sumG + f, load<f64>(sumG + f) + u);
      store<f64>(sumGD + f, load<f64>(sumGD + f) + u * xu);
    }
    g += rb;
    x += rb;
    if (out != 0) out += rb;
  }
}

/** dx = p[d] · g + q[d] · (x − mean[d]) + r[d] on rows [0, rows); four rows per sweep share the coefficient loads. */
function bnRowGrad<T>(g: usize, x: usize, dx: usize, rows: i32, D: i32, mean: usize, pc: usize, qc: usize, rc: usize): void {
  const e = E<T>();
  const rb = <usize>D * e;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let d = 0;
    for (; d + 2 <= D; d += 2) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      const m = v128.load(mean + f);
      const p = v128.load(pc + f);
      const q = v128.load(qc + f);
      const c = v128.load(rc + f);
      const o1 = o + rb;
      const o2 = o1 + rb;
      const o3 = o2 + rb;
      const t0 = madd(p, ld2<T>(g + o), madd(q, f64x2.sub(ld2<T>(x + o), m), c));
      const t1 = madd(p, ld2<T>(g + o1), madd(q, f64x2.sub(ld2<T>(x + o1), m), c));
      const t2 = madd(p, ld2<T>(g + o2), madd(q, f64x2.sub(ld2<T>(x + o2), m), c));
      const t3 = madd(p, ld2<T>(g + o3), madd(q, f64x2.sub(ld2<T>(x + o3), m), c));
      st2<T>(dx + o, t0);
      st2<T>(dx + o1, t1);
      st2<T>(dx + o2, t2);
      st2<T>(dx + o3, t3);
    }
    if (d < D) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      for (let i: usize = 0; i < 4; i++) {
        const at = i * rb + o;
        st1<T>(dx + at, load<f64>(pc + f) * ld1<T>(g + at) + load<f64>(qc + f) * (ld1<T>(x + at) - load<f64>(mean + f)) + load<f64>(rc + f));
      }
    }
    g += 4 * rb;
    x += 4 * rb;
    dx += 4 * rb;
  }
  for (; r < rows; r++) {
    for (let d = 0; d < D; d++) {
      const o = <usize>d * e;
      const f = <usize>d * 8;
      st1<T>(dx + o, load<f64>(pc + f) * ld1<T>(g + o) + load<f64>(qc + f) * (ld1<T>(x + o) - load<f64>(mean + f)) + load<f64>(rc + f));
    }
    g += rb;
    x += rb;
    dx += rb;
  }
}

// ---- batchnorm (N, D), float32 elementwise passes in f32x4 ----------------------------------------
// The statistics stay float64 (bnRowStats, bnRowGradSums); the per-feature coefficients are rounded to
// float32 once, the mean split in two (hi = fround(mean), lo = mean − hi) so that x − hi loses nothing
// to a large common offset: it is exact when x is within a factor 2 of hi (Sterbenz), and lo, the
// mean's next bits, is folded into the additive coefficient in float64 before that is rounded:
// (x − mean)·k + c = (x − hi)·k + (c − lo·k). Four values per vector instead of two, no promote/demote,
// and four rows per sweep share the loads of the coefficients.

@inline function madd32(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_madd<f32>(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** out = (x − hi[d]) · scale[d] + shift[d], float32; cf = hi | scale | shift (D float32 each; shift has lo folded in). */
export function bnRowAffineF32x4(x: usize, out: usize, rows: i32, D: i32, cf: usize): void {
  const rb = <usize>D * 4;
  const sc = cf + rb;
  const sh = sc + rb;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const o = <usize>d * 4;
      const h = v128.load(cf + o);
      const k = v128.load(sc + o);
      const b = v128.load(sh + o);
      v128.store(out + o, madd32(f32x4.sub(v128.load(x + o), h), k, b));
      v128.store(out + rb + o, madd32(f32x4.sub(v128.load(x + rb + o), h), k, b));
      v128.store(out + 2 * rb + o, madd32(f32x4.sub(v128.load(x + 2 * rb + o), h), k, b));
      v128.store(out + 3 * rb + o, madd32(f32x4.sub(v128.load(x + 3 * rb + o), h), k, b));
    }
    for (; d < D; d++) {
      const o = <usize>d * 4;
      for (let i: usize = 0; i < 4; i++) {
        const v = f32x4.sub(v128.load32_zero(x + i * rb + o), v128.load32_zero(cf + o));
        v128.store32_lane(out + i * rb + o, madd32(v, v128.load32_zero(sc + o), v128.load32_zero(sh + o)), 0);
      }
    }
    x += 4 * rb;
    out += 4 * rb;
  }
  for (; r < rows; r++) {
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const o = <usize>d * 4;
      v128.store(out + o, madd32(f32x4.sub(v128.load(x + o), v128.load(cf + o)), v128.load(sc + o), v128.load(sh + o)));
    }
    for (; d < D; d++) {
      const o = <usize>d * 4;
      const v = f32x4.sub(v128.load32_zero(x + o), v128.load32_zero(cf + o));
      v128.store32_lane(out + o, madd32(v, v128.load32_zero(sc + o), v128.load32_zero(sh + o)), 0);
    }
    x += rb;
    out += rb;
  }
}

/**
 * Groupnorm's float32 affine, plane by plane: out = (x − hi[p]) · k[p] + b[p] in f32x4 for planes
 * [0, planes) of S values each; cf = hi | k | b (one float32 per plane, b with the mean's low part
 * folded in: f32Coefficients). The same formula as planeAffineGradSumsF32x4, so a forward alone and a
 * forward + backward give the same bits.
 */
export function planeAffineF32x4(x: usize, out: usize, planes: i32, S: i32, cf: usize): void {
  const pb = <usize>planes * 4;
  for (let p = 0; p < planes; p++) {
    const o = <usize>p * 4;
    const h = v128.load32_splat(cf + o);
    const k = v128.load32_splat(cf + pb + o);
    const b = v128.load32_splat(cf + 2 * pb + o);
    let i = 0;
    for (; i + 8 <= S; i += 8) {
      v128.store(out, madd32(f32x4.sub(v128.load(x), h), k, b));
      v128.store(out + 16, madd32(f32x4.sub(v128.load(x + 16), h), k, b));
      x += 32;
      out += 32;
    }
    for (; i < S; i++) {
      v128.store32_lane(out, madd32(f32x4.sub(v128.load32_zero(x), h), k, b), 0);
      x += 4;
      out += 4;
    }
  }
}

/**
 * planeAffineF32x4 and, per plane, the backward's float64 sums: sumG[p] += Σ g, sumGD[p] += Σ g·(x − mean[p])
 * (mean as f64), one sweep.
 */
export function planeAffineGradSumsF32x4(
  x: usize, g: usize, out: usize, planes: i32, S: i32, cf: usize, mean: usize, sumG: usize, sumGD: usize,
): void {
  const pb = <usize>planes * 4;
  for (let p = 0; p < planes; p++) {
    const o = <usize>p * 4;
    const h = v128.load32_splat(cf + o);
    const k = v128.load32_splat(cf + pb + o);
    const b = v128.load32_splat(cf + 2 * pb + o);
    const ms = load<f64>(mean + (<usize>p << 3));
    const m = f64x2.splat(ms);
    let a0 = f64x2.splat(0);
    let a1 = a0;
    let d0 = a0;
    let d1 = a0;
    let i = 0;
    for (; i + 4 <= S; i += 4) {
      const xv = v128.load(x);
      v128.store(out, madd32(f32x4.sub(xv, h), k, b));
      const gv = v128.load(g);
      const u0 = f64x2.promote_low_f32x4(gv);
      const u1 = f64x2.promote_low_f32x4(i32x4.shuffle(gv, gv, 2, 3, 0, 1));
      const x0 = f64x2.sub(f64x2.promote_low_f32x4(xv), m);
      const x1 = f64x2.sub(f64x2.promote_low_f32x4(i32x4.shuffle(xv, xv, 2, 3, 0, 1)), m);
      a0 = f64x2.add(a0, u0);
      a1 = f64x2.add(a1, u1);
      d0 = madd(u0, x0, d0);
      d1 = madd(u1, x1, d1);
      x += 16;
      g += 16;
      out += 16;
    }
    let sa = hsum(f64x2.add(a0, a1));
    let sd = hsum(f64x2.add(d0, d1));
    for (; i < S; i++) {
      v128.store32_lane(out, madd32(f32x4.sub(v128.load32_zero(x), h), k, b), 0);
      const u = <f64>load<f32>(g);
      sa += u;
      sd += u * (<f64>load<f32>(x) - ms);
      x += 4;
      g += 4;
      out += 4;
    }
    const q = <usize>p << 3;
    store<f64>(sumG + q, load<f64>(sumG + q) + sa);
    store<f64>(sumGD + q, load<f64>(sumGD + q) + sd);
  }
}

/**
 * Groupnorm's float32 dx, plane by plane: dx = p[k] · g + (q[k] · (x − hi[k]) + r[k]) in f32x4 for planes
 * [0, planes) of S values each; cf = hi | p | q | r (one float32 per plane, r with the mean's low part
 * folded in: f32Coefficients). The forward + backward and the backward from a cache both use it.
 */
export function planeGradF32x4(g: usize, x: usize, dx: usize, planes: i32, S: i32, cf: usize): void {
  const pb = <usize>planes * 4;
  for (let k = 0; k < planes; k++) {
    const o = <usize>k * 4;
    const h = v128.load32_splat(cf + o);
    const p = v128.load32_splat(cf + pb + o);
    const q = v128.load32_splat(cf + 2 * pb + o);
    const r = v128.load32_splat(cf + 3 * pb + o);
    let i = 0;
    for (; i + 8 <= S; i += 8) {
      v128.store(dx, madd32(p, v128.load(g), madd32(q, f32x4.sub(v128.load(x), h), r)));
      v128.store(dx + 16, madd32(p, v128.load(g + 16), madd32(q, f32x4.sub(v128.load(x + 16), h), r)));
      g += 32;
      x += 32;
      dx += 32;
    }
    for (; i < S; i++) {
      v128.store32_lane(dx, madd32(p, v128.load32_zero(g), madd32(q, f32x4.sub(v128.load32_zero(x), h), r)), 0);
      g += 4;
      x += 4;
      dx += 4;
    }
  }
}

/** dx = p[d] · g + (q[d] · (x − hi[d]) + r[d]), float32; cf = hi | p | q | r (D float32 each; r has lo folded in). */
export function bnRowGradF32x4(g: usize, x: usize, dx: usize, rows: i32, D: i32, cf: usize): void {
  const rb = <usize>D * 4;
  const pc = cf + rb;
  const qc = pc + rb;
  const rc = qc + rb;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const o = <usize>d * 4;
      const h = v128.load(cf + o);
      const p = v128.load(pc + o);
      const q = v128.load(qc + o);
      const c = v128.load(rc + o);
      const o1 = o + rb;
      const o2 = o1 + rb;
      const o3 = o2 + rb;
      v128.store(dx + o, madd32(p, v128.load(g + o), madd32(q, f32x4.sub(v128.load(x + o), h), c)));
      v128.store(dx + o1, madd32(p, v128.load(g + o1), madd32(q, f32x4.sub(v128.load(x + o1), h), c)));
      v128.store(dx + o2, madd32(p, v128.load(g + o2), madd32(q, f32x4.sub(v128.load(x + o2), h), c)));
      v128.store(dx + o3, madd32(p, v128.load(g + o3), madd32(q, f32x4.sub(v128.load(x + o3), h), c)));
    }
    for (; d < D; d++) {
      const o = <usize>d * 4;
      for (let i: usize = 0; i < 4; i++) {
        const at = i * rb + o;
        const v = f32x4.sub(v128.load32_zero(x + at), v128.load32_zero(cf + o));
        const t = madd32(v128.load32_zero(pc + o), v128.load32_zero(g + at), madd32(v128.load32_zero(qc + o), v, v128.load32_zero(rc + o)));
        v128.store32_lane(dx + at, t, 0);
      }
    }
    g += 4 * rb;
    x += 4 * rb;
    dx += 4 * rb;
  }
  for (; r < rows; r++) {
    let d = 0;
    for (; d + 4 <= D; d += 4) {
      const o = <usize>d * 4;
      const v = f32x4.sub(v128.load(x + o), v128.load(cf + o));
      v128.store(dx + o, madd32(v128.load(pc + o), v128.load(g + o), madd32(v128.load(qc + o), v, v128.load(rc + o))));
    }
    for (; d < D; d++) {
      const o = <usize>d * 4;
      const v = f32x4.sub(v128.load32_zero(x + o), v128.load32_zero(cf + o));
      const t = madd32(v128.load32_zero(pc + o), v128.load32_zero(g + o), madd32(v128.load32_zero(qc + o), v, v128.load32_zero(rc + o)));
      v128.store32_lane(dx + o, t, 0);
    }
    g += rb;
    x += rb;
    dx += rb;
  }
}

// ---- layernorm: rows of D contiguous values, statistics per row -----------------------------------

/** Per row of rows [0, rows): mean[r] and invstd[r] = 1/sqrt(var + eps) (f64). */
function lnStats<T>(x: usize, rows: i32, D: i32, eps: f64, mean: usize, invstd: usize): void {
  const rowBytes = <usize>D * E<T>();
  for (let r = 0; r < rows; r++) {
    contiguousStats<T>(x, D);
    store<f64>(mean + <usize>r * 8, rMean);
    store<f64>(invstd + <usize>r * 8, 1 / Math.sqrt(rM2 / <f64>D + eps));
    x += rowBytes;
  }
}

/**
 * Forward on rows [0, rows): per row mean and invstd = 1/sqrt(var + eps) (stored at mean[r], invstd[r],
 * f64), out = (x − mean) · invstd · gamma + beta. gamma and beta are f64 arrays of D.
 */
function lnForward<T>(x: usize, out: usize, rows: i32, D: i32, eps: f64, gamma: usize, beta: usize, mean: usize, invstd: usize): void {
  const e = E<T>();
  const rb = <usize>D * e;
  // statistics of every row first, then the rows normalized two at a time (one load of gamma, beta)
  lnStats<T>(x, rows, D, eps, mean, invstd);
  let r = 0;
  for (; r + 2 <= rows; r += 2) {
    const ms0 = load<f64>(mean + <usize>r * 8);
    const ks0 = load<f64>(invstd + <usize>r * 8);
    const ms1 = load<f64>(mean + <usize>r * 8, 8);
    const ks1 = load<f64>(invstd + <usize>r * 8, 8);
    const m0 = f64x2.splat(ms0);
    const k0 = f64x2.splat(ks0);
    const m1 = f64x2.splat(ms1);
    const k1 = f64x2.splat(ks1);
    let j = 0;
    for (; j + 2 <= D; j += 2) {
      const o = <usize>j * e;
      const gm = v128.load(gamma + <usize>j * 8);
      const bt = v128.load(beta + <usize>j * 8);
      st2<T>(out + o, madd(f64x2.mul(f64x2.sub(ld2<T>(x + o), m0), k0), gm, bt));
      st2<T>(out + rb + o, madd(f64x2.mul(f64x2.sub(ld2<T>(x + rb + o), m1), k1), gm, bt));
    }
    if (j < D) {
      const o = <usize>j * e;
      const gm = load<f64>(gamma + <usize>j * 8);
      const bt = load<f64>(beta + <usize>j * 8);
      st1<T>(out + o, (ld1<T>(x + o) - ms0) * ks0 * gm + bt);
      st1<T>(out + rb + o, (ld1<T>(x + rb + o) - ms1) * ks1 * gm + bt);
    }
    x += 2 * rb;
    out += 2 * rb;
  }
  if (r < rows) {
    const ms = load<f64>(mean + <usize>r * 8);
    const ks = load<f64>(invstd + <usize>r * 8);
    for (let j = 0; j < D; j++) {
      const o = <usize>j * e;
      st1<T>(out + o, (ld1<T>(x + o) - ms) * ks * load<f64>(gamma + <usize>j * 8) + load<f64>(beta + <usize>j * 8));
    }
  }
}

/**
 * Backward on rows [0, rows) with the forward's per-row mean and invstd: dgamma[j] += g · (x − mean) ·
 * invstd, dbeta[j] += g (f64 accumulators of D), dx = invstd · (g · gamma − a − (x − mean) · b) with
 * a = mean(g · gamma), b = invstd² · mean(g · gamma · (x − mean)) over the row. With out ≠ 0 the
 * forward's output is written in the same sweep (forward + backward): out = (x − mean) · invstd ·
 * gamma + beta. Rows go two at a time, so the loads of gamma and the dgamma, dbeta updates serve both.
 */
function lnBackward<T>(
  g: usize, x: usize, dx: usize, out: usize, rows: i32, D: i32, gamma: usize, beta: usize,
  mean: usize, invstd: usize, dgamma: usize, dbeta: usize,
): void {
  const e = E<T>();
  const rb = <usize>D * e;
  const n = <f64>D;
  let r = 0;
  for (; r + 2 <= rows; r += 2) {
    const ms0 = load<f64>(mean + <usize>r * 8);
    const ks0 = load<f64>(invstd + <usize>r * 8);
    const ms1 = load<f64>(mean + <usize>r * 8, 8);
    const ks1 = load<f64>(invstd + <usize>r * 8, 8);
    const m0 = f64x2.splat(ms0);
    const k0 = f64x2.splat(ks0);
    const m1 = f64x2.splat(ms1);
    const k1 = f64x2.splat(ks1);
    let s0 = f64x2.splat(0);
    let t0 = s0;
    let s1 = s0;
    let t1 = s0;
    let j = 0;
    for (; j + 2 <= D; j += 2) {
      const o = <usize>j * e;
      const f = <usize>j * 8;
      const gm = v128.load(gamma + f);
      const u0 = ld2<T>(g + o);
      const u1 = ld2<T>(g + rb + o);
      const d0 = f64x2.sub(ld2<T>(x + o), m0);
      const d1 = f64x2.sub(ld2<T>(x + rb + o), m1);
      if (out != 0) {
        const bt = v128.load(beta + f);
        st2<T>(out + o, madd(f64x2.mul(d0, k0), gm, bt));
        st2<T>(out + rb + o, madd(f64x2.mul(d1, k1), gm, bt));
      }
      const y0 = f64x2.mul(u0, gm);
      const y1 = f64x2.mul(u1, gm);
      s0 = f64x2.add(s0, y0);
      t0 = madd(y0, d0, t0);
      s1 = f64x2.add(s1, y1);
      t1 = madd(y1, d1, t1);
      const dg = madd(f64x2.mul(u1, d1), k1, f64x2.mul(f64x2.mul(u0, d0), k0));
      v128.store(dgamma + f, f64x2.add(v128.load(dgamma + f), dg));
      v128.store(dbeta + f, f64x2.add(v128.load(dbeta + f), f64x2.add(u0, u1)));
    }
    let sy0 = hsum(s0);
    let sd0 = hsum(t0);
    let sy1 = hsum(s1);
    let sd1 = hsum(t1);
    if (j < D) {
      const o = <usize>j * e;
      const f = <usize>j * 8;
      const gm = load<f64>(gamma + f);
      const u0 = ld1<T>(g + o);
      const u1 = ld1<T>(g + rb + o);
      const d0 = ld1<T>(x + o) - ms0;
      const d1 = ld1<T>(x + rb + o) - ms1;
      if (out != 0) {
        st1<T>(out + o, d0 * ks0 * gm + load<f64>(beta + f));
        st1<T>(out + rb + o, d1 * ks1 * gm + load<f64>(beta + f));
      }
      sy0 += u0 * gm;
      sd0 += u0 * gm * d0;
      sy1 += u1 * gm;
      sd1 += u1 * gm * d1;
      store<f64>(dgamma + f, load<f64>(dgamma + f) + (u0 * d0 * ks0 + u1 * d1 * ks1));
      store<f64>(dbeta + f, load<f64>(dbeta + f) + (u0 + u1));
    }
    const as0 = sy0 / n;
    const bs0 = (sd0 * ks0 * ks0) / n;
    const as1 = sy1 / n;
    const bs1 = (sd1 * ks1 * ks1) / n;
    const a0 = f64x2.splat(as0);
    const b0 = f64x2.splat(bs0);
    const a1 = f64x2.splat(as1);
    const b1 = f64x2.splat(bs1);
    j = 0;
    for (; j + 2 <= D; j += 2) {
      const o = <usize>j * e;
      const gm = v128.load(gamma + <usize>j * 8);
      const y0 = nmadd(f64x2.sub(ld2<T>(x + o), m0), b0, f64x2.sub(f64x2.mul(ld2<T>(g + o), gm), a0));
      const y1 = nmadd(f64x2.sub(ld2<T>(x + rb + o), m1), b1, f64x2.sub(f64x2.mul(ld2<T>(g + rb + o), gm), a1));
      st2<T>(dx + o, f64x2.mul(k0, y0));
      st2<T>(dx + rb + o, f64x2.mul(k1, y1));
    }
    if (j < D) {
      const o = <usize>j * e;
      const gm = load<f64>(gamma + <usize>j * 8);
      st1<T>(dx + o, ks0 * (ld1<T>(g + o) * gm - as0 - (ld1<T>(x + o) - ms0) * bs0));
      st1<T>(dx + rb + o, ks1 * (ld1<T>(g + rb + o) * gm - as1 - (ld1<T>(x + rb + o) - ms1) * bs1));
    }
    g += 2 * rb;
    x += 2 * rb;
    dx += 2 * rb;
    if (out != 0) out += 2 * rb;
  }
  if (r < rows) {
    // the last row of an odd count
    const ms = load<f64>(mean + <usize>r * 8);
    const ks = load<f64>(invstd + <usize>r * 8);
    let sy: f64 = 0;
    let sd: f64 = 0;
    for (let j = 0; j < D; j++) {
      const o = <usize>j * e;
      const f = <usize>j * 8;
      const gm = load<f64>(gamma + f);
      const u = ld1<T>(g + o);
      const du = ld1<T>(x + o) - ms;
      if (out != 0) st1<T>(out + o, du * ks * gm + load<f64>(beta + f));
      const yu = u * gm;
      sy += yu;
      sd += yu * du;
      store<f64>(dgamma + f, load<f64>(dgamma + f) + u * du * ks);
      store<f64>(dbeta + f, load<f64>(dbeta + f) + u);
    }
    const as = sy / n;
    const bs = (sd * ks * ks) / n;
    for (let j = 0; j < D; j++) {
      const o = <usize>j * e;
      st1<T>(dx + o, ks * (ld1<T>(g + o) * load<f64>(gamma + <usize>j * 8) - as - (ld1<T>(x + o) - ms) * bs));
    }
  }
}

// ---- layernorm, float32 elementwise passes in f32x4 -----------------------------------------------
// As the batchnorm (N, D) ones: the per-row statistics and the backward's sums (Σ dout·gamma, Σ
// dout·gamma·(x − mean), dgamma, dbeta) stay float64; the elementwise passes run in f32x4 with the
// row's mean split hi = fround(mean), lo = fround(mean − hi) and invstd rounded to float32 once.
// gamma and beta come as float32 arrays (cf = gamma | beta, D each).

@inline function nmadd32(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return v128.relaxed_nmadd<f32>(a, b, c);
  return f32x4.sub(c, f32x4.mul(a, b));
}

/** out row = ((x − hi) − lo) · k · gamma + beta for n rows (1 ≤ n ≤ 4) at x, rb bytes apart. */
@inline function lnNormalizeRowsF32x4(x: usize, out: usize, n: i32, D: i32, cf: usize, mean: usize, invstd: usize): void {
  const rb = <usize>D * 4;
  const beta = cf + rb;
  // per row: hi, lo, k splatted (rows past n repeat row 0 and are not stored)
  const m0 = load<f64>(mean);
  const m1 = n > 1 ? load<f64>(mean, 8) : m0;
  const m2 = n > 2 ? load<f64>(mean, 16) : m0;
  const m3 = n > 3 ? load<f64>(mean, 24) : m0;
  const h0 = <f32>m0;
  const h1 = <f32>m1;
  const h2 = <f32>m2;
  const h3 = <f32>m3;
  const H0 = f32x4.splat(h0);
  const H1 = f32x4.splat(h1);
  const H2 = f32x4.splat(h2);
  const H3 = f32x4.splat(h3);
  const L0 = f32x4.splat(<f32>(m0 - <f64>h0));
  const L1 = f32x4.splat(<f32>(m1 - <f64>h1));
  const L2 = f32x4.splat(<f32>(m2 - <f64>h2));
  const L3 = f32x4.splat(<f32>(m3 - <f64>h3));
  const k0 = load<f64>(invstd);
  const K0 = f32x4.splat(<f32>k0);
  const K1 = f32x4.splat(<f32>(n > 1 ? load<f64>(invstd, 8) : k0));
  const K2 = f32x4.splat(<f32>(n > 2 ? load<f64>(invstd, 16) : k0));
  const K3 = f32x4.splat(<f32>(n > 3 ? load<f64>(invstd, 24) : k0));
  let j = 0;
  if (n == 4) {
    for (; j + 4 <= D; j += 4) {
      const o = <usize>j * 4;
      const gm = v128.load(cf + o);
      const bt = v128.load(beta + o);
      v128.store(out + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + o), H0), L0), K0), gm, bt));
      v128.store(out + rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + rb + o), H1), L1), K1), gm, bt));
      v128.store(out + 2 * rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + 2 * rb + o), H2), L2), K2), gm, bt));
      v128.store(out + 3 * rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + 3 * rb + o), H3), L3), K3), gm, bt));
    }
  } else {
    for (; j + 4 <= D; j += 4) {
      const o = <usize>j * 4;
      const gm = v128.load(cf + o);
      const bt = v128.load(beta + o);
      v128.store(out + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + o), H0), L0), K0), gm, bt));
      if (n > 1) v128.store(out + rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + rb + o), H1), L1), K1), gm, bt));
      if (n > 2) v128.store(out + 2 * rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load(x + 2 * rb + o), H2), L2), K2), gm, bt));
    }
  }
  for (; j < D; j++) {
    const o = <usize>j * 4;
    const gm = v128.load32_zero(cf + o);
    const bt = v128.load32_zero(beta + o);
    v128.store32_lane(out + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load32_zero(x + o), H0), L0), K0), gm, bt), 0);
    if (n > 1) v128.store32_lane(out + rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load32_zero(x + rb + o), H1), L1), K1), gm, bt), 0);
    if (n > 2) v128.store32_lane(out + 2 * rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load32_zero(x + 2 * rb + o), H2), L2), K2), gm, bt), 0);
    if (n > 3) v128.store32_lane(out + 3 * rb + o, madd32(f32x4.mul(f32x4.sub(f32x4.sub(v128.load32_zero(x + 3 * rb + o), H3), L3), K3), gm, bt), 0);
  }
}

/** Forward, float32: the statistics of every row (float64), then the rows normalized four at a time in f32x4. */
export function lnForwardF32x4(x: usize, out: usize, rows: i32, D: i32, eps: f64, cf: usize, mean: usize, invstd: usize): void {
  lnStats<f32>(x, rows, D, eps, mean, invstd);
  const rb = <usize>D * 4;
  for (let r = 0; r < rows; r += 4) {
    lnNormalizeRowsF32x4(x, out, min(4, rows - r), D, cf, mean + <usize>r * 8, invstd + <usize>r * 8);
    x += 4 * rb;
    out += 4 * rb;
  }
}

// Results of the last lnRowSums (wasm globals): Σ g·gamma and Σ g·gamma·(x − mean) of rows 0 and 1.
let rSy0: f64 = 0;
let rSd0: f64 = 0;
let rSy1: f64 = 0;
let rSd1: f64 = 0;

/**
 * The backward's float64 sums over two float32 rows at x, g (rows 0 and 1, rb bytes apart; two = false:
 * row 0 only): rSy, rSd per row, and dgamma += Σ g·(x − mean)·invstd, dbeta += Σ g over the rows, one
 * load and store of the accumulators per pair of rows. gamma64: gamma as f64.
 */
@inline function lnRowSums(
  g: usize, x: usize, two: bool, D: i32, gamma64: usize, ms0: f64, ks0: f64, ms1: f64, ks1: f64, dgamma: usize, dbeta: usize,
): void {
  const rb = <usize>D * 4;
  const m0 = f64x2.splat(ms0);
  const k0 = f64x2.splat(ks0);
  const m1 = f64x2.splat(ms1);
  const k1 = f64x2.splat(ks1);
  let s0 = f64x2.splat(0);
  let t0 = s0;
  let s1 = s0;
  let t1 = s0;
  let j = 0;
  if (two) {
    for (; j + 2 <= D; j += 2) {
      const o = <usize>j * 4;
      const f = <usize>j * 8;
      const gm = v128.load(gamma64 + f);
      const u0 = ld2<f32>(g + o);
      const u1 = ld2<f32>(g + rb + o);
      const p0 = f64x2.mul(u0, f64x2.sub(ld2<f32>(x + o), m0));
      const p1 = f64x2.mul(u1, f64x2.sub(ld2<f32>(x + rb + o), m1));
      s0 = madd(u0, gm, s0);
      t0 = madd(p0, gm, t0);
      s1 = madd(u1, gm, s1);
      t1 = madd(p1, gm, t1);
      v128.store(dgamma + f, madd(p1, k1, madd(p0, k0, v128.load(dgamma + f))));
      v128.store(dbeta + f, f64x2.add(v128.load(dbeta + f), f64x2.add(u0, u1)));
    }
  } else {
    for (; j + 2 <= D; j += 2) {
      const o = <usize>j * 4;
      const f = <usize>j * 8;
      const gm = v128.load(gamma64 + f);
      const u0 = ld2<f32>(g + o);
      const p0 = f64x2.mul(u0, f64x2.sub(ld2<f32>(x + o), m0));
      s0 = madd(u0, gm, s0);
      t0 = madd(p0, gm, t0);
      v128.store(dgamma + f, madd(p0, k0, v128.load(dgamma + f)));
      v128.store(dbeta + f, f64x2.add(v128.load(dbeta + f), u0));
    }
  }
  let sy0 = hsum(s0);
  let sd0 = hsum(t0);
  let sy1 = hsum(s1);
  let sd1 = hsum(t1);
  if (j < D) {
    const o = <usize>j * 4;
    const f = <usize>j * 8;
    const gm = load<f64>(gamma64 + f);
    const u0 = <f64>load<f32>(g + o);
    const p0 = u0 * (<f64>load<f32>(x + o) - ms0);
    sy0 += u0 * gm;
    sd0 += p0 * gm;
    let dg = p0 * ks0;
    let db = u0;
    if (two) {
      const u1 = <f64>load<f32>(g + rb + o);
      const p1 = u1 * (<f64>load<f32>(x + rb + o) - ms1);
      sy1 += u1 * gm;
      sd1 += p1 * gm;
      dg += p1 * ks1;
      db += u1;
    }
    store<f64>(dgamma + f, load<f64>(dgamma + f) + dg);
    store<f64>(dbeta + f, load<f64>(dbeta + f) + db);
  }
  rSy0 = sy0;
  rSd0 = sd0;
  rSy1 = sy1;
  rSd1 = sd1;
}

/** dx (and, with out ≠ 0, out) of one float32 row in f32x4 from its float64 statistics and sums; see lnBackwardF32x4. */
@inline function lnRowGradF32x4(g: usize, x: usize, dx: usize, out: usize, D: i32, cf: usize, ms: f64, ks: f64, sy: f64, sd: f64): void {
  const beta = cf + <usize>D * 4;
  const n = <f64>D;
  const hi = <f32>ms;
  const H = f32x4.splat(hi);
  const L = f32x4.splat(<f32>(ms - <f64>hi));
  const K = f32x4.splat(<f32>ks);
  const A = f32x4.splat(<f32>(sy / n));
  const B = f32x4.splat(<f32>((sd * ks * ks) / n));
  let j = 0;
  for (; j + 4 <= D; j += 4) {
    const o = <usize>j * 4;
    const gm = v128.load(cf + o);
    const v = f32x4.sub(f32x4.sub(v128.load(x + o), H), L);
    if (out != 0) v128.store(out + o, madd32(f32x4.mul(v, K), gm, v128.load(beta + o)));
    const y = nmadd32(v, B, f32x4.sub(f32x4.mul(v128.load(g + o), gm), A));
    v128.store(dx + o, f32x4.mul(K, y));
  }
  for (; j < D; j++) {
    const o = <usize>j * 4;
    const gm = v128.load32_zero(cf + o);
    const v = f32x4.sub(f32x4.sub(v128.load32_zero(x + o), H), L);
    if (out != 0) v128.store32_lane(out + o, madd32(f32x4.mul(v, K), gm, v128.load32_zero(beta + o)), 0);
    const y = nmadd32(v, B, f32x4.sub(f32x4.mul(v128.load32_zero(g + o), gm), A));
    v128.store32_lane(dx + o, f32x4.mul(K, y), 0);
  }
}

/**
 * Backward, float32, on rows [0, rows) with the forward's mean and invstd, two rows at a time: the
 * float64 sums (lnRowSums: sy = Σ g·gamma, sd = Σ g·gamma·(x − mean), dgamma, dbeta), then in f32x4
 * dx = k · ((g·gamma − a) − v·b) with v = (x − hi) − lo, a = sy/D, b = k²·sd/D, and with out ≠ 0 the
 * forward's out = v·k·gamma + beta in the same sweep. cf = gamma | beta as float32 (D each).
 */
export function lnBackwardF32x4(
  g: usize, x: usize, dx: usize, out: usize, rows: i32, D: i32, gamma64: usize, cf: usize,
  mean: usize, invstd: usize, dgamma: usize, dbeta: usize,
): void {
  const rb = <usize>D * 4;
  for (let r = 0; r < rows; r += 2) {
    const two = r + 1 < rows;
    const ms0 = load<f64>(mean + <usize>r * 8);
    const ks0 = load<f64>(invstd + <usize>r * 8);
    const ms1 = two ? load<f64>(mean + <usize>r * 8, 8) : ms0;
    const ks1 = two ? load<f64>(invstd + <usize>r * 8, 8) : ks0;
    lnRowSums(g, x, two, D, gamma64, ms0, ks0, ms1, ks1, dgamma, dbeta);
    const sy1 = rSy1;
    const sd1 = rSd1;
    lnRowGradF32x4(g, x, dx, out, D, cf, ms0, ks0, rSy0, rSd0);
    if (two) lnRowGradF32x4(g + rb, x + rb, dx + rb, out != 0 ? out + rb : 0, D, cf, ms1, ks1, sy1, sd1);
    g += 2 * rb;
    x += 2 * rb;
    dx += 2 * rb;
    if (out != 0) out += 2 * rb;
  }
}

// ---- batchnorm per-channel finalization (C values; the JS loops cost ~15 µs at C = 1024) ----------

/**
 * invstd[c] = 1/sqrt(m2[c]/M + eps) and the running update runMean[c] = momentum·runMean[c] +
 * (1 − momentum)·mean[c], runVar[c] = momentum·runVar[c] + toRunning·m2[c], in place. The same
 * operations in the same order as the JS version (no fused multiply-adds), so both round alike.
 */
export function bnFinalize(C: i32, M: f64, eps: f64, momentum: f64, toRunning: f64, mean: usize, m2: usize, invstd: usize, runMean: usize, runVar: usize): void {
  const vM = f64x2.splat(M);
  const vE = f64x2.splat(eps);
  const one = f64x2.splat(1);
  const mo = f64x2.splat(momentum);
  const om = f64x2.splat(1 - momentum);
  const tr = f64x2.splat(toRunning);
  let c = 0;
  for (; c + 2 <= C; c += 2) {
    const o = <usize>c * 8;
    const q = v128.load(m2 + o);
    v128.store(invstd + o, f64x2.div(one, f64x2.sqrt(f64x2.add(f64x2.div(q, vM), vE))));
    v128.store(runMean + o, f64x2.add(f64x2.mul(mo, v128.load(runMean + o)), f64x2.mul(om, v128.load(mean + o))));
    v128.store(runVar + o, f64x2.add(f64x2.mul(mo, v128.load(runVar + o)), f64x2.mul(tr, q)));
  }
  for (; c < C; c++) {
    const o = <usize>c * 8;
    const q = load<f64>(m2 + o);
    store<f64>(invstd + o, 1 / Math.sqrt(q / M + eps));
    store<f64>(runMean + o, momentum * load<f64>(runMean + o) + (1 - momentum) * load<f64>(mean + o));
    store<f64>(runVar + o, momentum * load<f64>(runVar + o) + toRunning * q);
  }
}

/** a[i] *= b[i] for n f64 values. */
export function mulInto(n: i32, a: usize, b: usize): void {
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i * 8;
    v128.store(a + o, f64x2.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 8;
    store<f64>(a + o, load<f64>(a + o) * load<f64>(b + o));
  }
}

/**
 * The float32 coefficients of the f32x4 (N, D) kernels (see bnRowAffineF32x4): cf = hi | k | mid (when
 * mid ≠ 0) | add − lo·kx, float32, with hi = fround(mean), lo = mean − hi; the others f64 arrays of C.
 */
export function f32Coefficients(C: i32, mean: usize, k: usize, mid: usize, add: usize, kx: usize, cf: usize): void {
  const cb = <usize>C * 4;
  const last = cf + (mid != 0 ? 3 : 2) * cb;
  for (let c = 0; c < C; c++) {
    const o = <usize>c * 8;
    const f = <usize>c * 4;
    const m = load<f64>(mean + o);
    const hi = <f32>m;
    store<f32>(cf + f, hi);
    store<f32>(cf + cb + f, <f32>load<f64>(k + o));
    if (mid != 0) store<f32>(cf + 2 * cb + f, <f32>load<f64>(mid + o));
    store<f32>(last + f, <f32>(load<f64>(add + o) - (m - <f64>hi) * load<f64>(kx + o)));
  }
}

/**
 * The backward's per-channel coefficients of dx = p·dout + q·(x − mean) + r and dgamma, from Σ dout and
 * Σ dout·(x − mean): p[c] (in: gamma) = gamma·invstd, dg = Σdev·invstd, q = −p·invstd²·Σdev/M,
 * r = −p·Σdout/M (train; 0 in test mode). The same operations in the same order as the JS version.
 */
export function bnGradCoefficients(
  C: i32, train: i32, perValue: f64, invstd: usize, sumDout: usize, sumDev: usize, p: usize, q: usize, r: usize, dg: usize,
): void {
  for (let c = 0; c < C; c++) {
    const o = <usize>c * 8;
    const k = load<f64>(invstd + o);
    const pc = load<f64>(p + o) * k;
    const sd = load<f64>(sumDev + o);
    store<f64>(dg + o, sd * k);
    store<f64>(p + o, pc);
    store<f64>(q + o, train ? -pc * k * k * sd * perValue : 0);
    store<f64>(r + o, train ? -pc * load<f64>(sumDout + o) * perValue : 0);
  }
}

// ---- exports ----------------------------------------------------------------------------------------

export function bnPlaneStatsF32(x: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, m2: usize): void {
  bnPlaneStats<f32>(x, p0, p1, C, S, mean, m2);
}
export function bnPlaneStatsF64(x: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, m2: usize): void {
  bnPlaneStats<f64>(x, p0, p1, C, S, mean, m2);
}
export function bnPlaneAffineF32(x: usize, out: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, scale: usize, shift: usize): void {
  bnPlaneAffine<f32>(x, out, p0, p1, C, S, mean, scale, shift);
}
export function bnPlaneAffineF64(x: usize, out: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, scale: usize, shift: usize): void {
  bnPlaneAffine<f64>(x, out, p0, p1, C, S, mean, scale, shift);
}
export function bnPlaneGradSumsF32(g: usize, x: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, sumG: usize, sumGD: usize): void {
  bnPlaneGradSums<f32>(g, x, p0, p1, C, S, mean, sumG, sumGD);
}
export function bnPlaneGradSumsF64(g: usize, x: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, sumG: usize, sumGD: usize): void {
  bnPlaneGradSums<f64>(g, x, p0, p1, C, S, mean, sumG, sumGD);
}
export function bnPlaneAffineGradSumsF32(
  x: usize, g: usize, out: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, scale: usize, shift: usize, sumG: usize, sumGD: usize,
): void {
  bnPlaneAffineGradSums<f32>(x, g, out, p0, p1, C, S, mean, scale, shift, sumG, sumGD);
}
export function bnPlaneAffineGradSumsF64(
  x: usize, g: usize, out: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, scale: usize, shift: usize, sumG: usize, sumGD: usize,
): void {
  bnPlaneAffineGradSums<f64>(x, g, out, p0, p1, C, S, mean, scale, shift, sumG, sumGD);
}
export function bnPlaneGradF32(g: usize, x: usize, dx: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, p: usize, q: usize, r: usize): void {
  bnPlaneGrad<f32>(g, x, dx, p0, p1, C, S, mean, p, q, r);
}
export function bnPlaneGradF64(g: usize, x: usize, dx: usize, p0: i32, p1: i32, C: i32, S: i32, mean: usize, p: usize, q: usize, r: usize): void {
  bnPlaneGrad<f64>(g, x, dx, p0, p1, C, S, mean, p, q, r);
}
export function bnRowStatsF32(x: usize, r0: i32, r1: i32, D: i32, mean: usize, m2: usize, work: usize): void {
  bnRowStats<f32>(x, r0, r1, D, mean, m2, work);
}
export function bnRowStatsF64(x: usize, r0: i32, r1: i32, D: i32, mean: usize, m2: usize, work: usize): void {
  bnRowStats<f64>(x, r0, r1, D, mean, m2, work);
}
export function bnRowAffineF32(x: usize, out: usize, rows: i32, D: i32, mean: usize, scale: usize, shift: usize): void {
  bnRowAffine<f32>(x, out, rows, D, mean, scale, shift);
}
export function bnRowAffineF64(x: usize, out: usize, rows: i32, D: i32, mean: usize, scale: usize, shift: usize): void {
  bnRowAffine<f64>(x, out, rows, D, mean, scale, shift);
}
/** out = 0: backward sums only; otherwise also the forward's out (forward + backward). */
export function bnRowGradSumsF32(
  g: usize, x: usize, out: usize, rows: i32, D: i32, mean: usize, scale: usize, shift: usize, sumG: usize, sumGD: usize,
): void {
  bnRowGradSums<f32>(g, x, out, rows, D, mean, scale, shift, sumG, sumGD);
}
export function bnRowGradSumsF64(
  g: usize, x: usize, out: usize, rows: i32, D: i32, mean: usize, scale: usize, shift: usize, sumG: usize, sumGD: usize,
): void {
  bnRowGradSums<f64>(g, x, out, rows, D, mean, scale, shift, sumG, sumGD);
}
export function bnRowGradF32(g: usize, x: usize, dx: usize, rows: i32, D: i32, mean: usize, p: usize, q: usize, r: usize): void {
  bnRowGrad<f32>(g, x, dx, rows, D, mean, p, q, r);
}
export function bnRowGradF64(g: usize, x: usize, dx: usize, rows: i32, D: i32, mean: usize, p: usize, q: usize, r: usize): void {
  bnRowGrad<f64>(g, x, dx, rows, D, mean, p, q, r);
}
export function lnStatsF32(x: usize, rows: i32, D: i32, eps: f64, mean: usize, invstd: usize): void {
  lnStats<f32>(x, rows, D, eps, mean, invstd);
}
export function lnStatsF64(x: usize, rows: i32, D: i32, eps: f64, mean: usize, invstd: usize): void {
  lnStats<f64>(x, rows, D, eps, mean, invstd);
}
export function lnForwardF32(x: usize, out: usize, rows: i32, D: i32, eps: f64, gamma: usize, beta: usize, mean: usize, invstd: usize): void {
  lnForward<f32>(x, out, rows, D, eps, gamma, beta, mean, invstd);
}
export function lnForwardF64(x: usize, out: usize, rows: i32, D: i32, eps: f64, gamma: usize, beta: usize, mean: usize, invstd: usize): void {
  lnForward<f64>(x, out, rows, D, eps, gamma, beta, mean, invstd);
}
export function lnBackwardF32(
  g: usize, x: usize, dx: usize, out: usize, rows: i32, D: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize,
): void {
  lnBackward<f32>(g, x, dx, out, rows, D, gamma, beta, mean, invstd, dgamma, dbeta);
}
export function lnBackwardF64(
  g: usize, x: usize, dx: usize, out: usize, rows: i32, D: i32, gamma: usize, beta: usize, mean: usize, invstd: usize, dgamma: usize, dbeta: usize,
): void {
  lnBackward<f64>(g, x, dx, out, rows, D, gamma, beta, mean, invstd, dgamma, dbeta);
}

export {
  maxPool2x2ForwardF32, maxPool2x2ForwardF64, maxPool2x2BackwardF32, maxPool2x2BackwardF64,
  avgPool2x2ForwardF32, avgPool2x2ForwardF64, avgPool2x2BackwardF32, avgPool2x2BackwardF64,
} from './pool';
