import type { LayerResult } from '../layers/types.ts';
import { memoSchema, type WorkerEndpoint } from '../pool/endpoint.ts';
import { assemble, BinaryWriter } from '../tensors/frame.ts';
import { computeStep } from './compute.ts';
import { prepareStep } from './prepare.ts';
import { findRule } from './registry.ts';
import { encodeStep } from './respond.ts';
import { stepRequestSchema, type StepRequest } from './schema.ts';
import type { RuleDefinition } from './types.ts';

function rule(name: string): RuleDefinition {
  const r = findRule(name);
  if (!r) throw new Error(`no update rule ${name}`);
  return r;
}

/** POST /v1/optimizers/{rule} on the workers: validate, prepare, step, encode. */
export const optimizerEndpoint: WorkerEndpoint = {
  schema: memoSchema((name) => stepRequestSchema(rule(name))),
  context: (name) => `optimizers/${name}`,
  handle(name, body, { limits }) {
    const r = rule(name);
    const { task, form } = prepareStep(r, body as StepRequest, limits);
    return {
      compute: () => computeStep(r, task),
      encode: (result: LayerResult) => {
        const section = form === 'binary' ? new BinaryWriter() : undefined;
        return assemble(encodeStep(r, result, form, task.dtype, section), section);
      },
    };
  },
};
