import { ProblemError } from '../errors/problems.ts';
import type { Dtype, Tensor } from '../kernels/types.ts';
import { answerTensors } from '../tensors/encode.ts';
import { assemble, BinaryWriter, type EncodedBody } from '../tensors/frame.ts';
import type { Form } from '../tensors/wire.ts';
import type { LayerResult } from './types.ts';

/** The 200 answer's bytes: JSON text, or a framed body (JSON header + binary section) for the binary form. */
export function encodeAnswer(result: LayerResult, form: Form, dtype: Dtype): EncodedBody {
  const section = form === 'binary' ? new BinaryWriter() : undefined;
  return assemble(encodeResult(result, form, dtype, section), section);
}

/**
 * A kernel result as the JSON text of the 200 answer. Non-finite values can only travel in base64
 * or binary; in a JSON form they are a 422 naming the output. A non-finite loss is always a 422.
 */
export function encodeResult(result: LayerResult, form: Form, dtype: Dtype, section?: BinaryWriter): string {
  const parts: string[] = [];
  const tensor = answerTensors(form, dtype, section);
  if (result.loss !== undefined) {
    if (!Number.isFinite(result.loss)) {
      throw ProblemError.at('nonFiniteResult', 'loss', `is ${result.loss}`);
    }
    parts.push(`"loss":${result.loss}`);
  }
  if (result.out) parts.push(`"out":${tensor('out', result.out)}`);
  for (const key of ['grads', 'state'] as const) {
    const group = result[key];
    if (!group) continue;
    const inner = Object.entries(group).map(([k, t]) => `"${k}":${tensor(`${key}.${k}`, t as Tensor)}`);
    parts.push(`"${key}":{${inner.join(',')}}`);
  }
  for (const [name, t] of Object.entries(result.outputs ?? {})) parts.push(`"${name}":${tensor(name, t)}`);
  return `{${parts.join(',')}}`;
}
