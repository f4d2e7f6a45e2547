/**
 * 2x2 stride-2 unpadded max and average pooling on the WebAssembly SIMD kernels (wasm/assembly/pool.ts),
 * shared by max-pool.ts and avg-pool.ts. Planes are independent, so chunks of whole planes (at most
 * 256 KiB of x each, so a chunk and its results stay in L2) stream once through the thread's arena:
 * copy in, one kernel call, copy the results out into new standalone arrays.
 *
 * Results equal the JS loops of max-pool.ts and avg-pool.ts bit for bit (same comparisons, same f64
 * sums); see the kernel file.
 */
import type { PoolInfo } from './geometry.ts';
import type { FloatArray } from './types.ts';
import { normEngine, uninitialized, unitsPerChunk } from './wasm/norm-engine.ts';

/** Below this many values of x the JS loops run (the wasm path's fixed cost is a few µs). */
export const POOL_MIN_WASM_ELEMENTS = 2048;

/** Bytes of x per chunk of planes; a plane larger than this runs in JS. */
const CHUNK_BYTES = 1 << 18;

export interface PoolWasmOptions {
  /** For tests: values of x per chunk (default 256 KiB worth). */
  capElements?: number;
}

export interface PoolWasmResult<A extends FloatArray> {
  out?: A;
  dx?: A;
}

/** Whether the wasm kernels cover this geometry. */
export function is2x2Stride2(g: PoolInfo): boolean {
  return g.PH === 2 && g.PW === 2 && g.strideH === 2 && g.strideW === 2 && g.padH === 0 && g.padW === 0;
}

/**
 * The forward (`out`), the backward (`dx`, from dout) or both of one pass over x. `like` gives the dtype
 * (x, or dout for the average pool's backward, which does not read x). Undefined when the wasm kernels
 * cannot run it (no module, not 2x2 stride 2, a plane too large); the caller then runs its JS loops.
 */
export function pool2x2Wasm<A extends FloatArray>(
  kind: 'max' | 'avg', g: PoolInfo, like: A, x: A | undefined, dout: A | undefined, want: { out: boolean; dx: boolean },
  options: PoolWasmOptions = {},
): PoolWasmResult<A> | undefined {
  const eng = normEngine();
  if (!eng || !is2x2Stride2(g)) return undefined;
  const f32 = like instanceof Float32Array;
  const { N, C, H, W, Ho, Wo } = g;
  const planes = N * C;
  const inPlane = H * W;
  const outPlane = Ho * Wo;
  if (planes === 0 || outPlane === 0) return undefined;
  const per = unitsPerChunk(planes, inPlane, options.capElements ?? CHUNK_BYTES / (f32 ? 4 : 8));
  if (per === 0) return undefined;
  const needX = want.out || kind === 'max';
  if ((needX && !x) || (want.dx && !dout)) throw new Error('pool2x2Wasm: missing input');
  const { k, arena } = eng;
  const out = want.out ? uninitialized(like, planes * outPlane) : undefined;
  const dx = want.dx ? uninitialized(like, planes * inPlane) : undefined;
  arena.scope(() => {
    const dtype = f32 ? 'float32' : 'float64';
    const xb = needX ? arena.alloc(dtype, per * inPlane) : undefined;
    const db = want.dx ? arena.alloc(dtype, per * outPlane) : undefined;
    const ob = want.out ? arena.alloc(dtype, per * outPlane) : undefined;
    const yb = want.dx ? arena.alloc(dtype, per * inPlane) : undefined;
    const [xv, dv, ov, yv] = [xb?.view, db?.view, ob?.view, yb?.view];
    const xp = xb?.byteOffset ?? 0;
    const dp = db?.byteOffset ?? 0;
    const op = ob?.byteOffset ?? 0;
    const yp = yb?.byteOffset ?? 0;
    for (let p0 = 0; p0 < planes; p0 += per) {
      const n = Math.min(planes, p0 + per) - p0;
      if (xv) xv.set(x!.subarray(p0 * inPlane, (p0 + n) * inPlane));
      if (dv) dv.set(dout!.subarray(p0 * outPlane, (p0 + n) * outPlane));
      if (kind === 'max') {
        if (want.dx) (f32 ? k.maxPool2x2BackwardF32 : k.maxPool2x2BackwardF64)(xp, dp, yp, op, n, H, W);
        else (f32 ? k.maxPool2x2ForwardF32 : k.maxPool2x2ForwardF64)(xp, op, n, H, W);
      } else {
        if (want.out) (f32 ? k.avgPool2x2ForwardF32 : k.avgPool2x2ForwardF64)(xp, op, n, H, W);
        if (want.dx) (f32 ? k.avgPool2x2BackwardF32 : k.avgPool2x2BackwardF64)(dp, yp, n, H, W);
      }
      if (ov) out!.set(ov.subarray(0, n * outPlane), p0 * outPlane);
      if (yv) dx!.set(yv.subarray(0, n * inPlane), p0 * inPlane);
    }
  });
  return { out, dx };
}
