import type { z } from 'zod';
import type { Limits } from '../layers/prepare.ts';
import type { EncodedBody } from '../tensors/frame.ts';

/** What a worker knows about the request besides its body. */
export interface EndpointContext {
  limits: Limits;
  /** workers in the pool: a handler may cut its work into that many parts */
  workers: number;
}

/**
 * What a handler does after its 4xx decisions and decoding:
 * - `compute` then `encode` on this worker (the common case: the answer's bytes go back ready to write), or
 * - `handoff`: plain data (typed arrays are transferred or, over shared memory, copied unless `sharesMemory`) for the main thread to continue with, e.g. to
 *   run parts of a split request on several workers, or a check's reference and variants.
 */
export type Handled<R = any> =
  | { compute: () => R; encode: (result: R) => EncodedBody }
  | {
      handoff: unknown;
      /** its typed arrays over shared memory are views made on purpose (split parts): they cross as views, not copies */
      sharesMemory?: boolean;
    };

/**
 * One POST endpoint as the workers run it. `key` is the route's
 * variable part (a layer, an update rule, …). Nothing here may import fastify, src/routes or src/plugins.
 */
export interface WorkerEndpoint {
  /** the zod schema of the JSON body (strict objects) */
  schema(key: string): z.ZodType;
  /** problem details about a request start with this, e.g. "conv" or "conv/check" */
  context(key: string): string;
  /** every 4xx decision (ProblemError), in order of cost, then decoding; says what runs next */
  handle(key: string, body: unknown, ctx: EndpointContext): Handled;
  /** for handoffs that come back to a worker to end (e.g. merge and encode a split request) */
  finish?(key: string, value: any): EncodedBody;
}

/** Builds an endpoint whose schema is made once per key. */
export function memoSchema(make: (key: string) => z.ZodType): (key: string) => z.ZodType {
  const cache = new Map<string, z.ZodType>();
  return (key) => {
    let s = cache.get(key);
    if (!s) cache.set(key, (s = make(key)));
    return s;
  };
}
