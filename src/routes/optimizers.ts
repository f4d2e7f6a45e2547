import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Limits } from '../layers/prepare.ts';
import { stepRequestSchema, stepResponseSchema } from '../optimizers/schema.ts';
import type { RuleDefinition } from '../optimizers/types.ts';
import { FRAMING_NOTE, problemResponses } from './layers.ts';
import { acceptRawBodies, postOnWorker } from './worker-route.ts';

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

/**
 * POST /v1/optimizers/{rule}, one route per rule, run on a worker (src/optimizers/endpoint.ts), and
 * GET /v1/optimizers.
 */
export default async function optimizerRoutes(app: FastifyInstance, opts: { rules: readonly RuleDefinition[]; limits: Limits }) {
  const catalogue = { rules: opts.rules.map(describe) };
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/optimizers',
    { schema: { tags: ['service'], summary: 'Every update rule: params with defaults, state keys', response: { 200: z.object({ rules: z.array(RuleInfo) }) } } },
    async () => catalogue,
  );
  acceptRawBodies(app);
  for (const rule of opts.rules) {
    postOnWorker(app, {
      url: `/v1/optimizers/${rule.name}`,
      endpoint: 'optimizer',
      key: rule.name,
      limits: opts.limits,
      config: { layer: `optimizers/${rule.name}` },
      schema: {
        tags: ['optimizers'],
        security: [{ bearer: [] }, {}],
        summary: rule.summary,
        description: rule.description + FRAMING_NOTE,
        body: stepRequestSchema(rule),
        response: {
          200: { description: 'the next w and the next state', content: { 'application/json': { schema: stepResponseSchema(rule) } } },
          ...problemResponses,
        },
      },
    });
  }
}
