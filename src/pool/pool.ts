import { Piscina } from 'piscina';
import type { LayerResult, LayerTask } from '../layers/types.ts';
import type { WorkerAnswer } from './worker.ts';

export interface PoolOptions {
  workers: number;
}

export interface PoolAnswer {
  result: LayerResult;
  /** ms from dispatch until the kernel started (queue wait plus the message hop) */
  queueMs: number;
  kernelMs: number;
}

const now = () => performance.timeOrigin + performance.now();

/** Under vitest or tsx the sources are .ts, which a plain worker cannot load: give it tsx. */
function workerEntry(): { filename: string; execArgv: string[] | undefined } {
  const here = import.meta.url;
  const ts = here.endsWith('.ts');
  return { filename: new URL(ts ? './worker.ts' : './worker.js', here).href, execArgv: ts ? ['--import', 'tsx'] : [] };
}

/** The worker threads that run kernels. Tensors cross as transferred buffers both ways. */
export class KernelPool {
  readonly size: number;
  private readonly piscina: Piscina;
  private closed = false;

  constructor(options: PoolOptions) {
    this.size = options.workers;
    const { filename, execArgv } = workerEntry();
    this.piscina = new Piscina({
      filename,
      execArgv,
      minThreads: options.workers,
      maxThreads: options.workers,
      idleTimeout: Number.MAX_SAFE_INTEGER,
    });
  }

  /** Resolves once every worker has started and loaded the kernels (e.g. compiled its wasm). */
  async ready(): Promise<void> {
    await Promise.all(Array.from({ length: this.size }, () => this.piscina.run(null)));
  }

  async run(task: LayerTask, transfer: ArrayBuffer[], signal?: AbortSignal): Promise<PoolAnswer> {
    const sent = now();
    const answer = (await this.piscina.run(task, { transferList: transfer, signal })) as WorkerAnswer;
    return { result: answer.result, queueMs: Math.max(0, answer.start - sent), kernelMs: answer.end - answer.start };
  }

  get queueSize(): number {
    return this.piscina.queueSize;
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
