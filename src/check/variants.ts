import type { Tensor } from '../kernels/types.ts';
import type { LayerDefinition, LayerResult, LayerTask, Mistake } from '../layers/types.ts';
import type { Variant } from './hints.ts';
import type { NormMistake } from './normalization.ts';
import { PROBE, type ProbeParams } from './probe.ts';

/** Runs a task on the worker pool and resolves to its result. */
export type Runner = (def: LayerDefinition, task: LayerTask) => Promise<LayerResult>;

/**
 * The mistaken references that need a kernel run, for the keys that failed: the layer's own mistakes
 * (its definition's check.mistakes) and, for a normalization layer, eps outside the root and the
 * unbiased variance. Each run on the workers, all at once. See hints.ts for how a claim is matched.
 */
export async function variantsFor(def: LayerDefinition, task: LayerTask, reference: LayerResult, failed: ReadonlySet<string>, run: Runner): Promise<Variant[]> {
  const wanted = (m: { keys: readonly string[] }) => m.keys.some((k) => failed.has(k));
  const jobs: Promise<Variant[]>[] = (def.check?.mistakes?.(task, reference) ?? []).filter(wanted).map((m) => mistaken(def, m, run));
  if (def.normalization && wanted({ keys: ['out', 'grads.x', 'grads.gamma'] })) {
    jobs.push(normalization(def, task, 'eps-outside', run));
    const M = task.inputs.x.data.length / def.normalization.grouping(task.inputs.x.shape, task.params).groups;
    if (def.normalization.batchStatistics(task.mode) && M >= 2) jobs.push(normalization(def, task, 'unbiased', run));
  }
  return (await Promise.all(jobs)).flat();
}

/** A value of an answer by its key: out, loss, grads.<name>, state.<name>. */
function valueAt(r: LayerResult, key: string): ArrayLike<number> | undefined {
  if (key === 'out') return r.out?.data;
  if (key === 'loss') return r.loss === undefined ? undefined : [r.loss];
  const [group, name] = key.split('.') as ['grads' | 'state', string];
  return (r[group] as Record<string, Tensor> | undefined)?.[name]?.data;
}

async function mistaken(def: LayerDefinition, m: Mistake, run: Runner): Promise<Variant[]> {
  const out: Variant[] = [];
  for (const [key, data] of Object.entries(m.values ?? {})) out.push({ key, data, hint: m.hint(key) });
  if (m.task) {
    const r = await run(def, m.task);
    for (const key of m.keys) {
      const data = valueAt(r, key);
      if (data) out.push({ key, data, hint: m.hint(key) });
    }
  }
  return out;
}

async function normalization(def: LayerDefinition, task: LayerTask, mistake: NormMistake, run: Runner): Promise<Variant[]> {
  const probe: ProbeParams = { op: 'normalize', layer: def.name, params: task.params, mistake };
  const r = await run(PROBE, { ...task, layer: PROBE.name, params: probe });
  const norm = def.normalization!;
  const M = task.inputs.x.data.length / norm.grouping(task.inputs.x.shape, task.params).groups;
  const batch = norm.batchStatistics(task.mode);
  const stats = batch ? 'var' : 'runningVar';
  const mean = batch ? 'mean' : 'runningMean';
  const hint = (key: string) =>
    mistake === 'eps-outside'
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
