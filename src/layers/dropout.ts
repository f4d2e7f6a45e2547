import { z } from 'zod';
import { dropoutBackward, dropoutForward, dropoutMask } from '../kernels/dropout.ts';
import type { FloatArray, Tensor } from '../kernels/types.ts';
import { ProblemError } from '../errors/problems.ts';
import { paramsObject } from './params.ts';
import { expectShape } from './shape-rules.ts';
import { defineLayer, type LayerResult, type LayerTask } from './types.ts';
import { concatParts, partOf } from './batch-split.ts';

/** Below this many elements a request runs whole: splitting would cost more than it saves. */
export const DROPOUT_SPLIT_MIN_ELEMENTS = 1 << 21;

type DropoutParams = { p: number; seed: number };
/** A part of a split request: the flat index its elements start at, so that it draws the same mask. */
type PartParams = DropoutParams & { offset?: number };

const GENERATOR =
  'The seeded mask is the service\'s own counter-based generator: element i (flat, row-major) is kept when ' +
  'u(seed, i) = H(H(i XOR K1) XOR K2) / 2^32 < p, with K1 = H(seed XOR 0x9e3779b9), K2 = H(seed XOR 0x7f4a7c15) and H ' +
  "MurmurHash3's 32-bit finalizer (fmix32), so the same seed and shape give the same mask whatever the dtype, encoding or number of workers.";

/** A flat slice of a tensor, as a 1-D tensor (a view when it is shared memory: see batch-split.ts). */
const slice = (t: Tensor, from: number, to: number): Tensor => ({ shape: [to - from], data: partOf(t.data, from, to) });

export const dropout = defineLayer({
  name: 'dropout',
  summary: 'Inverted dropout: train out = x · mask (mask 0 or 1/p), test out = x',
  description:
    'p is the probability of KEEPING a unit (cs231n; PyTorch\'s p drops one). train: out = x · mask, the mask drawn from `seed` ' +
    'unless inputs.mask is sent (then every value must be 0 or 1/p, rounded to the dtype); the answer adds the mask. ' +
    `test: out = x, no mask. Gradient: x (dout · mask in train mode, dout in test mode); the mask gets none. ${GENERATOR}`,
  inputs: [
    { name: 'x', kind: 'float', rank: 'any', layout: '(any shape)' },
    { name: 'mask', kind: 'float', rank: 'any', layout: 'shaped like x, each value 0 or 1/p (train mode only; default: drawn from seed)', optional: true, gradient: false },
  ],
  params: paramsObject({
    p: z.number().gt(0).max(1).default(0.5).meta({ description: 'probability of keeping a unit, in (0, 1]' }),
    seed: z.int().min(0).max(2 ** 32 - 1).default(0).meta({ description: 'seed of the mask, an integer in [0, 2^32); unused when inputs.mask is sent' }),
  }),
  modes: { train: 'out = x · mask, mask drawn from seed or sent, returned as mask', test: 'out = x (no mask)' },
  outputs: [{ name: 'mask', layout: 'shaped like x: 0 or 1/p', modes: ['train'] }],
  example: { mode: 'train', inputs: { x: [[1, -2, 3], [4, 5, -6]] }, params: { p: 0.5, seed: 7 }, dout: [[1, 1, 1], [1, 1, 1]] },
  outShape({ shapes: { x, mask }, mode }) {
    if (mask && mode === 'test') {
      throw ProblemError.at('invalidRequest', 'inputs.mask', 'mode "test" keeps every unit (out = x): send a mask in mode "train" only');
    }
    if (mask) expectShape('inputs.mask', mask, x, 'it multiplies x elementwise, so');
    return x;
  },
  validate({ inputs: { mask }, params: { p } }) {
    if (!mask) return;
    // 1/p rounded to the request's dtype: a float32 mask holds Math.fround(1/p).
    const scale = mask.data instanceof Float32Array ? Math.fround(1 / p) : 1 / p;
    for (let i = 0; i < mask.data.length; i++) {
      const v = mask.data[i];
      if (v !== 0 && v !== scale) {
        throw ProblemError.at('invalidParam', `inputs.mask[${i}]`, `is ${v}; a dropout mask holds 0 (dropped) or 1/p = ${scale} (kept) for p = ${p}`);
      }
    }
  },
  compute(task: LayerTask<PartParams>): LayerResult {
    const { inputs: { x, mask }, params, mode, dout } = task;
    if (mode === 'test') {
      // Copies: a caller may perturb x after the call (the gradient check does).
      return { out: { shape: x.shape, data: x.data.slice() }, ...(dout ? { grads: { x: { shape: x.shape, data: dout.data.slice() } } } : {}) };
    }
    const m: FloatArray = mask?.data ?? dropoutMask(x.data, x.data.length, params.p, params.seed, params.offset ?? 0);
    const result: LayerResult = { out: { shape: x.shape, data: dropoutForward(x.data, m) }, outputs: { mask: { shape: x.shape, data: m } } };
    if (dout) result.grads = { x: { shape: x.shape, data: dropoutBackward(dout.data, m) } };
    return result;
  },
  // Elementwise: flat ranges of x (and mask, dout), each part drawing its own elements' mask.
  split(task, workers) {
    const n = task.inputs.x.data.length;
    if (workers < 2 || n < DROPOUT_SPLIT_MIN_ELEMENTS || task.mode === 'test') return undefined;
    return Array.from({ length: workers }, (_, k) => {
      const from = Math.floor((k * n) / workers);
      const to = Math.floor(((k + 1) * n) / workers);
      const inputs = Object.fromEntries(Object.entries(task.inputs).map(([name, t]) => [name, slice(t, from, to)]));
      return { ...task, inputs, dout: task.dout && slice(task.dout, from, to), params: { ...task.params, offset: from } as PartParams };
    });
  },
  merge(results, task) {
    const shape = task.inputs.x.shape;
    const merged: LayerResult = { out: concatParts(results.map((r) => r.out!), shape), outputs: { mask: concatParts(results.map((r) => r.outputs!.mask), shape) } };
    if (results[0].grads) merged.grads = { x: concatParts(results.map((r) => r.grads!.x), shape) };
    return merged;
  },
  check: {
    // seed 7 keeps x[0][1], x[0][2], x[1][1], x[1][2]
    example: { claimed: { out: [[0, -2, 3], [0, 5, -6]], grads: { x: [[0, 2, 2], [0, 2, 2]] } }, shows: 'out without the 1/p scaling (the reference times p): hint' },
    factors(task) {
      const { p } = task.params;
      const train = task.mode === 'train';
      return [
        {
          value: 1 / p,
          label: '1/p (the kept units\' scale)',
          over: () =>
            train
              ? 'the kept units are missing their 1/p: inverted dropout multiplies them by 1/p in train mode (mask = (u < p) / p), so that test mode needs no scaling'
              : 'this is the test-mode output scaled by p, as non-inverted dropout does; inverted dropout scales by 1/p in train mode instead, and test mode is the identity (out = x)',
        },
      ];
    },
  },
});
