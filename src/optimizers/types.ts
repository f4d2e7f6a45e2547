import type { z } from 'zod';
import type { FloatArray } from '../kernels/types.ts';

/** One key of a rule's state: a tensor shaped like w, or an integer (adam's step count `t`). */
export type StateKey =
  | { name: string; kind: 'tensor'; description: string; /** a 400 when a value is below 0 */ nonNegative?: boolean }
  | { name: string; kind: 'integer'; description: string };

/** A rule's state as its step reads and writes it: tensors as typed arrays, integers as numbers. */
export type RuleState = Record<string, FloatArray | number>;

/**
 * One update rule: everything the routes, GET /v1/optimizers, the OpenAPI document and the workers
 * need, as a layer definition is for a layer. Adding a rule is one of these, its kernel in
 * src/kernels/optim.ts and one line in ./registry.ts.
 */
export interface RuleDefinition<P = any> {
  name: string;
  summary: string;
  description: string;
  /** strict zod object with the contract's defaults and ranges */
  params: z.ZodType<P>;
  /** the state the rule carries between steps; a missing key starts at its default (zeros, 0) */
  state: readonly StateKey[];
  /** a small body that works as is in Swagger UI's Try it out */
  example: Record<string, unknown>;
  /** The step, pure: fresh arrays out, nothing written in place. Missing state keys are zeros. */
  step(w: FloatArray, dw: FloatArray, params: P, state: Partial<RuleState>): { w: FloatArray; state: RuleState };
}

/** Identity helper that infers P from the params schema. */
export function defineRule<S extends z.ZodType>(def: RuleDefinition<z.output<S>> & { params: S }): RuleDefinition<z.output<S>> {
  return def;
}
