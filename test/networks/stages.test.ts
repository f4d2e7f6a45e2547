import { describe, expect, it } from 'vitest';
import type { Dtype, Tensor } from '../../src/kernels/types.ts';
import { findLayer } from '../../src/layers/registry.ts';
import type { LayerTask } from '../../src/layers/types.ts';
import { STAGES } from '../../src/networks/stages.ts';
import { randn } from '../../src/util/random.ts';

/**
 * A network runs each layer's forward and backward apart (stages.ts); the layer routes run them
 * together (the definition's compute with dout). Both must give the same numbers, bit for bit, on
 * small tensors (the JS loops) and on tensors large enough for the wasm paths.
 */
const tensor = (shape: number[], dtype: Dtype, seed: number): Tensor => {
  const d = randn(shape.reduce((a, b) => a * b, 1), seed);
  return { shape, data: dtype === 'float32' ? Float32Array.from(d) : d };
};

interface Case {
  layer: string;
  inputs: Record<string, number[]>;
  params?: Record<string, unknown>;
  mode?: 'train' | 'test';
  state?: boolean;
}

const big = [4, 8, 10, 10];
const CASES: Case[] = [
  { layer: 'affine', inputs: { x: [3, 2, 4], w: [8, 5], b: [5] } },
  { layer: 'affine', inputs: { x: [64, 128], w: [128, 40], b: [40] } },
  { layer: 'relu', inputs: { x: [3, 7] } },
  { layer: 'conv', inputs: { x: [2, 3, 7, 7], w: [4, 3, 3, 3], b: [4] }, params: { stride: 2, pad: 1 } },
  { layer: 'conv', inputs: { x: big, w: [8, 8, 3, 3], b: [8] }, params: { pad: 1 } },
  { layer: 'conv', inputs: { x: big, w: [8, 1, 3, 3], b: [8] }, params: { groups: 8 } },
  { layer: 'max-pool', inputs: { x: [2, 3, 5, 5] }, params: { poolHeight: 3, poolWidth: 2, stride: 2 } },
  { layer: 'max-pool', inputs: { x: big }, params: { poolHeight: 2, poolWidth: 2 } },
  { layer: 'avg-pool', inputs: { x: [2, 3, 5, 5] }, params: { poolHeight: 2, poolWidth: 2, pad: 1, countIncludePad: false } },
  { layer: 'avg-pool', inputs: { x: big }, params: { poolHeight: 2, poolWidth: 2 } },
  { layer: 'batchnorm', inputs: { x: [6, 5], gamma: [5], beta: [5] } },
  { layer: 'batchnorm', inputs: { x: [64, 40], gamma: [40], beta: [40] }, state: true, params: { momentum: 0.7 } },
  { layer: 'batchnorm', inputs: { x: [64, 40], gamma: [40], beta: [40] }, state: true, mode: 'test' },
  { layer: 'spatial-batchnorm', inputs: { x: [2, 3, 4, 4], gamma: [3], beta: [3] }, state: true },
  { layer: 'spatial-batchnorm', inputs: { x: big, gamma: [8], beta: [8] }, params: { runningVarEstimator: 'unbiased' } },
  { layer: 'spatial-batchnorm', inputs: { x: big, gamma: [8], beta: [8] }, state: true, mode: 'test' },
  { layer: 'layernorm', inputs: { x: [4, 6], gamma: [6], beta: [6] } },
  { layer: 'layernorm', inputs: { x: [64, 40], gamma: [40], beta: [40] } },
  { layer: 'spatial-groupnorm', inputs: { x: [2, 4, 3, 3], gamma: [4], beta: [4] }, params: { groups: 2 } },
  { layer: 'spatial-groupnorm', inputs: { x: big, gamma: [8], beta: [8] }, params: { groups: 4 } },
  { layer: 'dropout', inputs: { x: [3, 7] }, params: { p: 0.7, seed: 3 } },
  { layer: 'dropout', inputs: { x: big }, params: { p: 0.5, seed: 11 } },
  { layer: 'dropout', inputs: { x: [3, 7] }, mode: 'test' },
];

describe('network stages equal the layers\' own compute, bit for bit', () => {
  it('every stage has cases here', () => {
    expect(new Set(CASES.map((c) => c.layer))).toEqual(new Set(Object.keys(STAGES)));
  });

  for (const dtype of ['float64', 'float32'] as const) {
    CASES.forEach((c, k) => {
      it(`${c.layer} ${JSON.stringify(c.inputs)} ${c.mode ?? 'train'} (${dtype})`, () => {
        const def = findLayer(c.layer)!;
        const inputs = Object.fromEntries(Object.entries(c.inputs).map(([n, s], i) => [n, tensor(s, dtype, 100 * k + i)]));
        const stat = (seed: number, positive: boolean): Tensor => {
          const t = tensor([c.inputs.gamma[0]], dtype, seed);
          if (positive) t.data = t.data.map((v) => Math.abs(v) + 0.5);
          return t;
        };
        const state: Record<string, Tensor> = c.state ? { runningMean: stat(7, false), runningVar: stat(8, true) } : {};
        const task: LayerTask = { layer: c.layer, dtype, mode: c.mode ?? 'train', params: def.params.parse(c.params ?? {}), inputs, labels: {}, state };
        const shapes = Object.fromEntries(Object.entries(inputs).map(([n, t]) => [n, t.shape]));
        const outShape = def.outShape({ shapes, labels: {}, params: task.params, mode: task.mode, state: {} });
        const dout = tensor(outShape, dtype, 999 + k);

        const whole = def.compute({ ...task, dout });
        const stage = STAGES[c.layer];
        const { result, cache } = stage.forward(def, task);
        const grads = stage.backward(def, task, cache, dout);

        expect(result.out!.shape).toEqual(whole.out!.shape);
        expect(result.out!.data).toEqual(whole.out!.data);
        expect(result.out!.data.constructor).toBe(whole.out!.data.constructor);
        expect(Object.keys(grads).sort()).toEqual(Object.keys(whole.grads!).sort());
        for (const [n, g] of Object.entries(whole.grads!)) {
          expect(grads[n].shape, n).toEqual(g.shape);
          expect(grads[n].data, n).toEqual(g.data);
          expect(grads[n].data.constructor, n).toBe(g.data.constructor);
        }
        expect(result.state).toEqual(whole.state);
      });
    });
  }
});
