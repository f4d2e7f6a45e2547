// Loads and stores of two elements of storage type T (f32 or f64) as one f64x2: float32 values are
// promoted on load and rounded once at the store. Shared by the norm and pointwise modules.

@inline export function ld2<T>(p: usize): v128 {
  if (sizeof<T>() == 4) return f64x2.promote_low_f32x4(v128.load64_zero(p));
  return v128.load(p);
}

@inline export function st2<T>(p: usize, v: v128): void {
  if (sizeof<T>() == 4) v128.store64_lane(p, f32x4.demote_f64x2_zero(v), 0);
  else v128.store(p, v);
}
