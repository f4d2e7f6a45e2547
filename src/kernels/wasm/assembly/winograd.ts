// Winograd F(2×2, 3×3) transforms for conv (3×3 kernel, stride 1, dilation 1), on arena memory. The GEMMs
// in between are the module's gemm; the filter transforms (once per call) are done in JS.
//
//   forward   Y  = Aᵀ [ U ⊙ V ] A,  U = G g Gᵀ (filter), V = Bᵀ d B (4×4 input patch), Y a 2×2 output tile
//   backward  Ď  = A dY Aᵀ        (adjoint of the output transform)
//             dU = Σ_tiles Ď ⊙ V, dV = Σ_f U ⊙ Ď   (the GEMMs)
//             dd = B dV Bᵀ        (adjoint of the input transform), scatter-added into the patch
//
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1],  Aᵀ = [1 1 1 0; 0 1 −1 −1]
//
// Layouts (elements): padded planes of width ld (tiles read/write without bounds checks: the caller pads
// and zeroes); transformed tiles as 16 matrices [ξ][channel][t] xs elements apart, ξ = 4·row + column of
// the 4×4 tile, t = (ti − tr0)·tW + tj for tile rows [tr0, tr1), Tb = (tr1 − tr0)·tW. Make xs a little
// more than channels·Tb: 16 streams a multiple of 4 KiB apart share L1 sets (doutT ran 4x slower). tW must be a multiple of the
// vector lanes (4 f32, 2 f64): each step does L tiles of one tile row, 2·L columns of the plane.

// ---- loading and storing L tiles' columns ----

/** Columns 2tj+k (k = 0..3) of L consecutive tiles from the row at p (2·L + 2 elements). */
@inline function loadCols<T>(p: usize, k: i32): v128 {
  if (sizeof<T>() == 4) {
    if (k == 0) return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6);
    if (k == 1) return v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 1, 3, 5, 7);
    if (k == 2) return v128.shuffle<f32>(v128.load(p, 8), v128.load(p, 24), 0, 2, 4, 6);
    return v128.shuffle<f32>(v128.load(p, 8), v128.load(p, 24), 1, 3, 5, 7);
  } else {
    if (k == 0) return v128.shuffle<f64>(v128.load(p), v128.load(p, 16), 0, 2);
    if (k == 1) return v128.shuffle<f64>(v128.load(p), v128.load(p, 16), 1, 3);
    if (k == 2) return v128.shuffle<f64>(v128.load(p, 16), v128.load(p, 32), 0, 2);
    return v128.shuffle<f64>(v128.load(p, 16), v128.load(p, 32), 1, 3);
  }
}

/** The 2·L elements (e0 of tile 0, o0 of tile 0, e1, o1, …): even and odd columns interleaved. */
@inline function interleaveLo<T>(e: v128, o: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(e, o, 0, 4, 1, 5);
  return v128.shuffle<f64>(e, o, 0, 2);
}

@inline function interleaveHi<T>(e: v128, o: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(e, o, 2, 6, 3, 7);
  return v128.shuffle<f64>(e, o, 1, 3);
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

@inline function addStore(p: usize, v: v128, isF32: bool): void {
  if (isF32) v128.store(p, f32x4.add(v128.load(p), v));
  else v128.store(p, f64x2.add(v128.load(p), v));
}

// ---- the transforms ----

/**
 * V[ξ][c][t] = (Bᵀ d B)[ξ] for channels c < C and tile rows [tr0, tr1): d is the 4×4 patch at padded row
 * 2·ti, column 2·tj of plane c of xpad (plane elements apart, rows ld apart).
 */
function inputT<T>(xpad: usize, V: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const Tb = (tr1 - tr0) * tW;
  const xiStride = <usize>xs * sz;
  const rowBytes = <usize>ld * sz;
  for (let c = 0; c < C; c++) {
    for (let ti = tr0; ti < tr1; ti++) {
      const row0 = xpad + (<usize>c * <usize>plane + <usize>(2 * ti) * <usize>ld) * sz;
      let out = V + (<usize>c * <usize>Tb + <usize>((ti - tr0) * tW)) * sz;
      for (let tj = 0; tj < tW; tj += L) {
        const p0 = row0 + <usize>(2 * tj) * sz;
        const p1 = p0 + rowBytes;
        const p2 = p1 + rowBytes;
        const p3 = p2 + rowBytes;
        // each patch row · B: t0 = d0 − d2, t1 = d1 + d2, t2 = d2 − d1, t3 = d1 − d3
        let a0 = loadCols<T>(p1, 0), a1 = loadCols<T>(p1, 1), a2 = loadCols<T>(p1, 2), a3 = loadCols<T>(p1, 3);
        const t10 = v128.sub<T>(a0, a2), t11 = v128.add<T>(a1, a2), t12 = v128.sub<T>(a2, a1), t13 = v128.sub<T>(a1, a3);
        a0 = loadCols<T>(p2, 0); a1 = loadCols<T>(p2, 1); a2 = loadCols<T>(p2, 2); a3 = loadCols<T>(p2, 3);
        const t20 = v128.sub<T>(a0, a2), t21 = v128.add<T>(a1, a2), t22 = v128.sub<T>(a2, a1), t23 = v128.sub<T>(a1, a3);
        // Bᵀ · on the rows: V0 = t0 − t2, V1 = t1 + t2, V2 = t2 − t1, V3 = t1 − t3
        v128.store(out + 4 * xiStride, v128.add<T>(t10, t20));
        v128.store(out + 5 * xiStride, v128.add<T>(t11, t21));
        v128.store(out + 6 * xiStride, v128.add<T>(t12, t22));
        v128.store(out + 7 * xiStride, v128.add<T>(t13, t23));
        v128.store(out + 8 * xiStride, v128.sub<T>(t20, t10));
        v128.store(out + 9 * xiStride, v128.sub<T>(t21, t11));
        v128.store(out + 10 * xiStride, v128.sub<T>(t22, t12));
        v128.store(out + 11 * xiStride, v128.sub<T>(t23, t13));
        a0 = loadCols<T>(p0, 0); a1 = loadCols<T>(p0, 1); a2 = loadCols<T>(p0, 2); a3 = loadCols<T>(p0, 3);
        v128.store(out, v128.sub<T>(v128.sub<T>(a0, a2), t20));
        v128.store(out + xiStride, v128.sub<T>(v128.add<T>(a1, a2), t21));
        v128.store(out + 2 * xiStride, v128.sub<T>(v128.sub<T>(a2, a1), t22));
        v128.store(out + 3 * xiStride, v128.sub<T>(v128.sub<T>(a1, a3), t23));
        a0 = loadCols<T>(p3, 0); a1 = loadCols<T>(p3, 1); a2 = loadCols<T>(p3, 2); a3 = loadCols<T>(p3, 3);
        v128.store(out + 12 * xiStride, v128.sub<T>(t10, v128.sub<T>(a0, a2)));
        v128.store(out + 13 * xiStride, v128.sub<T>(t11, v128.add<T>(a1, a2)));
        v128.store(out + 14 * xiStride, v128.sub<T>(t12, v128.sub<T>(a2, a1)));
        v128.store(out + 15 * xiStride, v128.sub<T>(t13, v128.sub<T>(a1, a3)));
        out += 16;
      }
    }
  }
}

@inline function colS0<T>(a: usize, xs: usize): v128 {
  return v128.add<T>(v128.add<T>(v128.load(a), v128.load(a + 4 * xs)), v128.load(a + 8 * xs));
}

@inline function colS1<T>(a: usize, xs: usize): v128 {
  return v128.sub<T>(v128.sub<T>(v128.load(a + 4 * xs), v128.load(a + 8 * xs)), v128.load(a + 12 * xs));
}

/**
 * opad[f][2·ti + i][2·tj + j] = (Aᵀ M A)[i][j] + b[f] for filters f < F and tile rows [tr0, tr1); M is
 * [ξ][f][t]. opad rows are ld = 2·tW wide, planes `plane` elements apart.
 */
function outputT<T>(M: usize, b: usize, opad: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const Tb = (tr1 - tr0) * tW;
  const xiStride = <usize>xs * sz;
  const ld = 2 * tW;
  const rowBytes = <usize>ld * sz;
  for (let f = 0; f < F; f++) {
    const bias = v128.splat<T>(load<T>(b + <usize>f * sz));
    for (let ti = tr0; ti < tr1; ti++) {
      let m = M + (<usize>f * <usize>Tb + <usize>((ti - tr0) * tW)) * sz;
      let o0 = opad + (<usize>f * <usize>plane + <usize>(2 * ti) * <usize>ld) * sz;
      for (let tj = 0; tj < tW; tj += L) {
        // Aᵀ M: s0[k] = M0k + M1k + M2k, s1[k] = M1k − M2k − M3k (k = column, ξ = 4·row + k)
        const s00 = colS0<T>(m, xiStride), s10 = colS1<T>(m, xiStride);
        const s01 = colS0<T>(m + xiStride, xiStride), s11 = colS1<T>(m + xiStride, xiStride);
        const s02 = colS0<T>(m + 2 * xiStride, xiStride), s12 = colS1<T>(m + 2 * xiStride, xiStride);
        const s03 = colS0<T>(m + 3 * xiStride, xiStride), s13 = colS1<T>(m + 3 * xiStride, xiStride);
        // · A: y[i][0] = s_i0 + s_i1 + s_i2, y[i][1] = s_i1 − s_i2 − s_i3
        const y00 = v128.add<T>(v128.add<T>(s00, v128.add<T>(s01, s02)), bias);
        const y01 = v128.add<T>(v128.sub<T>(v128.sub<T>(s01, s02), s03), bias);
        const y10 = v128.add<T>(v128.add<T>(s10, v128.add<T>(s11, s12)), bias);
        const y11 = v128.add<T>(v128.sub<T>(v128.sub<T>(s11, s12), s13), bias);
        v128.store(o0, interleaveLo<T>(y00, y01));
        v128.store(o0, interleaveHi<T>(y00, y01), 16);
        v128.store(o0 + rowBytes, interleaveLo<T>(y10, y11));
        v128.store(o0 + rowBytes, interleaveHi<T>(y10, y11), 16);
        m += 16;
        o0 += 32;
      }
    }
  }
}

/** Row (e0, e1) of A dY, times Aᵀ: (e0, e0 + e1, e0 − e1, −e1) at o, o + xs, o + 2·xs, o + 3·xs. */
@inline function doutRow<T>(o: usize, xs: usize, e0: v128, e1: v128): void {
  v128.store(o, e0);
  v128.store(o + xs, v128.add<T>(e0, e1));
  v128.store(o + 2 * xs, v128.sub<T>(e0, e1));
  v128.store(o + 3 * xs, v128.sub<T>(v128.splat<T>(<T>0), e1));
}

/**
 * D[ξ][f][t] = (A dY Aᵀ)[ξ], dY the 2×2 tile of dpad (rows 2·tW wide, planes `plane` apart): the adjoint
 * of outputT. Rows: e0 = y0, e1 = y0 + y1, e2 = y0 − y1, e3 = −y1 (y = tile rows), then the same on columns.
 */
function doutT<T>(dpad: usize, D: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const Tb = (tr1 - tr0) * tW;
  const xiStride = <usize>xs * sz;
  const ld = 2 * tW;
  const rowBytes = <usize>ld * sz;
  const zero = v128.splat<T>(<T>0);
  for (let f = 0; f < F; f++) {
    for (let ti = tr0; ti < tr1; ti++) {
      let p = dpad + (<usize>f * <usize>plane + <usize>(2 * ti) * <usize>ld) * sz;
      let out = D + (<usize>f * <usize>Tb + <usize>((ti - tr0) * tW)) * sz;
      for (let tj = 0; tj < tW; tj += L) {
        const y00 = deinterleave<T>(p, 0);
        const y01 = deinterleave<T>(p, 1);
        const y10 = deinterleave<T>(p + rowBytes, 0);
        const y11 = deinterleave<T>(p + rowBytes, 1);
        // rows of A dY: e0 = y0, e1 = y0 + y1, e2 = y0 − y1, e3 = −y1; then · Aᵀ on each row alike
        doutRow<T>(out, xiStride, y00, y01);
        doutRow<T>(out + 4 * xiStride, xiStride, v128.add<T>(y00, y10), v128.add<T>(y01, y11));
        doutRow<T>(out + 8 * xiStride, xiStride, v128.sub<T>(y00, y10), v128.sub<T>(y01, y11));
        doutRow<T>(out + 12 * xiStride, xiStride, v128.sub<T>(zero, y10), v128.sub<T>(zero, y11));
        p += 32;
        out += 16;
      }
    }
  }
}

@inline function q1<T>(a: usize, xs: usize): v128 {
  return v128.add<T>(v128.sub<T>(v128.load(a + 4 * xs), v128.load(a + 8 * xs)), v128.load(a + 12 * xs));
}

@inline function q2<T>(a: usize, xs: usize): v128 {
  return v128.sub<T>(v128.add<T>(v128.load(a + 4 * xs), v128.load(a + 8 * xs)), v128.load(a));
}

/**
 * One patch row q0..q3 (columns) of B dV, times Bᵀ: dd0 = q0, dd1 = q1 − q2 + q3, dd2 = −q0 + q1 + q2,
 * dd3 = −q3, added at columns 2tj + k of the row at p: (dd0, dd1) interleaved cover 2tj.., (dd2, dd3) 2tj + 2...
 */
@inline function dxRow<T>(p: usize, q0: v128, q1: v128, q2: v128, q3: v128, isF32: bool): void {
  const sz = <usize>sizeof<T>();
  const d1 = v128.add<T>(v128.sub<T>(q1, q2), q3);
  const d2 = v128.sub<T>(v128.add<T>(q1, q2), q0);
  const d3 = v128.sub<T>(v128.splat<T>(<T>0), q3);
  addStore(p, interleaveLo<T>(q0, d1), isF32);
  addStore(p + 16, interleaveHi<T>(q0, d1), isF32);
  addStore(p + 2 * sz, interleaveLo<T>(d2, d3), isF32);
  addStore(p + 2 * sz + 16, interleaveHi<T>(d2, d3), isF32);
}

/**
 * dxpad (planes of width ld, `plane` apart) += B dV Bᵀ of every tile, at the patch of inputT: the adjoint
 * of inputT. Rows: q0 = v0, q1 = v1 − v2 + v3, q2 = −v0 + v1 + v2, q3 = −v3; then the same on columns.
 */
function dxT<T>(dV: usize, dxpad: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  const sz = <usize>sizeof<T>();
  const L = 16 / <i32>sizeof<T>();
  const isF32 = sizeof<T>() == 4;
  const Tb = (tr1 - tr0) * tW;
  const xiStride = <usize>xs * sz;
  const rowBytes = <usize>ld * sz;
  const zero = v128.splat<T>(<T>0);
  for (let c = 0; c < C; c++) {
    for (let ti = tr0; ti < tr1; ti++) {
      const row0 = dxpad + (<usize>c * <usize>plane + <usize>(2 * ti) * <usize>ld) * sz;
      let v = dV + (<usize>c * <usize>Tb + <usize>((ti - tr0) * tW)) * sz;
      for (let tj = 0; tj < tW; tj += L) {
        // B dV: q0 = v0, q1 = v1 − v2 + v3, q2 = −v0 + v1 + v2, q3 = −v3 (rows; v = dV row, ξ = 4·row + col)
        const p = row0 + <usize>(2 * tj) * sz;
        dxRow<T>(p, v128.load(v), v128.load(v + xiStride), v128.load(v + 2 * xiStride), v128.load(v + 3 * xiStride), isF32);
        dxRow<T>(p + rowBytes, q1<T>(v, xiStride), q1<T>(v + xiStride, xiStride), q1<T>(v + 2 * xiStride, xiStride),
          q1<T>(v + 3 * xiStride, xiStride), isF32);
        dxRow<T>(p + 2 * rowBytes, q2<T>(v, xiStride), q2<T>(v + xiStride, xiStride), q2<T>(v + 2 * xiStride, xiStride),
          q2<T>(v + 3 * xiStride, xiStride), isF32);
        dxRow<T>(p + 3 * rowBytes, v128.sub<T>(zero, v128.load(v + 12 * xiStride)),
          v128.sub<T>(zero, v128.load(v + 13 * xiStride)), v128.sub<T>(zero, v128.load(v + 14 * xiStride)),
          v128.sub<T>(zero, v128.load(v + 15 * xiStride)), isF32);
        v += 16;
      }
    }
  }
}

/**
 * dst plane p, row r, column j ← src likewise, for p < planes, r < rows, j < cols (rows copied whole;
 * src and dst do not overlap). Rows of up to 256 bytes are copied 16 bytes at a time (then 4 at a time:
 * rows hold f32 or f64): memory.copy per short row measured 0.1-0.4 ms on conv B's 16K rows of 64 bytes.
 */
export function copyPlanes(
  src: usize, dst: usize, planes: i32, rows: i32, rowBytes: i32, srcPlane: i32, srcLd: i32, dstPlane: i32, dstLd: i32,
): void {
  const n = <usize>rowBytes;
  for (let p = 0; p < planes; p++) {
    let s = src + <usize>p * <usize>srcPlane;
    let d = dst + <usize>p * <usize>dstPlane;
    for (let r = 0; r < rows; r++) {
      if (n <= 256) {
        let o: usize = 0;
        for (; o + 16 <= n; o += 16) v128.store(d + o, v128.load(s + o));
        for (; o < n; o += 4) store<u32>(d + o, load<u32>(s + o));
      } else {
        memory.copy(d, s, n);
      }
      s += <usize>srcLd;
      d += <usize>dstLd;
    }
  }
}

export function winoInputF32(xpad: usize, V: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  inputT<f32>(xpad, V, C, ld, plane, tr0, tr1, tW, xs);
}
export function winoInputF64(xpad: usize, V: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  inputT<f64>(xpad, V, C, ld, plane, tr0, tr1, tW, xs);
}
export function winoOutputF32(M: usize, b: usize, opad: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  outputT<f32>(M, b, opad, F, plane, tr0, tr1, tW, xs);
}
export function winoOutputF64(M: usize, b: usize, opad: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  outputT<f64>(M, b, opad, F, plane, tr0, tr1, tW, xs);
}
export function winoDoutF32(dpad: usize, D: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  doutT<f32>(dpad, D, F, plane, tr0, tr1, tW, xs);
}
export function winoDoutF64(dpad: usize, D: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  doutT<f64>(dpad, D, F, plane, tr0, tr1, tW, xs);
}
export function winoDxF32(dV: usize, dxpad: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  dxT<f32>(dV, dxpad, C, ld, plane, tr0, tr1, tW, xs);
}
export function winoDxF64(dV: usize, dxpad: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32): void {
  dxT<f64>(dV, dxpad, C, ld, plane, tr0, tr1, tW, xs);
}
