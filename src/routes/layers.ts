import type { FastifyInstance } from 'fastify';
import { ProblemSchema, requestSchema, responseSchema } from '../layers/envelope.ts';
import type { Limits } from '../layers/prepare.ts';
import type { LayerDefinition } from '../layers/types.ts';
import { acceptRawBodies, postOnWorker, splitContinuation } from './worker-route.ts';

export interface LayerRouteOptions {
  layers: readonly LayerDefinition[];
  limits: Limits;
}

export const problemResponses = {
  '4xx': { description: 'a problem with the request', content: { 'application/problem+json': { schema: ProblemSchema } } },
  '5xx': { description: 'a fault, overload or time limit', content: { 'application/problem+json': { schema: ProblemSchema } } },
};

export const FRAMING_NOTE =
  '\n\nThe body may also be sent framed (API.md, "Binary bodies"): header `Inference-Header-Content-Length: L`, L bytes of this JSON, ' +
  'then a binary section that tensors of the form `{"shape", "dtype", "bytes": [start, end]}` point into; any content type.';

/** POST /v1/layers/{layer}, one route per registry entry; the request runs on a worker (src/layers/endpoint.ts). */
export default async function layerRoutes(app: FastifyInstance, opts: LayerRouteOptions) {
  acceptRawBodies(app);
  for (const def of opts.layers) {
    postOnWorker(app, {
      url: `/v1/layers/${def.name}`,
      endpoint: 'layer',
      key: def.name,
      limits: opts.limits,
      onHandoff: splitContinuation(app, 'layer', def.name),
      config: { layer: def.name },
      schema: {
        tags: ['layers'],
        security: [{ bearer: [] }, {}],
        summary: def.summary,
        description: def.description + FRAMING_NOTE,
        body: requestSchema(def),
        response: {
          200: {
            description: def.loss ? 'the loss and grads.x' : 'out; grads when dout was sent' + (def.state ? `; state in ${def.state.returnedIn.join(', ')} mode` : '') + (def.outputs ?? []).map((o) => `; ${o.name} in ${o.modes.join(', ')} mode`).join(''),
            content: { 'application/json': { schema: responseSchema(def) } },
          },
          ...problemResponses,
        },
      },
    });
  }
}
