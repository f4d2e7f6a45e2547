import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, RouteShorthandOptions } from 'fastify';
import { ProblemError } from '../errors/problems.ts';
import type { Limits } from '../layers/prepare.ts';
import type { SplitHandoff } from '../layers/endpoint.ts';
import { runParts } from '../pool/dispatch.ts';
import type { EndpointName } from '../pool/endpoints.ts';
import { fromPlain, type Timing } from '../pool/pipeline.ts';
import { HEADER_LENGTH, headerLength, type EncodedBody } from '../tensors/frame.ts';
import { MIN_SLAB_BYTES, returnLoan, SlabPool } from '../pool/slabs.ts';
import { cancelOnDisconnect } from './cancel.ts';
import { Slices } from '../plugins/delivery.ts';

const ms = (d: number) => d.toFixed(3);
const now = () => performance.now();

/** What a route does with a handoff (src/pool/endpoint.ts): the answer's bytes, or a value for fastify to serialize. */
export type Continue = (value: any, ctx: { cancel: AbortController; timing: string[] }) => Promise<EncodedBody | object>;

export interface WorkerRouteOptions {
  url: string;
  endpoint: EndpointName;
  key: string;
  limits: Limits;
  /** the route's schema for the docs: `body` is shown there but validated on the worker, not here */
  schema: FastifySchema;
  config?: Record<string, unknown>;
  /** handoffs: how the main thread goes on (split requests, checks) */
  onHandoff?: Continue;
  /** unframed bodies without a JSON content type are taken as JSON (the V2 routes: tritonclient sends none) */
  anyContentType?: boolean;
}

const isJson = (type: string | undefined) => type !== undefined && /^\s*application\/json\s*(;|$)/i.test(type);
const hasBody = (request: FastifyRequest) =>
  request.headers['transfer-encoding'] !== undefined || (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0');

/** Bodies of worker routes from MIN_SLAB_BYTES on: shared memory, reused across requests (src/pool/slabs.ts). */
const bodySlabs = new SlabPool();

/** A buffer for a body of `bytes` bytes starting `pad` bytes in: a slab when large, else a plain one. */
const bodyBuffer = (pad: number, bytes: number): Uint8Array =>
  pad + bytes >= MIN_SLAB_BYTES ? new Uint8Array(bodySlabs.take(pad + bytes), pad, bytes) : new Uint8Array(pad + bytes).subarray(pad);

/**
 * The raw-body parser for worker routes: whatever the content type, the body's bytes are copied as
 * they arrive into one buffer (sized by Content-Length when sent), within the body limit: no list of
 * chunks to concatenate at the end (a 64 MiB concat stalled the event loop for ~100 ms here). Large
 * bodies go to a slab of shared memory that workers read in place and that serves the next request
 * once this one's work is done; small ones to a buffer of their own, transferred to the worker.
 * Register in the routes' own context.
 */
export function acceptRawBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit ?? 1 << 20;
    const declared = Number(request.headers['content-length'] ?? NaN);
    const tooLarge = () => new ProblemError('bodyTooLarge', `the body is over the ${limit}-byte limit`);
    if (declared > limit) return done(tooLarge(), undefined);
    // A framed body starts `pad` bytes into its buffer, so that its binary section starts at a multiple
    // of 8: tensors at aligned offsets of the section can then be read in place on the worker.
    const framed = Number(request.headers[HEADER_LENGTH]);
    const pad = Number.isSafeInteger(framed) && framed >= 0 ? (8 - (framed % 8)) % 8 : 0;
    let buf = bodyBuffer(pad, Number.isSafeInteger(declared) && declared >= 0 ? declared : 64 * 1024);
    let length = 0;
    let failed = false;
    const fail = (e: Error) => {
      if (failed) return;
      failed = true;
      releaseBody(buf);
      payload.removeListener('data', onData);
      payload.resume();
      done(e, undefined);
    };
    const onData = (chunk: Buffer) => {
      if (length + chunk.length > limit) return fail(tooLarge());
      if (length + chunk.length > buf.length) {
        if (Number.isSafeInteger(declared)) return fail(new ProblemError('invalidRequest', 'the body is longer than its Content-Length'));
        const grown = bodyBuffer(pad, Math.min(limit, Math.max(buf.length * 2, length + chunk.length)));
        grown.set(buf.subarray(0, length));
        releaseBody(buf);
        buf = grown;
      }
      buf.set(chunk, length);
      length += chunk.length;
    };
    payload.on('data', onData);
    payload.on('error', (e: Error) => fail(e));
    payload.on('end', () => {
      if (failed) return;
      if (Number.isSafeInteger(declared) && length !== declared) return fail(new ProblemError('invalidRequest', `the body has ${length} bytes; its Content-Length says ${declared}`));
      done(null, buf.subarray(0, length));
    });
  });
}

/** Gives a body's slab back (a body in a plain buffer has none). Only once no thread can touch it. */
function releaseBody(body: Uint8Array | undefined): void {
  if (body?.buffer instanceof SharedArrayBuffer) bodySlabs.give(body.buffer);
}

/** The body's buffer to hand over and where the body is in it (a view over Node's shared pool is copied out). */
function transferable(body: Uint8Array): { body: ArrayBuffer | SharedArrayBuffer; offset: number; length: number } {
  if (body.buffer instanceof SharedArrayBuffer) return { body: body.buffer, offset: body.byteOffset, length: body.byteLength };
  if (body.buffer instanceof ArrayBuffer && !Buffer.isBuffer(body)) return { body: body.buffer, offset: body.byteOffset, length: body.byteLength };
  return { body: new Uint8Array(body).buffer, offset: 0, length: body.byteLength };
}

/** Below this, a JSON answer is written as a string: Node sends headers and body in one write then, not a writev of two. */
const SMALL_ANSWER = 16 * 1024;

function send(reply: FastifyReply, answer: EncodedBody): FastifyReply {
  reply.type(answer.contentType);
  if (answer.headerLength !== undefined) reply.header(HEADER_LENGTH, String(answer.headerLength));
  const bytes = Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength);
  if (!(answer.body.buffer instanceof SharedArrayBuffer)) {
    return reply.send(answer.headerLength === undefined && bytes.length < SMALL_ANSWER ? bytes.toString('utf8') : bytes);
  }
  // Bytes a worker lent (src/pool/slabs.ts) go back once the connection is done with them, at once
  // when it is already gone (its 'close' will not come again).
  if (reply.raw.closed || reply.raw.destroyed) returnLoan(answer.body);
  else reply.raw.once('close', () => returnLoan(answer.body));
  return reply.send(new Slices(bytes));
}

const serverTiming = (read: number, t: Timing, queueMs: number) =>
  [`read;dur=${ms(read)}`, `parse;dur=${ms(t.parse)}`, `decode;dur=${ms(t.decode)}`, `queue;dur=${ms(queueMs)}`];

/**
 * A POST route whose work runs on the pool (src/pool/pipeline.ts). The main thread routes, checks
 * access and limits (hooks), collects the body, checks the content type and the framing header,
 * hands the body over, and writes the bytes that come back. Problems come back as plain data and
 * are thrown here for the context's error handler to render.
 */
export function postOnWorker(app: FastifyInstance, opts: WorkerRouteOptions): void {
  const routeOptions: RouteShorthandOptions = {
    schema: opts.schema,
    config: opts.config ?? {},
    // The body's schema is for the docs: the worker validates it, with the same messages.
    validatorCompiler: () => (data: unknown) => ({ value: data }),
    // 415 before the body is read, as fastify's parser lookup did.
    preParsing: async (request, _reply, payload) => {
      if (opts.anyContentType || request.headers[HEADER_LENGTH] !== undefined || !hasBody(request)) return payload;
      const type = request.headers['content-type'];
      if (!isJson(type)) {
        throw new ProblemError('unsupportedMediaType', `send the body as application/json; got ${JSON.stringify(type ?? 'no content type')}`);
      }
      return payload;
    },
  };
  app.post(opts.url, routeOptions, async (request, reply) => {
    const read = now() - request.receivedAt;
    const raw = request.body as Uint8Array | undefined;
    const framedLength = headerLength(request.headers[HEADER_LENGTH], raw?.length ?? 0);
    const { cancel, release } = cancelOnDisconnect(reply);
    try {
      const outcome = await app.pool.request(
        { endpoint: opts.endpoint, key: opts.key, ...(raw ? transferable(raw) : { body: null, offset: 0, length: 0 }), headerLength: framedLength, limits: opts.limits },
        cancel,
      );
      const timing = serverTiming(read, outcome.timing, outcome.queueMs);
      if (outcome.kind === 'problem') throw fromPlain(outcome.problem);
      if (outcome.kind === 'answer') {
        timing.push(`kernel;dur=${ms(outcome.timing.kernel)}`, `encode;dur=${ms(outcome.timing.encode)}`);
        reply.header('server-timing', timing.join(', '));
        return send(reply, outcome.answer);
      }
      if (!opts.onHandoff) throw new Error(`${opts.url}: the worker handed work back and the route has no continuation`);
      const done = await opts.onHandoff(outcome.value, { cancel, timing });
      reply.header('server-timing', timing.join(', '));
      if ('body' in done && done.body instanceof Uint8Array) return send(reply, done as EncodedBody);
      return done;
    } finally {
      release();
      // A cancelled request's work may still be running on a worker (it reads and may write its body):
      // its slab stays out of the pool; the garbage collector frees it.
      if (!cancel.signal.aborted) releaseBody(raw);
    }
  });
}

/**
 * The continuation of a request its layer splits (src/layers/endpoint.ts): the parts run on several
 * workers at once, then one worker merges them and encodes the answer (`finish`). Any endpoint whose
 * handoff is a SplitHandoff can use it.
 */
export function splitContinuation(app: FastifyInstance, endpoint: EndpointName, key: string): Continue {
  return async (value: SplitHandoff, { cancel, timing }) => {
    const answers = await runParts(app.pool, value.parts, cancel);
    const { parts: _parts, ...rest } = value;
    const t0 = performance.now();
    const end = await app.pool.finish({ endpoint, key, value: { ...rest, results: answers.map((a) => a.result) } }, cancel);
    if (end.kind === 'problem') throw fromPlain(end.problem);
    timing[3] = `queue;dur=${ms(Math.min(...answers.map((a) => a.queueMs)))}`;
    timing.push(`kernel;dur=${ms(Math.max(...answers.map((a) => a.kernelMs)))};desc="${answers.length} workers"`, `encode;dur=${ms(performance.now() - t0)}`);
    return end.answer;
  };
}
