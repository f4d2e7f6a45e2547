/**
 * cs231n's `optim.py`, transcribed: the test oracle for ../optim.ts. Whole-array steps on plain
 * number arrays in double, one line per line of the Python; a missing config entry takes optim.py's
 * default and a missing state array starts at zeros. Slow on purpose; nothing but tests calls it.
 */
type Vec = readonly number[];
const zeros = (n: number) => new Array<number>(n).fill(0);
const map2 = (a: Vec, b: Vec, f: (x: number, y: number) => number) => a.map((x, i) => f(x, b[i]));

export function sgdReference(w: Vec, dw: Vec, config: { learningRate?: number } = {}) {
  const lr = config.learningRate ?? 1e-2;
  return { w: map2(w, dw, (x, g) => x - lr * g) };
}

export function sgdMomentumReference(w: Vec, dw: Vec, config: { learningRate?: number; momentum?: number; velocity?: Vec } = {}) {
  const lr = config.learningRate ?? 1e-2;
  const momentum = config.momentum ?? 0.9;
  let v = config.velocity ?? zeros(w.length);
  v = map2(v, dw, (vi, g) => momentum * vi - lr * g);
  return { w: map2(w, v, (x, vi) => x + vi), velocity: v };
}

export function rmspropReference(w: Vec, dw: Vec, config: { learningRate?: number; decayRate?: number; epsilon?: number; cache?: Vec } = {}) {
  const lr = config.learningRate ?? 1e-2;
  const dr = config.decayRate ?? 0.99;
  const eps = config.epsilon ?? 1e-8;
  const cache = map2(config.cache ?? zeros(w.length), dw, (c, g) => dr * c + (1 - dr) * g ** 2);
  const next = w.map((x, i) => x - (lr * dw[i]) / (Math.sqrt(cache[i]) + eps));
  return { w: next, cache };
}

export function adamReference(
  w: Vec,
  dw: Vec,
  config: { learningRate?: number; beta1?: number; beta2?: number; epsilon?: number; m?: Vec; v?: Vec; t?: number } = {},
) {
  const lr = config.learningRate ?? 1e-3;
  const b1 = config.beta1 ?? 0.9;
  const b2 = config.beta2 ?? 0.999;
  const eps = config.epsilon ?? 1e-8;
  const t = (config.t ?? 0) + 1;
  const m = map2(config.m ?? zeros(w.length), dw, (mi, g) => b1 * mi + (1 - b1) * g);
  const mt = m.map((mi) => mi / (1 - b1 ** t));
  const v = map2(config.v ?? zeros(w.length), dw, (vi, g) => b2 * vi + (1 - b2) * g ** 2);
  const vt = v.map((vi) => vi / (1 - b2 ** t));
  const next = w.map((x, i) => x - (lr * mt[i]) / (Math.sqrt(vt[i]) + eps));
  return { w: next, m, v, t };
}
