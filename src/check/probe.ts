import { z } from 'zod';
import type { FloatArray } from '../kernels/types.ts';
import { findLayer } from '../layers/registry.ts';
import type { LayerDefinition, LayerResult, LayerTask } from '../layers/types.ts';
import { normalizationMistake, type NormMistake } from './normalization.ts';

/**
 * The check routes' work on the worker threads, as one internal task type the workers can run but
 * no route exposes: many perturbed forwards of a layer for the gradcheck, and the normalization
 * mistakes that hints compare against. The task's inputs, labels, state and dout are the checked
 * layer's own (float64); `params` says what to do. The check feature registers it with the workers
 * itself (CHECK_TASKS, in src/tasks.ts): the layer registry knows nothing of it.
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
  | { op: 'normalize'; layer: string; params: unknown; mistake: NormMistake };

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

function normalize(task: LayerTask, inner: LayerDefinition, p: Extract<ProbeParams, { op: 'normalize' }>): LayerResult {
  const norm = inner.normalization;
  if (!norm) throw new Error(`check-probe: ${inner.name} is not a normalization layer`);
  const { x, gamma, beta } = task.inputs;
  return normalizationMistake(
    {
      grouping: norm.grouping(x.shape, p.params),
      batchStats: norm.batchStatistics(task.mode),
      eps: norm.eps(p.params),
      x,
      gamma,
      beta,
      runningMean: task.state.runningMean,
      runningVar: task.state.runningVar,
      dout: task.dout,
    },
    p.mistake,
  );
}

/** The probe as a layer definition, so the pool dispatches it like any other task. */
export const PROBE: LayerDefinition<ProbeParams> = {
  name: PROBE_LAYER,
  summary: "internal: the check routes' perturbed forwards and normalization mistakes",
  description: 'not a route',
  inputs: [],
  params: z.custom<ProbeParams>(),
  example: {},
  outShape: () => [],
  compute(task) {
    const p = task.params;
    const inner = findLayer(p.layer);
    if (!inner) throw new Error(`check-probe: no layer ${p.layer}`);
    return p.op === 'normalize' ? normalize(task, inner, p) : perturb(task, inner, p);
  },
};

/** The worker tasks of the check feature, for the worker's task table (src/tasks.ts). */
export const CHECK_TASKS = [PROBE];
