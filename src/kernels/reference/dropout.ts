/**
 * Plain dropout, for the tests only: the mask generator written again with BigInt arithmetic (so
 * Math.imul and the unsigned shifts of ../dropout.ts are checked against exact integer math), and
 * cs231n's dropout_forward / dropout_backward on number arrays.
 */
const M32 = (1n << 32n) - 1n;

function fmix32(h: bigint): bigint {
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & M32;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & M32;
  h ^= h >> 16n;
  return h;
}

/** u(seed, i) = H(H(i XOR K1) XOR K2) / 2³², K1 = H(seed XOR 0x9e3779b9), K2 = H(seed XOR 0x7f4a7c15). */
export function dropoutUniformReference(seed: number, index: number): number {
  const s = BigInt(seed) & M32;
  const k1 = fmix32(s ^ 0x9e3779b9n);
  const k2 = fmix32(s ^ 0x7f4a7c15n);
  const h = fmix32(fmix32((BigInt(index) & M32) ^ k1) ^ k2);
  return Number(h) / 2 ** 32;
}

/** mask = (rand < p) / p, as cs231n's dropout_forward with its random numbers replaced by u(seed, i). */
export function dropoutMaskReference(n: number, p: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (dropoutUniformReference(seed, i) < p ? 1 / p : 0));
}

export function dropoutForwardReference(x: readonly number[], mask: readonly number[] | undefined, mode: 'train' | 'test'): number[] {
  return mode === 'train' ? x.map((v, i) => v * mask![i]) : [...x];
}

export function dropoutBackwardReference(dout: readonly number[], mask: readonly number[] | undefined, mode: 'train' | 'test'): number[] {
  return mode === 'train' ? dout.map((v, i) => v * mask![i]) : [...dout];
}
