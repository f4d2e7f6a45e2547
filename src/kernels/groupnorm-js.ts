import type { FloatArray, Tensor } from './types.ts';
import { zerosLike } from './types.ts';
import { affineNCS, gradientNCS, pair, sumDeviations, sumGradientsNCS, sumMinus } from './normalization-loops.ts';
import type { GroupnormCache, GroupnormForward, GroupnormGrads, GroupnormOptions } from './normalization-types.ts';

/**
 * Spatial groupnorm in plain JS: the path ./groupnorm.ts runs for small tensors or without the
 * wasm module (production code, not an oracle: the tests check both paths against the staged
 * cs231n graph of test/kernels/normalization-helpers.ts, and the wasm path against this one).
 * Same contract, numerics and cache as ./groupnorm.ts; corrected two-pass statistics per (n, g).
 */

/** Spatial groupnorm forward on x (N, C, H, W). */
export function groupnormForwardJs<A extends FloatArray>(
  x: Tensor<A>,
  gamma: A,
  beta: A,
  options: GroupnormOptions,
): GroupnormForward<A> {
  const { groups: G, eps } = options;
  if (x.shape.length !== 4) throw new RangeError(`spatial-groupnorm: x must be (N, C, H, W), got [${x.shape}]`);
  const [N, C, H, W] = x.shape;
  const S = H * W;
  const xd = x.data;
  if (xd.length !== N * C * S) throw new RangeError('spatial-groupnorm: x data does not fit its shape');
  if (!Number.isInteger(G) || G < 1 || C % G !== 0) throw new RangeError(`spatial-groupnorm: groups ${G} must divide C = ${C}`);
  if (gamma.length !== C || beta.length !== C) throw new RangeError(`spatial-groupnorm: gamma and beta must have length ${C}`);
  const Cg = C / G;
  const L = Cg * S;

  const mean = new Float64Array(N * G);
  const invstd = new Float64Array(N * G);
  for (let r = 0; r < N * G; r++) {
    // Each (n, g) is one contiguous block of L values: two passes as in batchnorm.ts.
    const base = r * L;
    const end = base + L;
    const origin = xd[base];
    let m = origin + sumMinus(xd, base, end, origin) / L;
    sumDeviations(xd, base, end, m);
    const s1 = pair[0];
    const variance = Math.max(0, pair[1] - (s1 * s1) / L) / L;
    m += s1 / L;
    mean[r] = m;
    invstd[r] = 1 / Math.sqrt(variance + eps);
  }
  // Per (n, c) plane: out = (x − mean[n, g]) · invstd[n, g] · gamma[c] + beta[c].
  const planeMean = new Float64Array(N * C);
  const scale = new Float64Array(N * C);
  const shift = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const r = n * G + Math.floor(c / Cg);
      planeMean[n * C + c] = mean[r];
      scale[n * C + c] = invstd[r] * gamma[c];
      shift[n * C + c] = beta[c];
    }
  }
  const out = zerosLike(xd, xd.length);
  affineNCS(xd, out, 1, N * C, S, planeMean, scale, shift);
  return {
    out: { shape: x.shape.slice(), data: out },
    cache: { shape: x.shape.slice(), N, C, S, G, x: xd, gamma, mean, invstd },
  };
}

/** Spatial groupnorm backward: dout (N, C, H, W) → dx (N, C, H, W), dgamma (C), dbeta (C). */
export function groupnormBackwardJs<A extends FloatArray>(dout: Tensor<A>, cache: GroupnormCache<A>): GroupnormGrads<A> {
  const { N, C, S, G, x, gamma, mean, invstd } = cache;
  const g = dout.data;
  if (g.length !== N * C * S) throw new RangeError(`spatial-groupnorm: dout has ${g.length} values, x has ${N * C * S}`);
  if (g.constructor !== x.constructor) throw new TypeError('spatial-groupnorm: dout must have the dtype of x');
  const Cg = C / G;
  const L = Cg * S;
  const planeMean = new Float64Array(N * C);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) planeMean[n * C + c] = mean[n * G + Math.floor(c / Cg)];
  // Per (n, c) plane: Σ dout and Σ dout · (x − mean).
  const sumDout = new Float64Array(N * C);
  const sumDoutDev = new Float64Array(N * C);
  sumGradientsNCS(g, x, 1, N * C, S, planeMean, sumDout, sumDoutDev);

  const dgamma = zerosLike(x, C);
  const dbeta = zerosLike(x, C);
  // dx = p · dout + q · (x − mean) + r per plane, from the group sums
  // a = mean(dy), b = invstd² · mean(dy · (x − mean)) with dy = dout · gamma[c]:
  // p = invstd · gamma[c], q = −invstd · b, r = −invstd · a.
  const p = new Float64Array(N * C);
  const q = new Float64Array(N * C);
  const r = new Float64Array(N * C);
  for (let c = 0; c < C; c++) {
    let dg = 0;
    let db = 0;
    for (let n = 0; n < N; n++) {
      dg += sumDoutDev[n * C + c] * invstd[n * G + Math.floor(c / Cg)];
      db += sumDout[n * C + c];
    }
    dgamma[c] = dg;
    dbeta[c] = db;
  }
  for (let n = 0; n < N; n++) {
    for (let grp = 0; grp < G; grp++) {
      const k = invstd[n * G + grp];
      let sumDy = 0;
      let sumDyDev = 0;
      for (let c = grp * Cg; c < (grp + 1) * Cg; c++) {
        sumDy += gamma[c] * sumDout[n * C + c];
        sumDyDev += gamma[c] * sumDoutDev[n * C + c];
      }
      const a = sumDy / L;
      const b = (k * k * sumDyDev) / L;
      for (let c = grp * Cg; c < (grp + 1) * Cg; c++) {
        p[n * C + c] = k * gamma[c];
        q[n * C + c] = -k * b;
        r[n * C + c] = -k * a;
      }
    }
  }
  const dx = zerosLike(x, g.length);
  gradientNCS(g, x, dx, 1, N * C, S, planeMean, p, q, r);
  return { dx: { shape: cache.shape.slice(), data: dx }, dgamma, dbeta };
}
