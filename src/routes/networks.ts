import type { FastifyInstance } from 'fastify';
import { gradcheckResponseSchema } from '../check/schema.ts';
import { ProblemError } from '../errors/problems.ts';
import type { Limits } from '../layers/prepare.ts';
import { NETWORK_KEYS } from '../networks/endpoint.ts';
import type { PreparedNetworkGradcheck } from '../networks/plan.ts';
import { runNetworkGradcheck, type NetworkRunner } from '../networks/gradcheck.ts';
import { gradcheckRequestSchema, stepRequestSchema, stepResponseSchema } from '../networks/schema.ts';
import { inContext } from '../pool/pipeline.ts';
import { FRAMING_NOTE, problemResponses } from './layers.ts';
import { acceptRawBodies, postOnWorker } from './worker-route.ts';

export interface NetworkRouteOptions {
  limits: Limits;
  /** whether networks may use the test-only layers (the app exposes them: ENABLE_FAULT_LAYER) */
  testLayers: boolean;
}

/**
 * POST /v1/networks/step and /step/gradcheck. A step is one request on one worker
 * (src/networks/endpoint.ts): parse, checks, forward, backward, update, encode; its activations never
 * leave that worker. The gradcheck's body is checked and decoded on a worker, and its probes run
 * across the pool from here.
 */
export default async function networkRoutes(app: FastifyInstance, opts: NetworkRouteOptions) {
  acceptRawBodies(app);
  const key = opts.testLayers ? NETWORK_KEYS.withTestLayers : NETWORK_KEYS.public;
  postOnWorker(app, {
    url: '/v1/networks/step',
    endpoint: 'network-step',
    key,
    limits: opts.limits,
    config: { layer: 'networks/step' },
    schema: {
      tags: ['networks'],
      security: [{ bearer: [] }, {}],
      summary: 'A whole network: forward, loss, backward and an update in one call',
      description:
        "Layers of /v1/layers run in order, each one's x the previous one's output; w, b, gamma, beta are named tensors in `params`, bound by each " +
        "layer's `inputs` (a shared tensor gets the sum of its gradients). With a loss last and `y`: `loss` (plus cs231n's L2 `reg` on the tensors " +
        'bound to w) and `grads` of every tensor; batchnorm-family layers return their running statistics in `state`, keyed by layer name. With ' +
        '`update`, one step of an update rule of /v1/optimizers over every tensor: the answer adds `params` (the next tensors) and `updateState` ' +
        '(send it back as `update.state` with the next step). Without a loss or without y: the scores `out`. The whole step runs on one worker; ' +
        'intermediate activations never leave it, and the element limit counts them.' +
        FRAMING_NOTE,
      body: stepRequestSchema,
      response: {
        200: { description: 'loss and grads (and state, params, updateState); or out', content: { 'application/json': { schema: stepResponseSchema } } },
        ...problemResponses,
      },
    },
  });

  postOnWorker(app, {
    url: '/v1/networks/step/gradcheck',
    endpoint: 'network-gradcheck',
    key,
    limits: opts.limits,
    config: { layer: 'networks/step/gradcheck' },
    onHandoff: async (prepared: PreparedNetworkGradcheck, { cancel }) => {
      // Copied, not transferred: every probe perturbs its own copy of the same tensors.
      const run: NetworkRunner = async (task) => (await app.pool.run(task, [], cancel)).result;
      try {
        return await runNetworkGradcheck(prepared, run, app.pool.size);
      } catch (e) {
        throw e instanceof ProblemError ? inContext(e, 'networks/step/gradcheck', key) : e;
      }
    },
    schema: {
      tags: ['networks'],
      security: [{ bearer: [] }, {}],
      summary: "Numeric gradient check of a whole network's loss",
      description:
        "The body of /v1/networks/step (without `update` and `encoding`), plus the layer gradcheck's `step`, `samples` (coordinates per tensor), `seed` " +
        "and `threshold`. Centered differences in float64 of the whole loss (reg included) at sampled coordinates of every tensor in params, against the step's " +
        "gradients; the last layer must be a loss and `y` is required. The answer is shaped like the layer gradcheck's, keyed `grads.<name>`." +
        FRAMING_NOTE,
      body: gradcheckRequestSchema,
      response: {
        200: { description: 'per tensor: relative error, coordinates checked, the worst one', content: { 'application/json': { schema: gradcheckResponseSchema } } },
        ...problemResponses,
      },
    },
  });
}
