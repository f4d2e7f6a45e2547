import { CHECK_TASKS } from './check/probe.ts';
import { findLayer } from './layers/registry.ts';
import type { LayerResult, LayerTask } from './layers/types.ts';
import { networkStep } from './networks/step.ts';

/** Something a worker thread can run by name: a layer, or another feature's task (the check probe). */
export interface WorkerTask {
  name: string;
  compute(task: LayerTask): LayerResult;
}

/** The tasks of the features built on the layers; each feature lists its own. */
const others = new Map<string, WorkerTask>([...CHECK_TASKS, networkStep(findLayer)].map((t) => [t.name, t]));

/** The worker's lookup: the layers, then the tasks the other features register here. */
export function findTask(name: string): WorkerTask | undefined {
  return findLayer(name) ?? others.get(name);
}
