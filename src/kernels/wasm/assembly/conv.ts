// AssemblyScript helpers for src/kernels/conv.ts that work on arena memory next to the GEMM (exported
// from the same module by gemm.ts, so they share its imported memory). Pointers are byte addresses.
//
// col2im: dx (C × H × W) += the adjoint of im2col of dcol (C·HH·WW × P, P = (oh1 − oh0)·Wo) for output
// rows [oh0, oh1). Looped by channel and kernel tap, so one channel plane of dx (a few KiB) stays in L1
// while dcol streams through once; unit-stride rows are added 128 bits at a time. float32 adds in
// float32 (at most HH·WW terms per element per tile).
//
// rowSums: dst[r] (f64) += Σ_j src[r·ld + j], j < cols, summed in f64 for both dtypes (conv's db).

@inline function insideStart(offset: i32, stride: i32, count: i32): i32 {
  if (offset >= 0) return 0;
  return min(count, (stride - 1 - offset) / stride);
}

@inline function insideEnd(offset: i32, stride: i32, limit: i32, count: i32): i32 {
  const lo = insideStart(offset, stride, count);
  if (offset >= limit) return lo;
  return max(lo, min(count, (limit - 1 - offset) / stride + 1));
}

@inline function addRow<T>(t: usize, src: usize, n: i32, sw: i32): void {
  const sz = <usize>sizeof<T>();
  if (sw == 1) {
    const L = 16 / <i32>sizeof<T>();
    let i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      const o = <usize>i * sz;
      const a = v128.add<T>(v128.load(t + o), v128.load(src + o));
      const b = v128.add<T>(v128.load(t + o, 16), v128.load(src + o, 16));
      v128.store(t + o, a);
      v128.store(t + o, b, 16);
    }
    for (; i + L <= n; i += L) {
      const o = <usize>i * sz;
      v128.store(t + o, v128.add<T>(v128.load(t + o), v128.load(src + o)));
    }
    for (; i < n; i++) {
      const o = <usize>i * sz;
      store<T>(t + o, load<T>(t + o) + load<T>(src + o));
    }
  } else {
    const step = <usize>sw * sz;
    let d = t;
    let s = src;
    for (let i = 0; i < n; i++) {
      store<T>(d, load<T>(d) + load<T>(s));
      d += step;
      s += sz;
    }
  }
}

function col2imT<T>(
  dcol: usize, dx: usize, C: i32, H: i32, W: i32, HH: i32, WW: i32, Ho: i32, Wo: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh0: i32, oh1: i32,
): void {
  const sz = <usize>sizeof<T>();
  const P = (oh1 - oh0) * Wo;
  const rowBytes = <usize>P * sz;
  let row = dcol;
  for (let c = 0; c < C; c++) {
    const tc = dx + <usize>c * <usize>H * <usize>W * sz;
    for (let kh = 0; kh < HH; kh++) {
      const offH = kh * dh - ph;
      const ohLo = min(oh1, max(oh0, insideStart(offH, sh, Ho)));
      const ohHi = max(ohLo, min(oh1, insideEnd(offH, sh, H, Ho)));
      for (let kw = 0; kw < WW; kw++) {
        const offW = kw * dw - pw;
        const owLo = insideStart(offW, sw, Wo);
        const owHi = insideEnd(offW, sw, W, Wo);
        const n = owHi - owLo;
        if (n > 0) {
          for (let oh = ohLo; oh < ohHi; oh++) {
            const src = row + <usize>((oh - oh0) * Wo + owLo) * sz;
            const t = tc + <usize>((oh * sh + offH) * W + offW + owLo * sw) * sz;
            addRow<T>(t, src, n, sw);
          }
        }
        row += rowBytes;
      }
    }
  }
}

export function col2imF32(
  dcol: usize, dx: usize, C: i32, H: i32, W: i32, HH: i32, WW: i32, Ho: i32, Wo: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh0: i32, oh1: i32,
): void {
  col2imT<f32>(dcol, dx, C, H, W, HH, WW, Ho, Wo, sh, sw, ph, pw, dh, dw, oh0, oh1);
}

export function col2imF64(
  dcol: usize, dx: usize, C: i32, H: i32, W: i32, HH: i32, WW: i32, Ho: i32, Wo: i32,
  sh: i32, sw: i32, ph: i32, pw: i32, dh: i32, dw: i32, oh0: i32, oh1: i32,
): void {
  col2imT<f64>(dcol, dx, C, H, W, HH, WW, Ho, Wo, sh, sw, ph, pw, dh, dw, oh0, oh1);
}

export function rowSumsF32(src: usize, rows: i32, cols: i32, ld: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    let p = src + <usize>r * <usize>ld * 4;
    let a = f64x2.splat(0);
    let b = a;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      const v = v128.load(p);
      a = f64x2.add(a, f64x2.promote_low_f32x4(v));
      b = f64x2.add(b, f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
      p += 16;
    }
    a = f64x2.add(a, b);
    let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    for (; j < cols; j++) {
      s += <f64>load<f32>(p);
      p += 4;
    }
    const d = dst + <usize>r * 8;
    store<f64>(d, load<f64>(d) + s);
  }
}

export function rowSumsF64(src: usize, rows: i32, cols: i32, ld: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    let p = src + <usize>r * <usize>ld * 8;
    let a = f64x2.splat(0);
    let b = a;
    let j = 0;
    for (; j + 4 <= cols; j += 4) {
      a = f64x2.add(a, v128.load(p));
      b = f64x2.add(b, v128.load(p, 16));
      p += 32;
    }
    a = f64x2.add(a, b);
    let s = f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1);
    for (; j < cols; j++) {
      s += load<f64>(p);
      p += 8;
    }
    const d = dst + <usize>r * 8;
    store<f64>(d, load<f64>(d) + s);
  }
}
