// Strided Winograd transforms for conv with a 3×3 kernel, stride 2, dilation 1 (both dtypes), on arena
// memory; the GEMMs in between are the module's gemm (driven by src/kernels/conv/winograd-frame.ts).
//
// Along one axis, two outputs of a stride-2, 3-tap correlation read 5 inputs d0..d4:
//   y0 = g0·d0 + g1·d1 + g2·d2,  y1 = g0·d2 + g1·d3 + g2·d4.
// The even taps (g0, g2 on d0, d2, d4) are a 2-tap correlation of stride 1, done as Winograd F(2, 2)
// (3 multiplies for 4), the odd tap g1 directly (2 multiplies): 5 multiplies instead of 6, so in 2-D 25
// instead of 36 per 2×2 output tile (the three GEMMs shrink 1.44×):
//   Bᵀ = [1 0 −1 0 0; 0 0 1 0 0; 0 0 −1 0 1; 0 1 0 0 0; 0 0 0 1 0]   v = (d0 − d2, d2, d4 − d2, d1, d3)
//   G  = [1 0 0; 1 0 1; 0 0 1; 0 1 0; 0 1 0]                          u = (g0, g0 + g2, g2, g1, g1)
//   Aᵀ = [1 1 0 1 0; 0 1 1 0 1]                                       y = (m0 + m1 + m3, m1 + m2 + m4)
// Every coefficient is 0 or ±1: the transforms only add and subtract (one rounding per term, fewer than
// F(2×2, 3×3)'s, which also has the halves of G).
//
//   forward   Y  = Aᵀ [ U ⊙ V ] A,  U = G g Gᵀ, V = Bᵀ d B (5×5 input patch at padded row 4·ti, column 4·tj)
//   backward  Ď  = A dY Aᵀ, dU = Σ_tiles Ď ⊙ V, dV = Σ_f U ⊙ Ď (the GEMMs), dd = B dV Bᵀ scatter-added
//
// Layouts (elements): padded input planes of width ld ≥ 4·tW + 4 (the loads of the last tiles read up to
// column 4·tW + 3, the scatter writes column 4·tW; the caller pads and zeroes), rows up to 4·tr1 read
// or written; output planes of rows 2·tW wide (tile (ti, tj) at rows 2·ti, columns 2·tj, as F(2×2, 3×3)).
// Transformed tiles as 25 matrices [ξ][channel][t] xs elements apart, ξ = 5·row + column of the 5×5 tile,
// channel rows ldt elements apart (≥ the band's (tr1 − tr0)·tW tiles: the caller may lay several images'
// tiles side by side in one row, passing the matrices' address plus its image's offset), t = (ti − tr0)·tW
// + tj; tW a multiple of the lanes L (4 f32, 2 f64): each step does L tiles of one tile row.

/** Column 4·t + k (k = 0..4) of the L tiles t = 0..L−1 whose patches start at p. */
@inline function col<T>(p: usize, k: i32): v128 {
  const sz = <usize>sizeof<T>();
  const q = p + <usize>k * sz;
  if (sizeof<T>() == 4) {
    const lo = v128.shuffle<f32>(v128.load(q), v128.load(q, 16), 0, 4, 0, 4);
    const hi = v128.shuffle<f32>(v128.load(q, 32), v128.load(q, 48), 0, 4, 0, 4);
    return v128.shuffle<f32>(lo, hi, 0, 1, 4, 5);
  }
  return v128.shuffle<f64>(v128.load(q), v128.load(q, 32), 0, 2);
}

/** Component j of (row of the patch at p) · B: (d0 − d2, d2, d4 − d2, d1, d3)[j]. */
@inline function rowB<T>(p: usize, j: i32): v128 {
  if (j == 0) return v128.sub<T>(col<T>(p, 0), col<T>(p, 2));
  if (j == 1) return col<T>(p, 2);
  if (j == 2) return v128.sub<T>(col<T>(p, 4), col<T>(p, 2));
  if (j == 3) return col<T>(p, 1);
  return col<T>(p, 3);
}

@inline function addStore<T>(p: usize, v: v128): void {
  v128.store(p, v128.add<T>(v128.load(p), v));
}

/**
 * V[ξ][c][t] = (Bᵀ d B)[ξ] for channels c < C and tile rows [tr0, tr1): d is the 5×5 patch at padded row
 * 4·ti, column 4·tj of plane c of xpad (plane elements apart, rows ld apart).
 */
function inputT<T>(xpad: usize, V: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const xi = <usize>xs * sz;
  const rowBytes = <usize>ld * sz;
  for (let c = 0; c < C; c++) {
    for (let ti = tr0; ti < tr1; ti++) {
      const row0 = xpad + (<usize>c * <usize>plane + <usize>(4 * ti) * <usize>ld) * sz;
      let out = V + (<usize>c * <usize>ldt + <usize>((ti - tr0) * tW)) * sz;
      for (let tj = 0; tj < tW; tj += L) {
        const p0 = row0 + <usize>(4 * tj) * sz;
        const p1 = p0 + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes, p4 = p3 + rowBytes;
        // Bᵀ on the rows of (d·B): V[0] = r0 − r2, V[1] = r2, V[2] = r4 − r2, V[3] = r1, V[4] = r3
        for (let j = 0; j < 5; j++) {
          const r2 = rowB<T>(p2, j);
          const o = out + <usize>j * xi;
          v128.store(o, v128.sub<T>(rowB<T>(p0, j), r2));
          v128.store(o + 5 * xi, r2);
          v128.store(o + 10 * xi, v128.sub<T>(rowB<T>(p4, j), r2));
          v128.store(o + 15 * xi, rowB<T>(p1, j));
          v128.store(o + 20 * xi, rowB<T>(p3, j));
        }
        out += 16;
      }
    }
  }
}

/** Aᵀ along the rows of M at column b: (M0b + M1b + M3b, M1b + M2b + M4b)[i]. */
@inline function colA<T>(m: usize, xi: usize, i: i32): v128 {
  if (i == 0) return v128.add<T>(v128.add<T>(v128.load(m), v128.load(m + 5 * xi)), v128.load(m + 15 * xi));
  return v128.add<T>(v128.add<T>(v128.load(m + 5 * xi), v128.load(m + 10 * xi)), v128.load(m + 20 * xi));
}

@inline function interleaveLo<T>(e: v128, o: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(e, o, 0, 4, 1, 5);
  return v128.shuffle<f64>(e, o, 0, 2);
}

@inline function interleaveHi<T>(e: v128, o: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(e, o, 2, 6, 3, 7);
  return v128.shuffle<f64>(e, o, 1, 3);
}

/**
 * opad[n][f][2·ti + i][2·tj + j] = (Aᵀ M A)[i][j] + b[f] for k images n laid side by side in M's rows
 * (image n's tiles from column n·(tr1 − tr0)·tW), filters f < F and tile rows [tr0, tr1); M is [ξ][f][t]
 * (rows ldt apart). opad rows are 2·tW wide, planes `plane` elements apart, images F·plane apart. Each
 * filter's row of all k images is done before the next, so the 25 streams of M are read in order.
 */
function outputT<T>(M: usize, b: usize, opad: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, k: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const xi = <usize>xs * sz;
  const ld = 2 * tW;
  const rowBytes = <usize>ld * sz;
  const T1 = (tr1 - tr0) * tW;
  for (let f = 0; f < F; f++) {
    const bias = v128.splat<T>(load<T>(b + <usize>f * sz));
    for (let n = 0; n < k; n++) {
      for (let ti = tr0; ti < tr1; ti++) {
        let m = M + (<usize>f * <usize>ldt + <usize>(n * T1 + (ti - tr0) * tW)) * sz;
        let o = opad + (<usize>(n * F + f) * <usize>plane + <usize>(2 * ti) * <usize>ld) * sz;
        for (let tj = 0; tj < tW; tj += L) {
          for (let i = 0; i < 2; i++) {
            // s[k] = (Aᵀ M)[i][k]; then · A: y0 = s0 + s1 + s3, y1 = s1 + s2 + s4
            const s0 = colA<T>(m, xi, i), s1 = colA<T>(m + xi, xi, i), s2 = colA<T>(m + 2 * xi, xi, i);
            const s3 = colA<T>(m + 3 * xi, xi, i), s4 = colA<T>(m + 4 * xi, xi, i);
            const y0 = v128.add<T>(v128.add<T>(v128.add<T>(s0, s1), s3), bias);
            const y1 = v128.add<T>(v128.add<T>(v128.add<T>(s1, s2), s4), bias);
            const r = o + <usize>i * rowBytes;
            v128.store(r, interleaveLo<T>(y0, y1));
            v128.store(r, interleaveHi<T>(y0, y1), 16);
          }
          m += 16;
          o += 32;
        }
      }
    }
  }
}

/** Even (k = 0) or odd (k = 1) columns of the 2·L elements at p. */
@inline function deinterleave<T>(p: usize, k: i32): v128 {
  if (sizeof<T>() == 4) {
    if (k == 0) return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
    return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 1, 3, 5, 7);
  }
  if (k == 0) return v128.shuffle<f64>(v128.load(p), v128.load(p, 16), 0, 2);
  return v128.shuffle<f64>(v128.load(p), v128.load(p, 16), 1, 3);
}

/** Row (e0, e1) of A dY, times Aᵀ: (e0, e0 + e1, e1, e0, e1) at o + k·xi. */
@inline function doutRow<T>(o: usize, xi: usize, e0: v128, e1: v128): void {
  v128.store(o, e0);
  v128.store(o + xi, v128.add<T>(e0, e1));
  v128.store(o + 2 * xi, e1);
  v128.store(o + 3 * xi, e0);
  v128.store(o + 4 * xi, e1);
}

/**
 * D[ξ][f][t] = (A dY Aᵀ)[ξ], dY the 2×2 tile of dpad (rows 2·tW wide, planes `plane` apart, k images
 * F·plane apart, laid side by side in D's rows as in outputT): the adjoint of outputT. Rows: (y0, y0 + y1,
 * y1, y0, y1) of the tile rows y, then the same on columns.
 */
function doutT<T>(dpad: usize, D: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, k: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const xi = <usize>xs * sz;
  const ld = 2 * tW;
  const rowBytes = <usize>ld * sz;
  const T1 = (tr1 - tr0) * tW;
  for (let f = 0; f < F; f++) {
    for (let n = 0; n < k; n++) {
      for (let ti = tr0; ti < tr1; ti++) {
        let p = dpad + (<usize>(n * F + f) * <usize>plane + <usize>(2 * ti) * <usize>ld) * sz;
        let out = D + (<usize>f * <usize>ldt + <usize>(n * T1 + (ti - tr0) * tW)) * sz;
        for (let tj = 0; tj < tW; tj += L) {
          const y00 = deinterleave<T>(p, 0), y01 = deinterleave<T>(p, 1);
          const y10 = deinterleave<T>(p + rowBytes, 0), y11 = deinterleave<T>(p + rowBytes, 1);
          doutRow<T>(out, xi, y00, y01);
          doutRow<T>(out + 5 * xi, xi, v128.add<T>(y00, y10), v128.add<T>(y01, y11));
          doutRow<T>(out + 10 * xi, xi, y10, y11);
          doutRow<T>(out + 15 * xi, xi, y00, y01);
          doutRow<T>(out + 20 * xi, xi, y10, y11);
          p += 32;
          out += 16;
        }
      }
    }
  }
}

/** Row r of B·dV at column b (v at dV[0][b]): (v0, v3, −v0 + v1 − v2, v4, v2)[r]. */
@inline function rowBdV<T>(v: usize, xi: usize, r: i32): v128 {
  if (r == 0) return v128.load(v);
  if (r == 1) return v128.load(v + 15 * xi);
  if (r == 2) return v128.sub<T>(v128.sub<T>(v128.load(v + 5 * xi), v128.load(v)), v128.load(v + 10 * xi));
  if (r == 3) return v128.load(v + 20 * xi);
  return v128.load(v + 10 * xi);
}

/**
 * Adds one patch row (q0..q4, the row of B dV) times Bᵀ, (q0, q3, −q0 + q1 − q2, q4, q2) at columns 4·t +
 * 0..4 of the L tiles at p: the fifth column of tile t is the first of tile t + 1, so it is folded into
 * that one's first, and the last tile's is added alone at column 4·L.
 */
@inline function dxRow<T>(p: usize, q0: v128, q1: v128, q2: v128, q3: v128, q4: v128): void {
  const zero = v128.splat<T>(<T>0);
  const d1 = q3;
  const d2 = v128.sub<T>(v128.sub<T>(q1, q0), q2);
  const d3 = q4;
  const d4 = q2;
  if (sizeof<T>() == 4) {
    const e0 = v128.add<T>(q0, v128.shuffle<f32>(zero, d4, 0, 4, 5, 6));
    const u0 = v128.shuffle<f32>(e0, d1, 0, 4, 1, 5), u1 = v128.shuffle<f32>(e0, d1, 2, 6, 3, 7);
    const w0 = v128.shuffle<f32>(d2, d3, 0, 4, 1, 5), w1 = v128.shuffle<f32>(d2, d3, 2, 6, 3, 7);
    addStore<T>(p, v128.shuffle<f32>(u0, w0, 0, 1, 4, 5));
    addStore<T>(p + 16, v128.shuffle<f32>(u0, w0, 2, 3, 6, 7));
    addStore<T>(p + 32, v128.shuffle<f32>(u1, w1, 0, 1, 4, 5));
    addStore<T>(p + 48, v128.shuffle<f32>(u1, w1, 2, 3, 6, 7));
    store<f32>(p + 64, load<f32>(p + 64) + f32x4.extract_lane(d4, 3));
  } else {
    const e0 = v128.add<T>(q0, v128.shuffle<f64>(zero, d4, 0, 2));
    addStore<T>(p, v128.shuffle<f64>(e0, d1, 0, 2));
    addStore<T>(p + 16, v128.shuffle<f64>(d2, d3, 0, 2));
    addStore<T>(p + 32, v128.shuffle<f64>(e0, d1, 1, 3));
    addStore<T>(p + 48, v128.shuffle<f64>(d2, d3, 1, 3));
    store<f64>(p + 64, load<f64>(p + 64) + f64x2.extract_lane(d4, 1));
  }
}

/**
 * dxpad (planes of width ld, `plane` apart) += B dV Bᵀ of every tile, at the patch of inputT: the adjoint
 * of inputT (patches overlap by one row and one column; each is added in turn).
 */
function dxT<T>(dV: usize, dxpad: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const xi = <usize>xs * sz;
  const rowBytes = <usize>ld * sz;
  for (let c = 0; c < C; c++) {
    for (let ti = tr0; ti < tr1; ti++) {
      const row0 = dxpad + (<usize>c * <usize>plane + <usize>(4 * ti) * <usize>ld) * sz;
      let v = dV + (<usize>c * <usize>ldt + <usize>((ti - tr0) * tW)) * sz;
      for (let tj = 0; tj < tW; tj += L) {
        const p = row0 + <usize>(4 * tj) * sz;
        for (let r = 0; r < 5; r++) {
          dxRow<T>(
            p + <usize>r * rowBytes,
            rowBdV<T>(v, xi, r), rowBdV<T>(v + xi, xi, r), rowBdV<T>(v + 2 * xi, xi, r),
            rowBdV<T>(v + 3 * xi, xi, r), rowBdV<T>(v + 4 * xi, xi, r),
          );
        }
        v += 16;
      }
    }
  }
}

// ---- the filter transform and its adjoint (once per call) ----
// G's rows 3 and 4 are equal, so the 25 products use 16 filter matrices U[4·i + j], i, j < 4 (slot
// 4·min(i, 3) + min(j, 3) of ξ = 5·i + j); dU likewise, each slot summing the products of its ξ.

/** Row i < 4 of G g (column s of g at p, p + 3, p + 6 elements): g0, g0 + g2, g2, g1. */
@inline function gRow<T>(p: usize, i: i32, s: i32): f64 {
  const sz = <usize>sizeof<T>();
  const q = p + <usize>s * sz;
  if (i == 0) return <f64>load<T>(q);
  if (i == 1) return <f64>load<T>(q) + <f64>load<T>(q + 6 * sz);
  if (i == 2) return <f64>load<T>(q + 6 * sz);
  return <f64>load<T>(q + 3 * sz);
}

/**
 * U[4·i + j][k] = (G g Gᵀ)[i][j] for k < FC = F·C filters g = w[k] (3×3, 9 elements apart), matrices FC
 * elements apart: sums of up to four taps in f64, rounded once at the store. One row i at a time (4
 * store streams: all 16 at once thrashed L1 sets, the matrices being a multiple of 4 KiB apart).
 */
function filterT<T>(w: usize, U: usize, FC: i32): void {
  const sz = <usize>sizeof<T>();
  const mat = <usize>FC * sz;
  for (let i = 0; i < 4; i++) {
    let u = U + <usize>(4 * i) * mat;
    let p = w;
    for (let k = 0; k < FC; k++) {
      const h0 = gRow<T>(p, i, 0), h1 = gRow<T>(p, i, 1), h2 = gRow<T>(p, i, 2);
      store<T>(u, <T>h0);
      store<T>(u + mat, <T>(h0 + h2));
      store<T>(u + 2 * mat, <T>h2);
      store<T>(u + 3 * mat, <T>h1);
      u += sz;
      p += 9 * sz;
    }
  }
}

/** Σ over the slot rows of tap row a (a = 0: rows 0, 1; a = 1: row 3; a = 2: rows 1, 2) of dU[4·i + j] at u. */
@inline function dRow<T>(u: usize, mat: usize, a: i32, j: i32): f64 {
  const q = u + <usize>j * mat;
  if (a == 0) return <f64>load<T>(q) + <f64>load<T>(q + 4 * mat);
  if (a == 1) return <f64>load<T>(q + 12 * mat);
  return <f64>load<T>(q + 4 * mat) + <f64>load<T>(q + 8 * mat);
}

/** dw[k] = Gᵀ dU[k] G (the adjoint of filterT) for k < FC, in f64, rounded once; one tap row a at a time. */
function filterAdjointT<T>(dU: usize, dw: usize, FC: i32): void {
  const sz = <usize>sizeof<T>();
  const mat = <usize>FC * sz;
  for (let a = 0; a < 3; a++) {
    let u = dU;
    let d = dw + <usize>(3 * a) * sz;
    for (let k = 0; k < FC; k++) {
      const p0 = dRow<T>(u, mat, a, 0), p1 = dRow<T>(u, mat, a, 1), p2 = dRow<T>(u, mat, a, 2), p3 = dRow<T>(u, mat, a, 3);
      store<T>(d, <T>(p0 + p1));
      store<T>(d + sz, <T>p3);
      store<T>(d + 2 * sz, <T>(p1 + p2));
      u += sz;
      d += 9 * sz;
    }
  }
}

export function winoS2FilterF32(w: usize, U: usize, FC: i32): void {
  filterT<f32>(w, U, FC);
}
export function winoS2FilterF64(w: usize, U: usize, FC: i32): void {
  filterT<f64>(w, U, FC);
}
export function winoS2FilterAdjointF32(dU: usize, dw: usize, FC: i32): void {
  filterAdjointT<f32>(dU, dw, FC);
}
export function winoS2FilterAdjointF64(dU: usize, dw: usize, FC: i32): void {
  filterAdjointT<f64>(dU, dw, FC);
}

export function winoS2InputF32(xpad: usize, V: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32): void {
  inputT<f32>(xpad, V, C, ld, plane, tr0, tr1, tW, xs, ldt);
}
export function winoS2InputF64(xpad: usize, V: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32): void {
  inputT<f64>(xpad, V, C, ld, plane, tr0, tr1, tW, xs, ldt);
}
export function winoS2OutputF32(M: usize, b: usize, opad: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, k: i32): void {
  outputT<f32>(M, b, opad, F, plane, tr0, tr1, tW, xs, ldt, k);
}
export function winoS2OutputF64(M: usize, b: usize, opad: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, k: i32): void {
  outputT<f64>(M, b, opad, F, plane, tr0, tr1, tW, xs, ldt, k);
}
export function winoS2DoutF32(dpad: usize, D: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, k: i32): void {
  doutT<f32>(dpad, D, F, plane, tr0, tr1, tW, xs, ldt, k);
}
export function winoS2DoutF64(dpad: usize, D: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, k: i32): void {
  doutT<f64>(dpad, D, F, plane, tr0, tr1, tW, xs, ldt, k);
}
export function winoS2DxF32(dV: usize, dxpad: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32): void {
  dxT<f32>(dV, dxpad, C, ld, plane, tr0, tr1, tW, xs, ldt);
}
export function winoS2DxF64(dV: usize, dxpad: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32): void {
  dxT<f64>(dV, dxpad, C, ld, plane, tr0, tr1, tW, xs, ldt);
}
