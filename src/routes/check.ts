import type { FastifyInstance } from 'fastify';
import { runCheck, type PreparedCheck } from '../check/check.ts';
import { runGradcheck, type PreparedGradcheck } from '../check/gradcheck.ts';
import { CHECK_THRESHOLD, checkRequestSchema, checkResponseSchema, GRADCHECK, gradcheckRequestSchema, gradcheckResponseSchema } from '../check/schema.ts';
import type { Runner } from '../check/variants.ts';
import { ProblemError } from '../errors/problems.ts';
import { runLayer } from '../pool/dispatch.ts';
import { inContext } from '../pool/pipeline.ts';
import { FRAMING_NOTE, problemResponses, type LayerRouteOptions } from './layers.ts';
import { acceptRawBodies, postOnWorker } from './worker-route.ts';

/**
 * Runs tasks on the pool for one request. Tensors are copied to the workers, not transferred: the
 * check keeps the inputs for the hints. A client that goes away cancels whatever is queued or running.
 */
const runnerFor = (app: FastifyInstance, cancel: AbortController): Runner => async (def, task) =>
  (await runLayer(app.pool, def, task, { transfer: false, cancel })).result;

/** Problems of the second half name the layer and the route once ("conv/check: …"), as the worker's do. */
async function named<T>(layer: string, route: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw e instanceof ProblemError ? inContext(e, `${layer}/${route}`, layer) : e;
  }
}

/**
 * POST /v1/layers/{layer}/check and /gradcheck, one pair per registry entry. The body is parsed,
 * validated and decoded on a worker (src/check/endpoint.ts); the reference, variants and probes
 * run across the pool from here, and the small answer is serialized here.
 */
export default async function checkRoutes(app: FastifyInstance, opts: LayerRouteOptions) {
  acceptRawBodies(app);
  for (const def of opts.layers) {
    postOnWorker(app, {
      url: `/v1/layers/${def.name}/check`,
      endpoint: 'check',
      key: def.name,
      limits: opts.limits,
      config: { layer: `${def.name}/check` },
      onHandoff: (prepared: PreparedCheck, { cancel }) => named(def.name, 'check', () => runCheck(def, prepared, runnerFor(app, cancel))),
      schema: {
        tags: ['check'],
        security: [{ bearer: [] }, {}],
        summary: `Check your own ${def.name}: ${def.loss ? 'loss' : 'out'}, gradients${def.state ? `, ${def.state.what}` : ''}`,
        description:
          `The ${def.name} request body plus \`claimed\`: what your implementation computed, in the form of this layer's answer. ` +
          'The service computes the reference in float64 and answers, per claimed tensor, cs231n\'s relative error, the largest absolute error, ' +
          `the worst element, pass or fail (threshold ${CHECK_THRESHOLD.float64}, or ${CHECK_THRESHOLD.float32} for float32, or \`threshold\`) ` +
          'and hints when a common mistake is recognised (transposed or mis-shaped, off by a factor, flipped kernel, momentum, variance estimator, eps).' +
          FRAMING_NOTE,
        body: checkRequestSchema(def),
        response: {
          200: { description: 'per claimed tensor: the errors, the worst element, pass or fail, hints', content: { 'application/json': { schema: checkResponseSchema } } },
          ...problemResponses,
        },
      },
    });
    postOnWorker(app, {
      url: `/v1/layers/${def.name}/gradcheck`,
      endpoint: 'gradcheck',
      key: def.name,
      limits: opts.limits,
      config: { layer: `${def.name}/gradcheck` },
      onHandoff: (prepared: PreparedGradcheck, { cancel }) =>
        named(def.name, 'gradcheck', () => runGradcheck(def, prepared, runnerFor(app, cancel), app.pool.size)),
      schema: {
        tags: ['check'],
        security: [{ bearer: [] }, {}],
        summary: `Numeric gradient check of the service's ${def.name} backward`,
        description:
          `The ${def.name} request body, plus optional \`step\` (default ${GRADCHECK.step}), \`samples\` (coordinates per input, default ${GRADCHECK.samples}), ` +
          `\`seed\` and \`threshold\` (default ${GRADCHECK.threshold}). Centered differences in float64 of ` +
          (def.loss ? 'the loss' : 'sum(out · dout), with your dout or a seeded random one') +
          ', against the analytic gradient of every float input.' +
          FRAMING_NOTE,
        body: gradcheckRequestSchema(def),
        response: {
          200: { description: 'per input: relative error, coordinates checked, the worst one', content: { 'application/json': { schema: gradcheckResponseSchema } } },
          ...problemResponses,
        },
      },
    });
  }
}
