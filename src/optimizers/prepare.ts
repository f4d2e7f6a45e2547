import { ProblemError } from '../errors/problems.ts';
import type { Tensor } from '../kernels/types.ts';
import type { Limits } from '../layers/prepare.ts';
import { expectShape } from '../layers/shape-rules.ts';
import type { LayerTask } from '../layers/types.ts';
import { decodeTensor, readHeader, type TensorHeader } from '../tensors/decode.ts';
import type { Form } from '../tensors/wire.ts';
import type { StepRequest } from './schema.ts';
import type { RuleDefinition } from './types.ts';

/** The worker task name of a rule's step: no layer has a ':' in its name. */
export const stepTaskName = (rule: string) => `optimizer:${rule}`;

export interface PreparedStep {
  /**
   * The step as a worker task: inputs w and dw, the rule's params, state tensors under their names
   * and integer state (adam's t) as one-element Float64Arrays, so that every value crosses as a buffer.
   */
  task: LayerTask;
  form: Form;
}

/** Every 4xx decision about a step request, in order of cost: shapes and counts, then numbers. */
export function prepareStep(rule: RuleDefinition, body: StepRequest, limits: Limits): PreparedStep {
  const w = readHeader('inputs.w', body.inputs.w, limits.maxRank);
  const dw = readHeader('inputs.dw', body.inputs.dw, limits.maxRank);
  const stateHeaders: Record<string, TensorHeader> = {};
  let elements = w.size + dw.size;
  for (const key of rule.state) {
    const wire = body.state?.[key.name];
    if (key.kind !== 'tensor' || wire === undefined) continue;
    stateHeaders[key.name] = readHeader(`state.${key.name}`, wire as Exclude<typeof wire, number>, limits.maxRank);
    elements += stateHeaders[key.name].size;
  }
  if (elements > limits.maxElements) {
    throw new ProblemError('tooManyElements', `the request holds ${elements} tensor elements; the limit is ${limits.maxElements}`);
  }
  expectShape('inputs.dw', dw.shape, w.shape, 'it is the gradient of w, so');
  for (const [name, h] of Object.entries(stateHeaders)) expectShape(`state.${name}`, h.shape, w.shape, `${rule.name} keeps one value per element of w, so`);

  const dtype = body.dtype;
  const state: Record<string, Tensor> = {};
  for (const key of rule.state) {
    if (key.kind === 'integer') {
      const v = body.state?.[key.name];
      if (v !== undefined) state[key.name] = { shape: [1], data: Float64Array.of(v as number) };
      continue;
    }
    const h = stateHeaders[key.name];
    if (!h) continue;
    const t = decodeTensor(h, dtype);
    if (key.nonNegative) {
      for (let i = 0; i < t.data.length; i++) {
        if (t.data[i] < 0) throw ProblemError.at('invalidParam', `state.${key.name}[${i}]`, `is ${t.data[i]}; ${key.name} is a moving average of squares, so it must be >= 0`);
      }
    }
    state[key.name] = t;
  }
  const task: LayerTask = {
    layer: stepTaskName(rule.name),
    dtype,
    mode: 'train',
    params: body.params,
    inputs: { w: decodeTensor(w, dtype), dw: decodeTensor(dw, dtype) },
    labels: {},
    state,
  };
  return { task, form: body.encoding ?? w.form };
}
