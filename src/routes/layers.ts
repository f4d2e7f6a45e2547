import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ProblemSchema, requestSchema, responseSchema, type LayerRequest } from '../layers/envelope.ts';
import { prepareTask, type Limits } from '../layers/prepare.ts';
import { encodeResult } from '../layers/respond.ts';
import { ProblemError } from '../errors/problems.ts';
import type { LayerDefinition } from '../layers/types.ts';
import { runLayer } from '../pool/dispatch.ts';
import { cancelOnDisconnect } from './cancel.ts';

const now = () => performance.now();
const ms = (d: number) => d.toFixed(3);

export interface LayerRouteOptions {
  layers: readonly LayerDefinition[];
  limits: Limits;
}

/** POST /v1/layers/{layer}, one route per registry entry. */
export default async function layerRoutes(app: FastifyInstance, opts: LayerRouteOptions) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const def of opts.layers) {
    r.post(
      `/v1/layers/${def.name}`,
      {
        schema: {
          tags: ['layers'],
          security: [{ bearer: [] }, {}],
          summary: def.summary,
          description: def.description,
          body: requestSchema(def),
          response: {
            200: {
              description: def.loss ? 'the loss and grads.x' : 'out; grads when dout was sent' + (def.state ? `; state in ${def.state.returnedIn.join(', ')} mode` : '') + (def.outputs ?? []).map((o) => `; ${o.name} in ${o.modes.join(', ')} mode`).join(''),
              content: { 'application/json': { schema: responseSchema(def) } },
            },
            '4xx': { description: 'a problem with the request', content: { 'application/problem+json': { schema: ProblemSchema } } },
            '5xx': { description: 'a fault, overload or time limit', content: { 'application/problem+json': { schema: ProblemSchema } } },
          },
        },
        config: { layer: def.name },
      },
      async (request, reply) => {
        const t0 = now();
        const prepared = withLayer(def.name, () => prepareTask(def, request.body as LayerRequest, opts.limits));
        const t1 = now();

        const { cancel, release } = cancelOnDisconnect(reply);
        const answer = await runLayer(app.pool, def, prepared.task, { transfer: true, cancel }).finally(release);

        const t2 = now();
        const text = withLayer(def.name, () => encodeResult(answer.result, prepared.form, prepared.task.dtype));
        const t3 = now();
        const wait = Math.max(0, t2 - t1 - answer.kernelMs);
        reply.header(
          'server-timing',
          `parse;dur=${ms(t0 - request.receivedAt)}, decode;dur=${ms(t1 - t0)}, queue;dur=${ms(Math.min(answer.queueMs, wait))}, ` +
            `kernel;dur=${ms(answer.kernelMs)}${answer.parts > 1 ? `;desc="${answer.parts} workers"` : ''}, encode;dur=${ms(t3 - t2)}`,
        );
        // Already JSON text: the typed reply would want objects, and re-serializing would double the cost.
        return (reply as FastifyReply).type('application/json; charset=utf-8').send(text);
      },
    );
  }
}

/** Problems about a request name the layer first. */
function withLayer<T>(layer: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw e instanceof ProblemError ? e.inContext(layer) : e;
  }
}
