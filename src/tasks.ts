import { findLayer } from './layers/registry.ts';
import type { LayerResult, LayerTask } from './layers/types.ts';
import { networkStep } from './networks/step.ts';
import { OPTIMIZER_TASKS } from './optimizers/compute.ts';

/** Something a worker thread can run by name: a layer, an update rule's step, a check probe. */
export interface WorkerTask {
  name: string;
  compute(task: LayerTask): LayerResult;
}

const others = new Map<string, WorkerTask>([...OPTIMIZER_TASKS, networkStep(findLayer)].map((t) => [t.name, t]));

/** The worker's lookup: layers first, then the tasks the other features register here. */
export function findTask(name: string): WorkerTask | undefined {
  return findLayer(name) ?? others.get(name);
}
