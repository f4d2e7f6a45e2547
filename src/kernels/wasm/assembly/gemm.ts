// AssemblyScript source of the WebAssembly SIMD GEMM (compiled by scripts/build-wasm.mjs).
// One generic source, instantiated for f32 and f64; built twice: plain SIMD (madd = mul + add) and
// relaxed SIMD (madd = relaxed_madd, a fused multiply-add on x86 with FMA). ASC_FEATURE_RELAXED_SIMD is
// a compile-time constant, so each build holds only its own branch.
//
// Memory is imported and owned by the JS arena; this module allocates nothing. All pointers are byte
// addresses in that memory. `work` points at a workspace of workBytes() bytes (packed A block, packed
// B block, one spill tile), 16-byte aligned.
//
// Blocking (Goto/BLIS order): jc over N by NC, pc over K by kc (K split into near-equal blocks of at
// most KC), pack B (kc×nc, in NR-wide panels, zero-padded); ic over M by MC, pack A (mc×kc, in MR-row
// panels, zero-padded; skipped when A is not transposed and N is small: the kernel then reads A in
// place); jr over nc by NR, ir over mc by MR: micro-kernel. The B micro-panel (kc×NR,
// ≤ 24 KiB) stays in L1 while the A block (≤ 256 KiB-ish) streams from L2.
// Micro-kernel: MR = 2 rows × NR = 4 vectors (16 f32 / 8 f64): 8 accumulators + 4 B + 2 A = 14 of
// V8's 16 vector registers (PERFORMANCE.md: larger tiles spill and run at half speed).

const MR: i32 = 2;
const NV: i32 = 4; // vectors per micro-tile row
const KC: i32 = 384;
const MC: i32 = 128;
const NC: i32 = 512;
/** Read A in place (no packing) when not transposed and N is at most this. */
const DIRECT_A_MAX_N: i32 = 256;

@inline function madd<T>(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return v128.relaxed_madd<T>(a, b, c);
  } else {
    return v128.add<T>(v128.mul<T>(a, b), c);
  }
}

@inline function lanes<T>(): i32 {
  return 16 / <i32>sizeof<T>();
}

@inline function nrOf<T>(): i32 {
  return NV * lanes<T>();
}

/** Bytes of workspace gemm needs for element type T: packed A, packed B and a spill tile. */
@inline function workBytesOf<T>(): usize {
  const nr = nrOf<T>();
  const packA = <usize>(MC * KC) * sizeof<T>();
  const packB = <usize>(KC * (((NC + nr - 1) / nr) * nr)) * sizeof<T>();
  const tile = <usize>(MR * nr) * sizeof<T>();
  return packA + packB + tile;
}

export function workBytes(): usize {
  const a = workBytesOf<f32>();
  const b = workBytesOf<f64>();
  return a > b ? a : b;
}

/**
 * Packs op(B)[p0..p0+kc, j0..j0+nc) into NR-wide panels: panel q holds kc rows of NR contiguous
 * elements; columns past nc are zero.
 */
function packB<T>(transB: bool, B: usize, ldb: i32, p0: i32, j0: i32, kc: i32, nc: i32, dst: usize): void {
  const nr = nrOf<T>();
  const sz = <usize>sizeof<T>();
  for (let q = 0; q < nc; q += nr) {
    const w = min(nr, nc - q);
    const panel = dst + <usize>q * <usize>kc * sz;
    if (!transB) {
      // op(B)[p][j] = B[p*ldb + j]: rows of the panel are contiguous in B.
      let src = B + (<usize>p0 * <usize>ldb + <usize>(j0 + q)) * sz;
      const stride = <usize>ldb * sz;
      let d = panel;
      if (w == nr) {
        for (let p = 0; p < kc; p++) {
          v128.store(d, v128.load(src), 0);
          v128.store(d, v128.load(src, 16), 16);
          v128.store(d, v128.load(src, 32), 32);
          v128.store(d, v128.load(src, 48), 48);
          src += stride;
          d += 64;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          let jj = 0;
          for (; jj < w; jj++) store<T>(d + <usize>jj * sz, load<T>(src + <usize>jj * sz));
          for (; jj < nr; jj++) store<T>(d + <usize>jj * sz, <T>0);
          src += stride;
          d += 64;
        }
      }
    } else {
      // op(B)[p][j] = B[j*ldb + p]: read each B row contiguously, scatter with stride NR.
      for (let jj = 0; jj < nr; jj++) {
        let d = panel + <usize>jj * sz;
        if (jj < w) {
          let src = B + (<usize>(j0 + q + jj) * <usize>ldb + <usize>p0) * sz;
          for (let p = 0; p < kc; p++) {
            store<T>(d, load<T>(src));
            src += sz;
            d += 64;
          }
        } else {
          for (let p = 0; p < kc; p++) {
            store<T>(d, <T>0);
            d += 64;
          }
        }
      }
    }
  }
}

/**
 * Packs op(A)[i0..i0+mc, p0..p0+kc) into MR-row panels: panel r holds kc pairs (row 2r, row 2r+1);
 * a missing last row is zero.
 */
function packA<T>(transA: bool, A: usize, lda: i32, i0: i32, p0: i32, mc: i32, kc: i32, dst: usize): void {
  const sz = <usize>sizeof<T>();
  let d = dst;
  for (let r = 0; r < mc; r += MR) {
    const h = min(MR, mc - r);
    if (!transA) {
      // op(A)[i][p] = A[i*lda + p]
      let s0 = A + (<usize>(i0 + r) * <usize>lda + <usize>p0) * sz;
      if (h == 2) {
        let s1 = s0 + <usize>lda * sz;
        let p = 0;
        if (sizeof<T>() == 4) {
          // 4 columns of two rows → 8 interleaved f32.
          for (; p + 4 <= kc; p += 4) {
            const x = v128.load(s0);
            const y = v128.load(s1);
            v128.store(d, v128.shuffle<f32>(x, y, 0, 4, 1, 5), 0);
            v128.store(d, v128.shuffle<f32>(x, y, 2, 6, 3, 7), 16);
            s0 += 16;
            s1 += 16;
            d += 32;
          }
        } else {
          for (; p + 2 <= kc; p += 2) {
            const x = v128.load(s0);
            const y = v128.load(s1);
            v128.store(d, v128.shuffle<f64>(x, y, 0, 2), 0);
            v128.store(d, v128.shuffle<f64>(x, y, 1, 3), 16);
            s0 += 16;
            s1 += 16;
            d += 32;
          }
        }
        for (; p < kc; p++) {
          store<T>(d, load<T>(s0));
          store<T>(d, load<T>(s1), sz);
          s0 += sz;
          s1 += sz;
          d += 2 * sz;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          store<T>(d, load<T>(s0));
          store<T>(d, <T>0, sz);
          s0 += sz;
          d += 2 * sz;
        }
      }
    } else {
      // op(A)[i][p] = A[p*lda + i]: the two rows of a panel are adjacent in A.
      let s = A + (<usize>p0 * <usize>lda + <usize>(i0 + r)) * sz;
      const stride = <usize>lda * sz;
      if (h == 2) {
        if (sizeof<T>() == 4) {
          for (let p = 0; p < kc; p++) {
            store<u64>(d, load<u64>(s));
            s += stride;
            d += 8;
          }
        } else {
          for (let p = 0; p < kc; p++) {
            v128.store(d, v128.load(s));
            s += stride;
            d += 16;
          }
        }
      } else {
        for (let p = 0; p < kc; p++) {
          store<T>(d, load<T>(s));
          store<T>(d, <T>0, sz);
          s += stride;
          d += 2 * sz;
        }
      }
    }
  }
}

/**
 * MR×NR micro-kernel: tile = (2 rows of A, kc long) · pb(kc×NR packed), then C[0..mr, 0..nr) = tile
 * (+ C when acc). Row 0 of A at pa, row 1 at pa + aRs, next k at + aKs: a packed panel (aRs = 1, aKs = 2
 * elements) or A in place (aRs = lda, aKs = 1). Full tiles store straight to C; edge tiles via `spill`.
 */
@inline function micro<T>(
  kc: i32, pa: usize, aRs: usize, aKs: usize, pb: usize,
  C: usize, ldcBytes: usize, mr: i32, nr: i32, acc: bool, spill: usize,
): void {
  const sz = <usize>sizeof<T>();
  let c00 = v128.splat<T>(<T>0), c01 = c00, c02 = c00, c03 = c00;
  let c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(pb, 0);
    const b1 = v128.load(pb, 16);
    const b2 = v128.load(pb, 32);
    const b3 = v128.load(pb, 48);
    const a0 = v128.load_splat<T>(pa, 0);
    c00 = madd<T>(a0, b0, c00);
    c01 = madd<T>(a0, b1, c01);
    c02 = madd<T>(a0, b2, c02);
    c03 = madd<T>(a0, b3, c03);
    const a1 = v128.load_splat<T>(pa + aRs, 0);
    c10 = madd<T>(a1, b0, c10);
    c11 = madd<T>(a1, b1, c11);
    c12 = madd<T>(a1, b2, c12);
    c13 = madd<T>(a1, b3, c13);
    pa += aKs;
    pb += 64;
  }
  const full = mr == MR && nr == nrOf<T>();
  if (full) {
    const C1 = C + ldcBytes;
    if (acc) {
      c00 = v128.add<T>(c00, v128.load(C, 0));
      c01 = v128.add<T>(c01, v128.load(C, 16));
      c02 = v128.add<T>(c02, v128.load(C, 32));
      c03 = v128.add<T>(c03, v128.load(C, 48));
      c10 = v128.add<T>(c10, v128.load(C1, 0));
      c11 = v128.add<T>(c11, v128.load(C1, 16));
      c12 = v128.add<T>(c12, v128.load(C1, 32));
      c13 = v128.add<T>(c13, v128.load(C1, 48));
    }
    v128.store(C, c00, 0);
    v128.store(C, c01, 16);
    v128.store(C, c02, 32);
    v128.store(C, c03, 48);
    v128.store(C1, c10, 0);
    v128.store(C1, c11, 16);
    v128.store(C1, c12, 32);
    v128.store(C1, c13, 48);
  } else {
    v128.store(spill, c00, 0);
    v128.store(spill, c01, 16);
    v128.store(spill, c02, 32);
    v128.store(spill, c03, 48);
    v128.store(spill, c10, 64);
    v128.store(spill, c11, 80);
    v128.store(spill, c12, 96);
    v128.store(spill, c13, 112);
    for (let i = 0; i < mr; i++) {
      const src = spill + <usize>i * 64;
      const dst = C + <usize>i * ldcBytes;
      for (let j = 0; j < nr; j++) {
        const o = <usize>j * sz;
        const v = load<T>(src + o);
        store<T>(dst + o, acc ? load<T>(dst + o) + v : v);
      }
    }
  }
}

function gemmT<T>(
  transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, beta: i32, C: usize, ldc: i32, work: usize,
): void {
  if (M <= 0 || N <= 0) return;
  const sz = <usize>sizeof<T>();
  const nr = nrOf<T>();
  const ldcBytes = <usize>ldc * sz;
  if (K <= 0) {
    if (beta == 0) {
      for (let i = 0; i < M; i++) memory.fill(C + <usize>i * ldcBytes, 0, <usize>N * sz);
    }
    return;
  }
  const pa = work;
  const pb = work + <usize>(MC * KC) * sz;
  const spill = pb + <usize>(KC * (((NC + nr - 1) / nr) * nr)) * sz;
  // A packed A block is reused across N: with N small, packing is a visible share of the work (~1/N;
  // conv A forward, N = 64: +9 % f32, +5 % f64 reading A in place). Reading B in place when M is small
  // (conv dW) measured −7 % f64, +1.5 % f32, so B is always packed.
  const directA = !transA && N <= DIRECT_A_MAX_N;
  const kBlocks = (K + KC - 1) / KC;
  const kcStep = (K + kBlocks - 1) / kBlocks;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += kcStep) {
      const kc = min(kcStep, K - pc);
      const acc = beta != 0 || pc > 0;
      packB<T>(transB, B, ldb, pc, jc, kc, nc, pb);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        if (!directA) packA<T>(transA, A, lda, ic, pc, mc, kc, pa);
        for (let jr = 0; jr < nc; jr += nr) {
          const nrr = min(nr, nc - jr);
          const pbPanel = pb + <usize>jr * <usize>kc * sz;
          const cCol = C + (<usize>ic * <usize>ldc + <usize>(jc + jr)) * sz;
          for (let ir = 0; ir < mc; ir += MR) {
            const mrr = min(MR, mc - ir);
            let aPanel: usize, aRs: usize, aKs: usize;
            if (directA) {
              aPanel = A + (<usize>(ic + ir) * <usize>lda + <usize>pc) * sz;
              aRs = mrr == MR ? <usize>lda * sz : 0; // a lone last row reads itself twice
              aKs = sz;
            } else {
              aPanel = pa + <usize>ir * <usize>kc * sz;
              aRs = sz;
              aKs = 2 * sz;
            }
            micro<T>(kc, aPanel, aRs, aKs, pbPanel, cCol + <usize>ir * ldcBytes, ldcBytes, mrr, nrr, acc, spill);
          }
        }
      }
    }
  }
}

/** C = op(A)·op(B) + beta·C for f32; see gemmT. Pointers are byte addresses, leading dims in elements. */
export function gemmF32(
  transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, beta: i32, C: usize, ldc: i32, work: usize,
): void {
  gemmT<f32>(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, work);
}

/** C = op(A)·op(B) + beta·C for f64; see gemmT. */
export function gemmF64(
  transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, beta: i32, C: usize, ldc: i32, work: usize,
): void {
  gemmT<f64>(transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, work);
}

// Conv helpers on the same memory (see conv.ts).
export {
  im2colF32, im2colF64, col2imF32, col2imF64, rowSumsF32, rowSumsF64,
  depthwiseForwardF32, depthwiseForwardF64, depthwiseBackwardF32, depthwiseBackwardF64,
} from './conv';
export {
  copyPlanes, winoInputF32, winoInputF64, winoOutputF32, winoOutputF64, winoDoutF32, winoDoutF64, winoDxF32, winoDxF64,
} from './winograd';
export { wino4InputF32, wino4OutputF32, wino4DoutF32, wino4DxF32 } from './winograd4';
export {
  winoS2InputF32, winoS2InputF64, winoS2OutputF32, winoS2OutputF64, winoS2DoutF32, winoS2DoutF64, winoS2DxF32, winoS2DxF64,
  winoS2FilterF32, winoS2FilterF64, winoS2FilterAdjointF32, winoS2FilterAdjointF64,
} from './winograd-s2';
