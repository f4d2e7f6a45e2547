/**
 * Replays every case of test/vectors/{conv,max-pool,avg-pool}.json (PyTorch 1.13, float64 autograd)
 * directly against the fast and the reference kernels, with each case's own tolerance.
 */
import { describe, test } from 'vitest';
import { convBackward, convForward } from '../../src/kernels/conv.ts';
import { convBackwardReference, convForwardReference } from '../../src/kernels/reference/conv.ts';
import { maxPoolBackward, maxPoolForward } from '../../src/kernels/max-pool.ts';
import { avgPoolBackward, avgPoolForward } from '../../src/kernels/avg-pool.ts';
import {
  avgPoolBackwardReference,
  avgPoolForwardReference,
  maxPoolBackwardReference,
  maxPoolForwardReference,
} from '../../src/kernels/reference/pool.ts';
import type { AvgPoolParams, ConvParams, PoolParams } from '../../src/kernels/geometry.ts';
import type { Tensor } from '../../src/kernels/types.ts';
import { expectClose, loadVectors, tensor, type VectorCase } from './conv-pool-helpers.ts';

type ConvImpl = {
  forward: (x: Tensor, w: Tensor, b: Tensor, p: ConvParams) => Tensor;
  backward: (x: Tensor, w: Tensor, dout: Tensor, p: ConvParams) => { dx: Tensor; dw: Tensor; db: Tensor };
};
type PoolImpl = {
  forward: (x: Tensor, p: AvgPoolParams) => Tensor;
  backward: (x: Tensor, dout: Tensor, p: AvgPoolParams) => Tensor;
};

const convImpls: Record<string, ConvImpl> = {
  fast: { forward: convForward, backward: convBackward },
  reference: { forward: convForwardReference, backward: convBackwardReference },
};

const poolImpls: Record<'max-pool' | 'avg-pool', Record<string, PoolImpl>> = {
  'max-pool': {
    fast: { forward: maxPoolForward, backward: maxPoolBackward },
    reference: { forward: maxPoolForwardReference, backward: maxPoolBackwardReference },
  },
  'avg-pool': {
    fast: { forward: avgPoolForward, backward: avgPoolBackward },
    reference: { forward: avgPoolForwardReference, backward: avgPoolBackwardReference },
  },
};

function name(c: VectorCase): string {
  return `${c.name} (${c.request.dtype ?? 'float64'})`;
}

describe('conv vectors', () => {
  const cases = loadVectors('conv');
  for (const [impl, k] of Object.entries(convImpls)) {
    test.each(cases.map((c) => [name(c), c] as const))(`${impl}: %s`, (_, c) => {
      const dtype = c.request.dtype ?? 'float64';
      const { x, w, b } = c.request.inputs;
      const params = (c.request.params ?? {}) as ConvParams;
      const xt = tensor(x, dtype), wt = tensor(w, dtype), bt = tensor(b, dtype);
      expectClose('out', k.forward(xt, wt, bt, params), c.expect.out, c.tol);
      if (!c.request.dout || !c.expect.grads) throw new Error('every conv vector has dout and grads');
      const g = k.backward(xt, wt, tensor(c.request.dout, dtype), params);
      expectClose('grads.x', g.dx, c.expect.grads.x, c.tol);
      expectClose('grads.w', g.dw, c.expect.grads.w, c.tol);
      expectClose('grads.b', g.db, c.expect.grads.b, c.tol);
    });
  }
});

for (const layer of ['max-pool', 'avg-pool'] as const) {
  describe(`${layer} vectors`, () => {
    const cases = loadVectors(layer);
    for (const [impl, k] of Object.entries(poolImpls[layer])) {
      test.each(cases.map((c) => [name(c), c] as const))(`${impl}: %s`, (_, c) => {
        const dtype = c.request.dtype ?? 'float64';
        const params = c.request.params as unknown as PoolParams;
        const xt = tensor(c.request.inputs.x, dtype);
        expectClose('out', k.forward(xt, params), c.expect.out, c.tol);
        if (!c.request.dout || !c.expect.grads) throw new Error(`every ${layer} vector has dout and grads`);
        expectClose('grads.x', k.backward(xt, tensor(c.request.dout, dtype), params), c.expect.grads.x, c.tol);
      });
    }
  });
}
