import { move, transferableSymbol, valueSymbol } from 'piscina';
import { findTask } from '../tasks.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';

export interface WorkerRequest {
  task: LayerTask;
  /** shared with the main thread: the kernel's start time (epoch ms) goes in slot 0 */
  clock: Float64Array;
}

export interface WorkerAnswer {
  result: LayerResult;
  /** epoch ms, comparable across threads */
  start: number;
  end: number;
}

const now = () => performance.timeOrigin + performance.now();

function buffersOf(result: LayerResult): ArrayBuffer[] {
  const seen = new Set<ArrayBuffer>();
  const add = (t: { data: { buffer: ArrayBufferLike } } | undefined) => t && seen.add(t.data.buffer as ArrayBuffer);
  add(result.out);
  for (const t of Object.values(result.grads ?? {})) add(t);
  for (const t of Object.values(result.state ?? {})) add(t);
  return [...seen];
}

/** Thin on purpose: checked task in, kernel, transferred buffers out. All 4xx decisions happened before. */
export default function runTask(request: WorkerRequest | null) {
  if (request === null) return null; // warm-up: the imports above have loaded
  const { task, clock } = request;
  const def = findTask(task.layer);
  if (!def) throw new Error(`worker: no task ${task.layer}`);
  const start = now();
  clock[0] = start; // the main thread's time limit counts from here
  const result = def.compute(task);
  const answer: WorkerAnswer = { result, start, end: now() };
  const transfer = buffersOf(result);
  return move({
    get [transferableSymbol]() {
      return transfer;
    },
    get [valueSymbol]() {
      return answer;
    },
  });
}
