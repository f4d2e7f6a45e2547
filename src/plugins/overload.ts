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
 * Saying no early: 503 while shutting down or when the process is under pressure (event-loop delay,
 * heap, RSS), 429 per client when a rate limit is configured. Health routes are never refused here.
 */
async function overload(app: FastifyInstance, opts: OverloadOptions) {
  app.addHook('onRequest', async (request) => {
    if (app.shuttingDown && (request.url.startsWith('/v1') || (request.url.startsWith('/v2') && !request.url.startsWith('/v2/health')))) {
      throw new ProblemError('shuttingDown', 'the service is shutting down; send this request to another instance', {
        headers: { 'retry-after': '5', connection: 'close' },
      });
    }
  });

  // Answers sent while shutting down close their connection, so keep-alive clients do not hold
  // the process open past the in-flight work.
  app.addHook('onSend', async (_request, reply) => {
    if (app.shuttingDown) reply.header('connection', 'close');
  });

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
