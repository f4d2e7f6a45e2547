import { convBackwardReference, convForwardReference } from '../../src/kernels/reference/conv.ts';
import { avgPoolBackwardReference, avgPoolForwardReference, maxPoolBackwardReference, maxPoolForwardReference } from '../../src/kernels/reference/pool.ts';
import type { Tensor } from '../../src/kernels/types.ts';

/**
 * An independent float64 network step for the tests: cs231n's layer-by-layer forward with caches and
 * backward, built from the kernels' plain reference implementations (src/kernels/reference/*: conv,
 * pooling) and, where none exists, the plain loops below (affine, relu, batchnorm, the losses).
 * Nothing here imports src/networks or the fast kernels.
 */
type T = Tensor<Float64Array>;

export interface RefLayer {
  layer: string;
  name?: string;
  params?: Record<string, any>;
  inputs?: Record<string, string>;
}

export interface RefNet {
  mode?: 'train' | 'test';
  layers: RefLayer[];
  params: Record<string, T>;
  state?: Record<string, { runningMean: T; runningVar: T }>;
  x: T;
  y?: number[];
  reg?: number;
  /** train-mode dropout masks by layer index (the test gets them from POST /v1/layers/dropout) */
  masks?: Record<number, Float64Array>;
}

export interface RefAnswer {
  loss?: number;
  out?: T;
  grads: Record<string, T>;
  state: Record<string, { runningMean: T; runningVar: T }>;
}

const t = (shape: number[], data: Float64Array): T => ({ shape, data });

function affineForward(x: T, w: T, b: T): T {
  const N = x.shape[0];
  const [D, M] = w.shape;
  const out = new Float64Array(N * M);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      let s = b.data[m];
      for (let d = 0; d < D; d++) s += x.data[n * D + d] * w.data[d * M + m];
      out[n * M + m] = s;
    }
  }
  return t([N, M], out);
}

function affineBackward(x: T, w: T, dout: T): Record<string, T> {
  const N = x.shape[0];
  const [D, M] = w.shape;
  const dx = new Float64Array(N * D);
  const dw = new Float64Array(D * M);
  const db = new Float64Array(M);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < M; m++) {
      const g = dout.data[n * M + m];
      db[m] += g;
      for (let d = 0; d < D; d++) {
        dx[n * D + d] += g * w.data[d * M + m];
        dw[d * M + m] += x.data[n * D + d] * g;
      }
    }
  }
  return { x: t(x.shape, dx), w: t(w.shape, dw), b: t([M], db) };
}

/** cs231n softmax_loss: mean cross-entropy over N, stable log-sum-exp. */
function softmaxLoss(x: T, y: number[]): { loss: number; dx: T } {
  const [N, C] = x.shape;
  const dx = new Float64Array(N * C);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const row = x.data.subarray(n * C, n * C + C);
    const max = Math.max(...row);
    let z = 0;
    for (let c = 0; c < C; c++) z += Math.exp(row[c] - max);
    loss -= row[y[n]] - max - Math.log(z);
    for (let c = 0; c < C; c++) dx[n * C + c] = (Math.exp(row[c] - max) / z - (c === y[n] ? 1 : 0)) / N;
  }
  return { loss: loss / N, dx: t(x.shape, dx) };
}

/** cs231n svm_loss with margin 1. */
function svmLoss(x: T, y: number[]): { loss: number; dx: T } {
  const [N, C] = x.shape;
  const dx = new Float64Array(N * C);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    const right = x.data[n * C + y[n]];
    for (let c = 0; c < C; c++) {
      if (c === y[n]) continue;
      const m = x.data[n * C + c] - right + 1;
      if (m > 0) {
        loss += m;
        dx[n * C + c] += 1 / N;
        dx[n * C + y[n]] -= 1 / N;
      }
    }
  }
  return { loss: loss / N, dx: t(x.shape, dx) };
}

interface BnCache {
  mode: 'train' | 'test';
  N: number;
  C: number;
  S: number;
  xhat: Float64Array;
  gamma: Float64Array;
  invstd: Float64Array;
}

/**
 * cs231n batchnorm_forward on x viewed as (N, C, S): per-channel statistics over N·S values (S = 1 for
 * batchnorm, H·W for spatial batchnorm), two-pass mean and biased variance.
 */
function batchnormForward(x: T, S: number, gamma: T, beta: T, p: Record<string, any> | undefined, mode: 'train' | 'test', s?: { runningMean: T; runningVar: T }) {
  const [N, C] = x.shape;
  const M = N * S;
  const eps = p?.eps ?? 1e-5;
  const momentum = p?.momentum ?? 0.9;
  const at = (n: number, c: number, k: number) => (n * C + c) * S + k;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    if (mode === 'test') {
      mean[c] = s!.runningMean.data[c];
      variance[c] = s!.runningVar.data[c];
      continue;
    }
    let sum = 0;
    for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) sum += x.data[at(n, c, k)];
    mean[c] = sum / M;
    let sq = 0;
    for (let n = 0; n < N; n++) for (let k = 0; k < S; k++) sq += (x.data[at(n, c, k)] - mean[c]) ** 2;
    variance[c] = sq / M;
  }
  const invstd = variance.map((v) => 1 / Math.sqrt(v + eps));
  const xhat = new Float64Array(x.data.length);
  const out = new Float64Array(x.data.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let k = 0; k < S; k++) {
        const i = at(n, c, k);
        xhat[i] = (x.data[i] - mean[c]) * invstd[c];
        out[i] = gamma.data[c] * xhat[i] + beta.data[c];
      }
    }
  }
  const running =
    mode === 'train'
      ? {
          runningMean: t([C], mean.map((m, c) => momentum * (s?.runningMean.data[c] ?? 0) + (1 - momentum) * m)),
          runningVar: t([C], variance.map((v, c) => momentum * (s?.runningVar.data[c] ?? 0) + (1 - momentum) * (p?.runningVarEstimator === 'unbiased' ? (v * M) / (M - 1) : v))),
        }
      : undefined;
  const cache: BnCache = { mode, N, C, S, xhat, gamma: gamma.data, invstd };
  return { out: t(x.shape, out), cache, running };
}

/** cs231n batchnorm_backward_alt; in test mode the statistics are constants. */
function batchnormBackward(dout: T, shape: number[], k: BnCache): Record<string, T> {
  const { N, C, S, xhat, gamma, invstd } = k;
  const M = N * S;
  const at = (n: number, c: number, j: number) => (n * C + c) * S + j;
  const dgamma = new Float64Array(C);
  const dbeta = new Float64Array(C);
  const dx = new Float64Array(dout.data.length);
  for (let c = 0; c < C; c++) {
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < S; j++) {
        const i = at(n, c, j);
        dbeta[c] += dout.data[i];
        dgamma[c] += dout.data[i] * xhat[i];
      }
    }
    for (let n = 0; n < N; n++) {
      for (let j = 0; j < S; j++) {
        const i = at(n, c, j);
        dx[i] =
          k.mode === 'test'
            ? gamma[c] * invstd[c] * dout.data[i]
            : (gamma[c] * invstd[c] * (M * dout.data[i] - dbeta[c] - xhat[i] * dgamma[c])) / M;
      }
    }
  }
  return { x: t(shape, dx), gamma: t([C], dgamma), beta: t([C], dbeta) };
}

export function referenceStep(net: RefNet): RefAnswer {
  const mode = net.mode ?? 'train';
  const last = net.layers.at(-1)!;
  const withLoss = (last.layer === 'softmax-loss' || last.layer === 'svm-loss') && net.y !== undefined;
  const body = withLoss || !['softmax-loss', 'svm-loss'].includes(last.layer) ? net.layers : net.layers.slice(0, -1);
  const caches: { l: RefLayer; x: T; cache?: BnCache; mask?: Float64Array }[] = [];
  const state: RefAnswer['state'] = {};
  const p = (l: RefLayer, input: string) => net.params[l.inputs![input]];
  let x = net.x;
  for (const [index, l] of (withLoss ? body.slice(0, -1) : body).entries()) {
    caches.push({ l, x });
    switch (l.layer) {
      case 'dropout': {
        // inverted dropout: x · mask in train mode (mask 0 or 1/p), x in test mode
        const mask = mode === 'train' ? net.masks![index] : undefined;
        caches.at(-1)!.mask = mask;
        if (mask) x = t(x.shape, x.data.map((v, i) => v * mask[i]));
        break;
      }
      case 'affine':
        x = affineForward(x, p(l, 'w'), p(l, 'b'));
        break;
      case 'relu':
        x = t(x.shape, x.data.map((v) => Math.max(0, v)));
        break;
      case 'conv':
        x = convForwardReference(x, p(l, 'w'), p(l, 'b'), l.params ?? {});
        break;
      case 'max-pool':
        x = maxPoolForwardReference(x, l.params as any);
        break;
      case 'avg-pool':
        x = avgPoolForwardReference(x, l.params as any);
        break;
      case 'batchnorm':
      case 'spatial-batchnorm': {
        const S = l.layer === 'batchnorm' ? 1 : x.shape[2] * x.shape[3];
        const f = batchnormForward(x, S, p(l, 'gamma'), p(l, 'beta'), l.params, mode, net.state?.[l.name!]);
        caches.at(-1)!.cache = f.cache;
        if (f.running) state[l.name!] = f.running;
        x = f.out;
        break;
      }
      default:
        throw new Error(`reference: no layer ${l.layer}`);
    }
  }
  if (!withLoss) return { out: x, grads: {}, state };

  const { loss: dataLoss, dx } = (last.layer === 'softmax-loss' ? softmaxLoss : svmLoss)(x, net.y!);
  const grads: Record<string, T> = {};
  const add = (name: string, g: T) => {
    if (!grads[name]) grads[name] = t(g.shape, new Float64Array(g.data.length));
    for (let i = 0; i < g.data.length; i++) grads[name].data[i] += g.data[i];
  };
  let dout = dx;
  for (let i = caches.length - 1; i >= 0; i--) {
    const { l, x: xin, cache, mask } = caches[i];
    let g: Record<string, T>;
    switch (l.layer) {
      case 'dropout':
        g = { x: mask ? t(xin.shape, dout.data.map((d, k) => d * mask[k])) : dout };
        break;
      case 'affine':
        g = affineBackward(xin, p(l, 'w'), dout);
        break;
      case 'relu':
        g = { x: t(xin.shape, dout.data.map((d, k) => (xin.data[k] > 0 ? d : 0))) };
        break;
      case 'conv': {
        const r = convBackwardReference(xin, p(l, 'w'), dout, l.params ?? {});
        g = { x: r.dx, w: r.dw, b: r.db };
        break;
      }
      case 'max-pool':
        g = { x: maxPoolBackwardReference(xin, dout, l.params as any) };
        break;
      case 'avg-pool':
        g = { x: avgPoolBackwardReference(xin, dout, l.params as any) };
        break;
      default:
        g = batchnormBackward(dout, xin.shape, cache!);
    }
    for (const [input, name] of Object.entries(l.inputs ?? {})) add(name, g[input]);
    dout = g.x;
  }
  let loss = dataLoss;
  const reg = net.reg ?? 0;
  const ws = new Set(net.layers.flatMap((l) => (l.inputs?.w ? [l.inputs.w] : [])));
  for (const name of ws) {
    const w = net.params[name].data;
    for (let i = 0; i < w.length; i++) {
      loss += 0.5 * reg * w[i] * w[i];
      grads[name].data[i] += reg * w[i];
    }
  }
  return { loss, grads, state };
}

export interface AdamState {
  m: Float64Array;
  v: Float64Array;
  t: number;
}

/** cs231n optim.adam, one step; returns the next w and state. */
export function adamReference(w: Float64Array, dw: Float64Array, s: AdamState | undefined, lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8): { w: Float64Array; state: AdamState } {
  const m = s ? s.m.slice() : new Float64Array(w.length);
  const v = s ? s.v.slice() : new Float64Array(w.length);
  const step = (s?.t ?? 0) + 1;
  const next = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) {
    m[i] = beta1 * m[i] + (1 - beta1) * dw[i];
    v[i] = beta2 * v[i] + (1 - beta2) * dw[i] * dw[i];
    const mt = m[i] / (1 - beta1 ** step);
    const vt = v[i] / (1 - beta2 ** step);
    next[i] = w[i] - (lr * mt) / (Math.sqrt(vt) + eps);
  }
  return { w: next, state: { m, v, t: step } };
}
