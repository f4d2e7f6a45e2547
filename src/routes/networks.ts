import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { ProblemSchema } from '../layers/envelope.ts';
import type { Limits } from '../layers/prepare.ts';
import type { LayerDefinition } from '../layers/types.ts';
import { findLayer } from '../layers/registry.ts';
import { runNetworkGradcheck, type NetworkGradcheckRequest, type NetworkRunner } from '../networks/gradcheck.ts';
import { prepareNetwork } from '../networks/prepare.ts';
import { encodeStep } from '../networks/respond.ts';
import { gradcheckRequestSchema, stepRequestSchema, stepResponseSchema, type StepRequest } from '../networks/schema.ts';
import { gradcheckResponseSchema } from '../check/schema.ts';
import { NETWORK_STEP } from '../networks/step.ts';
import { runLayer } from '../pool/dispatch.ts';
import { cancelOnDisconnect } from './cancel.ts';

const now = () => performance.now();
const ms = (d: number) => d.toFixed(3);

export interface NetworkRouteOptions {
  /** the layers a network may use: those the app exposes */
  layers: readonly LayerDefinition[];
  limits: Limits;
}

const problems = {
  '4xx': { description: 'a problem with the request', content: { 'application/problem+json': { schema: ProblemSchema } } },
  '5xx': { description: 'a fault, overload or time limit', content: { 'application/problem+json': { schema: ProblemSchema } } },
};

/** POST /v1/networks/step: a whole model's forward and backward as one task on one worker. */
export default async function networkRoutes(app: FastifyInstance, opts: NetworkRouteOptions) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const catalogue = new Map(opts.layers.map((l) => [l.name, l]));
  const step = findLayer(NETWORK_STEP)!;
  r.post(
    '/v1/networks/step',
    {
      schema: {
        tags: ['networks'],
        security: [{ bearer: [] }, {}],
        summary: 'A whole network: forward, loss, backward (and an update) in one call',
        description:
          'Layers of /v1/layers run in order, each one\'s x the previous one\'s output; w, b, gamma, beta are named tensors in `params`, bound by each ' +
          'layer\'s `inputs` (shared tensors get the sum of their gradients). With a loss last and `y`: `loss` (plus cs231n\'s L2 `reg` on the tensors ' +
          'bound to w) and `grads` of every tensor; batchnorm-family layers return their running statistics in `state`, keyed by layer name. Without a ' +
          'loss or without y: the scores `out`. Intermediate activations never leave the worker that computes them.',
        body: stepRequestSchema,
        response: {
          200: {
            description: 'loss and grads (and state); or out',
            content: { 'application/json': { schema: stepResponseSchema } },
          },
          ...problems,
        },
      },
      config: { layer: 'networks/step' },
    },
    async (request, reply) => {
      const t0 = now();
      const prepared = prepareNetwork(request.body as StepRequest, opts.limits, catalogue);
      const t1 = now();
      const { cancel, release } = cancelOnDisconnect(reply);
      const answer = await runLayer(app.pool, step, prepared.task, { transfer: true, cancel }).finally(release);
      const t2 = now();
      const text = encodeStep(answer.result, prepared.task.params, prepared.form, prepared.task.dtype);
      const t3 = now();
      const wait = Math.max(0, t2 - t1 - answer.kernelMs);
      reply.header(
        'server-timing',
        `parse;dur=${ms(t0 - request.receivedAt)}, decode;dur=${ms(t1 - t0)}, queue;dur=${ms(Math.min(answer.queueMs, wait))}, ` +
          `kernel;dur=${ms(answer.kernelMs)}, encode;dur=${ms(t3 - t2)}`,
      );
      return (reply as FastifyReply).type('application/json; charset=utf-8').send(text);
    },
  );

  r.post(
    '/v1/networks/step/gradcheck',
    {
      schema: {
        tags: ['networks'],
        security: [{ bearer: [] }, {}],
        summary: 'Numeric gradient check of a whole network\'s loss',
        description:
          'The body of /v1/networks/step (without `update`), plus the layer gradcheck\'s `step`, `samples` (coordinates per tensor), `seed` and `threshold`. ' +
          'Centered differences in float64 of the whole loss (reg included) at sampled coordinates of every tensor in params, against the step\'s ' +
          'gradients; the last layer must be a loss and `y` is required. The answer is shaped like the layer gradcheck\'s, keyed `grads.<name>`.',
        body: gradcheckRequestSchema,
        response: {
          200: { description: 'per tensor: relative error, coordinates checked, the worst one', content: { 'application/json': { schema: gradcheckResponseSchema } } },
          ...problems,
        },
      },
      config: { layer: 'networks/step/gradcheck' },
    },
    async (request, reply) => {
      const { cancel, release } = cancelOnDisconnect(reply);
      // The tensors are copied, not transferred: every probe perturbs its own copy of the same inputs.
      const run: NetworkRunner = async (task) => (await runLayer(app.pool, step, task, { transfer: false, cancel })).result;
      try {
        return await runNetworkGradcheck(request.body as NetworkGradcheckRequest, opts.limits, catalogue, run, app.pool.size);
      } finally {
        release();
      }
    },
  );
}
