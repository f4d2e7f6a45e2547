// Winograd F(4×4, 3×3) transforms for float32 conv (3×3 kernel, stride 1, dilation 1), on arena memory,
// SIMD across 4 tiles of one tile row. The GEMMs in between are the module's gemm; the filter transform
// and its adjoint (once per call) are done in JS (src/kernels/conv/winograd4.ts).
//
//   forward   Y  = Aᵀ [ U ⊙ V ] A,  U = G g Gᵀ (filter), V = Bᵀ d B (6×6 input patch), Y a 4×4 output tile
//   backward  Ď  = A dY Aᵀ        (adjoint of the output transform)
//             dU = Σ_tiles Ď ⊙ V, dV = Σ_f U ⊙ Ď   (the GEMMs)
//             dd = B dV Bᵀ        (adjoint of the input transform), scatter-added into the patch
//
// Layouts (elements): padded planes of width ld ≥ 4·tW + 4 (tiles read and write up to column 4·tW + 3
// without bounds checks: the caller pads and zeroes); transformed tiles as 36 matrices [ξ][channel][t]
// xs elements apart, ξ = 6·row + column of the 6×6 tile, channel rows ldt elements apart (≥ the band's
// (tr1 − tr0)·tW tiles: the caller may lay several images' tiles side by side in one row, passing the
// matrices' address plus its image's offset), t = (ti − tr0)·tW + tj for tile rows [tr0, tr1); tW a
// multiple of 4. `work` is 16-byte-aligned scratch of at least
// 1536 bytes (the GEMM workspace, idle between GEMM calls).
//
// Each transform is two passes of one 1-D transform (below, generated from the matrices): along the
// rows of the tile, into scratch, then along its columns. Tile columns come from 4×4 transposes of the
// plane rows.

// @@OPS@@

/** The 4×4 transpose of r0..r3 (rows), stored as columns at d, d + ds, d + 2·ds, d + 3·ds. */
@inline function transpose4(r0: v128, r1: v128, r2: v128, r3: v128, d: usize, ds: usize): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(d + ds, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
  v128.store(d + 2 * ds, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
  v128.store(d + 3 * ds, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
}

/** Columns 0..5 of the 4 tiles whose patch row starts at p (4·t + k): 6 vectors (lane = tile) at d, 16 apart. */
@inline function cols6(p: usize, d: usize): void {
  const r1 = v128.load(p, 16), r2 = v128.load(p, 32), r3 = v128.load(p, 48);
  transpose4(v128.load(p), r1, r2, r3, d, 16);
  // columns 4 and 5 are columns 0 and 1 of the next tile
  const r4 = v128.load(p, 64);
  const t0 = v128.shuffle<f32>(r1, r2, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r3, r4, 0, 4, 1, 5);
  v128.store(d + 64, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
  v128.store(d + 80, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
}

/** V[ξ][c][t] = (Bᵀ d B)[ξ] for channels c < C and tile rows [tr0, tr1); d the 6×6 patch at (4·ti, 4·tj) of plane c. */
export function wino4InputF32(
  xpad: usize, V: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, work: usize,
): void {
  const xsB = <usize>xs * 4;
  const rowB = <usize>ld * 4;
  const cols = work; // 6 vectors
  const T = work + 96; // T[k][j] = (d B)[k][j] at T + (6k + j)·16
  for (let c = 0; c < C; c++) {
    for (let ti = tr0; ti < tr1; ti++) {
      const row0 = xpad + (<usize>c * <usize>plane + <usize>(4 * ti) * <usize>ld) * 4;
      let out = V + (<usize>c * <usize>ldt + <usize>((ti - tr0) * tW)) * 4;
      for (let tj = 0; tj < tW; tj += 4) {
        let p = row0 + <usize>(4 * tj) * 4;
        for (let k = 0; k < 6; k++) {
          cols6(p, cols);
          bt6(cols, 16, T + <usize>k * 96, 16);
          p += rowB;
        }
        for (let j = 0; j < 6; j++) bt6(T + <usize>j * 16, 96, out + <usize>j * xsB, 6 * xsB);
        out += 16;
      }
    }
  }
}

/**
 * opad[n][f][4·ti + r][4·tj + q] = (Aᵀ M A)[r][q] + b[f] for k images n laid side by side in M's rows
 * (image n's tiles from column n·(tr1 − tr0)·tW); M is [ξ][f][t], opad rows ld = 4·tW wide, planes
 * `plane` apart, images F·plane apart. All images of one filter row before the next: M's 36 streams are
 * read in order (one image's stretch of every row at a time cost conv A ~1 ms).
 */
export function wino4OutputF32(
  M: usize, b: usize, opad: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, work: usize, k: i32,
): void {
  const xsB = <usize>xs * 4;
  const ld = 4 * tW;
  const rowB = <usize>ld * 4;
  const S = work; // S[i][q] = (M A)[i][q] at S + (4i + q)·16
  const Y = work + 384; // Y[r][q] at Y + (4r + q)·16
  const bands = tr1 - tr0;
  for (let f = 0; f < F; f++) {
    const bias = f32x4.splat(load<f32>(b + <usize>f * 4));
    for (let q0 = 0; q0 < k * bands; q0++) {
      const n = q0 / bands;
      const ti = tr0 + q0 % bands;
      let m = M + (<usize>f * <usize>ldt + <usize>((n * bands + ti - tr0) * tW)) * 4;
      let o = opad + (<usize>(n * F + f) * <usize>plane + <usize>(4 * ti) * <usize>ld) * 4;
      for (let tj = 0; tj < tW; tj += 4) {
        for (let i = 0; i < 6; i++) at6(m + <usize>(6 * i) * xsB, xsB, S + <usize>i * 64, 16);
        for (let q = 0; q < 4; q++) at6(S + <usize>q * 16, 64, Y + <usize>q * 16, 64);
        for (let r = 0; r < 4; r++) {
          const y = Y + <usize>r * 64;
          const d = o + <usize>r * rowB;
          transpose4(v128.load(y), v128.load(y, 16), v128.load(y, 32), v128.load(y, 48), d, 16);
          v128.store(d, f32x4.add(v128.load(d), bias));
          v128.store(d, f32x4.add(v128.load(d, 16), bias), 16);
          v128.store(d, f32x4.add(v128.load(d, 32), bias), 32);
          v128.store(d, f32x4.add(v128.load(d, 48), bias), 48);
        }
        m += 16;
        o += 64;
      }
    }
  }
}

/**
 * D[ξ][f][t] = (A dY Aᵀ)[ξ], dY the 4×4 tile of dpad (rows 4·tW wide, planes `plane` apart, k images F·plane
 * apart, laid side by side in D's rows as in the output transform): the adjoint of the output transform.
 */
export function wino4DoutF32(
  dpad: usize, D: usize, F: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, work: usize, k: i32,
): void {
  const xsB = <usize>xs * 4;
  const ld = 4 * tW;
  const rowB = <usize>ld * 4;
  const Yt = work; // dY[r][q] at Yt + (4r + q)·16
  const E = work + 256; // E[r][j] = (dY Aᵀ)[r][j] at E + (6r + j)·16
  const bands = tr1 - tr0;
  for (let f = 0; f < F; f++) {
    for (let q0 = 0; q0 < k * bands; q0++) {
      const n = q0 / bands;
      const ti = tr0 + q0 % bands;
      let p = dpad + (<usize>(n * F + f) * <usize>plane + <usize>(4 * ti) * <usize>ld) * 4;
      let out = D + (<usize>f * <usize>ldt + <usize>((n * bands + ti - tr0) * tW)) * 4;
      for (let tj = 0; tj < tW; tj += 4) {
        for (let r = 0; r < 4; r++) {
          const s = p + <usize>r * rowB;
          transpose4(v128.load(s), v128.load(s, 16), v128.load(s, 32), v128.load(s, 48), Yt + <usize>r * 64, 16);
          a6(Yt + <usize>r * 64, 16, E + <usize>r * 96, 16);
        }
        for (let j = 0; j < 6; j++) a6(E + <usize>j * 16, 96, out + <usize>j * xsB, 6 * xsB);
        p += 64;
        out += 16;
      }
    }
  }
}

@inline function addPair(p: usize, v: v128): void {
  v128.store64_lane(p, f32x4.add(v128.load64_zero(p), v), 0);
}

/** dxpad (planes of width ld, `plane` apart) += B dV Bᵀ of every tile, at the patch of the input transform: its adjoint. */
export function wino4DxF32(
  dV: usize, dxpad: usize, C: i32, ld: i32, plane: i32, tr0: i32, tr1: i32, tW: i32, xs: i32, ldt: i32, work: usize,
): void {
  const xsB = <usize>xs * 4;
  const rowB = <usize>ld * 4;
  const P = work; // P[i][k] = (dV Bᵀ)[i][k] at P + (6i + k)·16
  const Q = work + 576; // Q[r][k] = (B dV Bᵀ)[r][k] at Q + (6r + k)·16
  const T4 = work + 1152; // one transposed row of 4 tiles
  for (let c = 0; c < C; c++) {
    for (let ti = tr0; ti < tr1; ti++) {
      const row0 = dxpad + (<usize>c * <usize>plane + <usize>(4 * ti) * <usize>ld) * 4;
      let v = dV + (<usize>c * <usize>ldt + <usize>((ti - tr0) * tW)) * 4;
      for (let tj = 0; tj < tW; tj += 4) {
        for (let i = 0; i < 6; i++) b6(v + <usize>(6 * i) * xsB, xsB, P + <usize>i * 96, 16);
        for (let k = 0; k < 6; k++) b6(P + <usize>k * 16, 96, Q + <usize>k * 16, 96);
        let d = row0 + <usize>(4 * tj) * 4;
        for (let r = 0; r < 6; r++) {
          const q = Q + <usize>r * 96;
          transpose4(v128.load(q), v128.load(q, 16), v128.load(q, 32), v128.load(q, 48), T4, 16);
          v128.store(d, f32x4.add(v128.load(d), v128.load(T4)));
          v128.store(d, f32x4.add(v128.load(d, 16), v128.load(T4, 16)), 16);
          v128.store(d, f32x4.add(v128.load(d, 32), v128.load(T4, 32)), 32);
          v128.store(d, f32x4.add(v128.load(d, 48), v128.load(T4, 48)), 48);
          // columns 4 and 5 of tile t overlap columns 0 and 1 of tile t + 1
          const lo = v128.shuffle<f32>(v128.load(q, 64), v128.load(q, 80), 0, 4, 1, 5);
          const hi = v128.shuffle<f32>(v128.load(q, 64), v128.load(q, 80), 2, 6, 3, 7);
          addPair(d + 16, lo);
          addPair(d + 32, v128.shuffle<f32>(lo, lo, 2, 3, 0, 1));
          addPair(d + 48, hi);
          addPair(d + 64, v128.shuffle<f32>(hi, hi, 2, 3, 0, 1));
          d += rowB;
        }
        v += 16;
      }
    }
  }
}
