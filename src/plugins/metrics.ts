import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Registry;
  }
}

/**
 * Prometheus metrics: requests by layer and status, latency histograms, queue depth, busy workers,
 * worker restarts, and the default process metrics (event-loop lag among them). One registry per app.
 */
async function metrics(app: FastifyInstance, opts: { expose: boolean }) {
  const register = new Registry();
  collectDefaultMetrics({ register, prefix: 'layerserve_' });

  const requests = new Counter({ name: 'layerserve_requests_total', help: 'requests by layer (or route) and status', labelNames: ['layer', 'status'], registers: [register] });
  const latency = new Histogram({
    name: 'layerserve_request_duration_seconds',
    help: 'request latency by layer (or route)',
    labelNames: ['layer'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [register],
  });
  new Gauge({ name: 'layerserve_queue_depth', help: 'tasks waiting for a worker', registers: [register], collect() { this.set(app.pool.queueSize); } });
  new Gauge({ name: 'layerserve_workers_busy', help: 'workers running a task', registers: [register], collect() { this.set(app.pool.busy); } });
  new Gauge({ name: 'layerserve_workers', help: 'worker threads in the pool', registers: [register], collect() { this.set(app.pool.size); } });
  new Gauge({ name: 'layerserve_answers_in_flight', help: 'requests received whose answer is not yet delivered', registers: [register], collect() { this.set(app.delivery.inFlight); } });
  new Gauge({ name: 'layerserve_unsent_bytes', help: 'bodies of answers still being written to their clients (MAX_UNSENT_BYTES)', registers: [register], collect() { this.set(app.delivery.unsentBytes()); } });
  let counted = 0;
  new Counter({
    name: 'layerserve_worker_restarts_total',
    help: 'workers replaced after a crash, fault or timeout',
    registers: [register],
    collect() {
      this.inc(app.pool.restarts - counted);
      counted = app.pool.restarts;
    },
  });

  app.decorate('metrics', register);
  app.addHook('onResponse', async (request, reply) => {
    const layer = (request.routeOptions.config as { layer?: string }).layer ?? request.routeOptions.url ?? 'unknown';
    requests.inc({ layer, status: String(reply.statusCode) });
    latency.observe({ layer }, reply.elapsedTime / 1000);
  });

  if (opts.expose) {
    app.get('/metrics', { schema: { tags: ['service'], summary: 'Prometheus metrics (text format)' } }, async (_request, reply) => {
      return reply.type(register.contentType).send(await register.metrics());
    });
  }
}

export default fp(metrics, { name: 'metrics', dependencies: ['pool', 'delivery'] });
