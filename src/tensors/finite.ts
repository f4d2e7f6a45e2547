import type { FloatArray } from '../kernels/types.ts';

// Every decoded tensor is scanned for NaN and ±Infinity (a JSON form cannot carry them, and the
// contract refuses them in base64 and binary). Per block, the sum of x·0 over four independent
// accumulators: 0 for finite values, NaN as soon as one is NaN or ±Infinity (∞·0 is NaN), with no
// branch in the loop; only a block that holds a bad value is scanned again for its first index. One
// function per array type keeps each loop monomorphic. Measured on 1.5 M values here: float64 1.55 →
// 0.92 ms, float32 1.19 → 1.05 ms against the previous scan of the exponent bits (a decoded conv A
// float64 body holds 1.5 M of them).

const BLOCK = 4096;

function firstBad64(a: Float64Array): number {
  for (let start = 0; start < a.length; start += BLOCK) {
    const end = Math.min(a.length, start + BLOCK);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = start;
    for (; i + 4 <= end; i += 4) {
      s0 += a[i] * 0;
      s1 += a[i + 1] * 0;
      s2 += a[i + 2] * 0;
      s3 += a[i + 3] * 0;
    }
    for (; i < end; i++) s0 += a[i] * 0;
    const s = s0 + s1 + s2 + s3;
    if (s !== s) for (let j = start; j < end; j++) if (!Number.isFinite(a[j])) return j;
  }
  return -1;
}

function firstBad32(a: Float32Array): number {
  for (let start = 0; start < a.length; start += BLOCK) {
    const end = Math.min(a.length, start + BLOCK);
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = start;
    for (; i + 4 <= end; i += 4) {
      s0 += a[i] * 0;
      s1 += a[i + 1] * 0;
      s2 += a[i + 2] * 0;
      s3 += a[i + 3] * 0;
    }
    for (; i < end; i++) s0 += a[i] * 0;
    const s = s0 + s1 + s2 + s3;
    if (s !== s) for (let j = start; j < end; j++) if (!Number.isFinite(a[j])) return j;
  }
  return -1;
}

/** The flat index of the first NaN or ±Infinity, or −1 when every value is finite. */
export function firstNonFinite(a: FloatArray): number {
  return a instanceof Float32Array ? firstBad32(a) : firstBad64(a);
}
