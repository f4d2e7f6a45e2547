import { ClientGoneError } from '../errors/client-gone.ts';
import { Piscina } from 'piscina';
import { ProblemError } from '../errors/problems.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';
import type { FinishMessage, handleFinish, Outcome, RequestMessage } from './pipeline.ts';
import { transferablesOf } from './transfer.ts';
import type { WorkerAnswer, WorkerMessage } from './worker.ts';

export interface PoolOptions {
  workers: number;
  /** tasks allowed to wait for a worker; beyond it run() refuses with 503 */
  maxQueue: number;
  /** a kernel running longer is stopped: its worker is terminated and replaced (504) */
  timeoutMs: number;
}

export interface PoolAnswer {
  result: LayerResult;
  /** ms from dispatch until the kernel started (queue wait plus the message hop) */
  queueMs: number;
  kernelMs: number;
  /** workers the request was split across */
  parts: number;
}

// In src/errors so that modules a worker loads (the check feature) need not import the pool.
export { ClientGoneError } from '../errors/client-gone.ts';

const now = () => performance.timeOrigin + performance.now();

/** Under vitest or tsx the sources are .ts, which a plain worker cannot load: give it tsx. */
function workerEntry(): { filename: string; execArgv: string[] | undefined } {
  const here = import.meta.url;
  const ts = here.endsWith('.ts');
  return { filename: new URL(ts ? './worker.ts' : './worker.js', here).href, execArgv: ts ? ['--import', 'tsx'] : undefined };
}

/** The worker threads that run kernels. Tensors cross as transferred buffers both ways. */
export class KernelPool {
  readonly size: number;
  private readonly piscina: Piscina;
  private readonly options: PoolOptions;
  private closed = false;
  private inFlight = 0;
  /** workers that died or were terminated (timeouts, faults) and were replaced */
  restarts = 0;

  constructor(options: PoolOptions) {
    this.options = options;
    this.size = options.workers;
    const { filename, execArgv } = workerEntry();
    this.piscina = new Piscina({
      filename,
      execArgv,
      minThreads: options.workers,
      maxThreads: options.workers,
      idleTimeout: Number.MAX_SAFE_INTEGER,
    });
    this.piscina.on('workerDestroy', () => {
      if (!this.closed) this.restarts++;
    });
    // A worker that crashes is replaced by piscina; its task is rejected. Nothing else to do here.
    this.piscina.on('error', () => {});
  }

  /** Resolves once the workers have started and loaded the kernels (e.g. compiled their wasm). */
  async ready(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, () => this.piscina.run(null)));
  }

  /**
   * Runs one task. `cancel` is aborted when the client goes away; a split request shares one
   * controller across its parts, so a timeout or disconnect stops all of them. With `lend`, its large
   * results come back as loans that the caller returns once merged (returnLoans in ./slabs.ts).
   */
  async run(task: LayerTask, transfer: ArrayBuffer[], cancel: AbortController = new AbortController(), lend = false): Promise<PoolAnswer> {
    const sent = now();
    const answer = await this.dispatch<WorkerAnswer>((clock) => ({ op: 'task', task, clock, lend }), transfer, cancel, task.layer);
    return { result: answer.result, queueMs: Math.max(0, answer.start - sent), kernelMs: answer.end - answer.start, parts: 1 };
  }

  /**
   * Runs a whole request on a worker (src/pool/pipeline.ts): its body is transferred (or shared); the answer's
   * bytes, a problem or a handoff come back. `queueMs` is the wait until a worker took it.
   */
  async request(message: Omit<RequestMessage, 'op' | 'clock' | 'workers'>, cancel: AbortController): Promise<Outcome & { queueMs: number }> {
    const sent = now();
    const transfer = message.body instanceof ArrayBuffer ? [message.body] : [];
    const outcome = await this.dispatch<Outcome>((clock) => ({ ...message, op: 'request', workers: this.size, clock }), transfer, cancel, message.key);
    return { ...outcome, queueMs: Math.max(0, outcome.timing.start - sent) };
  }

  /** Ends a handed-off request on a worker (e.g. merges a split request's parts and encodes the answer). */
  async finish(message: Omit<FinishMessage, 'op'>, cancel: AbortController): Promise<ReturnType<typeof handleFinish>> {
    return this.dispatch(() => ({ ...message, op: 'finish' }), transferablesOf(message.value), cancel, message.key);
  }

  private async dispatch<T>(make: (clock: Float64Array) => WorkerMessage, transfer: ArrayBuffer[], cancel: AbortController, label: string): Promise<T> {
    if (this.closed) throw new ProblemError('shuttingDown', 'the service is shutting down', { headers: { 'retry-after': '5' } });
    if (this.piscina.queueSize >= this.options.maxQueue && this.busy >= this.size) {
      throw new ProblemError('overloaded', `all ${this.size} workers are busy and ${this.piscina.queueSize} requests are waiting; try again shortly`, {
        headers: { 'retry-after': '1' },
      });
    }
    // The time limit counts the kernel only: not the queue, a replacement worker's start-up, nor a
    // request's parsing, decoding and encoding on the worker (linear in a body the body limit bounds).
    // The worker writes the kernel's start (slot 0) and end (slot 1) into a shared clock; the timer
    // re-arms itself until the kernel has run timeoutMs or has ended, and no extra message crosses threads.
    const clock = new Float64Array(new SharedArrayBuffer(16));
    const limit = this.options.timeoutMs;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      const [started, ended] = clock;
      if (ended !== 0) return;
      const left = started === 0 ? limit : started + limit - now();
      if (left > 0) timer = setTimeout(check, left);
      else {
        timedOut = true;
        cancel.abort();
      }
    };
    timer = setTimeout(check, limit);
    this.inFlight++;
    try {
      return (await this.piscina.run(make(clock), { transferList: transfer, signal: cancel.signal })) as T;
    } catch (error) {
      if (timedOut) {
        throw new ProblemError('timeout', `${label}: the computation ran past the ${limit} ms limit; it was stopped and its worker replaced`);
      }
      if (cancel.signal.aborted) throw new ClientGoneError();
      throw error;
    } finally {
      clearTimeout(timer);
      this.inFlight--;
    }
  }

  get queueSize(): number {
    return this.piscina.queueSize;
  }

  /** workers running a task now */
  get busy(): number {
    return Math.min(this.size, this.inFlight - this.piscina.queueSize);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.close();
  }
}
