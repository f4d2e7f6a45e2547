import type { LayerDefinition, LayerTask } from '../layers/types.ts';
import { returnLoans } from './slabs.ts';
import { ClientGoneError, type KernelPool, type PoolAnswer } from './pool.ts';

/** Every buffer a task holds: handed over (not copied) to the worker when the caller is done with them. */
function buffersOf(task: LayerTask): ArrayBuffer[] {
  const tensors = [...Object.values(task.inputs), ...Object.values(task.state), ...(task.dout ? [task.dout] : [])];
  const buffers = [...tensors.map((t) => t.data.buffer), ...Object.values(task.labels).map((l) => l.buffer)];
  // Shared memory cannot be transferred: it is simply seen by both threads.
  return buffers.filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}

export interface RunOptions {
  /** transfer the task's buffers to the worker (the caller no longer uses them) or copy them */
  transfer: boolean;
  cancel?: AbortController;
}

/**
 * Runs a layer task on the pool: whole, or split across the workers when the layer says it is
 * worth it. A split request's kernel time is the slowest part's; its queue time the shortest wait.
 */
export async function runLayer(pool: KernelPool, def: LayerDefinition, task: LayerTask, { transfer, cancel }: RunOptions): Promise<PoolAnswer> {
  const parts = def.split?.(task, pool.size);
  if (!parts || parts.length < 2 || !def.merge) return pool.run(task, transfer ? buffersOf(task) : [], cancel);
  const answers = await runParts(pool, parts, cancel ?? new AbortController());
  const results = answers.map((a) => a.result);
  const merged = def.merge(results, task);
  returnLoans(results);
  return {
    result: merged,
    queueMs: Math.min(...answers.map((a) => a.queueMs)),
    kernelMs: Math.max(...answers.map((a) => a.kernelMs)),
    parts: parts.length,
  };
}

/** Runs the parts of a split task at once, sharing one controller: one failure (a timeout) stops the rest. */
export async function runParts(pool: KernelPool, parts: LayerTask[], shared: AbortController): Promise<PoolAnswer[]> {
  // The parts' buffers are fresh slices (always theirs to hand over) or views of shared memory.
  const settled = await Promise.allSettled(parts.map((part) => pool.run(part, buffersOf(part), shared, true)));
  const failures = settled.filter((s) => s.status === 'rejected').map((s) => s.reason);
  if (failures.length) {
    returnLoans(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.result] : [])));
    // One part's timeout aborts the others; report the timeout, not their cancellation.
    shared.abort();
    throw failures.find((e) => !(e instanceof ClientGoneError)) ?? failures[0];
  }
  return settled.map((s) => (s as PromiseFulfilledResult<PoolAnswer>).value);
}
