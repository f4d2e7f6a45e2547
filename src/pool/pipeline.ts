import secureJson from 'secure-json-parse';
import type { z } from 'zod';
import { ProblemError, type FieldError, type ProblemKind } from '../errors/problems.ts';
import { describeIssues, type IssueLike } from '../errors/zod-issues.ts';
import type { Limits } from '../layers/prepare.ts';
import { keysAt } from '../layers/schema-keys.ts';
import { BinarySection, withSection, type EncodedBody } from '../tensors/frame.ts';
import type { WorkerEndpoint } from './endpoint.ts';
import { ENDPOINTS, type EndpointName } from './endpoints.ts';

/**
 * The request pipeline on a worker thread: the raw body in, JSON parse, zod, the endpoint's 4xx
 * decisions and decoding, kernel, encoding; the answer's bytes out (or a problem, as plain data, or
 * a handoff for the main thread). The main thread only routes, checks access and limits, and writes.
 */
export interface RequestMessage {
  op: 'request';
  endpoint: EndpointName;
  key: string;
  /** the whole body (transferred); null when the request had none */
  body: ArrayBuffer | null;
  /** framed bodies: the JSON header's byte length (already checked against the body's length) */
  headerLength?: number;
  limits: Limits;
  workers: number;
  /** shared with the main thread: kernel start (slot 0) and end (slot 1), epoch ms */
  clock: Float64Array;
}

export interface FinishMessage {
  op: 'finish';
  endpoint: EndpointName;
  key: string;
  value: unknown;
}

/** A ProblemError as it crosses threads (errors lose their class on the way). */
export interface PlainProblem {
  kind: ProblemKind;
  detail: string;
  errors?: FieldError[];
  headers?: Record<string, string>;
  extensions?: Record<string, unknown>;
}

/** ms spent in each part on the worker; `start` is when the worker took the request (epoch ms). */
export interface Timing {
  start: number;
  parse: number;
  decode: number;
  kernel: number;
  encode: number;
}

export type Outcome =
  | { kind: 'answer'; answer: EncodedBody; timing: Timing }
  | { kind: 'handoff'; value: unknown; timing: Timing }
  | { kind: 'problem'; problem: PlainProblem; timing: Timing };

const now = () => performance.timeOrigin + performance.now();

export const toPlain = (e: ProblemError): PlainProblem => ({ kind: e.kind, detail: e.message, errors: e.errors, headers: e.headers, extensions: e.extensions });
export const fromPlain = (p: PlainProblem): ProblemError => new ProblemError(p.kind, p.detail, { errors: p.errors, headers: p.headers, extensions: p.extensions });

/** JSON text to a value as fastify's own parser did on the main thread: proto-poisoning refused, same problem. */
export function parseJson(text: string, framed: boolean): unknown {
  if (text.length === 0) {
    throw new ProblemError('malformedJson', framed ? 'the body is not valid JSON: the JSON header is empty' : "the body is not valid JSON: Body cannot be empty when content-type is set to 'application/json'");
  }
  try {
    return secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    throw new ProblemError(
      'malformedJson',
      framed ? 'the body is not valid JSON: the JSON header (the first Inference-Header-Content-Length bytes) is not valid JSON' : "the body is not valid JSON: Body is not valid JSON but content-type is set to 'application/json'",
    );
  }
}

/** zod validation with the service's located messages (what the main thread's validator produced before). */
export function validate<T = unknown>(schema: z.ZodType, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data as T;
  const issues = result.error.issues as IssueLike[];
  const errors = describeIssues(issues, body, (path) => keysAt(schema, path));
  const first = errors[0] ?? { path: '(body)', message: 'the request does not match the schema' };
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''}, see errors)` : '';
  throw new ProblemError('invalidRequest', `${first.path}: ${first.message}${more}`, { errors });
}

/** Problems about a request name its context once ("conv: …", "conv/check: …" rather than "conv/check: conv: …"). */
export function inContext(e: ProblemError, context: string, key: string): ProblemError {
  if (context !== key && e.message.startsWith(`${key}: `)) {
    e = new ProblemError(e.kind, e.message.slice(key.length + 2), { errors: e.errors, headers: e.headers, extensions: e.extensions });
  }
  return e.inContext(context);
}

export function handleRequest(msg: RequestMessage): Outcome {
  const endpoint: WorkerEndpoint = ENDPOINTS[msg.endpoint];
  const timing: Timing = { start: now(), parse: 0, decode: 0, kernel: 0, encode: 0 };
  let t = timing.start;
  const lap = () => {
    const n = now();
    const d = n - t;
    t = n;
    return d;
  };
  const context = endpoint.context(msg.key);
  try {
    const framed = msg.headerLength !== undefined;
    let json: unknown;
    let section: BinarySection | null = null;
    if (msg.body) {
      const bytes = new Uint8Array(msg.body);
      const head = framed ? bytes.subarray(0, msg.headerLength) : bytes;
      json = parseJson(Buffer.from(head.buffer, head.byteOffset, head.byteLength).toString('utf8'), framed);
      if (framed) section = new BinarySection(bytes.subarray(msg.headerLength));
    }
    try {
      const body = validate(endpoint.schema(msg.key), json);
      timing.parse = lap();
      const handled = withSection(section, () => {
        const h = endpoint.handle(msg.key, body, { limits: msg.limits, workers: msg.workers });
        // Every byte of the section must have been read by some tensor, before any kernel runs.
        section?.checkAllUsed();
        return h;
      });
      timing.decode = lap();
      if ('handoff' in handled) return { kind: 'handoff', value: handled.handoff, timing };
      msg.clock[0] = now();
      const result = handled.compute();
      msg.clock[1] = now();
      timing.kernel = lap();
      const answer = handled.encode(result);
      timing.encode = lap();
      return { kind: 'answer', answer, timing };
    } catch (e) {
      throw e instanceof ProblemError ? inContext(e, context, msg.key) : e;
    }
  } catch (e) {
    if (!(e instanceof ProblemError)) throw e;
    if (timing.parse === 0) timing.parse = lap();
    return { kind: 'problem', problem: toPlain(e), timing };
  }
}

export function handleFinish(msg: FinishMessage): { kind: 'answer'; answer: EncodedBody } | { kind: 'problem'; problem: PlainProblem } {
  const endpoint: WorkerEndpoint = ENDPOINTS[msg.endpoint];
  try {
    return { kind: 'answer', answer: endpoint.finish!(msg.key, msg.value) };
  } catch (e) {
    if (!(e instanceof ProblemError)) throw e;
    return { kind: 'problem', problem: toPlain(inContext(e, endpoint.context(msg.key), msg.key)) };
  }
}
