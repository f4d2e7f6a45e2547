import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { gradientInputs, MODES, type LayerDefinition } from '../layers/types.ts';

const LayerInfo = z.object({
  name: z.string(),
  route: z.string(),
  summary: z.string(),
  description: z.string(),
  inputs: z.array(z.object({ name: z.string(), kind: z.enum(['float', 'labels']), layout: z.string(), rank: z.union([z.int(), z.string()]) })),
  params: z.record(z.string(), z.unknown()).meta({ description: 'JSON Schema of the params, defaults included' }),
  outputs: z.array(z.string()),
  modes: z.array(z.string()).optional(),
  example: z.record(z.string(), z.unknown()),
});

function describe(def: LayerDefinition) {
  const rank = (r: LayerDefinition['inputs'][number]) =>
    r.kind === 'labels' ? 1 : typeof r.rank === 'number' ? r.rank : r.rank === 'any' ? 'any' : `>= ${r.rank.min}`;
  const grads = gradientInputs(def).map((name) => `grads.${name}`);
  return {
    name: def.name,
    route: `/v1/layers/${def.name}`,
    summary: def.summary,
    description: def.description,
    inputs: def.inputs.map((i) => ({ name: i.name, kind: i.kind, layout: i.layout, rank: rank(i) })),
    params: z.toJSONSchema(def.params, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
    outputs: [def.loss ? 'loss' : 'out', ...grads, ...(def.state?.keys.map((k) => `state.${k}`) ?? []), ...(def.outputs ?? []).map((o) => o.name)],
    ...(def.modes ? { modes: [...MODES] } : {}),
    example: def.example,
  };
}

/** GET /v1/layers: every layer with its inputs, params (with defaults) and outputs. */
export default async function catalogueRoutes(app: FastifyInstance, opts: { layers: readonly LayerDefinition[] }) {
  const body = { layers: opts.layers.map(describe) };
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/layers',
    { schema: { tags: ['service'], summary: 'Every layer: inputs, params with defaults, outputs', response: { 200: z.object({ layers: z.array(LayerInfo) }) } } },
    async () => body,
  );
}
