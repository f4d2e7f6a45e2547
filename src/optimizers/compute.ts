import type { FloatArray } from '../kernels/types.ts';
import type { StepTask } from './prepare.ts';
import type { RuleDefinition, RuleState } from './types.ts';

/** The next w and the next state (every key of the rule), shaped like w. */
export interface StepResult {
  shape: number[];
  w: FloatArray;
  state: RuleState;
}

/** One rule's step on a worker: the kernel, nothing else (prepareStep made every decision). */
export function computeStep(rule: RuleDefinition, task: StepTask): StepResult {
  const next = rule.step(task.w, task.dw, task.params, task.state);
  return { shape: task.shape, w: next.w, state: next.state };
}
