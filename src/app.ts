import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import { randomUUID } from 'node:crypto';
import type { Config } from './config.ts';
import { LAYERS } from './layers/registry.ts';
import type { LayerDefinition } from './layers/types.ts';
import docs from './plugins/docs.ts';
import pool from './plugins/pool.ts';
import problems from './plugins/problems.ts';
import { zodValidatorCompiler } from './plugins/zod-validator.ts';
import catalogueRoutes from './routes/catalogue.ts';
import healthRoutes from './routes/health.ts';
import layerRoutes from './routes/layers.ts';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    layerNames: string[];
    shuttingDown: boolean;
  }
}

export interface AppOptions {
  /** extra layers (tests register a fault-injection layer this way) */
  layers?: readonly LayerDefinition[];
}

/** Builds the whole service. Tests call this and use app.inject(); server.ts only listens. */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<FastifyInstance> {
  const layers = [...LAYERS, ...(options.layers ?? [])];
  const app = Fastify({
    logger: {
      level: config.LOG_LEVEL,
      // Never log bodies: tensors can be large and are the client's data.
      redact: ['req.headers.authorization'],
    },
    bodyLimit: config.BODY_LIMIT_BYTES,
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
  });
  app.setValidatorCompiler(zodValidatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Only JSON is accepted; fastify's default text/plain parser would let other types reach validation.
  app.removeContentTypeParser('text/plain');

  app.decorate('config', config);
  app.decorate('layerNames', layers.map((l) => l.name));
  app.decorate('shuttingDown', false);
  app.decorateRequest('receivedAt', 0);
  app.addHook('onRequest', async (request, reply) => {
    request.receivedAt = performance.now();
    reply.header('x-request-id', request.id);
  });

  // Order matters: problem handling first (it covers everything after), then the pool, docs, routes.
  await app.register(problems);
  await app.register(pool, { workers: config.WORKERS });
  await app.register(docs);
  await app.register(healthRoutes);
  await app.register(catalogueRoutes, { layers });
  await app.register(layerRoutes, { layers, limits: { maxRank: config.MAX_RANK, maxElements: config.MAX_ELEMENTS } });
  return app;
}
