import type { Dtype } from '../kernels/types.ts';
import { answerTensors } from '../tensors/encode.ts';
import { assemble, BinaryWriter, type EncodedBody } from '../tensors/frame.ts';
import type { Form } from '../tensors/wire.ts';
import type { StepResult } from './compute.ts';
import type { RuleDefinition } from './types.ts';

/**
 * A step's result as the 200 answer's bytes: `{"w": T, "state": {...}}`, integer state as a JSON
 * integer; framed with a binary section in the binary form. Non-finite values only travel in base64 or
 * binary; in a JSON form they are a 422 naming the field.
 */
export function encodeStep(rule: RuleDefinition, result: StepResult, form: Form, dtype: Dtype): EncodedBody {
  const section = form === 'binary' ? new BinaryWriter() : undefined;
  const tensor = answerTensors(form, dtype, section);
  const w = tensor('w', { shape: result.shape, data: result.w });
  const state = rule.state.map((k) => {
    const v = result.state[k.name];
    return `"${k.name}":${typeof v === 'number' ? String(v) : tensor(`state.${k.name}`, { shape: result.shape, data: v })}`;
  });
  return assemble(`{"w":${w},"state":{${state.join(',')}}}`, section);
}
