import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ProblemError } from '../errors/problems.ts';
import { ProblemSchema } from '../layers/envelope.ts';
import type { Limits } from '../layers/prepare.ts';
import { prepareStep } from '../optimizers/prepare.ts';
import { encodeStep } from '../optimizers/respond.ts';
import { stepRequestSchema, stepResponseSchema, type StepRequest } from '../optimizers/schema.ts';
import type { RuleDefinition } from '../optimizers/types.ts';
import { cancelOnDisconnect } from './cancel.ts';

const now = () => performance.now();
const ms = (d: number) => d.toFixed(3);

const RuleInfo = z.object({
  name: z.string(),
  route: z.string(),
  summary: z.string(),
  description: z.string(),
  params: z.record(z.string(), z.unknown()).meta({ description: 'JSON Schema of the params, defaults included' }),
  state: z.array(z.object({ name: z.string(), kind: z.enum(['tensor', 'integer']), description: z.string() })),
  example: z.record(z.string(), z.unknown()),
});

const describe = (rule: RuleDefinition) => ({
  name: rule.name,
  route: `/v1/optimizers/${rule.name}`,
  summary: rule.summary,
  description: rule.description,
  params: z.toJSONSchema(rule.params, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
  state: rule.state.map(({ name, kind, description }) => ({ name, kind, description })),
  example: rule.example,
});

/** POST /v1/optimizers/{rule}, one route per rule, and GET /v1/optimizers. */
export default async function optimizerRoutes(app: FastifyInstance, opts: { rules: readonly RuleDefinition[]; limits: Limits }) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const catalogue = { rules: opts.rules.map(describe) };
  r.get(
    '/v1/optimizers',
    { schema: { tags: ['service'], summary: 'Every update rule: params with defaults, state keys', response: { 200: z.object({ rules: z.array(RuleInfo) }) } } },
    async () => catalogue,
  );
  for (const rule of opts.rules) {
    r.post(
      `/v1/optimizers/${rule.name}`,
      {
        schema: {
          tags: ['optimizers'],
          security: [{ bearer: [] }, {}],
          summary: rule.summary,
          description: rule.description,
          body: stepRequestSchema(rule),
          response: {
            200: { description: 'the next w and the next state', content: { 'application/json': { schema: stepResponseSchema(rule) } } },
            '4xx': { description: 'a problem with the request', content: { 'application/problem+json': { schema: ProblemSchema } } },
            '5xx': { description: 'a fault, overload or time limit', content: { 'application/problem+json': { schema: ProblemSchema } } },
          },
        },
        config: { layer: `optimizers/${rule.name}` },
      },
      async (request, reply) => {
        const t0 = now();
        const prepared = inRule(`optimizers/${rule.name}`, () => prepareStep(rule, request.body as StepRequest, opts.limits));
        const t1 = now();
        const { cancel, release } = cancelOnDisconnect(reply);
        const { task } = prepared;
        const buffers = [...Object.values(task.inputs), ...Object.values(task.state)].map((t) => t.data.buffer as ArrayBuffer);
        const answer = await app.pool.run(task, buffers, cancel).finally(release);
        const t2 = now();
        const text = inRule(`optimizers/${rule.name}`, () => encodeStep(rule, answer.result, prepared.form, task.dtype));
        const t3 = now();
        reply.header(
          'server-timing',
          `parse;dur=${ms(t0 - request.receivedAt)}, decode;dur=${ms(t1 - t0)}, queue;dur=${ms(Math.min(answer.queueMs, Math.max(0, t2 - t1 - answer.kernelMs)))}, ` +
            `kernel;dur=${ms(answer.kernelMs)}, encode;dur=${ms(t3 - t2)}`,
        );
        return (reply as FastifyReply).type('application/json; charset=utf-8').send(text);
      },
    );
  }
}

/** Problems about a request name the rule first ("optimizers/adam: …"), as validation problems do. */
function inRule<T>(rule: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw e instanceof ProblemError ? e.inContext(rule) : e;
  }
}
