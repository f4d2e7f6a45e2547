/**
 * The shapes every implementation is timed on (the list). One definition feeds our kernels,
 * the HTTP bodies, the JS peers and the Python peers (passed to torch_bench.py as JSON).
 */

export type Dtype = 'float32' | 'float64';
export type Pass = 'fwd' | 'fwd+bwd';
export const DTYPES: readonly Dtype[] = ['float32', 'float64'];
export const PASSES: readonly Pass[] = ['fwd', 'fwd+bwd'];

export type Kind =
  | 'conv' | 'max-pool' | 'avg-pool' | 'affine' | 'batchnorm' | 'spatial-batchnorm' | 'layernorm'
  | 'groupnorm' | 'relu' | 'dropout' | 'softmax-loss' | 'svm-loss';

/** Kinds our side times through the layer definition's compute (src/layers), as a worker runs it. */
export const LAYER_KINDS: readonly Kind[] = ['groupnorm', 'relu', 'dropout', 'softmax-loss', 'svm-loss'];

/** Which --only word selects a kind. */
export const FAMILY: Record<Kind, string> = {
  conv: 'conv',
  'max-pool': 'pool',
  'avg-pool': 'pool',
  affine: 'affine',
  batchnorm: 'norm',
  'spatial-batchnorm': 'norm',
  layernorm: 'norm',
  groupnorm: 'norm',
  relu: 'elementwise',
  dropout: 'elementwise',
  'softmax-loss': 'loss',
  'svm-loss': 'loss',
};

export interface Case {
  id: string;
  kind: Kind;
  /** what the tables show */
  label: string;
  /** input shapes by name: x always; w, b (conv, affine); gamma, beta (normalization) */
  shapes: Record<string, number[]>;
  out: number[];
  /** conv: stride, pad; pools: size, stride */
  stride: number;
  pad: number;
  size: number;
  /** multiply-adds × 2 of the forward pass; forward + backward counts 3× (conv, affine only) */
  flops?: number;
  /** integer label inputs (the losses' y): length and number of classes */
  labels?: Record<string, { n: number; classes: number }>;
  /** the layer's params, as a request would send them (LAYER_KINDS) */
  params?: Record<string, number>;
}

function conv(id: string, x: number[], w: number[], stride: number, pad: number, note = ''): Case {
  const [N, C, H, W] = x;
  const [F, , HH, WW] = w;
  const Ho = Math.floor((H + 2 * pad - HH) / stride) + 1;
  const Wo = Math.floor((W + 2 * pad - WW) / stride) + 1;
  return {
    id, kind: 'conv',
    label: `conv ${id.slice(-1)} x(${x}) w(${w}) s${stride} p${pad}${note}`,
    shapes: { x, w, b: [F] }, out: [N, F, Ho, Wo], stride, pad, size: HH,
    flops: 2 * N * F * Ho * Wo * C * HH * WW,
  };
}

function pool(kind: 'max-pool' | 'avg-pool', x: number[]): Case {
  const [N, C, H, W] = x;
  return {
    id: kind, kind, label: `${kind} 2x2 s2 x(${x})`,
    shapes: { x }, out: [N, C, H / 2, W / 2], stride: 2, pad: 0, size: 2,
  };
}

function norm(kind: 'batchnorm' | 'spatial-batchnorm' | 'layernorm' | 'groupnorm', x: number[], params?: Record<string, number>): Case {
  const features = kind === 'spatial-batchnorm' || kind === 'groupnorm' ? x[1] : x[x.length - 1];
  return {
    id: kind, kind, label: `${kind} x(${x})`,
    shapes: { x, gamma: [features], beta: [features] }, out: x, stride: 1, pad: 0, size: 1, params,
  };
}

function elementwise(kind: 'relu' | 'dropout', x: number[], params?: Record<string, number>): Case {
  return { id: kind, kind, label: `${kind} x(${x})`, shapes: { x }, out: x, stride: 1, pad: 0, size: 1, params };
}

/** A loss over scores x (N, C) with labels y: its "out" is the scalar loss; dout is not used. */
function loss(kind: 'softmax-loss' | 'svm-loss', N: number, C: number): Case {
  return { id: kind, kind, label: `${kind} x(${N},${C})`, shapes: { x: [N, C] }, out: [1], stride: 1, pad: 0, size: 1, labels: { y: { n: N, classes: C } } };
}

export const CASES: readonly Case[] = [
  conv('conv-A', [16, 32, 32, 32], [64, 32, 3, 3], 1, 1),
  conv('conv-B', [16, 64, 16, 16], [128, 64, 3, 3], 2, 1),
  conv('conv-C', [2, 3, 8, 8], [4, 3, 3, 3], 1, 1, ' (latency)'),
  pool('max-pool', [16, 64, 32, 32]),
  pool('avg-pool', [16, 64, 32, 32]),
  {
    id: 'affine', kind: 'affine', label: 'affine x(128,4096) w(4096,1024)',
    shapes: { x: [128, 4096], w: [4096, 1024], b: [1024] }, out: [128, 1024], stride: 1, pad: 0, size: 1,
    flops: 2 * 128 * 4096 * 1024,
  },
  norm('batchnorm', [256, 1024]),
  norm('spatial-batchnorm', [16, 64, 32, 32]),
  norm('layernorm', [256, 1024]),
  norm('groupnorm', [16, 64, 32, 32], { groups: 8 }),
  elementwise('relu', [16, 64, 32, 32]),
  elementwise('dropout', [16, 64, 32, 32], { p: 0.5, seed: 1 }),
  loss('softmax-loss', 512, 1000),
  loss('svm-loss', 512, 1000),
];

export function flopsOf(c: Case, pass: Pass): number | undefined {
  return c.flops === undefined ? undefined : pass === 'fwd' ? c.flops : 3 * c.flops;
}

export const sizeOf = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);

/** Uniform values in [-1, 1) from a seeded LCG: every JS implementation gets the same numbers. */
export function random(dtype: Dtype, shape: readonly number[], seed: number): Float32Array | Float64Array {
  const n = sizeOf(shape);
  const a = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 31 - 1;
  }
  return a;
}

export interface CaseData {
  inputs: Record<string, Float32Array | Float64Array>;
  dout: Float32Array | Float64Array;
  labels: Record<string, Int32Array>;
}

/** Inputs and an upstream gradient for one case; gamma is kept near 1 as a trained layer's would be. */
export function makeData(c: Case, dtype: Dtype): CaseData {
  const inputs: CaseData['inputs'] = {};
  let seed = 1;
  for (const [name, shape] of Object.entries(c.shapes)) {
    const a = random(dtype, shape, seed++);
    if (name === 'gamma') for (let i = 0; i < a.length; i++) a[i] = 1 + 0.1 * a[i];
    inputs[name] = a;
  }
  const labels: CaseData['labels'] = {};
  for (const [name, { n, classes }] of Object.entries(c.labels ?? {})) {
    const u = random('float64', [n], seed++);
    labels[name] = Int32Array.from(u, (v) => Math.min(classes - 1, Math.floor(((v + 1) / 2) * classes)));
  }
  return { inputs, dout: random(dtype, c.out, 99), labels };
}
