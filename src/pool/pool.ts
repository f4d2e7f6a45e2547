import { Piscina } from 'piscina';
import { ProblemError } from '../errors/problems.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';
import type { WorkerAnswer, WorkerRequest } from './worker.ts';

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

/** Thrown when the client went away and its work was cancelled: there is nobody to answer. */
export class ClientGoneError extends Error {
  constructor() {
    super('the client disconnected; its work was cancelled');
    this.name = 'ClientGoneError';
  }
}

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
   * controller across its parts, so a timeout or disconnect stops all of them.
   */
  async run(task: LayerTask, transfer: ArrayBuffer[], cancel: AbortController = new AbortController()): Promise<PoolAnswer> {
    if (this.closed) throw new ProblemError('shuttingDown', 'the service is shutting down', { headers: { 'retry-after': '5' } });
    if (this.piscina.queueSize >= this.options.maxQueue && this.busy >= this.size) {
      throw new ProblemError('overloaded', `all ${this.size} workers are busy and ${this.piscina.queueSize} requests are waiting; try again shortly`, {
        headers: { 'retry-after': '1' },
      });
    }
    // The time limit counts compute only. The worker writes its start time into a shared slot; the
    // timer re-arms itself until the kernel has run timeoutMs, so time in the queue or a replacement
    // worker's start-up is not charged, and no extra message crosses threads.
    const clock = new Float64Array(new SharedArrayBuffer(8));
    const limit = this.options.timeoutMs;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    const check = () => {
      const started = clock[0];
      const left = started === 0 ? limit : started + limit - now();
      if (left > 0) timer = setTimeout(check, left);
      else {
        timedOut = true;
        cancel.abort();
      }
    };
    timer = setTimeout(check, limit);
    const sent = now();
    this.inFlight++;
    try {
      const request: WorkerRequest = { task, clock };
      const answer = (await this.piscina.run(request, { transferList: transfer, signal: cancel.signal })) as WorkerAnswer;
      return { result: answer.result, queueMs: Math.max(0, answer.start - sent), kernelMs: answer.end - answer.start, parts: 1 };
    } catch (error) {
      if (timedOut) {
        throw new ProblemError('timeout', `${task.layer}: the computation ran past the ${limit} ms limit; it was stopped and its worker replaced`);
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
