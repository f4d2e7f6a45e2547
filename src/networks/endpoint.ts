import { ProblemError } from '../errors/problems.ts';
import type { Tensor } from '../kernels/types.ts';
import { findLayer, LAYERS, TEST_LAYERS } from '../layers/registry.ts';
import type { LayerResult, LayerTask } from '../layers/types.ts';
import { memoSchema, type WorkerEndpoint } from '../pool/endpoint.ts';
import type { NetworkPlan, PreparedNetworkGradcheck } from './plan.ts';
import { prepareNetwork, type LayerCatalogue } from './prepare.ts';
import { encodeStep } from './respond.ts';
import { gradcheckRequestSchema, stepRequestSchema, type NetworkGradcheckRequest, type StepRequest } from './schema.ts';
import { runStep } from './step.ts';

/**
 * The layers a network may use, by the route's key: the public layers, or with the test-only ones
 * when the app exposes them (ENABLE_FAULT_LAYER), so a network can reach exactly what /v1/layers does.
 * The key also names the work in a time-limit problem.
 */
export const NETWORK_KEYS = { public: 'network step', withTestLayers: 'network step (test layers on)' } as const;

const catalogues = new Map<string, LayerCatalogue>([
  [NETWORK_KEYS.public, new Map(LAYERS.map((l) => [l.name, l]))],
  [NETWORK_KEYS.withTestLayers, new Map([...LAYERS, ...TEST_LAYERS].map((l) => [l.name, l]))],
]);

function catalogueFor(key: string): LayerCatalogue {
  const c = catalogues.get(key);
  if (!c) throw new Error(`networks: no layer set ${key}`);
  return c;
}

/** POST /v1/networks/step on a worker: validate, prepare, the whole step, encode. One worker, one task. */
export const networkStepEndpoint: WorkerEndpoint = {
  schema: memoSchema(() => stepRequestSchema),
  context: () => 'networks/step',
  handle(k, body, { limits }) {
    const { task, form } = prepareNetwork(body as StepRequest, limits, catalogueFor(k));
    return { compute: () => runStep(task, findLayer), encode: (result: LayerResult) => encodeStep(result, task.params, form, task.dtype) };
  },
};

const to64 = (t: Tensor): Tensor => (t.data instanceof Float64Array ? t : { shape: t.shape, data: Float64Array.from(t.data) });

/** POST /v1/networks/step/gradcheck on a worker: every 4xx decision and the decoding; the probes run from the main thread. */
export const networkGradcheckEndpoint: WorkerEndpoint = {
  schema: memoSchema(() => gradcheckRequestSchema),
  context: () => 'networks/step/gradcheck',
  handle(k, raw, { limits }) {
    const body = raw as NetworkGradcheckRequest;
    const { task } = prepareNetwork(body, limits, catalogueFor(k));
    const plan = task.params;
    if (!plan.loss) {
      const last = plan.layers.at(-1)!;
      throw last.loss
        ? ProblemError.at('invalidRequest', 'y', 'is required: the check differentiates the loss')
        : ProblemError.at('invalidRequest', `layers[${last.index}]`, 'the last layer must be a loss (softmax-loss, svm-loss): the check differentiates the loss');
    }
    const task64: LayerTask<NetworkPlan> = { ...task, dtype: 'float64', inputs: Object.fromEntries(Object.entries(task.inputs).map(([n, t]) => [n, to64(t)])) };
    const { step, samples, seed, threshold } = body;
    return { handoff: { task: task64, body: { step, samples, seed, threshold } } satisfies PreparedNetworkGradcheck };
  },
};
