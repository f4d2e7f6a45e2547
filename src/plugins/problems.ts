import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { z } from 'zod';
import { ProblemError, type ProblemKind } from '../errors/problems.ts';
import { describeIssues } from '../errors/zod-issues.ts';
import { keysAt } from '../layers/schema-keys.ts';
import { RequestValidationError } from './zod-validator.ts';
import { ClientGoneError } from '../pool/pool.ts';

const PROBLEM_JSON = 'application/problem+json; charset=utf-8';

/** fastify's own error codes that are the client's fault, mapped to our catalogue. */
const FASTIFY_CODES: Record<string, ProblemKind> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupportedMediaType',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalidRequest',
  FST_ERR_CTP_BODY_TOO_LARGE: 'bodyTooLarge',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformedJson',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformedJson',
  FST_UNDER_PRESSURE: 'overloaded',
};

export function sendProblem(request: FastifyRequest, reply: FastifyReply, problem: ProblemError): FastifyReply {
  for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v);
  return reply.code(problem.status).type(PROBLEM_JSON).send(JSON.stringify(problem.toBody(request.url)));
}

function fromValidation(error: RequestValidationError, request: FastifyRequest): ProblemError {
  const { issues } = error;
  const bodySchema = request.routeOptions.schema?.body as z.ZodType | undefined;
  const errors = describeIssues(issues, request.body, (path) => (bodySchema ? keysAt(bodySchema, path) : undefined));
  const layer = (request.routeOptions.config as { layer?: string } | undefined)?.layer;
  const first = errors[0] ?? { path: '(body)', message: error.message };
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''}, see errors)` : '';
  return new ProblemError('invalidRequest', `${layer ? `${layer}: ` : ''}${first.path}: ${first.message}${more}`, { errors });
}

/** Whatever was thrown, as a problem. Unknown errors become a 500 whose message stays in the log. */
export function toProblem(error: FastifyError, request: FastifyRequest): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error instanceof RequestValidationError) return fromValidation(error, request);
  const kind = error.code ? FASTIFY_CODES[error.code] : undefined;
  if (kind) {
    const detail =
      kind === 'unsupportedMediaType'
        ? `send the body as application/json; got ${JSON.stringify(request.headers['content-type'] ?? 'no content type')}`
        : kind === 'malformedJson'
          ? `the body is not valid JSON: ${error.message}`
          : kind === 'overloaded'
            ? 'the service is under pressure (event-loop delay or memory); try again shortly'
            : error.message;
    return new ProblemError(kind, detail);
  }
  if (error instanceof SyntaxError) return new ProblemError('malformedJson', `the body is not valid JSON: ${error.message}`);
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) return new ProblemError('invalidRequest', error.message);
  return new ProblemError('internal', 'an unexpected fault; it has been logged with this request id', {
    extensions: { requestId: request.id },
  });
}

async function problems(app: FastifyInstance) {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ClientGoneError) {
      // Nobody is listening; 499 (client closed request) only shows in logs and metrics.
      request.log.info('client disconnected; its work was cancelled');
      return reply.code(499).send();
    }
    let problem: ProblemError;
    try {
      problem = toProblem(error, request);
    } catch (fault) {
      request.log.error({ err: fault }, 'the error handler failed');
      problem = new ProblemError('internal', 'an unexpected fault; it has been logged with this request id');
    }
    if (problem.status >= 500) request.log.error({ err: error, reqId: request.id }, 'request failed');
    else request.log.info({ problem: problem.kind, status: problem.status }, problem.message);
    return sendProblem(request, reply, problem);
  });

  app.setNotFoundHandler((request, reply) => {
    const layer = /^\/v1\/layers\/([^/?]+)/.exec(request.url)?.[1];
    const rule = /^\/v1\/optimizers\/([^/?]+)/.exec(request.url)?.[1];
    const known = app.layerNames;
    const problem =
      layer && !known.includes(layer)
        ? new ProblemError('unknownLayer', `no layer "${layer}"; the layers are ${known.join(', ')}`, {
            extensions: { layers: known },
          })
        : rule && !app.ruleNames.includes(rule)
          ? new ProblemError('unknownRule', `no update rule "${rule}"; the rules are ${app.ruleNames.join(', ')}`, {
              extensions: { rules: app.ruleNames },
            })
          : new ProblemError('notFound', `no route ${request.method} ${request.url.split('?')[0]}; see /docs for the routes`);
    return sendProblem(request, reply, problem);
  });
}

export default fp(problems, { name: 'problems' });
