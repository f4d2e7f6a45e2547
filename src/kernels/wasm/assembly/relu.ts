// ReLU forward and backward on blocks in the arena (src/kernels/relu.ts streams tensors through them).
// Comparisons, not arithmetic: out = x where x > 0, else +0; dx = dout where x > 0, else +0 (NaN is not
// > 0, so it gives 0, as the JS loops do). Pointers are byte addresses; n is a count of values.

export function reluForwardF32(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  const zero = f32x4.splat(0);
  let i = x;
  let o = out;
  for (; i + 16 <= end; i += 16, o += 16) {
    const v = v128.load(i);
    v128.store(o, v128.and(v, f32x4.gt(v, zero)));
  }
  for (; i < end; i += 4, o += 4) {
    const v = load<f32>(i);
    store<f32>(o, v > 0 ? v : 0);
  }
}

export function reluForwardF64(x: usize, out: usize, n: i32): void {
  const end = x + (<usize>n << 3);
  const zero = f64x2.splat(0);
  let i = x;
  let o = out;
  for (; i + 16 <= end; i += 16, o += 16) {
    const v = v128.load(i);
    v128.store(o, v128.and(v, f64x2.gt(v, zero)));
  }
  for (; i < end; i += 8, o += 8) {
    const v = load<f64>(i);
    store<f64>(o, v > 0 ? v : 0);
  }
}

export function reluBackwardF32(x: usize, dout: usize, dx: usize, n: i32): void {
  const end = x + (<usize>n << 2);
  const zero = f32x4.splat(0);
  let i = x;
  let g = dout;
  let o = dx;
  for (; i + 16 <= end; i += 16, g += 16, o += 16) v128.store(o, v128.and(v128.load(g), f32x4.gt(v128.load(i), zero)));
  for (; i < end; i += 4, g += 4, o += 4) store<f32>(o, load<f32>(i) > 0 ? load<f32>(g) : 0);
}

export function reluBackwardF64(x: usize, dout: usize, dx: usize, n: i32): void {
  const end = x + (<usize>n << 3);
  const zero = f64x2.splat(0);
  let i = x;
  let g = dout;
  let o = dx;
  for (; i + 16 <= end; i += 16, g += 16, o += 16) v128.store(o, v128.and(v128.load(g), f64x2.gt(v128.load(i), zero)));
  for (; i < end; i += 8, g += 8, o += 8) store<f64>(o, load<f64>(i) > 0 ? load<f64>(g) : 0);
}
