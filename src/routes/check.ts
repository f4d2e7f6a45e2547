import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { runCheck } from '../check/check.ts';
import { runGradcheck } from '../check/gradcheck.ts';
import {
  CHECK_THRESHOLD,
  checkRequestSchema,
  checkResponseSchema,
  GRADCHECK,
  gradcheckRequestSchema,
  gradcheckResponseSchema,
  type CheckRequest,
  type GradcheckRequest,
} from '../check/schema.ts';
import type { Runner } from '../check/variants.ts';
import { ProblemError } from '../errors/problems.ts';
import { ProblemSchema } from '../layers/envelope.ts';
import { runLayer } from '../pool/dispatch.ts';
import { cancelOnDisconnect } from './cancel.ts';
import type { LayerRouteOptions } from './layers.ts';

const problems = {
  '4xx': { description: 'a problem with the request', content: { 'application/problem+json': { schema: ProblemSchema } } },
  '5xx': { description: 'a fault, overload or time limit', content: { 'application/problem+json': { schema: ProblemSchema } } },
};

/**
 * Runs tasks on the pool for one request. Tensors are copied to the workers, not transferred: the
 * check keeps the inputs for the hints. A client that goes away cancels whatever is queued or running.
 */
function runnerFor(app: FastifyInstance, reply: FastifyReply): { run: Runner; done: () => void } {
  const { cancel, release } = cancelOnDisconnect(reply);
  return {
    run: async (def, task) => (await runLayer(app.pool, def, task, { transfer: false, cancel })).result,
    done: release,
  };
}

/** Problems about a request name the layer and the route first ("conv/check: …"), as validation problems do. */
async function inContext<T>(layer: string, route: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    if (!(e instanceof ProblemError)) throw e;
    // Some shape rules already name the layer; name the route instead, once.
    const detail = e.message.startsWith(`${layer}: `) ? e.message.slice(layer.length + 2) : e.message;
    throw new ProblemError(e.kind, detail, { errors: e.errors, headers: e.headers, extensions: e.extensions }).inContext(`${layer}/${route}`);
  }
}

/** POST /v1/layers/{layer}/check and /gradcheck, one pair per registry entry. */
export default async function checkRoutes(app: FastifyInstance, opts: LayerRouteOptions) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const def of opts.layers) {
    r.post(
      `/v1/layers/${def.name}/check`,
      {
        schema: {
          tags: ['check'],
          security: [{ bearer: [] }, {}],
          summary: `Check your own ${def.name}: ${def.loss ? 'loss' : 'out'}, gradients${def.state ? `, ${def.state.what}` : ''}`,
          description:
            `The ${def.name} request body plus \`claimed\`: what your implementation computed, in the form of this layer's answer. ` +
            'The service computes the reference in float64 and answers, per claimed tensor, cs231n\'s relative error, the largest absolute error, ' +
            `the worst element, pass or fail (threshold ${CHECK_THRESHOLD.float64}, or ${CHECK_THRESHOLD.float32} for float32, or \`threshold\`) ` +
            'and hints when a common mistake is recognised (transposed or mis-shaped, off by a factor, flipped kernel, momentum, variance estimator, eps).',
          body: checkRequestSchema(def),
          response: {
            200: { description: 'per claimed tensor: the errors, the worst element, pass or fail, hints', content: { 'application/json': { schema: checkResponseSchema } } },
            ...problems,
          },
        },
        config: { layer: `${def.name}/check` },
      },
      async (request, reply) => {
        const { run, done } = runnerFor(app, reply);
        try {
          return await inContext(def.name, 'check', () => runCheck(def, request.body as CheckRequest, opts.limits, run));
        } finally {
          done();
        }
      },
    );
    r.post(
      `/v1/layers/${def.name}/gradcheck`,
      {
        schema: {
          tags: ['check'],
          security: [{ bearer: [] }, {}],
          summary: `Numeric gradient check of the service's ${def.name} backward`,
          description:
            `The ${def.name} request body, plus optional \`step\` (default ${GRADCHECK.step}), \`samples\` (coordinates per input, default ${GRADCHECK.samples}), ` +
            `\`seed\` and \`threshold\` (default ${GRADCHECK.threshold}). Centered differences in float64 of ` +
            (def.loss ? 'the loss' : 'sum(out · dout), with your dout or a seeded random one') +
            ', against the analytic gradient of every float input.',
          body: gradcheckRequestSchema(def),
          response: {
            200: { description: 'per input: relative error, coordinates checked, the worst one', content: { 'application/json': { schema: gradcheckResponseSchema } } },
            ...problems,
          },
        },
        config: { layer: `${def.name}/gradcheck` },
      },
      async (request, reply) => {
        const { run, done } = runnerFor(app, reply);
        try {
          return await inContext(def.name, 'gradcheck', () => runGradcheck(def, request.body as GradcheckRequest, opts.limits, run, app.pool.size));
        } finally {
          done();
        }
      },
    );
  }
}
