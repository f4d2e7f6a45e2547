import { checkEndpoint, gradcheckEndpoint } from '../check/endpoint.ts';
import { layerEndpoint } from '../layers/endpoint.ts';
import { networkGradcheckEndpoint, networkStepEndpoint } from '../networks/endpoint.ts';
import { optimizerEndpoint } from '../optimizers/endpoint.ts';
import { v2InferEndpoint } from '../v2/endpoint.ts';

import type { WorkerEndpoint } from './endpoint.ts';

/**
 * Every POST endpoint the workers run, by name. A route on the main thread names its endpoint and
 * key (src/routes/worker-route.ts); a new endpoint is one line here plus its module.
 */
export const ENDPOINTS = {
  layer: layerEndpoint,
  check: checkEndpoint,
  gradcheck: gradcheckEndpoint,
  'v2-infer': v2InferEndpoint,
  'network-step': networkStepEndpoint,
  'network-gradcheck': networkGradcheckEndpoint,
  optimizer: optimizerEndpoint,
} satisfies Record<string, WorkerEndpoint>;

export type EndpointName = keyof typeof ENDPOINTS;
