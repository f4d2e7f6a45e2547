import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ProblemSchema } from '../layers/envelope.ts';
import { ProblemError } from '../errors/problems.ts';

const Status = z.object({ status: z.string(), workers: z.int().optional() });

export default async function healthRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // Health answers even under pressure: refusing liveness would get a busy pod killed.
  const config = { pressureHandler: () => undefined };
  r.get('/health/live', { config, schema: { tags: ['service'], summary: 'Liveness: the process answers', response: { 200: Status } } }, async () => ({
    status: 'live',
  }));
  r.get(
    '/health/ready',
    {
      config,
      schema: {
        tags: ['service'],
        summary: 'Readiness: the worker pool is up and the service is not shutting down',
        response: { 200: Status, 503: ProblemSchema },
      },
    },
    async () => {
      if (app.pool.isClosed || app.shuttingDown) throw new ProblemError('shuttingDown', 'the service is shutting down');
      return { status: 'ready', workers: app.pool.size };
    },
  );
}
