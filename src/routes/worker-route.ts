import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, RouteShorthandOptions } from 'fastify';
import { ProblemError } from '../errors/problems.ts';
import type { Limits } from '../layers/prepare.ts';
import type { EndpointName } from '../pool/endpoints.ts';
import { fromPlain, type Timing } from '../pool/pipeline.ts';
import { HEADER_LENGTH, headerLength, type EncodedBody } from '../tensors/frame.ts';
import { cancelOnDisconnect } from './cancel.ts';

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

/**
 * The raw-body parser for worker routes: whatever the content type, the body is collected as one
 * Buffer within the body limit. Register in the routes' own (encapsulated) context.
 */
export function acceptRawBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
}

/** The body's bytes as an ArrayBuffer of its own, to transfer (Node pools small Buffers: those are copied). */
function ownBuffer(body: Buffer): ArrayBuffer {
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer) return body.buffer;
  const copy = new Uint8Array(body.byteLength);
  copy.set(body);
  return copy.buffer;
}

function send(reply: FastifyReply, answer: EncodedBody): FastifyReply {
  reply.type(answer.contentType);
  if (answer.headerLength !== undefined) reply.header(HEADER_LENGTH, String(answer.headerLength));
  return reply.send(Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength));
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
    const raw = request.body as Buffer | undefined;
    const framedLength = headerLength(request.headers[HEADER_LENGTH], raw?.length ?? 0);
    const { cancel, release } = cancelOnDisconnect(reply);
    try {
      const outcome = await app.pool.request(
        { endpoint: opts.endpoint, key: opts.key, body: raw ? ownBuffer(raw) : null, headerLength: framedLength, limits: opts.limits },
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
    }
  });
}
