import rateLimit from '@fastify/rate-limit';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { ProblemError } from '../errors/problems.ts';

export interface OverloadOptions {
  maxEventLoopDelayMs: number;
  maxHeapUsedBytes: number;
  maxRssBytes: number;
  rateLimitMax: number;
  rateLimitWindowMs: number;
}

/**
 * Saying no early: 503 when the process is under pressure (event-loop delay, heap, RSS), 429 per
 * client when a rate limit is configured. Health routes are never refused here. (Refusals while
 * shutting down and for slow readers are the delivery plugin's.)
 */
async function overload(app: FastifyInstance, opts: OverloadOptions) {
  await app.register(underPressure, {
    maxEventLoopDelay: opts.maxEventLoopDelayMs,
    // The delay is the mean over a window. A window in which the loop never ran counts as
    // infinite delay, so a 1 s window made one large body's parse (over a second for a nested
    // conv A) answer 503 to everyone's next request; over 5 s windows only sustained delay does.
    sampleInterval: 5_000,
    maxHeapUsedBytes: opts.maxHeapUsedBytes,
    maxRssBytes: opts.maxRssBytes,
    retryAfter: 5,
  });

  if (opts.rateLimitMax > 0) {
    await app.register(rateLimit, {
      max: opts.rateLimitMax,
      timeWindow: opts.rateLimitWindowMs,
      allowList: (request) => request.url.startsWith('/health') || request.url.startsWith('/v2/health'),
      errorResponseBuilder: (_request, context) =>
        new ProblemError('rateLimited', `more than ${context.max} requests in ${context.after}; try again after ${context.after}`),
    });
  }
}

export default fp(overload, { name: 'overload' });
