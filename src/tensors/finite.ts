import type { FloatArray } from '../kernels/types.ts';

// Every decoded tensor is scanned for NaN and ±Infinity (a JSON form cannot carry them, and the
// contract refuses them in base64 and binary). `a[i] - a[i] !== 0` on a FloatArray that is sometimes
// Float32Array and sometimes Float64Array runs megamorphic; here each type has its own loop over the
// IEEE-754 bits, branch-free within a block: an exponent of all ones plus one exponent step carries into
// the sign bit. Only a block that holds a bad value is scanned again for its first index.

const BLOCK = 4096;

function firstBad32(bits: Int32Array): number {
  for (let start = 0; start < bits.length; start += BLOCK) {
    const end = Math.min(bits.length, start + BLOCK);
    let bad = 0;
    for (let i = start; i < end; i++) bad |= (bits[i] & 0x7f800000) + 0x00800000;
    if (bad & 0x80000000) {
      for (let i = start; i < end; i++) if ((bits[i] & 0x7f800000) === 0x7f800000) return i;
    }
  }
  return -1;
}

/** float64 as pairs of int32 words, little-endian: the exponent is in the high word. */
function firstBad64(words: Int32Array): number {
  for (let start = 0; start < words.length; start += 2 * BLOCK) {
    const end = Math.min(words.length, start + 2 * BLOCK);
    let bad = 0;
    for (let i = start + 1; i < end; i += 2) bad |= (words[i] & 0x7ff00000) + 0x00100000;
    if (bad & 0x80000000) {
      for (let i = start + 1; i < end; i += 2) if ((words[i] & 0x7ff00000) === 0x7ff00000) return (i - 1) / 2;
    }
  }
  return -1;
}

/** The flat index of the first NaN or ±Infinity, or −1 when every value is finite. */
export function firstNonFinite(a: FloatArray): number {
  if (a instanceof Float32Array) return firstBad32(new Int32Array(a.buffer, a.byteOffset, a.length));
  return firstBad64(new Int32Array(a.buffer, a.byteOffset, 2 * a.length));
}
