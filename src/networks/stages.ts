import { affineBackward, affineForward } from '../kernels/affine.ts';
import { avgPoolBackward, avgPoolForward } from '../kernels/avg-pool.ts';
import { batchnormBackward, batchnormForward, type BatchnormCache, type BatchnormOptions } from '../kernels/batchnorm.ts';
import { convBackward, convForward } from '../kernels/conv.ts';
import { dropoutBackward } from '../kernels/dropout.ts';
import type { ConvParams, PoolParams } from '../kernels/geometry.ts';
import { groupnormBackward, groupnormForward, type GroupnormCache } from '../kernels/groupnorm.ts';
import { layernormBackward, layernormForward, type LayernormCache } from '../kernels/layernorm.ts';
import { maxPoolBackward, maxPoolForward } from '../kernels/max-pool.ts';
import { reluBackward, reluForward } from '../kernels/relu.ts';
import { spatialBatchnormBackward, spatialBatchnormForward } from '../kernels/spatial-batchnorm.ts';
import type { Tensor } from '../kernels/types.ts';
import type { AvgPoolParams } from '../kernels/geometry.ts';
import type { LayerDefinition, LayerResult, LayerTask } from '../layers/types.ts';

/**
 * A layer inside a network runs forward, keeps what its backward needs, and later runs backward
 * alone: cs231n's `forward -> (out, cache)`, `backward(dout, cache)`. A layer definition's `compute`
 * with `dout` does both passes at once, which in a chain would run every forward twice (the backward
 * of layer i needs the dout that only the layers after it produce). So the layers whose kernel modules
 * export a backward-only kernel have a stage here that calls the same kernels as their `compute`;
 * test/networks/stages.test.ts holds each to its definition's `compute`, bit for bit. Any other layer
 * (a new one) runs through `genericStage`: its `compute` for the forward, its `compute` with
 * `dout` for the backward, so it still works, at the cost of a second forward.
 */
export interface Stage {
  forward(def: LayerDefinition, task: LayerTask): { result: LayerResult; cache: unknown };
  /** gradients by input name (x, w, b, gamma, beta) */
  backward(def: LayerDefinition, task: LayerTask, cache: unknown, dout: Tensor): Record<string, Tensor>;
}

export const genericStage: Stage = {
  forward: (def, task) => ({ result: def.compute({ ...task, dout: undefined }), cache: undefined }),
  backward: (def, task, _cache, dout) => def.compute({ ...task, dout }).grads ?? {},
};

/** A stage whose forward keeps nothing but the task (the backward kernels read x and the params again). */
const stateless = (
  forward: (task: LayerTask) => Tensor,
  backward: (task: LayerTask, dout: Tensor) => Record<string, Tensor>,
): Stage => ({
  forward: (_def, task) => ({ result: { out: forward(task) }, cache: undefined }),
  backward: (_def, task, _cache, dout) => backward(task, dout),
});

const vector = (data: Tensor['data']): Tensor => ({ shape: [data.length], data });

type BnParams = Omit<BatchnormOptions, 'mode' | 'runningMean' | 'runningVar'>;

/** The batchnorm family: forward returns the kernel's cache, backward uses it (no second pass over the statistics). */
function batchnormStage(forward: typeof batchnormForward, backward: (dout: Tensor, cache: BatchnormCache) => ReturnType<typeof batchnormBackward>): Stage {
  return {
    forward(_def, { inputs: { x, gamma, beta }, params, mode, state }) {
      const options: BatchnormOptions = { mode, ...(params as BnParams), runningMean: state.runningMean?.data, runningVar: state.runningVar?.data };
      const f = forward(x, gamma.data, beta.data, options);
      const result: LayerResult = { out: f.out };
      if (mode === 'train') result.state = { runningMean: vector(f.runningMean!), runningVar: vector(f.runningVar!) };
      return { result, cache: f.cache };
    },
    backward(_def, _task, cache, dout) {
      const g = backward(dout, cache as BatchnormCache);
      return { x: g.dx, gamma: vector(g.dgamma), beta: vector(g.dbeta) };
    },
  };
}

/** Normalizations without running statistics (layernorm, groupnorm): the same, minus state. */
function normStage<C>(
  forward: (x: Tensor, gamma: Tensor['data'], beta: Tensor['data'], params: never) => { out: Tensor; cache: C },
  backward: (dout: Tensor, cache: C) => { dx: Tensor; dgamma: Tensor['data']; dbeta: Tensor['data'] },
): Stage {
  return {
    forward(_def, { inputs: { x, gamma, beta }, params }) {
      const f = forward(x, gamma.data, beta.data, params as never);
      return { result: { out: f.out }, cache: f.cache };
    },
    backward(_def, _task, cache, dout) {
      const g = backward(dout, cache as C);
      return { x: g.dx, gamma: vector(g.dgamma), beta: vector(g.dbeta) };
    },
  };
}

/** Dropout: the forward is the layer's own (it draws the mask); the backward multiplies by that mask. */
const dropoutStage: Stage = {
  forward(def, task) {
    const result = def.compute({ ...task, dout: undefined });
    return { result: { out: result.out }, cache: result.outputs?.mask };
  },
  backward(_def, { inputs: { x } }, cache, dout) {
    const mask = cache as Tensor | undefined;
    // test mode: out = x, so dx = dout (a copy: the caller may recycle dout)
    return { x: { shape: x.shape, data: mask ? dropoutBackward(dout.data, mask.data) : dout.data.slice() } };
  },
};

export const STAGES: Readonly<Record<string, Stage>> = {
  affine: stateless(
    ({ inputs: { x, w, b } }) => ({ shape: [x.shape[0], w.shape[1]], data: affineForward(x.data, w.data, b.data, x.shape[0], w.shape[0], w.shape[1]) }),
    ({ inputs: { x, w, b } }, dout) => {
      const g = affineBackward(x.data, w.data, dout.data, x.shape[0], w.shape[0], w.shape[1]);
      return { x: { shape: x.shape, data: g.dx }, w: { shape: w.shape, data: g.dw }, b: { shape: b.shape, data: g.db } };
    },
  ),
  relu: stateless(
    ({ inputs: { x } }) => ({ shape: x.shape, data: reluForward(x.data) }),
    ({ inputs: { x } }, dout) => ({ x: { shape: x.shape, data: reluBackward(x.data, dout.data) } }),
  ),
  conv: stateless(
    ({ inputs: { x, w, b }, params }) => convForward(x, w, b, params as ConvParams),
    ({ inputs: { x, w }, params }, dout) => {
      const g = convBackward(x, w, dout, params as ConvParams);
      return { x: g.dx, w: g.dw, b: g.db };
    },
  ),
  'max-pool': stateless(
    ({ inputs: { x }, params }) => maxPoolForward(x, params as PoolParams),
    ({ inputs: { x }, params }, dout) => ({ x: maxPoolBackward(x, dout, params as PoolParams) }),
  ),
  'avg-pool': stateless(
    ({ inputs: { x }, params }) => avgPoolForward(x, params as AvgPoolParams),
    ({ inputs: { x }, params }, dout) => ({ x: avgPoolBackward(x, dout, params as AvgPoolParams) }),
  ),
  batchnorm: batchnormStage(batchnormForward, batchnormBackward),
  'spatial-batchnorm': batchnormStage(spatialBatchnormForward, spatialBatchnormBackward),
  layernorm: normStage<LayernormCache>(layernormForward, layernormBackward),
  'spatial-groupnorm': normStage<GroupnormCache>(groupnormForward, groupnormBackward),
  dropout: dropoutStage,
};

export function stageOf(kind: string): Stage {
  return STAGES[kind] ?? genericStage;
}
