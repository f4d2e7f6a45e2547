import { memoSchema, type WorkerEndpoint } from '../pool/endpoint.ts';
import { computeStep } from './compute.ts';
import { prepareStep } from './prepare.ts';
import { findRule } from './registry.ts';
import { encodeStep } from './respond.ts';
import { stepRequestSchema, type StepRequest } from './schema.ts';
import type { RuleDefinition } from './types.ts';

function rule(name: string): RuleDefinition {
  const def = findRule(name);
  if (!def) throw new Error(`no update rule ${name}`);
  return def;
}

/** POST /v1/optimizers/{rule} on the workers: validate, prepare, step and encode, all on one worker. */
export const optimizerEndpoint: WorkerEndpoint = {
  schema: memoSchema((name) => stepRequestSchema(rule(name))),
  context: (name) => `optimizers/${name}`,
  handle(name, body, { limits }) {
    const def = rule(name);
    const { task, form } = prepareStep(def, body as StepRequest, limits);
    return { compute: () => computeStep(def, task), encode: (result) => encodeStep(def, result, form, task.dtype) };
  },
};
