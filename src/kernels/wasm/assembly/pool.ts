// 2x2 stride-2 unpadded pooling on whole planes (exported by ./norm, the module's entry). x holds
// `planes` planes of H × W, out and dout planes of Ho × Wo with Ho = H / 2, Wo = W / 2 (floored); an
// odd last row or column belongs to no window. Pointers are byte addresses.
//
// Semantics are those of the JS loops in src/kernels/max-pool.ts and avg-pool.ts, bit for bit:
//   max: out = pmax(pmax(a, b), pmax(c, d)) for the window [a b; c d] (pmax(u, v) = u < v ? v : u, the
//        JS `v > u ? v : u`); the gradient goes to the first maximum in the order a, b, c, d (a later
//        cell wins only if strictly greater), every other cell of dx is 0.
//   avg: out = (((a + b) + c) + d) / 4 in f64; dx = dout / 4 on each of the four cells.
// The backward kernels write every cell of dx (zeros included), since the arena is not zeroed.
// Four windows (f32) or two (f64) per step: the even and odd columns of two input rows are split by
// shuffles, and the gradients interleaved back.

@inline function even<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(a, b, 0, 2, 4, 6);
  return v128.shuffle<f64>(a, b, 0, 2);
}

@inline function odd<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(a, b, 1, 3, 5, 7);
  return v128.shuffle<f64>(a, b, 1, 3);
}

@inline function zipLo<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(a, b, 0, 4, 1, 5);
  return v128.shuffle<f64>(a, b, 0, 2);
}

@inline function zipHi<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() == 4) return v128.shuffle<f32>(a, b, 2, 6, 3, 7);
  return v128.shuffle<f64>(a, b, 1, 3);
}

@inline function pmaxT<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() == 4) return f32x4.pmax(a, b);
  return f64x2.pmax(a, b);
}

@inline function gtT<T>(a: v128, b: v128): v128 {
  if (sizeof<T>() == 4) return f32x4.gt(a, b);
  return f64x2.gt(a, b);
}

/** Zeroes what no window covers: column W − 1 of the covered rows when W is odd, row H − 1 when H is odd. */
@inline function zeroUncovered<T>(dxPlane: usize, H: i32, W: i32): void {
  const e = <usize>sizeof<T>();
  const Ho = H >> 1;
  if (W & 1) {
    for (let h = 0; h < 2 * Ho; h++) store<T>(dxPlane + (<usize>h * <usize>W + <usize>(W - 1)) * e, <T>0);
  }
  if (H & 1) memory.fill(dxPlane + <usize>(H - 1) * <usize>W * e, 0, <usize>W * e);
}

function maxForward<T>(x: usize, out: usize, planes: i32, H: i32, W: i32): void {
  const e = <usize>sizeof<T>();
  const L = <i32>(16 / sizeof<T>()); // windows per step
  const Ho = H >> 1;
  const Wo = W >> 1;
  const rowBytes = <usize>W * e;
  for (let p = 0; p < planes; p++) {
    const plane = x + <usize>p * <usize>H * rowBytes;
    for (let oh = 0; oh < Ho; oh++) {
      let top = plane + <usize>(2 * oh) * rowBytes;
      let bot = top + rowBytes;
      let ow = 0;
      for (; ow + L <= Wo; ow += L) {
        const t0 = v128.load(top);
        const t1 = v128.load(top, 16);
        const b0 = v128.load(bot);
        const b1 = v128.load(bot, 16);
        const ab = pmaxT<T>(even<T>(t0, t1), odd<T>(t0, t1));
        const cd = pmaxT<T>(even<T>(b0, b1), odd<T>(b0, b1));
        v128.store(out, pmaxT<T>(ab, cd));
        top += 32;
        bot += 32;
        out += 16;
      }
      for (; ow < Wo; ow++) {
        const a = load<T>(top);
        const b = load<T>(top + e);
        const c = load<T>(bot);
        const d = load<T>(bot + e);
        const ab = b > a ? b : a;
        const cd = d > c ? d : c;
        store<T>(out, cd > ab ? cd : ab);
        top += 2 * e;
        bot += 2 * e;
        out += e;
      }
    }
  }
}

/** dx from dout; with out ≠ 0 also the forward's out (forward + backward, one argmax per window). */
function maxBackward<T>(x: usize, dout: usize, dx: usize, out: usize, planes: i32, H: i32, W: i32): void {
  const e = <usize>sizeof<T>();
  const L = <i32>(16 / sizeof<T>());
  const Ho = H >> 1;
  const Wo = W >> 1;
  const rowBytes = <usize>W * e;
  const planeBytes = <usize>H * rowBytes;
  for (let p = 0; p < planes; p++) {
    const xPlane = x + <usize>p * planeBytes;
    const dxPlane = dx + <usize>p * planeBytes;
    zeroUncovered<T>(dxPlane, H, W);
    for (let oh = 0; oh < Ho; oh++) {
      let top = xPlane + <usize>(2 * oh) * rowBytes;
      let bot = top + rowBytes;
      let dtop = dxPlane + <usize>(2 * oh) * rowBytes;
      let dbot = dtop + rowBytes;
      let ow = 0;
      for (; ow + L <= Wo; ow += L) {
        const t0 = v128.load(top);
        const t1 = v128.load(top, 16);
        const b0 = v128.load(bot);
        const b1 = v128.load(bot, 16);
        const a = even<T>(t0, t1);
        const b = odd<T>(t0, t1);
        const c = even<T>(b0, b1);
        const d = odd<T>(b0, b1);
        if (out != 0) {
          v128.store(out, pmaxT<T>(pmaxT<T>(a, b), pmaxT<T>(c, d)));
          out += 16;
        }
        const mb = gtT<T>(b, a);
        let best = v128.bitselect(b, a, mb);
        const mc = gtT<T>(c, best);
        best = v128.bitselect(c, best, mc);
        const md = gtT<T>(d, best);
        const g = v128.load(dout);
        const cd = v128.or(mc, md);
        const gd = v128.and(g, md);
        const gc = v128.and(g, v128.andnot(mc, md));
        const gb = v128.and(g, v128.andnot(mb, cd));
        const ga = v128.andnot(g, v128.or(mb, cd));
        v128.store(dtop, zipLo<T>(ga, gb));
        v128.store(dtop, zipHi<T>(ga, gb), 16);
        v128.store(dbot, zipLo<T>(gc, gd));
        v128.store(dbot, zipHi<T>(gc, gd), 16);
        top += 32;
        bot += 32;
        dtop += 32;
        dbot += 32;
        dout += 16;
      }
      for (; ow < Wo; ow++) {
        const a = load<T>(top);
        const b = load<T>(top + e);
        const c = load<T>(bot);
        const d = load<T>(bot + e);
        if (out != 0) {
          const ab = b > a ? b : a;
          const cd = d > c ? d : c;
          store<T>(out, cd > ab ? cd : ab);
          out += e;
        }
        let i = 0;
        let best = a;
        if (b > best) {
          i = 1;
          best = b;
        }
        if (c > best) {
          i = 2;
          best = c;
        }
        if (d > best) i = 3;
        const g = load<T>(dout);
        store<T>(dtop, i == 0 ? g : <T>0);
        store<T>(dtop + e, i == 1 ? g : <T>0);
        store<T>(dbot, i == 2 ? g : <T>0);
        store<T>(dbot + e, i == 3 ? g : <T>0);
        top += 2 * e;
        bot += 2 * e;
        dtop += 2 * e;
        dbot += 2 * e;
        dout += e;
      }
    }
  }
}

function avgForward<T>(x: usize, out: usize, planes: i32, H: i32, W: i32): void {
  const e = <usize>sizeof<T>();
  const Ho = H >> 1;
  const Wo = W >> 1;
  const rowBytes = <usize>W * e;
  const quarter = f64x2.splat(0.25);
  for (let p = 0; p < planes; p++) {
    const plane = x + <usize>p * <usize>H * rowBytes;
    for (let oh = 0; oh < Ho; oh++) {
      let top = plane + <usize>(2 * oh) * rowBytes;
      let bot = top + rowBytes;
      let ow = 0;
      if (sizeof<T>() == 4) {
        for (; ow + 4 <= Wo; ow += 4) {
          const t0 = v128.load(top);
          const t1 = v128.load(top, 16);
          const b0 = v128.load(bot);
          const b1 = v128.load(bot, 16);
          const a = even<T>(t0, t1);
          const b = odd<T>(t0, t1);
          const c = even<T>(b0, b1);
          const d = odd<T>(b0, b1);
          // lanes 0, 1 then 2, 3 in f64
          const lo = f64x2.mul(
            f64x2.add(f64x2.add(f64x2.add(f64x2.promote_low_f32x4(a), f64x2.promote_low_f32x4(b)), f64x2.promote_low_f32x4(c)), f64x2.promote_low_f32x4(d)),
            quarter,
          );
          const a2 = v128.shuffle<f32>(a, a, 2, 3, 0, 1);
          const b2 = v128.shuffle<f32>(b, b, 2, 3, 0, 1);
          const c2 = v128.shuffle<f32>(c, c, 2, 3, 0, 1);
          const d2 = v128.shuffle<f32>(d, d, 2, 3, 0, 1);
          const hi = f64x2.mul(
            f64x2.add(f64x2.add(f64x2.add(f64x2.promote_low_f32x4(a2), f64x2.promote_low_f32x4(b2)), f64x2.promote_low_f32x4(c2)), f64x2.promote_low_f32x4(d2)),
            quarter,
          );
          v128.store(out, v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
          top += 32;
          bot += 32;
          out += 16;
        }
      } else {
        for (; ow + 2 <= Wo; ow += 2) {
          const t0 = v128.load(top);
          const t1 = v128.load(top, 16);
          const b0 = v128.load(bot);
          const b1 = v128.load(bot, 16);
          const s = f64x2.add(f64x2.add(f64x2.add(even<T>(t0, t1), odd<T>(t0, t1)), even<T>(b0, b1)), odd<T>(b0, b1));
          v128.store(out, f64x2.mul(s, quarter));
          top += 32;
          bot += 32;
          out += 16;
        }
      }
      for (; ow < Wo; ow++) {
        const s = <f64>load<T>(top) + <f64>load<T>(top + e) + <f64>load<T>(bot) + <f64>load<T>(bot + e);
        store<T>(out, <T>(s / 4));
        top += 2 * e;
        bot += 2 * e;
        out += e;
      }
    }
  }
}

function avgBackward<T>(dout: usize, dx: usize, planes: i32, H: i32, W: i32): void {
  const e = <usize>sizeof<T>();
  const L = <i32>(16 / sizeof<T>());
  const Ho = H >> 1;
  const Wo = W >> 1;
  const rowBytes = <usize>W * e;
  const planeBytes = <usize>H * rowBytes;
  const quarter = sizeof<T>() == 4 ? f32x4.splat(0.25) : f64x2.splat(0.25);
  for (let p = 0; p < planes; p++) {
    const dxPlane = dx + <usize>p * planeBytes;
    zeroUncovered<T>(dxPlane, H, W);
    for (let oh = 0; oh < Ho; oh++) {
      let dtop = dxPlane + <usize>(2 * oh) * rowBytes;
      let dbot = dtop + rowBytes;
      let ow = 0;
      for (; ow + L <= Wo; ow += L) {
        const g = sizeof<T>() == 4 ? f32x4.mul(v128.load(dout), quarter) : f64x2.mul(v128.load(dout), quarter);
        const lo = zipLo<T>(g, g);
        const hi = zipHi<T>(g, g);
        v128.store(dtop, lo);
        v128.store(dtop, hi, 16);
        v128.store(dbot, lo);
        v128.store(dbot, hi, 16);
        dtop += 32;
        dbot += 32;
        dout += 16;
      }
      for (; ow < Wo; ow++) {
        const g = <T>(<f64>load<T>(dout) / 4);
        store<T>(dtop, g);
        store<T>(dtop + e, g);
        store<T>(dbot, g);
        store<T>(dbot + e, g);
        dtop += 2 * e;
        dbot += 2 * e;
        dout += e;
      }
    }
  }
}

export function maxPool2x2ForwardF32(x: usize, out: usize, planes: i32, H: i32, W: i32): void {
  maxForward<f32>(x, out, planes, H, W);
}
export function maxPool2x2ForwardF64(x: usize, out: usize, planes: i32, H: i32, W: i32): void {
  maxForward<f64>(x, out, planes, H, W);
}
/** out = 0: backward only; otherwise forward + backward. */
export function maxPool2x2BackwardF32(x: usize, dout: usize, dx: usize, out: usize, planes: i32, H: i32, W: i32): void {
  maxBackward<f32>(x, dout, dx, out, planes, H, W);
}
export function maxPool2x2BackwardF64(x: usize, dout: usize, dx: usize, out: usize, planes: i32, H: i32, W: i32): void {
  maxBackward<f64>(x, dout, dx, out, planes, H, W);
}
export function avgPool2x2ForwardF32(x: usize, out: usize, planes: i32, H: i32, W: i32): void {
  avgForward<f32>(x, out, planes, H, W);
}
export function avgPool2x2ForwardF64(x: usize, out: usize, planes: i32, H: i32, W: i32): void {
  avgForward<f64>(x, out, planes, H, W);
}
export function avgPool2x2BackwardF32(dout: usize, dx: usize, planes: i32, H: i32, W: i32): void {
  avgBackward<f32>(dout, dx, planes, H, W);
}
export function avgPool2x2BackwardF64(dout: usize, dx: usize, planes: i32, H: i32, W: i32): void {
  avgBackward<f64>(dout, dx, planes, H, W);
}
