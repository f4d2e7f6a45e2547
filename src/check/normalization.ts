import type { Tensor } from '../kernels/types.ts';

/**
 * Two common mistakes in the normalization layers, as plain float64 closed forms (forward and the
 * exact gradient of that forward), so the check route can recognise a claim computed with them:
 *
 *   'eps-outside':  xhat = (x − mean) / (sqrt(var) + eps)          instead of / sqrt(var + eps)
 *   'unbiased':     var  = Σ (x − mean)² / (M − 1)                  instead of / M (torch.var's default)
 *
 * They are not kernels of the service: slow, simple and only run when a claim failed.
 * One description covers every normalization layer: each element belongs to a statistics group (a
 * feature, a channel, a row, a (sample, group)) and to a channel of gamma and beta, as the layer's
 * definition says (its `normalization.grouping`).
 *
 * Forward per group g with M elements, s = sqrt(var + eps) or sqrt(var) + eps:
 *   out = gamma[c] · (x − mean) / s + beta[c]
 * Backward, dxhat = dout · gamma[c], A = Σ_g dxhat, B = Σ_g dxhat · (x − mean), V = M or M − 1:
 *   dL/dvar = −B / s² · ds/dvar
 *   dx      = dxhat / s − A / (M · s) + dL/dvar · 2 (x − mean) / V
 *   dgamma  = Σ dout · xhat,  dbeta = Σ dout
 * Test mode (batchnorm family) uses the running statistics, constants: dx = dxhat / s.
 * Learners who use the textbook short form of the backward
 *   dx = (M · dxhat − A − xhat · Σ dxhat · xhat) / (M · s)
 * with their own s get other numbers than the exact gradient of their forward (slightly for
 * 'eps-outside', by a factor M/(M − 1) in a term for 'unbiased'); with batch statistics that form
 * is returned too, as grads['x.short'].
 */
export type NormMistake = 'eps-outside' | 'unbiased';

/** A normalization layer's task as the closed forms read it; the grouping comes from the layer's definition. */
export interface NormTask {
  grouping: { groups: number; group: Int32Array; channel: Int32Array };
  /** batch statistics (else the running ones) */
  batchStats: boolean;
  eps: number;
  x: Tensor;
  gamma: Tensor;
  beta: Tensor;
  runningMean?: Tensor;
  runningVar?: Tensor;
  dout?: Tensor;
}

export interface NormResult {
  out: Tensor;
  grads?: Record<string, Tensor>;
}

export function normalizationMistake(t: NormTask, variant: NormMistake): NormResult {
  const { x, gamma, beta, dout, eps, batchStats } = t;
  const { groups, group, channel } = t.grouping;
  const n = x.data.length;
  const count = new Float64Array(groups);
  const mean = new Float64Array(groups);
  const variance = new Float64Array(groups);
  if (batchStats) {
    for (let i = 0; i < n; i++) {
      count[group[i]]++;
      mean[group[i]] += x.data[i];
    }
    for (let g = 0; g < groups; g++) mean[g] /= count[g];
    for (let i = 0; i < n; i++) variance[group[i]] += (x.data[i] - mean[group[i]]) ** 2;
    for (let g = 0; g < groups; g++) variance[g] /= variant === 'unbiased' ? Math.max(1, count[g] - 1) : count[g];
  } else {
    for (let g = 0; g < groups; g++) {
      mean[g] = t.runningMean!.data[g];
      variance[g] = t.runningVar!.data[g];
    }
  }
  const s = new Float64Array(groups);
  const dsdvar = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    const root = Math.sqrt(variant === 'eps-outside' ? variance[g] : variance[g] + eps);
    s[g] = variant === 'eps-outside' ? root + eps : root;
    dsdvar[g] = root > 0 ? 1 / (2 * root) : 0;
  }
  const out = new Float64Array(n);
  const xhat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = group[i];
    xhat[i] = (x.data[i] - mean[g]) / s[g];
    out[i] = gamma.data[channel[i]] * xhat[i] + beta.data[channel[i]];
  }
  const result: NormResult = { out: { shape: x.shape, data: out } };
  if (!dout) return result;

  const C = gamma.data.length;
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const dxhat = new Float64Array(n);
  const A = new Float64Array(groups);
  const B = new Float64Array(groups);
  const Bhat = new Float64Array(groups);
  for (let i = 0; i < n; i++) {
    const c = channel[i];
    const g = group[i];
    dgamma[c] += dout.data[i] * xhat[i];
    dbeta[c] += dout.data[i];
    dxhat[i] = dout.data[i] * gamma.data[c];
    A[g] += dxhat[i];
    B[g] += dxhat[i] * (x.data[i] - mean[g]);
    Bhat[g] += dxhat[i] * xhat[i];
  }
  const dx = new Float64Array(n);
  const short = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const g = group[i];
    if (!batchStats) {
      dx[i] = short[i] = dxhat[i] / s[g];
      continue;
    }
    const M = count[g];
    const V = variant === 'unbiased' ? Math.max(1, M - 1) : M;
    const dvar = (-B[g] / (s[g] * s[g])) * dsdvar[g];
    dx[i] = dxhat[i] / s[g] - A[g] / (M * s[g]) + (dvar * 2 * (x.data[i] - mean[g])) / V;
    short[i] = (M * dxhat[i] - A[g] - xhat[i] * Bhat[g]) / (M * s[g]);
  }
  result.grads = {
    x: { shape: x.shape, data: dx },
    gamma: { shape: gamma.shape, data: dgamma },
    beta: { shape: beta.shape, data: dbeta },
    ...(batchStats ? { 'x.short': { shape: x.shape, data: short } } : {}),
  };
  return result;
}
