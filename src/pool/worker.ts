import { move, transferableSymbol, valueSymbol } from 'piscina';
import { findTask } from '../tasks.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';
import { handleFinish, handleRequest, type FinishMessage, type RequestMessage } from './pipeline.ts';
import { transferablesOf } from './transfer.ts';
import { MIN_SLAB_BYTES, threadLoans } from './slabs.ts';
import { recycle } from '../kernels/buffers.ts';
import type { Tensor } from '../kernels/types.ts';

/** A checked task for the kernel alone (split parts, check references and probes). */
export interface TaskMessage {
  op: 'task';
  task: LayerTask;
  /** shared with the main thread: the kernel's start time (epoch ms) goes in slot 0, its end in slot 1 */
  clock: Float64Array;
  /** a split request's part: its large results go back as loans, which whoever merges them returns */
  lend?: boolean;
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

function runTask({ task, clock, lend }: TaskMessage) {
  const def = findTask(task.layer);
  if (!def) throw new Error(`worker: no task ${task.layer}`);
  const start = now();
  clock[0] = start; // the main thread's time limit counts from here
  const result = def.compute(task);
  const end = now();
  clock[1] = end;
  const answer: WorkerAnswer = { result: lend ? lendResult(result) : result, start, end };
  return moved(answer);
}

/**
 * The result with its large arrays copied into loans (src/pool/slabs.ts) and the kernel's own arrays
 * given back to this thread's pool: a transferred array never comes back, so the next part would
 * write its results into fresh pages (a fault per 4 KiB costs more than the copy).
 */
function lendResult(result: LayerResult): LayerResult {
  const lendTensor = (t: Tensor): Tensor => {
    if (t.data.byteLength < MIN_SLAB_BYTES) return t;
    const bytes = threadLoans.take(t.data.byteLength);
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    recycle(t.data);
    const data = t.data instanceof Float32Array ? new Float32Array(bytes.buffer, bytes.byteOffset, t.data.length) : new Float64Array(bytes.buffer, bytes.byteOffset, t.data.length);
    return { shape: t.shape, data };
  };
  const lent: LayerResult = { ...result };
  if (result.out) lent.out = lendTensor(result.out);
  for (const key of ['grads', 'state', 'outputs'] as const) {
    const g = result[key];
    if (g) lent[key] = Object.fromEntries(Object.entries(g).map(([k, t]) => [k, lendTensor(t)]));
  }
  return lent;
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
