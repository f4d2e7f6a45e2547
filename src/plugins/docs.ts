import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';

export const API_VERSION = '1.0.0';

/** The OpenAPI document (from the same zod schemas that validate) and Swagger UI at /docs. */
async function docs(app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'layerserve',
        version: API_VERSION,
        description:
          'CNN layers over HTTP: forward outputs, gradients and batchnorm running statistics, with the semantics of ' +
          "Stanford cs231n's layers.py. Send `dout` to get gradients. Tensors travel nested, flat ({shape, data}) or " +
          'base64; errors are RFC 9457 problem details.',
        license: { name: 'MIT' },
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'needed for /v1 when the service runs with API_TOKENS' },
        },
      },
      tags: [
        { name: 'layers', description: 'one route per layer: forward, backward and state in one call' },
        { name: 'networks', description: 'a whole model\'s forward, loss, backward and update in one call' },
        { name: 'check', description: 'check your own implementation against the reference, and the service\'s backward against numeric gradients' },
        { name: 'optimizers', description: "cs231n optim.py's update rules: one step of w and its state per call" },
        { name: 'service', description: 'catalogue and health' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { docExpansion: 'list', deepLinking: true },
  });
}

export default fp(docs, { name: 'docs' });
