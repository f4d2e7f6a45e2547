/**
 * Convolution and pooling geometry, computed once and shared by the shape checks and the loops.
 *
 * Sizes (API.md, "Sizes"):
 *   conv:    Ho = floor((H + 2·pad_h − dilation_h·(HH − 1) − 1) / stride_h) + 1
 *   pooling: Ho = floor((H + 2·pad_h − PH) / stride_h) + 1, stride defaulting to the pool size
 * and the same along the width. Everything here is O(rank): no allocation proportional to data.
 *
 * An impossible geometry throws a GeometryError whose `path` names the offending field
 * ('inputs.x', 'inputs.w', 'inputs.b', 'dout', 'params.<name>') and whose message shows the numbers.
 */

import { formatShape } from './types.ts';

/** A hyper-parameter given either for both axes or as `[h, w]`. */
export type Pair = number | readonly [number, number];

export type PoolLayer = 'max-pool' | 'avg-pool';

export class GeometryError extends Error {
  override readonly name = 'GeometryError';
  /** Where the problem is in a request, e.g. 'inputs.w' or 'params.pad'. */
  readonly path: string;

  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}

export interface ConvParams {
  stride?: Pair;
  pad?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** Everything the conv loops need; x is (N, C, H, W), w is (F, Cg, HH, WW), out is (N, F, Ho, Wo). */
export interface ConvInfo {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly F: number;
  readonly HH: number;
  readonly WW: number;
  readonly groups: number;
  /** input channels per group, C / groups (= w.shape[1]) */
  readonly Cg: number;
  /** filters per group, F / groups */
  readonly Fg: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly dilationH: number;
  readonly dilationW: number;
  readonly Ho: number;
  readonly Wo: number;
  readonly outShape: readonly [number, number, number, number];
}

export interface PoolParams {
  poolHeight: number;
  poolWidth: number;
  /** default: the pool size */
  stride?: Pair;
  /** default 0; each at most half its pool side */
  pad?: Pair;
}

export interface AvgPoolParams extends PoolParams {
  /** default true: the divisor counts padded cells (clipped to the padded input, as PyTorch) */
  countIncludePad?: boolean;
}

/** x is (N, C, H, W), out is (N, C, Ho, Wo); window (oh, ow) starts at (oh·strideH − padH, ow·strideW − padW). */
export interface PoolInfo {
  readonly N: number;
  readonly C: number;
  readonly H: number;
  readonly W: number;
  readonly PH: number;
  readonly PW: number;
  readonly strideH: number;
  readonly strideW: number;
  readonly padH: number;
  readonly padW: number;
  readonly Ho: number;
  readonly Wo: number;
  readonly outShape: readonly [number, number, number, number];
}


const AXIS = ['height', 'width'] as const;

/** Checks an int-or-[h, w] parameter and returns [h, w]. `what` is the plural used in the rule. */
function pairParam(
  layer: string,
  name: string,
  value: Pair | undefined,
  fallback: readonly [number, number],
  min: number,
  what: string,
): [number, number] {
  const path = `params.${name}`;
  const rule = `${what} must be integers >= ${min}`;
  if (value === undefined) return [fallback[0], fallback[1]];
  let pair: [number, number];
  if (typeof value === 'number') pair = [value, value];
  else if (Array.isArray(value) && value.length === 2) pair = [value[0], value[1]];
  else throw new GeometryError(path, `${layer}: ${name} must be an integer or a pair [h, w]; got ${JSON.stringify(value)}`);
  for (let axis = 0; axis < 2; axis++) {
    const v = pair[axis];
    if (typeof v === 'number' && Number.isInteger(v) && v >= min) continue;
    const shown = typeof value === 'number' ? `${name} ${value}` : `${name} ${formatShape(pair)} has ${AXIS[axis]} ${v}, which`;
    const problem = typeof v === 'number' && Number.isInteger(v) ? `is below ${min}` : 'is not an integer';
    throw new GeometryError(path, `${layer}: ${shown} ${problem}: ${rule}`);
  }
  return pair;
}

function intParam(layer: string, name: string, value: number | undefined, fallback: number | undefined, rule: string): number {
  const path = `params.${name}`;
  if (value === undefined) {
    if (fallback === undefined) throw new GeometryError(path, `${layer}: ${name} is required: ${rule}`);
    return fallback;
  }
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new GeometryError(path, `${layer}: ${name} ${JSON.stringify(value)} is not an integer: ${rule}`);
  }
  if (value < 1) throw new GeometryError(path, `${layer}: ${name} ${value} is below 1: ${rule}`);
  return value;
}

function check4d(layer: string, path: string, shape: readonly number[], layout: string): void {
  if (shape.length !== 4) {
    throw new GeometryError(path, `${layer}: ${path} has shape ${formatShape(shape)} (${shape.length}-D); it must be 4-D ${layout}`);
  }
  checkDims(layer, path, shape);
}

function checkDims(layer: string, path: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 1) {
      throw new GeometryError(path, `${layer}: ${path} has shape ${formatShape(shape)}; every dimension must be an integer >= 1`);
    }
  }
}

/**
 * Conv geometry for x (N, C, H, W), w (F, C/groups, HH, WW) and optionally b (F).
 * Throws GeometryError on anything that cannot be computed.
 */
export function convInfo(
  xShape: readonly number[],
  wShape: readonly number[],
  params: ConvParams = {},
  bShape?: readonly number[],
): ConvInfo {
  const L = 'conv';
  check4d(L, 'inputs.x', xShape, '[N, C, H, W]');
  check4d(L, 'inputs.w', wShape, '[F, C/groups, HH, WW]');
  const [strideH, strideW] = pairParam(L, 'stride', params.stride, [1, 1], 1, 'strides');
  const [padH, padW] = pairParam(L, 'pad', params.pad, [0, 0], 0, 'pads');
  const [dilationH, dilationW] = pairParam(L, 'dilation', params.dilation, [1, 1], 1, 'dilations');
  const groups = intParam(L, 'groups', params.groups, 1, 'groups must be an integer >= 1');

  const [N, C, H, W] = xShape as [number, number, number, number];
  const [F, wC, HH, WW] = wShape as [number, number, number, number];
  if (C % groups !== 0) {
    throw new GeometryError('params.groups', `${L}: groups ${groups} does not divide the ${C} channels of x ${formatShape(xShape)}`);
  }
  const Cg = C / groups;
  if (wC !== Cg) {
    throw new GeometryError(
      'inputs.w',
      `${L}: inputs.w has shape ${formatShape(wShape)}; with x ${formatShape(xShape)} and groups ${groups} it must be [F, ${Cg}, HH, WW]`,
    );
  }
  if (F % groups !== 0) {
    throw new GeometryError('params.groups', `${L}: groups ${groups} does not divide the ${F} filters of w ${formatShape(wShape)}`);
  }
  if (bShape !== undefined && (bShape.length !== 1 || bShape[0] !== F)) {
    throw new GeometryError(
      'inputs.b',
      `${L}: inputs.b has shape ${formatShape(bShape)}; it must be [${F}], one bias per filter of w ${formatShape(wShape)}`,
    );
  }
  const Ho = convOutSize(0, H, HH, strideH, padH, dilationH);
  const Wo = convOutSize(1, W, WW, strideW, padW, dilationW);
  return {
    N, C, H, W, F, HH, WW, groups, Cg, Fg: F / groups,
    strideH, strideW, padH, padW, dilationH, dilationW, Ho, Wo,
    outShape: [N, F, Ho, Wo],
  };
}

function convOutSize(axis: 0 | 1, size: number, k: number, stride: number, pad: number, dilation: number): number {
  const out = Math.floor((size + 2 * pad - dilation * (k - 1) - 1) / stride) + 1;
  if (out >= 1) return out;
  const formula = `floor((${size} + 2·${pad} − ${dilation}·(${k} − 1) − 1) / ${stride}) + 1`;
  const kernel = dilation === 1 ? `the kernel (${k})` : `the dilated kernel (${dilation}·(${k} − 1) + 1 = ${dilation * (k - 1) + 1})`;
  throw new GeometryError(
    'inputs.w',
    `conv: output ${AXIS[axis]} ${formula} = ${out} is below 1: ${kernel} is larger than the padded input (${size + 2 * pad})`,
  );
}

/** Pool geometry for x (N, C, H, W). `layer` only names the layer in messages. */
export function poolInfo(xShape: readonly number[], params: PoolParams, layer: PoolLayer = 'max-pool'): PoolInfo {
  const L = layer;
  check4d(L, 'inputs.x', xShape, '[N, C, H, W]');
  const sizeRule = 'pool sizes must be integers >= 1';
  const PH = intParam(L, 'poolHeight', params.poolHeight, undefined, sizeRule);
  const PW = intParam(L, 'poolWidth', params.poolWidth, undefined, sizeRule);
  const [strideH, strideW] = pairParam(L, 'stride', params.stride, [PH, PW], 1, 'strides');
  const [padH, padW] = pairParam(L, 'pad', params.pad, [0, 0], 0, 'pads');
  const pads = [padH, padW];
  const sides = [PH, PW];
  for (let axis = 0; axis < 2; axis++) {
    const p = pads[axis];
    const side = sides[axis];
    if (2 * p > side) {
      throw new GeometryError(
        'params.pad',
        `${L}: pad ${p} is more than half the pool ${AXIS[axis]} ${side} (2·${p} = ${2 * p} > ${side}): ` +
          `each pad must be at most half its pool side, here at most ${Math.floor(side / 2)}`,
      );
    }
  }
  const [N, C, H, W] = xShape as [number, number, number, number];
  const Ho = poolOutSize(L, 0, H, PH, strideH, padH);
  const Wo = poolOutSize(L, 1, W, PW, strideW, padW);
  return { N, C, H, W, PH, PW, strideH, strideW, padH, padW, Ho, Wo, outShape: [N, C, Ho, Wo] };
}

function poolOutSize(layer: string, axis: 0 | 1, size: number, k: number, stride: number, pad: number): number {
  const out = Math.floor((size + 2 * pad - k) / stride) + 1;
  if (out >= 1) return out;
  throw new GeometryError(
    axis === 0 ? 'params.poolHeight' : 'params.poolWidth',
    `${layer}: output ${AXIS[axis]} floor((${size} + 2·${pad} − ${k}) / ${stride}) + 1 = ${out} is below 1: ` +
      `the pool window (${k}) is larger than the padded input (${size + 2 * pad})`,
  );
}

/** Backward: dout must have the shape of the forward output. */
export function checkDout(layer: string, outShape: readonly number[], doutShape: readonly number[]): void {
  const same = doutShape.length === outShape.length && outShape.every((d, i) => doutShape[i] === d);
  if (!same) {
    throw new GeometryError(
      'dout',
      `${layer}: dout has shape ${formatShape(doutShape)}; it must be the shape of out, [N, ${layer === 'conv' ? 'F' : 'C'}, Ho, Wo] = ${formatShape(outShape)}`,
    );
  }
}

/** Throws unless `data.length` equals the product of `shape` (a malformed tensor is a caller bug). */
export function checkLength(layer: string, path: string, shape: readonly number[], length: number): void {
  let n = 1;
  for (const d of shape) n *= d;
  if (n !== length) {
    throw new GeometryError(path, `${layer}: ${path} has shape ${formatShape(shape)} (${n} elements) but ${length} values`);
  }
}

/*
 * Window bounds. An output index o reads input index o·stride + offset (offset = k·dilation − pad for
 * tap k of a conv, or the window position for pooling). These give the outputs [lo, hi) whose input
 * index falls inside [0, limit), so loops can skip padding without a test per element.
 */

/** First output index o in [0, count) with o·stride + offset >= 0. */
export function insideStart(offset: number, stride: number, count: number): number {
  if (offset >= 0) return 0;
  return Math.min(count, Math.ceil(-offset / stride));
}

/** One past the last output index o in [0, count) with o·stride + offset < limit (at least insideStart). */
export function insideEnd(offset: number, stride: number, limit: number, count: number): number {
  if (offset >= limit) return insideStart(offset, stride, count);
  const end = Math.min(count, Math.floor((limit - 1 - offset) / stride) + 1);
  return Math.max(end, insideStart(offset, stride, count));
}

/**
 * Pooling windows along one axis: for each output index o, three numbers at 3·o: the window clipped to
 * the input, [lo, hi), and the number of its cells inside the padded input [−pad, limit + pad) (the
 * avg-pool divisor with countIncludePad, as PyTorch clips it). Size O(outputs), not O(data).
 */
export function poolWindows(count: number, stride: number, pad: number, size: number, limit: number): Int32Array {
  const w = new Int32Array(3 * count);
  for (let o = 0; o < count; o++) {
    const start = o * stride - pad;
    const end = start + size;
    w[3 * o] = Math.max(0, start);
    w[3 * o + 1] = Math.min(limit, end);
    w[3 * o + 2] = Math.min(end, limit + pad) - start;
  }
  return w;
}

/** The pool geometry of x, with x's data length checked against its shape. */
export function checkedPoolInfo(layer: PoolLayer, x: { shape: readonly number[]; data: { length: number } }, params: PoolParams): PoolInfo {
  const g = poolInfo(x.shape, params, layer);
  checkLength(layer, 'inputs.x', x.shape, x.data.length);
  return g;
}

/** dout must be shaped like the pool's output and hold that many values. */
export function checkPoolDout(layer: PoolLayer, g: PoolInfo, dout: { shape: readonly number[]; data: { length: number } }): void {
  checkDout(layer, g.outShape, dout.shape);
  checkLength(layer, 'dout', dout.shape, dout.data.length);
}
