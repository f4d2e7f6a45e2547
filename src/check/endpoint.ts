import { findLayer } from '../layers/registry.ts';
import type { LayerDefinition } from '../layers/types.ts';
import { memoSchema, type WorkerEndpoint } from '../pool/endpoint.ts';
import { prepareCheck } from './check.ts';
import { prepareGradcheck } from './gradcheck.ts';
import { checkRequestSchema, gradcheckRequestSchema, type CheckRequest, type GradcheckRequest } from './schema.ts';

function layer(name: string): LayerDefinition {
  const def = findLayer(name);
  if (!def) throw new Error(`no layer ${name}`);
  return def;
}

/**
 * /check and /gradcheck on the workers: the body is parsed, validated and decoded there; the
 * prepared request (float64 typed arrays, transferred) goes back to the main thread, which runs
 * the reference, the variants or the probes across the pool and compares.
 */
export const checkEndpoint: WorkerEndpoint = {
  schema: memoSchema((name) => checkRequestSchema(layer(name))),
  context: (name) => `${name}/check`,
  handle: (name, body, { limits }) => ({ handoff: prepareCheck(layer(name), body as CheckRequest, limits) }),
};

export const gradcheckEndpoint: WorkerEndpoint = {
  schema: memoSchema((name) => gradcheckRequestSchema(layer(name))),
  context: (name) => `${name}/gradcheck`,
  handle: (name, body, { limits }) => ({ handoff: prepareGradcheck(layer(name), body as GradcheckRequest, limits) }),
};
