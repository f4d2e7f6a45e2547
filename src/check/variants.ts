import type { Tensor } from '../kernels/types.ts';
import type { LayerDefinition, LayerResult, LayerTask } from '../layers/types.ts';
import type { Variant } from './hints.ts';
import { NORMALIZATION_LAYERS, type NormVariant } from './normalization.ts';
import { checkProbe, type ProbeParams } from './probe.ts';

/** Runs a task on the worker pool and resolves to its result. */
export type Runner = (def: LayerDefinition, task: LayerTask) => Promise<LayerResult>;

/** The probe as the main thread dispatches it: only its name matters here; the workers run it. */
export const PROBE = checkProbe(() => undefined);

/**
 * The mistaken references that need a kernel run, for the keys that failed: each one run on the
 * workers, all at once. See hints.ts for how a claim is matched against them.
 */
export async function variantsFor(def: LayerDefinition, task: LayerTask, reference: LayerResult, failed: ReadonlySet<string>, run: Runner): Promise<Variant[]> {
  const jobs: Promise<Variant[]>[] = [];
  const any = (...keys: string[]) => keys.some((k) => failed.has(k));
  if (def.name === 'conv' && any('out', 'grads.x', 'grads.w')) jobs.push(flippedKernel(def, task, reference, run));
  if (def.stateful && task.mode === 'train' && any('state.runningMean', 'state.runningVar')) jobs.push(...runningStats(def, task, run));
  if ((NORMALIZATION_LAYERS as readonly string[]).includes(def.name) && any('out', 'grads.x', 'grads.gamma')) {
    jobs.push(normalization(def, task, 'eps-outside', run));
    const M = valuesPerGroup(def, task);
    if (batchStatistics(def, task) && M >= 2) jobs.push(normalization(def, task, 'unbiased', run));
  }
  return (await Promise.all(jobs)).flat();
}

const vectorOf = (r: LayerResult | undefined, group: 'grads' | 'state', key: string) => (r?.[group] as Record<string, Tensor> | undefined)?.[key]?.data;

/** w (F, C/groups, HH, WW) rotated by 180° in each HH × WW block. */
function rotate(w: Tensor): Tensor {
  const [, , HH, WW] = w.shape;
  const k = HH * WW;
  const data = new Float64Array(w.data.length);
  for (let b = 0; b < w.data.length; b += k) for (let i = 0; i < k; i++) data[b + i] = w.data[b + k - 1 - i];
  return { shape: w.shape, data };
}

async function flippedKernel(def: LayerDefinition, task: LayerTask, reference: LayerResult, run: Runner): Promise<Variant[]> {
  const w = rotate(task.inputs.w);
  // A kernel equal to its rotation makes the flip invisible: nothing to tell apart.
  if (w.data.every((v, i) => v === task.inputs.w.data[i])) return [];
  const r = await run(def, { ...task, inputs: { ...task.inputs, w } });
  const out: Variant[] = [
    { key: 'out', data: r.out!.data, hint: 'out matches a convolution with the kernel flipped (rotated 180°): this layer computes a cross-correlation, like cs231n and PyTorch; use w as it is' },
  ];
  const dx = vectorOf(r, 'grads', 'x');
  if (dx) {
    out.push({
      key: 'grads.x',
      data: dx,
      hint: 'grads.x matches the gradient for a flipped kernel: add w[f] · dout[n, f, i, j] back over the window that made out[n, f, i, j], with w as it is (as a full convolution of dout: with w rotated 180°)',
    });
  }
  const dw = reference.grads?.w;
  if (dw) {
    out.push({
      key: 'grads.w',
      data: rotate(dw).data,
      hint: 'grads.w is the reference rotated 180° (flipped along HH and WW): dw[f] sums each x window times dout[n, f, i, j], without a flip',
    });
  }
  return out;
}

type BnParams = { eps: number; momentum: number; runningVarEstimator: 'biased' | 'unbiased' };

function runningStats(def: LayerDefinition, task: LayerTask, run: Runner): Promise<Variant[]>[] {
  const p = task.params as BnParams;
  const other = p.runningVarEstimator === 'biased' ? 'unbiased' : 'biased';
  const reversed = 1 - p.momentum;
  const shown = Number(reversed.toPrecision(12)); // 1 − 0.8 prints as 0.2, not 0.19999999999999996
  const canReverse = reversed !== p.momentum;
  const canSwap = valuesPerGroup(def, task) >= 2;
  const momentumHint = (key: string) =>
    `${key} matches momentum ${shown} where the request has ${p.momentum}: cs231n updates running = momentum · running + (1 − momentum) · batch; ` +
    `yours weighs them the other way round (PyTorch's momentum is 1 − this one)`;
  const estimatorHint =
    other === 'unbiased'
      ? 'state.runningVar matches an update with the unbiased batch variance (divided by M − 1): runningVarEstimator is "biased", so the update uses the biased one (divided by M, np.var\'s default); send "runningVarEstimator": "unbiased" for PyTorch\'s update'
      : 'state.runningVar matches an update with the biased batch variance (divided by M): runningVarEstimator "unbiased" updates with the variance divided by M − 1 (np.var(x, ddof=1))';
  const variant = async (params: Partial<BnParams>, keys: string[], hint: (key: string) => string): Promise<Variant[]> => {
    const r = await run(def, { ...task, params: { ...p, ...params }, dout: undefined });
    return keys.map((key) => ({ key, data: vectorOf(r, 'state', key.slice('state.'.length))!, hint: hint(key) }));
  };
  const jobs: Promise<Variant[]>[] = [];
  if (canReverse) jobs.push(variant({ momentum: reversed }, ['state.runningMean', 'state.runningVar'], momentumHint));
  if (canSwap) jobs.push(variant({ runningVarEstimator: other }, ['state.runningVar'], () => estimatorHint));
  if (canReverse && canSwap) {
    jobs.push(variant({ momentum: reversed, runningVarEstimator: other }, ['state.runningVar'], (key) => `${momentumHint(key)}. Also, ${estimatorHint}`));
  }
  return jobs;
}

/** Whether the normalization uses batch statistics (everything but the batchnorms in test mode). */
const batchStatistics = (def: LayerDefinition, task: LayerTask) => !def.stateful || task.mode === 'train';

/** M: the values one mean and variance are taken over. */
function valuesPerGroup(def: LayerDefinition, task: LayerTask): number {
  const x = task.inputs.x.shape;
  switch (def.name) {
    case 'batchnorm':
      return x[0];
    case 'spatial-batchnorm':
      return x[0] * x[2] * x[3];
    case 'layernorm':
      return x[x.length - 1];
    default:
      return (x[1] / (task.params as { groups: number }).groups) * x[2] * x[3];
  }
}

async function normalization(def: LayerDefinition, task: LayerTask, variant: NormVariant, run: Runner): Promise<Variant[]> {
  const params = task.params as { eps: number; groups?: number };
  const probe: ProbeParams = { op: 'normalize', layer: def.name, params: { eps: params.eps, groups: params.groups }, variant };
  const r = await run(PROBE, { ...task, layer: PROBE.name, params: probe });
  const M = valuesPerGroup(def, task);
  const stats = batchStatistics(def, task) ? 'var' : 'runningVar';
  const mean = batchStatistics(def, task) ? 'mean' : 'runningMean';
  const hint = (key: string) =>
    variant === 'eps-outside'
      ? `${key} matches eps outside the square root, (x − ${mean}) / (sqrt(${stats}) + eps): eps belongs inside, (x − ${mean}) / sqrt(${stats} + eps)`
      : `${key} matches normalization with the unbiased variance (squares summed and divided by M − 1 = ${M - 1}): normalize with the biased one, divided by M = ${M} ` +
        `(np.var's default; torch.var needs unbiased=False)`;
  const out: Variant[] = [{ key: 'out', data: r.out!.data, hint: hint('out') }];
  for (const [name, t] of Object.entries(r.grads ?? {})) {
    const key = name === 'x.short' ? 'grads.x' : `grads.${name}`;
    if (key !== 'grads.beta') out.push({ key, data: t.data, hint: hint(key) });
  }
  return out;
}
