import { z } from 'zod';
import type { FloatArray } from '../kernels/types.ts';
import type { LayerDefinition, LayerResult, LayerTask } from '../layers/types.ts';
import { normalizationVariant, type NormVariant } from './normalization.ts';

/**
 * The check routes' work on the worker threads, as one internal task type the workers can run but
 * no route exposes: many perturbed forwards of a layer for the gradcheck, and the normalization
 * variants that hints compare against. The task's inputs, labels, state and dout are the checked
 * layer's own (float64); `params` says what to do.
 */
export const PROBE_LAYER = 'check-probe';

export interface Coordinate {
  input: string;
  index: number;
}

export type ProbeParams =
  | {
      op: 'perturb';
      layer: string;
      params: unknown;
      step: number;
      /** 'loss' for the loss layers; otherwise sum(out · dout) */
      objective: 'loss' | 'dot';
      coords: Coordinate[];
    }
  | { op: 'normalize'; layer: string; params: { eps: number; groups?: number }; variant: NormVariant };

/**
 * Centered differences of the objective f at each coordinate, and the one-sided slopes beside them:
 * out is (K, 3) with rows [(f₊ − f₋) / 2h, (f₊ − f₀) / h, (f₀ − f₋) / h]. For sum(out · dout) the
 * differences are taken element by element before summing, so an output the perturbation does not
 * touch adds no rounding error, however large the tensor.
 */
function perturb(task: LayerTask, inner: LayerDefinition, p: Extract<ProbeParams, { op: 'perturb' }>): LayerResult {
  const forward: LayerTask = { ...task, layer: inner.name, params: p.params, dout: undefined };
  const dout = task.dout?.data;
  const value = (r: LayerResult): FloatArray | number => (p.objective === 'loss' ? r.loss! : r.out!.data);
  const diff = (a: FloatArray | number, b: FloatArray | number, h: number): number => {
    if (typeof a === 'number') return (a - (b as number)) / h;
    const bb = b as FloatArray;
    let s = 0;
    for (let i = 0; i < a.length; i++) {
      const d = a[i] - bb[i];
      if (d !== 0) s += d * dout![i];
    }
    return s / h;
  };
  const f0 = value(inner.compute(forward));
  const h = p.step;
  const data = new Float64Array(p.coords.length * 3);
  p.coords.forEach(({ input, index }, k) => {
    const x = task.inputs[input].data;
    const old = x[index];
    x[index] = old + h;
    const plus = value(inner.compute(forward));
    x[index] = old - h;
    const minus = value(inner.compute(forward));
    x[index] = old;
    data[3 * k] = diff(plus, minus, 2 * h);
    data[3 * k + 1] = diff(plus, f0, h);
    data[3 * k + 2] = diff(f0, minus, h);
  });
  return { out: { shape: [p.coords.length, 3], data } };
}

function normalize(task: LayerTask, p: Extract<ProbeParams, { op: 'normalize' }>): LayerResult {
  const { x, gamma, beta } = task.inputs;
  return normalizationVariant(
    {
      layer: p.layer,
      mode: task.mode,
      eps: p.params.eps,
      groups: p.params.groups ?? 1,
      x,
      gamma,
      beta,
      runningMean: task.state.runningMean,
      runningVar: task.state.runningVar,
      dout: task.dout,
    },
    p.variant,
  );
}

/**
 * The probe as a layer definition, so the worker runs it like any other. `find` looks up the
 * checked layer on the worker (given by the registry, which this module must not import).
 */
export function checkProbe(find: (name: string) => LayerDefinition | undefined): LayerDefinition<ProbeParams> {
  return {
    name: PROBE_LAYER,
    summary: 'internal: the check routes\' perturbed forwards and normalization variants',
    description: 'not a route',
    inputs: [],
    params: z.custom<ProbeParams>(),
    example: {},
    outShape: () => [],
    compute(task) {
      const p = task.params;
      if (p.op === 'normalize') return normalize(task, p);
      const inner = find(p.layer);
      if (!inner) throw new Error(`check-probe: no layer ${p.layer}`);
      return perturb(task, inner, p);
    },
  };
}
