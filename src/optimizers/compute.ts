import type { LayerResult, LayerTask } from '../layers/types.ts';
import type { RuleDefinition, RuleState } from './types.ts';

/** One rule's step on a worker: the task's typed arrays in, the next w (as `out`) and state out. */
export function computeStep(rule: RuleDefinition, task: LayerTask): LayerResult {
  const { w, dw } = task.inputs;
  const state: Partial<RuleState> = {};
  for (const key of rule.state) {
    const t = task.state[key.name];
    if (t) state[key.name] = key.kind === 'integer' ? t.data[0] : t.data;
  }
  const next = rule.step(w.data, dw.data, task.params, state);
  const out: LayerResult = { out: { shape: w.shape, data: next.w }, state: {} };
  for (const key of rule.state) {
    const v = next.state[key.name];
    out.state![key.name] = typeof v === 'number' ? { shape: [1], data: Float64Array.of(v) } : { shape: w.shape, data: v };
  }
  return out;
}
