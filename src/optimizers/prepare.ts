import { ProblemError } from '../errors/problems.ts';
import type { Dtype, FloatArray } from '../kernels/types.ts';
import type { Limits } from '../layers/prepare.ts';
import { expectShape } from '../layers/shape-rules.ts';
import { decodeTensor, readHeader, type TensorHeader } from '../tensors/decode.ts';
import type { Form } from '../tensors/wire.ts';
import type { StepRequest } from './schema.ts';
import type { RuleDefinition, RuleState } from './types.ts';

/** A checked, decoded step: plain data and typed arrays (w's dtype), ready for the rule's step. */
export interface StepTask {
  dtype: Dtype;
  /** w's shape (dw and every state tensor have it too) */
  shape: number[];
  w: FloatArray;
  dw: FloatArray;
  params: unknown;
  /** the state sent: tensors as typed arrays, integers (adam's t) as numbers; missing keys start fresh */
  state: Partial<RuleState>;
}

export interface PreparedStep {
  task: StepTask;
  /** the wire form of the answer's tensors */
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
  const state: Partial<RuleState> = {};
  for (const key of rule.state) {
    const v = body.state?.[key.name];
    if (key.kind === 'integer') {
      if (v !== undefined) state[key.name] = v as number;
      continue;
    }
    const h = stateHeaders[key.name];
    if (!h) continue;
    const { data } = decodeTensor(h, dtype);
    if (key.nonNegative) {
      for (let i = 0; i < data.length; i++) {
        if (data[i] < 0) throw ProblemError.at('invalidParam', `state.${key.name}[${i}]`, `is ${data[i]}; ${key.name} is a moving average of squares, so it must be >= 0`);
      }
    }
    state[key.name] = data;
  }
  const task: StepTask = { dtype, shape: w.shape, w: decodeTensor(w, dtype).data, dw: decodeTensor(dw, dtype).data, params: body.params, state };
  return { task, form: body.encoding ?? w.form };
}
