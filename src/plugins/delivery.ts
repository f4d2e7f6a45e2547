import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server as NetServer, Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError } from '../errors/problems.ts';

declare module 'fastify' {
  interface FastifyInstance {
    delivery: Delivery;
  }
}

export interface DeliveryOptions {
  /** bodies of answers still being written, in bytes, above which answers are refused with 503; 0: no limit */
  maxUnsentBytes: number;
  /** an answer whose client takes none of it for this long is cut; 0: never */
  sendTimeoutMs: number;
}

/** Bodies from this size on are written slice by slice (small ones go to the socket in one write). */
export const SLICED_FROM_BYTES = 1024 * 1024;
const SLICE_BYTES = 64 * 1024;
const RETRY_AFTER_S = '5';

/**
 * A whole body written in slices with backpressure. Handing a 75 MB buffer to the socket in one write
 * hides its progress until the last byte: a stalled reader could not be told from a slow one, and
 * nobody could say how much of it was sent. Slices are views: nothing is copied.
 *
 * A route may send Slices itself: fastify serializes a Buffer over shared memory as an object (it
 * checks `buffer instanceof ArrayBuffer`), so answers a worker wrote into shared memory go this way.
 */
export class Slices extends Readable {
  #body: Buffer;
  #offset = 0;
  /** the whole body's length */
  readonly size: number;

  constructor(body: Buffer) {
    super({ highWaterMark: SLICE_BYTES });
    this.#body = body;
    this.size = body.length;
  }

  /** Bytes given to the response so far (some may still sit in the socket's buffer). */
  get given(): number {
    return this.#offset - this.readableLength;
  }

  override _read(): void {
    const end = Math.min(this.#offset + SLICE_BYTES, this.#body.length);
    if (end === this.#offset) {
      this.push(null);
      return;
    }
    const slice = this.#body.subarray(this.#offset, end);
    this.#offset = end;
    this.push(slice);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#body = Buffer.alloc(0); // a client that went away does not keep its answer in memory
    callback(err);
  }
}

/** One answer, from the arrival of its request until its response closes. */
interface Answer {
  res: ServerResponse;
  url: string;
  log?: FastifyBaseLogger;
  /** body length once the route produced it; 0 before, or for a stream of unknown length */
  bytes: number;
  slices?: Slices;
}

/**
 * Every answer that was started is delivered whole, or cut only at a deadline and logged.
 *
 * Tracks each response until its socket took the last byte (`close`), so that shutdown can wait for
 * that rather than for the route to return. Node's `server.close()` (and so `app.close()`) destroys
 * connections whose response has ended in JS even when most of its bytes are still queued for a slow
 * socket: a 75 MB answer arrived as its first 10 MB. Hence `stopListening()`.
 *
 * Bounds memory held for slow readers: answers are built whole (string or Buffer) and stay in memory
 * until sent, so when the bodies still being written pass `maxUnsentBytes`, new answers get 503.
 */
export class Delivery {
  /** Past the drain: every request but the health checks gets 503, Retry-After, Connection: close. */
  refusing = false;
  readonly #open = new Map<ServerResponse, Answer>();
  #settled: (() => void)[] = [];

  constructor(
    readonly options: DeliveryOptions,
    private readonly log: FastifyBaseLogger,
  ) {}

  /**
   * Starts following a response (idempotent); it is forgotten when it closes. One already closed
   * (its client left before a hook ran) is not followed: its 'close' will not come again.
   */
  track(req: IncomingMessage, res: ServerResponse): Answer {
    let answer = this.#open.get(res);
    if (answer) return answer;
    answer = { res, url: req.url ?? '', bytes: 0 };
    if (res.closed) return answer;
    this.#open.set(res, answer);
    res.once('close', () => {
      this.#open.delete(res);
      if (this.#open.size === 0) for (const resolve of this.#settled.splice(0)) resolve();
    });
    return answer;
  }

  /** Answers started and not yet delivered (requests being computed count). */
  get inFlight(): number {
    return this.#open.size;
  }

  /**
   * Bytes held for answers still being written: each body counts whole until its response closes,
   * as it stays in memory until then; a streamed body of unknown length counts what its socket holds.
   */
  unsentBytes(): number {
    let sum = 0;
    for (const a of this.#open.values()) {
      if (a.bytes > 0) sum += a.res.writableFinished ? 0 : a.bytes;
      else if (a.res.headersSent) sum += (a.res.socket?.writableLength ?? 0) + a.res.writableLength;
    }
    return sum;
  }

  /** Bytes of this answer's body the socket took, as far as known. */
  sent(a: Answer): number | undefined {
    if (a.res.writableFinished) return a.bytes;
    if (!a.slices) return a.res.headersSent ? undefined : 0;
    return Math.max(0, a.slices.given - (a.res.socket?.writableLength ?? 0));
  }

  /** Resolves once every answer started so far (and any started meanwhile) is delivered or cut. */
  settled(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#settled.push(resolve));
  }

  /**
   * Stops accepting connections and keeps the open ones, answers being written included: the net
   * server's close, not http's, which would also destroy every connection it considers idle.
   */
  stopListening(server: NetServer): void {
    if (server.listening) NetServer.prototype.close.call(server);
  }

  /** Cuts every answer still open and logs each, with how far it got. */
  cut(reason: string): number {
    const open = [...this.#open.values()];
    for (const a of open) {
      const detail = { url: a.url, statusCode: a.res.headersSent ? a.res.statusCode : undefined, bytes: a.bytes || undefined, sent: this.sent(a) };
      (a.log ?? this.log).warn(detail, `answer cut at ${reason}: ${describe(this.sent(a), a.bytes, a.res.headersSent)}`);
      a.res.destroy();
    }
    return open.length;
  }

  /** The response has slices and its client took nothing for sendTimeoutMs. */
  stalled(a: Answer): void {
    const sent = this.sent(a);
    (a.log ?? this.log).warn(
      { url: a.url, bytes: a.bytes, sent },
      `answer cut: the client took none of it for ${this.options.sendTimeoutMs} ms (SEND_TIMEOUT_MS): ${describe(sent, a.bytes, true)}`,
    );
    a.res.destroy();
  }
}

function describe(sent: number | undefined, bytes: number, started: boolean): string {
  if (!started) return 'no byte sent yet';
  const total = bytes > 0 ? ` of ${bytes}` : '';
  return sent === undefined ? `part of its${total} bytes sent` : `${sent}${total} bytes sent`;
}

async function delivery(app: FastifyInstance, opts: DeliveryOptions) {
  const d = new Delivery(opts, app.log);
  app.decorate('delivery', d);
  // Every response the server starts, including those fastify answers before any hook runs;
  // inject() has no server, so the hooks below track too.
  app.server.on('request', (req: IncomingMessage, res: ServerResponse) => d.track(req, res));

  app.addHook('onRequest', async (request, reply) => {
    d.track(request.raw, reply.raw).log = request.log;
    if (request.url.startsWith('/health/') || request.url.startsWith('/v2/health/')) return;
    if (d.refusing) {
      throw new ProblemError('shuttingDown', 'the service is shutting down; send this request to another instance', {
        headers: { 'retry-after': RETRY_AFTER_S, connection: 'close' },
      });
    }
    const max = opts.maxUnsentBytes;
    if (max > 0 && !request.url.startsWith('/metrics')) {
      const unsent = d.unsentBytes();
      if (unsent >= max) throw unsentProblem(unsent, max);
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    // From SIGTERM on, connections close after their answer, so clients reconnect elsewhere.
    if (app.shuttingDown) reply.header('connection', 'close');
    const answer = d.track(request.raw, reply.raw);
    let body: Buffer | undefined;
    let bytes = 0;
    if (payload instanceof Slices) {
      bytes = payload.size;
    } else if (typeof payload === 'string') {
      if (payload.length >= SLICED_FROM_BYTES) body = Buffer.from(payload);
      bytes = body ? body.length : Buffer.byteLength(payload);
    } else if (Buffer.isBuffer(payload)) {
      body = payload.length >= SLICED_FROM_BYTES ? payload : undefined;
      bytes = payload.length;
    }
    if (bytes === 0) return payload; // no body, or a stream: its socket's buffer is what counts

    // An answer that does not fit beside those still being written is refused before any byte of
    // it is sent; one alone always fits, however large.
    const max = opts.maxUnsentBytes;
    if (max > 0 && reply.statusCode < 400) {
      const unsent = d.unsentBytes();
      if (unsent > 0 && unsent + bytes > max) throw unsentProblem(unsent, max);
    }
    answer.bytes = bytes;
    if (payload instanceof Slices) answer.slices = payload;
    else if (!body || request.method === 'HEAD') return payload;
    else answer.slices = new Slices(body);
    reply.header('content-length', String(bytes));
    if (opts.sendTimeoutMs > 0 && reply.raw.socket instanceof Socket) {
      reply.raw.setTimeout(opts.sendTimeoutMs, () => d.stalled(answer));
    }
    return answer.slices;
  });
}

function unsentProblem(unsent: number, max: number): ProblemError {
  return new ProblemError(
    'overloaded',
    `${unsent} bytes of earlier answers are still being sent to slow clients (MAX_UNSENT_BYTES is ${max}); try again later or elsewhere`,
    { headers: { 'retry-after': RETRY_AFTER_S } },
  );
}

export default fp(delivery, { name: 'delivery' });
