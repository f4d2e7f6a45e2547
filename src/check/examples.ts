import type { LayerDefinition } from '../layers/types.ts';

/**
 * The /check example: the layer's own example body plus the `claimed` its definition gives
 * (check.example), so that Try it out in Swagger UI shows a real answer: some claims are right,
 * some carry a typical mistake and come back failed with a hint. test/check.test.ts posts every one.
 */
export function checkExample(def: LayerDefinition): Record<string, unknown> {
  // A layer without a prepared claim (the test-only fault layer) claims its input as out: a valid body.
  const fallback = def.loss ? { loss: 0 } : { out: (def.example.inputs as Record<string, unknown>).x };
  return { ...def.example, claimed: def.check?.example.claimed ?? fallback };
}

/** The layer's own example (or the definition's gradcheck inputs, away from a kink), with the settings' defaults spelled out. */
export function gradcheckExample(def: LayerDefinition): Record<string, unknown> {
  const inputs = def.check?.gradcheckInputs;
  return { ...def.example, ...(inputs ? { inputs } : {}), step: 1e-5, samples: 64 };
}
