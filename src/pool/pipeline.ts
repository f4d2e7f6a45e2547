import { ProblemError, type FieldError, type ProblemKind } from '../errors/problems.ts';
import type { Limits } from '../layers/prepare.ts';
import { recycleAll } from '../kernels/buffers.ts';
import { BinarySection, withSection, type EncodedBody } from '../tensors/frame.ts';
import type { WorkerEndpoint } from './endpoint.ts';
import { parseJson, validate } from './validate.ts';
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
  /** the buffer holding the body: transferred, or shared (a slab of src/pool/slabs.ts); null when the request had none */
  body: ArrayBuffer | SharedArrayBuffer | null;
  /** where the body is in it */
  offset: number;
  length: number;
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
      const bytes = new Uint8Array(msg.body, msg.offset, msg.length);
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
      // Tensors read in place from the body would carry the whole body along wherever they go next,
      // or (shared memory) outlive the request: copies, unless the handler shares views on purpose.
      if ('handoff' in handled) return { kind: 'handoff', value: compact(handled.handoff, handled.sharesMemory === true), timing };
      msg.clock[0] = now();
      const result = handled.compute();
      msg.clock[1] = now();
      timing.kernel = lap();
      const answer = handled.encode(result);
      // The answer is a copy: the kernel's pooled output arrays go back to this thread's pool.
      recycleAll(result);
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

/**
 * The value with every typed array that views only part of its buffer, or shared memory, replaced by
 * a copy of its own; views of shared memory stay when `keepShared`.
 */
function compact(value: unknown, keepShared: boolean, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 8) return value;
  if (ArrayBuffer.isView(value)) {
    const v = value as unknown as { byteLength: number; buffer: ArrayBufferLike; slice(): unknown };
    const shared = v.buffer instanceof SharedArrayBuffer;
    if (shared && keepShared) return value;
    return (shared || v.byteLength !== v.buffer.byteLength) && 'slice' in v ? v.slice() : value;
  }
  if (Array.isArray(value)) return value.map((e) => compact(e, keepShared, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([k, e]) => [k, compact(e, keepShared, depth + 1)]));
}
