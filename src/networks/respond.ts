import { ProblemError } from '../errors/problems.ts';
import type { Dtype } from '../kernels/types.ts';
import type { LayerResult } from '../layers/types.ts';
import { findRule } from '../optimizers/registry.ts';
import { answerTensors } from '../tensors/encode.ts';
import { assemble, BinaryWriter, type EncodedBody } from '../tensors/frame.ts';
import type { Form } from '../tensors/wire.ts';
import { key, type NetworkPlan } from './plan.ts';

/**
 * A step's result as the bytes of the 200 answer:
 * `{loss, grads: {name: T}, state: {layer: {runningMean, runningVar}}, params: {name: T}, updateState: {name: {…}}}`,
 * or `{out, state?}` when no loss was computed. JSON text, or a framed body for the binary form. As
 * for the layers, non-finite values only travel in base64 or binary; in a JSON form they are a 422
 * naming the tensor.
 */
export function encodeStep(result: LayerResult, plan: NetworkPlan, form: Form, dtype: Dtype): EncodedBody {
  const section = form === 'binary' ? new BinaryWriter() : undefined;
  const tensor = answerTensors(form, dtype, section);
  const q = JSON.stringify;
  const parts: string[] = [];
  const found = result.grads ?? {};
  const byName = (make: (name: string) => string) => `{${plan.tensors.map((n) => `${q(n)}:${make(n)}`).join(',')}}`;
  if (result.loss !== undefined) {
    if (!Number.isFinite(result.loss)) throw ProblemError.at('nonFiniteResult', 'loss', `is ${result.loss}`);
    parts.push(`"loss":${result.loss}`);
    parts.push(`"grads":${byName((n) => tensor(`grads.${n}`, found[key.grad(n)]))}`);
  }
  if (result.out) parts.push(`"out":${tensor('out', result.out)}`);
  const stateful = plan.layers.filter((l) => l.stateful && found[key.state(l.name!, l.stateKeys[0])]);
  if (stateful.length) {
    const inner = stateful.map((l) => {
      const stat = (s: string) => `${q(s)}:${tensor(`state.${l.name}.${s}`, found[key.state(l.name!, s)])}`;
      return `${q(l.name)}:{${l.stateKeys.map(stat).join(',')}}`;
    });
    parts.push(`"state":{${inner.join(',')}}`);
  }
  if (plan.update && result.loss !== undefined) {
    const rule = findRule(plan.update.rule)!;
    parts.push(`"params":${byName((n) => tensor(`params.${n}`, found[key.updated(n)]))}`);
    parts.push(
      `"updateState":${byName((n) => {
        const keys = rule.state.map((k) => {
          const t = found[key.rule(n, k.name)];
          return `${q(k.name)}:${k.kind === 'integer' ? String(t.data[0]) : tensor(`updateState.${n}.${k.name}`, t)}`;
        });
        return `{${keys.join(',')}}`;
      })}`,
    );
  }
  return assemble(`{${parts.join(',')}}`, section);
}
