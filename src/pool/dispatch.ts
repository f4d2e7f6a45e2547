import type { LayerDefinition, LayerTask } from '../layers/types.ts';
import { ClientGoneError, type KernelPool, type PoolAnswer } from './pool.ts';

const buffersOf = (task: LayerTask): ArrayBuffer[] =>
  [...Object.values(task.inputs), ...Object.values(task.state), ...(task.dout ? [task.dout] : [])].map((t) => t.data.buffer as ArrayBuffer);

/**
 * Runs a layer task on the pool: whole, or split across the workers when the layer says it is
 * worth it. A split request's kernel time is the slowest part's; its queue time the shortest wait.
 */
export async function runLayer(pool: KernelPool, def: LayerDefinition, task: LayerTask, transfer: ArrayBuffer[], cancel?: AbortController): Promise<PoolAnswer> {
  const parts = def.split?.(task, pool.size);
  if (!parts || parts.length < 2 || !def.merge) return pool.run(task, transfer, cancel);
  const shared = cancel ?? new AbortController();
  const settled = await Promise.allSettled(parts.map((part) => pool.run(part, buffersOf(part), shared)));
  const failures = settled.filter((s) => s.status === 'rejected').map((s) => s.reason);
  if (failures.length) {
    // One part's timeout aborts the others; report the timeout, not their cancellation.
    shared.abort();
    throw failures.find((e) => !(e instanceof ClientGoneError)) ?? failures[0];
  }
  const answers = settled.map((s) => (s as PromiseFulfilledResult<PoolAnswer>).value);
  return {
    result: def.merge(answers.map((a) => a.result), task),
    queueMs: Math.min(...answers.map((a) => a.queueMs)),
    kernelMs: Math.max(...answers.map((a) => a.kernelMs)),
    parts: parts.length,
  };
}
