import type { FloatArray } from './types.ts';

/**
 * The hot loops of the normalization kernels (batchnorm, spatial batchnorm, groupnorm; layernorm
 * uses the contiguous reductions), in float64 whatever the array type.
 *
 * Why separate small functions: V8 optimizes a function with one loop nest well, but a kernel
 * with five loop nests in one body kept deoptimizing ("insufficient type feedback" for the code
 * after the loop it was compiled for on stack replacement) and ran 2–4× slower.
 *
 * Reductions keep several independent partial sums: one accumulator chains every add on the
 * previous one and runs at the adder's latency. Pair results go to `pair[0]`, `pair[1]` so
 * nothing is allocated per call.
 *
 * The (N, C, S) loops view x as N·C planes of S contiguous values, channel c = plane mod C, and
 * take per-channel coefficients. S = 1 (batchnorm on (N, C)) sweeps rows instead, two or four at
 * a time so each load of a per-channel array serves several values.
 */
export const pair = new Float64Array(2);

/** Σ (a[i] − origin) over [start, end). */
export function sumMinus(a: FloatArray, start: number, end: number, origin: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = start;
  for (const stop = end - 3; i < stop; i += 4) {
    s0 += a[i] - origin;
    s1 += a[i + 1] - origin;
    s2 += a[i + 2] - origin;
    s3 += a[i + 3] - origin;
  }
  for (; i < end; i++) s0 += a[i] - origin;
  return s0 + s1 + (s2 + s3);
}

/** pair = [Σ d, Σ d²] with d = a[i] − mean over [start, end). */
export function sumDeviations(a: FloatArray, start: number, end: number, mean: number): void {
  let d0 = 0;
  let d1 = 0;
  let q0 = 0;
  let q1 = 0;
  let i = start;
  for (const stop = end - 1; i < stop; i += 2) {
    const u = a[i] - mean;
    const v = a[i + 1] - mean;
    d0 += u;
    q0 += u * u;
    d1 += v;
    q1 += v * v;
  }
  if (i < end) {
    const u = a[i] - mean;
    d0 += u;
    q0 += u * u;
  }
  pair[0] = d0 + d1;
  pair[1] = q0 + q1;
}

/** pair = [Σ g, Σ g · (x − mean)] over [start, end). */
export function sumGradients(g: FloatArray, x: FloatArray, start: number, end: number, mean: number): void {
  let a0 = 0;
  let a1 = 0;
  let b0 = 0;
  let b1 = 0;
  let i = start;
  for (const stop = end - 1; i < stop; i += 2) {
    const u = g[i];
    const v = g[i + 1];
    a0 += u;
    b0 += u * (x[i] - mean);
    a1 += v;
    b1 += v * (x[i + 1] - mean);
  }
  if (i < end) {
    a0 += g[i];
    b0 += g[i] * (x[i] - mean);
  }
  pair[0] = a0 + a1;
  pair[1] = b0 + b1;
}

/** sum[c] += Σ (x − origin[c]) over channel c of x (N, C, S). */
export function sumMinusNCS(x: FloatArray, N: number, C: number, S: number, origin: Float64Array, sum: Float64Array): void {
  if (S > 1) {
    for (let p = 0, base = 0; p < N * C; p++, base += S) {
      const c = p % C;
      sum[c] += sumMinus(x, base, base + S, origin[c]);
    }
    return;
  }
  let n = 0;
  for (; n + 3 < N; n += 4) {
    const r0 = n * C;
    const r1 = r0 + C;
    const r2 = r1 + C;
    const r3 = r2 + C;
    for (let c = 0; c < C; c++) {
      const o = origin[c];
      sum[c] += x[r0 + c] - o + (x[r1 + c] - o) + (x[r2 + c] - o + (x[r3 + c] - o));
    }
  }
  for (; n < N; n++) {
    const row = n * C;
    for (let c = 0; c < C; c++) sum[c] += x[row + c] - origin[c];
  }
}

/** dev[c] += Σ d, sq[c] += Σ d² with d = x − mean[c] over channel c of x (N, C, S). */
export function sumDeviationsNCS(
  x: FloatArray,
  N: number,
  C: number,
  S: number,
  mean: Float64Array,
  dev: Float64Array,
  sq: Float64Array,
): void {
  if (S > 1) {
    for (let p = 0, base = 0; p < N * C; p++, base += S) {
      const c = p % C;
      sumDeviations(x, base, base + S, mean[c]);
      dev[c] += pair[0];
      sq[c] += pair[1];
    }
    return;
  }
  let n = 0;
  for (; n + 1 < N; n += 2) {
    const r0 = n * C;
    const r1 = r0 + C;
    for (let c = 0; c < C; c++) {
      const m = mean[c];
      const u = x[r0 + c] - m;
      const v = x[r1 + c] - m;
      dev[c] += u + v;
      sq[c] += u * u + v * v;
    }
  }
  for (; n < N; n++) {
    const row = n * C;
    for (let c = 0; c < C; c++) {
      const d = x[row + c] - mean[c];
      dev[c] += d;
      sq[c] += d * d;
    }
  }
}

/** sumG[c] += Σ g, sumGDev[c] += Σ g · (x − mean[c]) over channel c of g and x (N, C, S). */
export function sumGradientsNCS(
  g: FloatArray,
  x: FloatArray,
  N: number,
  C: number,
  S: number,
  mean: Float64Array,
  sumG: Float64Array,
  sumGDev: Float64Array,
): void {
  if (S > 1) {
    for (let p = 0, base = 0; p < N * C; p++, base += S) {
      const c = p % C;
      sumGradients(g, x, base, base + S, mean[c]);
      sumG[c] += pair[0];
      sumGDev[c] += pair[1];
    }
    return;
  }
  let n = 0;
  for (; n + 1 < N; n += 2) {
    const r0 = n * C;
    const r1 = r0 + C;
    for (let c = 0; c < C; c++) {
      const m = mean[c];
      const u = g[r0 + c];
      const v = g[r1 + c];
      sumG[c] += u + v;
      sumGDev[c] += u * (x[r0 + c] - m) + v * (x[r1 + c] - m);
    }
  }
  for (; n < N; n++) {
    const row = n * C;
    for (let c = 0; c < C; c++) {
      const u = g[row + c];
      sumG[c] += u;
      sumGDev[c] += u * (x[row + c] - mean[c]);
    }
  }
}

/** out = (x − mean[c]) · scale[c] + shift[c] on x (N, C, S). */
export function affineNCS(
  x: FloatArray,
  out: FloatArray,
  N: number,
  C: number,
  S: number,
  mean: Float64Array,
  scale: Float64Array,
  shift: Float64Array,
): void {
  if (S > 1) {
    for (let p = 0, base = 0; p < N * C; p++, base += S) {
      const c = p % C;
      const m = mean[c];
      const k = scale[c];
      const b = shift[c];
      for (let i = base, end = base + S; i < end; i++) out[i] = (x[i] - m) * k + b;
    }
    return;
  }
  let n = 0;
  for (; n + 1 < N; n += 2) {
    const r0 = n * C;
    const r1 = r0 + C;
    for (let c = 0; c < C; c++) {
      const m = mean[c];
      const k = scale[c];
      const b = shift[c];
      out[r0 + c] = (x[r0 + c] - m) * k + b;
      out[r1 + c] = (x[r1 + c] - m) * k + b;
    }
  }
  for (; n < N; n++) {
    const row = n * C;
    for (let c = 0; c < C; c++) out[row + c] = (x[row + c] - mean[c]) * scale[c] + shift[c];
  }
}

/**
 * dx = p[c] · g + q[c] · (x − mean[c]) + r[c] on (N, C, S): every closed-form normalization
 * gradient has this shape, and keeping x − mean (rather than folding mean into r) keeps it exact
 * for data with a large offset.
 */
export function gradientNCS(
  g: FloatArray,
  x: FloatArray,
  dx: FloatArray,
  N: number,
  C: number,
  S: number,
  mean: Float64Array,
  p: Float64Array,
  q: Float64Array,
  r: Float64Array,
): void {
  if (S > 1) {
    for (let plane = 0, base = 0; plane < N * C; plane++, base += S) {
      const c = plane % C;
      const m = mean[c];
      const pc = p[c];
      const qc = q[c];
      const rc = r[c];
      for (let i = base, end = base + S; i < end; i++) dx[i] = pc * g[i] + qc * (x[i] - m) + rc;
    }
    return;
  }
  let n = 0;
  for (; n + 1 < N; n += 2) {
    const r0 = n * C;
    const r1 = r0 + C;
    for (let c = 0; c < C; c++) {
      const m = mean[c];
      const pc = p[c];
      const qc = q[c];
      const rc = r[c];
      dx[r0 + c] = pc * g[r0 + c] + qc * (x[r0 + c] - m) + rc;
      dx[r1 + c] = pc * g[r1 + c] + qc * (x[r1 + c] - m) + rc;
    }
  }
  for (; n < N; n++) {
    const row = n * C;
    for (let c = 0; c < C; c++) dx[row + c] = p[c] * g[row + c] + q[c] * (x[row + c] - mean[c]) + r[c];
  }
}
