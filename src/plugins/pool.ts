import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { KernelPool, type PoolOptions } from '../pool/pool.ts';

declare module 'fastify' {
  interface FastifyInstance {
    pool: KernelPool;
  }
}

/** Owns the worker pool: opens it with the app, closes it with the app. */
async function pool(app: FastifyInstance, opts: PoolOptions) {
  const kernels = new KernelPool(opts);
  app.decorate('pool', kernels);
  app.addHook('onReady', () => kernels.ready());
  app.addHook('onClose', () => kernels.close());
}

export default fp(pool, { name: 'pool' });
