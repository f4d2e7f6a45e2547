import { takeArray } from './buffers.ts';
import { pointwiseEngine } from './wasm/pointwise-engine.ts';
import type { FloatArray } from './types.ts';

// Branch-free on the IEEE-754 bits: with random signs, `x > 0 ? x : 0` (and Math.max) mispredict half
// the time and ran at ~6 ns per element (conv nets feed relu random signs: it was 32 ms of a 84 ms
// CIFAR-shaped training step). A sign-and-nonzero mask ANDed with the bits runs near memory speed.
// The plain loops are in reference/relu.ts; the properties hold this to them bit for bit. Large
// tensors run in WebAssembly instead (below).

/** -1 (all bits) where the float32 with bits b is > 0, else 0 (+0 and -0 give 0). */
const positive32 = (b: number) => ~(b >> 31) & ((b | -b) >> 31);

function forward32(x: Float32Array, out: Float32Array): void {
  const xb = new Int32Array(x.buffer, x.byteOffset, x.length);
  const ob = new Int32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < xb.length; i++) ob[i] = xb[i] & positive32(xb[i]);
}

function backward32(x: Float32Array, dout: Float32Array, dx: Float32Array): void {
  const xb = new Int32Array(x.buffer, x.byteOffset, x.length);
  const db = new Int32Array(dout.buffer, dout.byteOffset, dout.length);
  const gb = new Int32Array(dx.buffer, dx.byteOffset, dx.length);
  for (let i = 0; i < xb.length; i++) gb[i] = db[i] & positive32(xb[i]);
}

// float64 as pairs of int32 words, little-endian: the high word holds the sign, and the value is
// nonzero when either word is.
function forward64(x: Float64Array, out: Float64Array): void {
  const xb = new Int32Array(x.buffer, x.byteOffset, 2 * x.length);
  const ob = new Int32Array(out.buffer, out.byteOffset, 2 * out.length);
  for (let i = 0; i < xb.length; i += 2) {
    const lo = xb[i];
    const hi = xb[i + 1];
    const nz = lo | hi;
    const m = ~(hi >> 31) & ((nz | -nz) >> 31);
    ob[i] = lo & m;
    ob[i + 1] = hi & m;
  }
}

function backward64(x: Float64Array, dout: Float64Array, dx: Float64Array): void {
  const xb = new Int32Array(x.buffer, x.byteOffset, 2 * x.length);
  const db = new Int32Array(dout.buffer, dout.byteOffset, 2 * dout.length);
  const gb = new Int32Array(dx.buffer, dx.byteOffset, 2 * dx.length);
  for (let i = 0; i < xb.length; i += 2) {
    const hi = xb[i + 1];
    const nz = xb[i] | hi;
    const m = ~(hi >> 31) & ((nz | -nz) >> 31);
    gb[i] = db[i] & m;
    gb[i + 1] = db[i + 1] & m;
  }
}

/** ReLU on any shape: out = max(0, x). */
export function reluForward<A extends FloatArray>(x: A): A {
  const out = takeArray(x, x.length);
  if (x.length >= WASM_FROM && streamed(x.length, x, undefined, out)) return out;
  if (x instanceof Float32Array) forward32(x, out as Float32Array);
  else forward64(x as Float64Array, out as Float64Array);
  return out;
}

/** dx = dout where x > 0, else 0; the gradient at exactly 0 is 0 (cs231n, PyTorch). */
export function reluBackward<A extends FloatArray>(x: A, dout: A): A {
  const dx = takeArray(x, x.length);
  if (x.length >= WASM_FROM && streamed(x.length, x, dout, dx)) return dx;
  if (x instanceof Float32Array) backward32(x, dout as Float32Array, dx as Float32Array);
  else backward64(x as Float64Array, dout as Float64Array, dx as Float64Array);
  return dx;
}

// Large tensors go through WebAssembly SIMD (wasm/assembly/relu.ts: a compare and an AND on four or
// two values at once) in blocks of the arena: copying each block in and out costs less than the JS
// loop on one value at a time (1M float32: 0.49 vs 2.6 ms on a loaded machine). Below WASM_FROM
// values the copies are not worth a call.
const WASM_FROM = 4096;
const BLOCK_BYTES = 64 * 1024;

/** out = relu(x) (dout undefined) or out = relu'(x)·dout, in the wasm engine; false when there is none. */
function streamed(n: number, x: FloatArray, dout: FloatArray | undefined, out: FloatArray): boolean {
  const engine = pointwiseEngine();
  if (!engine) return false;
  const { k, arena } = engine;
  const f32 = x instanceof Float32Array;
  const dtype = f32 ? 'float32' : 'float64';
  const per = BLOCK_BYTES / (f32 ? 4 : 8);
  arena.scope(() => {
    const xb = arena.alloc(dtype, per);
    const gb = dout ? arena.alloc(dtype, per) : undefined;
    const ob = arena.alloc(dtype, per);
    for (let s = 0; s < n; s += per) {
      const m = Math.min(per, n - s);
      xb.view.set(x.subarray(s, s + m));
      if (gb) {
        gb.view.set(dout!.subarray(s, s + m));
        (f32 ? k.reluBackwardF32 : k.reluBackwardF64)(xb.byteOffset, gb.byteOffset, ob.byteOffset, m);
      } else (f32 ? k.reluForwardF32 : k.reluForwardF64)(xb.byteOffset, ob.byteOffset, m);
      out.set(ob.view.subarray(0, m), s);
    }
  });
  return true;
}
