import secureJson from 'secure-json-parse';
import type { z } from 'zod';
import { ProblemError } from '../errors/problems.ts';
import { describeIssues, type IssueLike } from '../errors/zod-issues.ts';
import { keysAt } from '../layers/schema-keys.ts';

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
