import { z } from 'zod';
import { Dtype, FORMS, TensorSchema } from '../tensors/wire.ts';
import type { RuleDefinition } from './types.ts';

const stateFields = (rule: RuleDefinition, optional: boolean) =>
  Object.fromEntries(
    rule.state.map((k) => {
      const field = k.kind === 'integer' ? z.int().min(0, { error: `${k.name} is a step count: an integer >= 0` }) : TensorSchema;
      return [k.name, (optional ? field.optional() : field).meta({ description: k.description })];
    }),
  );

/**
 * The request body of POST /v1/optimizers/{rule}: strict everywhere, so an unknown param or state key
 * is refused by name. Missing state keys (or no `state`) start fresh.
 */
export function stepRequestSchema(rule: RuleDefinition) {
  return z
    .strictObject({
      dtype: Dtype.default('float64'),
      inputs: z.strictObject({
        w: TensorSchema.meta({ description: 'w: the parameters, any shape' }),
        dw: TensorSchema.meta({ description: 'dw: the gradient of the loss with respect to w, shaped like w' }),
      }),
      params: rule.params,
      state: z
        .strictObject(stateFields(rule, true))
        .optional()
        .meta({ description: rule.state.length ? `the state of the previous step (${rule.state.map((k) => k.name).join(', ')}); missing keys start fresh` : 'sgd keeps no state: {} or omitted' }),
      encoding: z.enum(FORMS).optional().meta({ description: 'form of the response tensors; default: the form of inputs.w' }),
    })
    .meta({ example: rule.example });
}

export type StepRequest = {
  dtype: z.infer<typeof Dtype>;
  inputs: { w: z.infer<typeof TensorSchema>; dw: z.infer<typeof TensorSchema> };
  params: unknown;
  state?: Record<string, z.infer<typeof TensorSchema> | number>;
  encoding?: (typeof FORMS)[number];
};

/** The 200 answer, for the docs: the next w and the next state (every key of the rule). */
export function stepResponseSchema(rule: RuleDefinition) {
  return z.strictObject({
    w: TensorSchema.meta({ description: 'the next w, in the form of inputs.w unless encoding says otherwise' }),
    state: z.strictObject(stateFields(rule, false)).meta({ description: 'the next state: send it back with the next step' }),
  });
}
