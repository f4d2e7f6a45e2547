import type { Tensor } from '../kernels/types.ts';
import type { LayerDefinition, LayerResult, LayerTask } from '../layers/types.ts';
import { recycle } from '../kernels/buffers.ts';
import type { FloatArray } from '../kernels/types.ts';
import { findRule } from '../optimizers/registry.ts';
import type { RuleState } from '../optimizers/types.ts';
import { key, type NetworkPlan, type PlannedLayer } from './plan.ts';
import { stageOf } from './stages.ts';

/**
 * One network step on one worker thread: every layer forward in order (keeping each stage's cache),
 * the loss, then every layer backward in reverse, the L2 term, and the gradients of shared tensors
 * summed. Intermediates live only here. All 4xx decisions were made by prepare.ts: nothing here
 * refuses input.
 */
export const NETWORK_STEP = 'network-step';

type Find = (name: string) => LayerDefinition | undefined;

interface Forwarded {
  layer: PlannedLayer;
  def: LayerDefinition;
  task: LayerTask;
  cache: unknown;
}

/** The task that layer `l` of the network runs, with `x` as its input. */
function layerTask(parent: LayerTask<NetworkPlan>, l: PlannedLayer, x: Tensor): LayerTask {
  const inputs: Record<string, Tensor> = { x };
  for (const [input, name] of Object.entries(l.bind)) inputs[input] = parent.inputs[key.param(name)];
  const state: LayerTask['state'] = {};
  if (l.hasState) {
    for (const stat of l.stateKeys) state[stat] = parent.inputs[key.state(l.name!, stat)];
  }
  return { layer: l.kind, dtype: parent.dtype, mode: parent.mode, params: l.params, inputs, labels: l.loss ? parent.labels : {}, state };
}

/** Forward through every layer but a computed loss; returns the last output and what backward needs. */
export function forwardAll(task: LayerTask<NetworkPlan>, find: Find, keep: boolean): { out: Tensor; trail: Forwarded[]; state: Record<string, Tensor> } {
  const plan = task.params;
  let x = task.inputs[key.x];
  const trail: Forwarded[] = [];
  const state: Record<string, Tensor> = {};
  for (const l of plan.layers) {
    if (l.loss) break;
    const def = find(l.kind)!;
    const t = layerTask(task, l, x);
    const { result, cache } = stageOf(l.kind).forward(def, t);
    if (keep) trail.push({ layer: l, def, task: t, cache });
    if (result.state && l.stateful) {
      for (const [stat, v] of Object.entries(result.state)) state[key.state(l.name!, stat)] = v as Tensor;
    }
    x = result.out!;
  }
  return { out: x, trail, state };
}

/** The data loss of the last layer on `scores`, and its gradient. */
function lossOf(task: LayerTask<NetworkPlan>, find: Find, scores: Tensor): { loss: number; dout: Tensor } {
  const l = task.params.layers.at(-1)!;
  const r = find(l.kind)!.compute(layerTask(task, l, scores));
  return { loss: r.loss!, dout: r.grads!.x };
}

/** 0.5 · reg · Σ‖w‖² over the regularized tensors, in double. */
export function regLoss(task: LayerTask<NetworkPlan>): number {
  const { reg, regularized } = task.params;
  if (reg === 0) return 0;
  let s = 0;
  for (const name of regularized) {
    const w = task.inputs[key.param(name)].data;
    for (let i = 0; i < w.length; i++) s += w[i] * w[i];
  }
  return 0.5 * reg * s;
}

/** The loss alone: what the gradient check perturbs. */
export function lossOnly(task: LayerTask<NetworkPlan>, find: Find): number {
  const { out } = forwardAll(task, find, false);
  return lossOf(task, find, out).loss + regLoss(task);
}

export function runStep(task: LayerTask<NetworkPlan>, find: Find): LayerResult {
  const plan = task.params;
  const { out, trail, state } = forwardAll(task, find, plan.loss);
  if (!plan.loss) return { out, grads: state };

  const { loss: dataLoss, dout: dscores } = lossOf(task, find, out);
  const sums = new Map<string, Tensor>();
  const owned = new Set<string>();
  // Activations and their gradients, spent once the backward pass is over: handed back to this
  // thread's buffer pool (src/kernels/buffers.ts), so the next step writes into warm pages. Arrays
  // that are not the pool's (decoded inputs, small ones) are ignored by recycle.
  const spent: FloatArray[] = [out.data, dscores.data];
  let dout = dscores;
  for (let i = trail.length - 1; i >= 0; i--) {
    const { layer, def, task: t, cache } = trail[i];
    const grads = stageOf(layer.kind).backward(def, t, cache, dout);
    for (const [input, name] of Object.entries(layer.bind)) accumulate(sums, owned, name, grads[input]);
    spent.push(grads.x.data);
    if (i > 0) {
      spent.push(t.inputs.x.data);
      dout = grads.x;
    }
  }
  const loss = dataLoss + regLoss(task);
  if (plan.reg !== 0) {
    for (const name of plan.regularized) {
      const w = task.inputs[key.param(name)].data;
      // In place: every gradient here is a fresh array of this step (a kernel's result, or a sum).
      const g = sums.get(name)!.data;
      for (let i = 0; i < w.length; i++) g[i] += plan.reg * w[i];
    }
  }
  const grads: Record<string, Tensor> = { ...state };
  for (const name of plan.tensors) grads[key.grad(name)] = sums.get(name)!;
  if (plan.update) applyUpdate(task, grads);
  // Never an array of the answer (a gradient, a state), even if a layer handed one through.
  const kept = new Set(Object.values(grads).map((t) => t.data.buffer));
  recycle(...new Set(spent.filter((a) => !kept.has(a.buffer))));
  return { loss, grads };
}

/**
 * One step of the update rule over every tensor with its gradient (the rule's own step function, as
 * /v1/optimizers runs it): the next tensors and rule state go into `out` under their keys.
 */
function applyUpdate(task: LayerTask<NetworkPlan>, out: Record<string, Tensor>): void {
  const update = task.params.update!;
  const rule = findRule(update.rule)!;
  for (const name of task.params.tensors) {
    const w = task.inputs[key.param(name)];
    const state: Partial<RuleState> = {};
    for (const k of rule.state) {
      if (k.kind === 'integer') {
        const v = update.integers[name]?.[k.name];
        if (v !== undefined) state[k.name] = v;
      } else {
        const t = task.inputs[key.rule(name, k.name)];
        if (t) state[k.name] = t.data;
      }
    }
    const next = rule.step(w.data, out[key.grad(name)].data, update.params, state);
    out[key.updated(name)] = { shape: w.shape, data: next.w };
    for (const k of rule.state) {
      const v = next.state[k.name];
      out[key.rule(name, k.name)] = typeof v === 'number' ? { shape: [1], data: Float64Array.of(v) } : { shape: w.shape, data: v as FloatArray };
    }
  }
}

/** A gradient this step may write into: a kernel's result is copied once before a second term is added. */
function own(sums: Map<string, Tensor>, owned: Set<string>, name: string): Tensor {
  const t = sums.get(name)!;
  if (owned.has(name)) return t;
  const copy = { shape: t.shape, data: t.data.slice() };
  sums.set(name, copy);
  owned.add(name);
  return copy;
}

function accumulate(sums: Map<string, Tensor>, owned: Set<string>, name: string, g: Tensor): void {
  if (!sums.has(name)) {
    sums.set(name, g);
    return;
  }
  const acc = own(sums, owned, name).data;
  const d = g.data;
  for (let i = 0; i < acc.length; i++) acc[i] += d[i];
}

/**
 * The gradient check's work: for each coordinate, the loss at w ± h and the centered difference,
 * with the one-sided slopes beside it (rows [(f₊ − f₋) / 2h, (f₊ − f₀) / h, (f₀ − f₋) / h], as the
 * layer gradcheck's probe). The tensors are the task's own float64 copies; each is restored after.
 */
export function runPerturb(task: LayerTask<NetworkPlan>, find: Find): LayerResult {
  const { step: h, coords } = task.params as Required<NetworkPlan>;
  const f0 = lossOnly(task, find);
  const data = new Float64Array(coords.length * 3);
  coords.forEach(({ tensor, index }, k) => {
    const w = task.inputs[key.param(tensor)].data;
    const old = w[index];
    w[index] = old + h;
    const plus = lossOnly(task, find);
    w[index] = old - h;
    const minus = lossOnly(task, find);
    w[index] = old;
    data[3 * k] = (plus - minus) / (2 * h);
    data[3 * k + 1] = (plus - f0) / h;
    data[3 * k + 2] = (f0 - minus) / h;
  });
  return { out: { shape: [coords.length, 3], data } };
}

/** A step or a gradient check's probe as a worker task (src/tasks.ts): `find` looks layers up on the worker. */
export function networkStep(find: Find): { name: string; compute(task: LayerTask): LayerResult } {
  return {
    name: NETWORK_STEP,
    compute(task) {
      const t = task as LayerTask<NetworkPlan>;
      return t.params.op === 'perturb' ? runPerturb(t, find) : runStep(t, find);
    },
  };
}
