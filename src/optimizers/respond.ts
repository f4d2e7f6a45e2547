import { ProblemError } from '../errors/problems.ts';
import type { Dtype, Tensor } from '../kernels/types.ts';
import type { LayerResult } from '../layers/types.ts';
import { firstNonFinite } from '../tensors/decode.ts';
import { encodeTensor } from '../tensors/encode.ts';
import type { Form } from '../tensors/wire.ts';
import type { RuleDefinition } from './types.ts';

/**
 * A step's result as the JSON text of the 200 answer: `{"w": T, "state": {...}}`, integer state as a
 * JSON integer. Non-finite values only travel in base64; in a JSON form they are a 422 naming the field.
 */
export function encodeStep(rule: RuleDefinition, result: LayerResult, form: Form, dtype: Dtype): string {
  const tensor = (path: string, t: Tensor) => {
    const bad = form === 'base64' ? -1 : firstNonFinite(t.data);
    if (bad >= 0) {
      throw ProblemError.at('nonFiniteResult', path, `holds ${t.data[bad]} at flat index ${bad} (${dtype} overflow?); JSON cannot carry it: ask for "encoding": "base64" or use float64`);
    }
    return encodeTensor(t, form, dtype);
  };
  const state = rule.state.map((k) => {
    const t = result.state![k.name]!;
    return `"${k.name}":${k.kind === 'integer' ? String(t.data[0]) : tensor(`state.${k.name}`, t)}`;
  });
  return `{"w":${tensor('w', result.out!)},"state":{${state.join(',')}}}`;
}
