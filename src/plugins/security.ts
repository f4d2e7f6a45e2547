import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Security headers. The content security policy allows what Swagger UI needs (its own scripts and
 * styles, inline styles, data: images) and nothing from elsewhere.
 */
async function security(app: FastifyInstance) {
  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        frameAncestors: ["'none'"],
        upgradeInsecureRequests: null,
      },
    },
    // Swagger UI is served from the same origin; cross-origin isolation would only get in the way.
    crossOriginEmbedderPolicy: false,
    hsts: false,
  });
}

export default fp(security, { name: 'security' });
