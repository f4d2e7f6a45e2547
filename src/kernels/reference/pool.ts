/**
 * Plain max and average pooling, as cs231n's max_pool_forward_naive: the test oracle for
 * ../max-pool.ts and ../avg-pool.ts. Slow on purpose; keep it obviously correct.
 *
 *   x (N, C, H, W)  →  out (N, C, Ho, Wo), Ho = floor((H + 2·pad_h − PH) / stride_h) + 1
 *   window (oh, ow) covers rows oh·sh − ph … oh·sh − ph + PH − 1 and the same for columns.
 *
 * max-pool: padded cells are −∞; the gradient goes to the first maximum in row-major order.
 * avg-pool: padded cells are 0; the divisor counts the window's cells inside the padded input
 *   (countIncludePad, default) or inside the real input (countIncludePad false), as PyTorch.
 */
import { poolInfo, type AvgPoolParams, type PoolInfo, type PoolParams } from '../geometry.ts';
import { zerosLike, type FloatArray, type Tensor } from '../types.ts';

export function maxPoolForwardReference<A extends FloatArray>(x: Tensor<A>, params: PoolParams): Tensor<A> {
  const g = poolInfo(x.shape, params, 'max-pool');
  const out = zerosLike(x.data, g.N * g.C * g.Ho * g.Wo);
  forEachWindow(g, (plane, o, oh, ow) => {
    out[o] = x.data[argmax(x.data, g, plane, oh, ow)];
  });
  return { shape: [...g.outShape], data: out };
}

export function maxPoolBackwardReference<A extends FloatArray>(x: Tensor<A>, dout: Tensor<A>, params: PoolParams): Tensor<A> {
  const g = poolInfo(x.shape, params, 'max-pool');
  const dx = new Float64Array(x.data.length);
  forEachWindow(g, (plane, o, oh, ow) => {
    dx[argmax(x.data, g, plane, oh, ow)] += dout.data[o];
  });
  return { shape: [...x.shape], data: toDtype(x.data, dx) };
}

export function avgPoolForwardReference<A extends FloatArray>(x: Tensor<A>, params: AvgPoolParams): Tensor<A> {
  const g = poolInfo(x.shape, params, 'avg-pool');
  const out = zerosLike(x.data, g.N * g.C * g.Ho * g.Wo);
  forEachWindow(g, (plane, o, oh, ow) => {
    let s = 0;
    for (const i of realCells(g, plane, oh, ow)) s += x.data[i];
    out[o] = s / divisor(g, params, oh, ow);
  });
  return { shape: [...g.outShape], data: out };
}

export function avgPoolBackwardReference<A extends FloatArray>(x: Tensor<A>, dout: Tensor<A>, params: AvgPoolParams): Tensor<A> {
  const g = poolInfo(x.shape, params, 'avg-pool');
  const dx = new Float64Array(x.data.length);
  forEachWindow(g, (plane, o, oh, ow) => {
    const d = dout.data[o] / divisor(g, params, oh, ow);
    for (const i of realCells(g, plane, oh, ow)) dx[i] += d;
  });
  return { shape: [...x.shape], data: toDtype(x.data, dx) };
}

/** Calls visit(plane = n·C + c, flat output index, oh, ow) for every output cell. */
function forEachWindow(g: PoolInfo, visit: (plane: number, o: number, oh: number, ow: number) => void): void {
  let o = 0;
  for (let plane = 0; plane < g.N * g.C; plane++) {
    for (let oh = 0; oh < g.Ho; oh++) {
      for (let ow = 0; ow < g.Wo; ow++) visit(plane, o++, oh, ow);
    }
  }
}

/** Flat indices into x of the window's cells that lie inside the input, in row-major order. */
function realCells(g: PoolInfo, plane: number, oh: number, ow: number): number[] {
  const cells: number[] = [];
  for (let i = 0; i < g.PH; i++) {
    for (let j = 0; j < g.PW; j++) {
      const ih = oh * g.strideH - g.padH + i;
      const iw = ow * g.strideW - g.padW + j;
      if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) cells.push((plane * g.H + ih) * g.W + iw);
    }
  }
  return cells;
}

/** Index of the first maximum of the window (padded cells are −∞, so never chosen). */
function argmax(x: FloatArray, g: PoolInfo, plane: number, oh: number, ow: number): number {
  let best = -1;
  for (const i of realCells(g, plane, oh, ow)) if (best < 0 || x[i] > x[best]) best = i;
  return best;
}

function divisor(g: PoolInfo, params: AvgPoolParams, oh: number, ow: number): number {
  const includePad = params.countIncludePad ?? true;
  let count = 0;
  for (let i = 0; i < g.PH; i++) {
    for (let j = 0; j < g.PW; j++) {
      const ih = oh * g.strideH - g.padH + i;
      const iw = ow * g.strideW - g.padW + j;
      const inH = includePad ? ih >= -g.padH && ih < g.H + g.padH : ih >= 0 && ih < g.H;
      const inW = includePad ? iw >= -g.padW && iw < g.W + g.padW : iw >= 0 && iw < g.W;
      if (inH && inW) count++;
    }
  }
  return count;
}

function toDtype<A extends FloatArray>(like: A, values: Float64Array): A {
  const out = zerosLike(like, values.length);
  out.set(values);
  return out;
}
