import { move, transferableSymbol, valueSymbol } from 'piscina';
import { findTask } from '../tasks.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';
import { handleFinish, handleRequest, type FinishMessage, type RequestMessage } from './pipeline.ts';
import { transferablesOf } from './transfer.ts';

/** A checked task for the kernel alone (split parts, check references and probes). */
export interface TaskMessage {
  op: 'task';
  task: LayerTask;
  /** shared with the main thread: the kernel's start time (epoch ms) goes in slot 0, its end in slot 1 */
  clock: Float64Array;
}

export type WorkerMessage = TaskMessage | RequestMessage | FinishMessage;

export interface WorkerAnswer {
  result: LayerResult;
  /** epoch ms, comparable across threads */
  start: number;
  end: number;
}

const now = () => performance.timeOrigin + performance.now();

/** The value, with every buffer it holds handed over to the main thread instead of copied. */
function moved<T extends object>(value: T) {
  const transfer = transferablesOf(value);
  return move({
    get [transferableSymbol]() {
      return transfer;
    },
    get [valueSymbol]() {
      return value;
    },
  });
}

function runTask({ task, clock }: TaskMessage) {
  const def = findTask(task.layer);
  if (!def) throw new Error(`worker: no task ${task.layer}`);
  const start = now();
  clock[0] = start; // the main thread's time limit counts from here
  const result = def.compute(task);
  const end = now();
  clock[1] = end;
  const answer: WorkerAnswer = { result, start, end };
  return moved(answer);
}

/**
 * Thin on purpose: a message in, transferred buffers out. `request` runs a whole POST (src/pool/pipeline.ts),
 * `task` one kernel, `finish` the end of a handed-off request (merge and encode).
 */
export default function work(message: WorkerMessage | null) {
  if (message === null) return null; // warm-up: the imports above have loaded
  switch (message.op) {
    case 'task':
      return runTask(message);
    case 'request':
      return moved(handleRequest(message));
    case 'finish':
      return moved(handleFinish(message));
  }
}
