/** mulberry32: small, seeded, the same stream on every platform, so sampled work replays. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n samples of N(shift, scale²) by Box–Muller on rng(seed). */
export function randn(n: number, seed: number, scale = 1, shift = 0): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const m = Math.sqrt(-2 * Math.log(Math.max(r(), 1e-12)));
    const a = 2 * Math.PI * r();
    out[i] = shift + scale * m * Math.cos(a);
    if (i + 1 < n) out[i + 1] = shift + scale * m * Math.sin(a);
  }
  return out;
}
