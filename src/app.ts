import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import type { Config } from './config.ts';
import { LAYERS, TEST_LAYERS } from './layers/registry.ts';
import { RULES } from './optimizers/registry.ts';
import access from './plugins/access.ts';
import delivery from './plugins/delivery.ts';
import docs from './plugins/docs.ts';
import metrics from './plugins/metrics.ts';
import overload from './plugins/overload.ts';
import pool from './plugins/pool.ts';
import problems from './plugins/problems.ts';
import security from './plugins/security.ts';
import { zodValidatorCompiler } from './plugins/zod-validator.ts';
import catalogueRoutes from './routes/catalogue.ts';
import checkRoutes from './routes/check.ts';
import healthRoutes from './routes/health.ts';
import layerRoutes from './routes/layers.ts';
import v2Routes from './routes/v2.ts';
import networkRoutes from './routes/networks.ts';
import optimizerRoutes from './routes/optimizers.ts';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    layerNames: string[];
    ruleNames: string[];
    shuttingDown: boolean;
  }
  interface FastifyRequest {
    receivedAt: number;
  }
}

/** Builds the whole service. Tests call this and use app.inject(); server.ts only listens. */
export async function buildApp(config: Config): Promise<FastifyInstance> {
  const layers = [...LAYERS, ...(config.ENABLE_FAULT_LAYER ? TEST_LAYERS : [])];
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      // Never log bodies (tensors are large and are the client's data) nor credentials.
      redact: ['req.headers.authorization'],
    },
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    // request.ip (rate-limit key, request logs) is the X-Forwarded-For client only behind a trusted proxy
    trustProxy: config.TRUST_PROXY.length > 0 ? [...config.TRUST_PROXY] : false,
    // Slow clients (README, "Shutdown, slow clients and timeouts"): headers must arrive within
    // HEADERS_TIMEOUT_MS and the whole request within REQUEST_TIMEOUT_MS (408 and closed after), checked
    // often enough that those bounds hold; idle kept-alive connections close after KEEP_ALIVE_TIMEOUT_MS.
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    http: {
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: Math.min(1_000, Math.max(50, config.HEADERS_TIMEOUT_MS / 10)),
    },
  });
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Only JSON is accepted; fastify's default text/plain parser would let other types reach validation.
  app.removeContentTypeParser('text/plain');

  app.decorate('config', config);
  app.decorate('layerNames', layers.map((l) => l.name));
  app.decorate('ruleNames', RULES.map((r) => r.name));
  app.decorate('shuttingDown', false);
  app.decorateRequest('receivedAt', 0);
  app.addHook('onRequest', async (request, reply) => {
    request.receivedAt = performance.now();
    reply.header('x-request-id', request.id);
  });
  // Layer answers carry their parts (parse, decode, queue, kernel, encode); every other answer,
  // problems included, at least says how long it took.
  app.addHook('onSend', async (request, reply) => {
    if (!reply.hasHeader('server-timing')) reply.header('server-timing', `total;dur=${(performance.now() - request.receivedAt).toFixed(3)}`);
  });

  // Order matters. Problems first: it renders every error after it. Then what can refuse a request
  // cheaply (headers, access, shutdown and slow readers, overload), the pool that routes need,
  // metrics, docs, and the routes.
  await app.register(problems);
  await app.register(security);
  await app.register(access, { tokens: config.API_TOKENS, docs: config.DOCS_ACCESS, metrics: config.METRICS_ACCESS });
  await app.register(delivery, { maxUnsentBytes: config.MAX_UNSENT_BYTES, sendTimeoutMs: config.SEND_TIMEOUT_MS });
  await app.register(overload, {
    maxEventLoopDelayMs: config.MAX_EVENT_LOOP_DELAY_MS,
    maxHeapUsedBytes: config.MAX_HEAP_USED_BYTES,
    maxRssBytes: config.MAX_RSS_BYTES,
    rateLimitMax: config.RATE_LIMIT_MAX,
    rateLimitWindowMs: config.RATE_LIMIT_WINDOW_MS,
  });
  await app.register(pool, { workers: config.WORKERS, maxQueue: config.MAX_QUEUE, timeoutMs: config.COMPUTE_TIMEOUT_MS });
  await app.register(metrics, { expose: config.METRICS_ACCESS !== 'off' });
  if (config.DOCS_ACCESS !== 'off') await app.register(docs);
  await app.register(healthRoutes);
  await app.register(catalogueRoutes, { layers });
  await app.register(layerRoutes, { layers, limits: { maxRank: config.MAX_RANK, maxElements: config.MAX_ELEMENTS } });
  await app.register(checkRoutes, { layers, limits: { maxRank: config.MAX_RANK, maxElements: config.MAX_ELEMENTS } });
  await app.register(v2Routes, { prefix: '/v2', layers, limits: { maxRank: config.MAX_RANK, maxElements: config.MAX_ELEMENTS } });
  await app.register(networkRoutes, { testLayers: config.ENABLE_FAULT_LAYER, limits: { maxRank: config.MAX_RANK, maxElements: config.MAX_ELEMENTS } });
  await app.register(optimizerRoutes, { rules: RULES, limits: { maxRank: config.MAX_RANK, maxElements: config.MAX_ELEMENTS } });
  return app;
}
