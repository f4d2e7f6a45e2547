import { z } from 'zod';
import { requestSchema, type LayerRequest } from '../layers/envelope.ts';
import type { LayerDefinition } from '../layers/types.ts';
import type { Dtype } from '../kernels/types.ts';
import { TensorSchema, type WireTensor } from '../tensors/wire.ts';
import { checkExample, gradcheckExample } from './examples.ts';

/**
 * Default pass thresholds on cs231n's relative error, by the precision the learner computed in
 * (the request's dtype, or a base64 claim's own dtype, whichever is coarser). A correct float64
 * implementation agrees with the float64 reference to about 1e-12; float32 rounding alone reaches
 * 1e-4 on elements near zero, where the relative error is largest.
 */
export const CHECK_THRESHOLD: Readonly<Record<Dtype, number>> = { float64: 1e-7, float32: 1e-3 };

/** Gradcheck defaults: cs231n's step, coordinates checked per input, and the pass threshold. */
export const GRADCHECK = {
  step: 1e-5,
  samples: 64,
  maxSamples: 1024,
  seed: 0,
  threshold: 1e-6,
} as const;

const threshold = (description: string) => z.number().gt(0).max(1).meta({ description });

/** What a learner claims: the same shape as the layer's 200 answer, every part optional. */
function claimedSchema(def: LayerDefinition) {
  const floats = def.inputs.filter((i) => i.kind === 'float' && i.gradient !== false);
  const grads = z
    .strictObject(Object.fromEntries(floats.map((i) => [i.name, TensorSchema.optional().meta({ description: `your dL/d${i.name}, shaped like ${i.name} ${i.layout}` })])))
    .optional()
    .meta({ description: def.loss ? 'gradients of the loss' : 'gradients of sum(out · dout): send dout with them' });
  return z
    .strictObject({
      ...(def.loss
        ? { loss: z.number().optional().meta({ description: 'your loss (a number)' }) }
        : { out: TensorSchema.optional().meta({ description: 'your forward output' }) }),
      grads,
      ...(def.state
        ? {
            state: z
              .strictObject(Object.fromEntries(def.state.keys.map((k) => [k, TensorSchema.optional()])))
              .optional()
              .meta({ description: `your updated ${def.state.what} (${def.state.returnedIn.join(', ')} mode only)` }),
          }
        : {}),
    })
    .meta({ description: 'what your implementation computed, in the form of the layer\'s answer; any wire form, float64 or float32' });
}

/** POST /v1/layers/{layer}/check: the layer's own body (minus `encoding`), plus `claimed` and `threshold`. */
export function checkRequestSchema(def: LayerDefinition) {
  return requestSchema(def)
    .omit({ encoding: true })
    .extend({
      claimed: claimedSchema(def),
      threshold: threshold(
        `pass when cs231n's relative error is at most this, for every claimed tensor; default ${CHECK_THRESHOLD.float64} (float64), ${CHECK_THRESHOLD.float32} when the request or the claim is float32`,
      ).optional(),
    })
    .meta({ example: checkExample(def) });
}

/** POST /v1/layers/{layer}/gradcheck: the layer's own body (minus `encoding`) and the check's settings. */
export function gradcheckRequestSchema(def: LayerDefinition) {
  return requestSchema(def)
    .omit({ encoding: true })
    .extend({
      step: z.number().gt(0).max(1).default(GRADCHECK.step).meta({ description: 'h of the centered difference (f(x + h) − f(x − h)) / 2h' }),
      samples: z
        .int()
        .min(1)
        .max(GRADCHECK.maxSamples)
        .default(GRADCHECK.samples)
        .meta({ description: `coordinates checked per input; an input with more elements is sampled (without repeats)` }),
      seed: z.int().min(0).max(2 ** 32 - 1).default(GRADCHECK.seed).meta({ description: 'seed of the sampled coordinates and of the random dout' }),
      threshold: threshold('pass when the relative error of every checked input is at most this').default(GRADCHECK.threshold),
    })
    .meta({ example: gradcheckExample(def) });
}

export interface Claimed {
  out?: WireTensor;
  loss?: number;
  grads?: Record<string, WireTensor | undefined>;
  state?: Record<string, WireTensor | undefined>;
}

export type CheckRequest = Omit<LayerRequest, 'encoding'> & { claimed: Claimed; threshold?: number };
export type GradcheckRequest = Omit<LayerRequest, 'encoding'> & { step: number; samples: number; seed: number; threshold: number };

const Worst = (a: string, b: string) =>
  z
    .object({
      index: z.array(z.int()).meta({ description: 'coordinates in the reference tensor ([] for the loss)' }),
      [a]: z.number(),
      [b]: z.number(),
    })
    .nullable();

export const CheckResult = z
  .object({
    passed: z.boolean(),
    relError: z.number().nullable().meta({ description: "cs231n: max |a − b| / max(1e-8, |a| + |b|); null when the element counts differ" }),
    maxAbsError: z.number().nullable(),
    threshold: z.number(),
    worst: Worst('claimed', 'expected').meta({ description: 'the element with the largest relative error' }),
    hints: z.array(z.string()).meta({ description: 'recognised mistakes, in words; empty when none is recognised or the claim passed' }),
  })
  .meta({ id: 'CheckResult' });

export const checkResponseSchema = z.object({
  passed: z.boolean().meta({ description: 'every claimed tensor passed' }),
  results: z.record(z.string(), CheckResult).meta({ description: 'per claimed tensor: out, loss, grads.x, state.runningMean, …' }),
});

export const GradcheckResult = z
  .object({
    passed: z.boolean(),
    relError: z.number().meta({ description: "cs231n's relative error between the numeric and the analytic gradient over the checked coordinates" }),
    maxAbsError: z.number(),
    checked: z.int().meta({ description: 'coordinates checked' }),
    of: z.int().meta({ description: 'elements of the input' }),
    sampled: z.boolean().meta({ description: 'true when only some coordinates were checked' }),
    worst: Worst('numeric', 'analytic'),
    hints: z.array(z.string()),
  })
  .meta({ id: 'GradcheckResult' });

export const gradcheckResponseSchema = z.object({
  passed: z.boolean(),
  step: z.number(),
  threshold: z.number(),
  objective: z.string().meta({ description: 'what was differentiated: "loss", "sum(out · dout)" or "sum(out · dout), dout random (seed s)"' }),
  results: z.record(z.string(), GradcheckResult).meta({ description: 'per float input: grads.x, grads.w, …' }),
});
