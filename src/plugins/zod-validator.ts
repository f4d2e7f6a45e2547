import type { FastifySchemaCompiler } from 'fastify';
import type { z } from 'zod';
import type { IssueLike } from '../errors/zod-issues.ts';

/** A failed request validation that keeps zod's issues intact (paths, union branches) for the problem. */
export class RequestValidationError extends Error {
  readonly issues: IssueLike[];
  readonly statusCode = 400;
  constructor(issues: IssueLike[]) {
    super('the request does not match the schema');
    this.name = 'RequestValidationError';
    this.issues = issues;
  }
}

/**
 * Like fastify-type-provider-zod's validatorCompiler, but the error carries the raw issues:
 * its converted form drops `path` from nested union branches, which the problem details need.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema }) =>
  (data) => {
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: new RequestValidationError(result.error.issues as IssueLike[]) };
  };
