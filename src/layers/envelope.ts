import { z } from 'zod';
import { Dtype, FORMS, LabelsSchema, TensorSchema } from '../tensors/wire.ts';
import { gradientInputs, MODES, type LayerDefinition, type StateSpec } from './types.ts';

/**
 * The request body of POST /v1/layers/{layer}, built from the layer's definition: only the fields
 * the layer uses exist, and every object is strict, so an unknown input, param, `mode`, `state`
 * or `dout` is refused by name.
 */
export function requestSchema(def: LayerDefinition) {
  const inputs = Object.fromEntries(
    def.inputs.map((i) => {
      const wire = (i.kind === 'labels' ? LabelsSchema : TensorSchema).meta({ description: `${i.name}: ${i.layout}` });
      return [i.name, i.kind === 'float' && i.optional ? wire.optional() : wire];
    }),
  );
  return z
    .strictObject({
      dtype: Dtype.default('float64'),
      ...(def.modes ? { mode: z.enum(MODES).default('train').meta({ description: `train: ${def.modes.train}; test: ${def.modes.test}` }) } : {}),
      ...(def.state ? { state: stateSchema(def.state).optional().meta({ description: def.state.description }) } : {}),
      inputs: z.strictObject(inputs),
      params: def.params,
      ...(def.loss ? {} : { dout: TensorSchema.optional().meta({ description: 'upstream gradient, shaped like out; when sent, grads are returned' }) }),
      encoding: z.enum(FORMS).optional().meta({ description: 'form of the response tensors; default: the form of inputs.x (binary: a framed answer, see Inference-Header-Content-Length)' }),
    })
    .meta({ example: def.example });
}

const stateSchema = (state: StateSpec) => z.strictObject(Object.fromEntries(state.keys.map((k) => [k, TensorSchema])));

export type LayerRequest = {
  dtype: z.infer<typeof Dtype>;
  mode?: 'train' | 'test';
  state?: Record<string, z.infer<typeof TensorSchema>>;
  inputs: Record<string, unknown>;
  params: unknown;
  dout?: z.infer<typeof TensorSchema>;
  encoding?: (typeof FORMS)[number];
};

/** The 200 answer, for the docs. Tensors come back in the request's form. */
export function responseSchema(def: LayerDefinition) {
  const grads = z.strictObject(Object.fromEntries(gradientInputs(def).map((name) => [name, TensorSchema.optional()])));
  const outputs = (def.outputs ?? []).map((o) => [o.name, TensorSchema.optional().meta({ description: `${o.layout}; in ${o.modes.join(', ')} mode` })]);
  return z.strictObject({
    ...(def.loss ? { loss: z.number().meta({ description: 'mean over N' }) } : { out: TensorSchema }),
    grads: (def.loss ? grads : grads.optional()).meta({ description: def.loss ? 'always present for a loss' : 'present iff dout was sent' }),
    ...(def.state
      ? { state: stateSchema(def.state).optional().meta({ description: `updated ${def.state.what} (${def.state.returnedIn.join(', ')} mode)` }) }
      : {}),
    ...Object.fromEntries(outputs),
  });
}

export const ProblemSchema = z
  .object({
    type: z.string().meta({ example: 'urn:layerserve:problem:shape-mismatch' }),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' });
