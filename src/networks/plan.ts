import type { LayerTask } from '../layers/types.ts';

/**
 * What crosses to the worker for one network step: the checked plan (plain data) in the task's
 * `params`, every tensor in the task's `inputs` under a namespaced key (client names may be anything,
 * "x" included), the labels as `labels.y`. The answer comes back the same way, in `grads`.
 */

/** One layer of the network, checked: its registry kind, its parsed params, and its bindings. */
export interface PlannedLayer {
  index: number;
  kind: string;
  name?: string;
  /** the layer's params after its own schema (defaults applied) */
  params: unknown;
  /** input name (w, b, gamma, beta) → tensor name in the request's params */
  bind: Record<string, string>;
  /** batchnorm family: whether the request sent running statistics for it */
  hasState: boolean;
  /** a layer with state (the batchnorm family): its state keys (runningMean, runningVar) are keyed by its name */
  stateful: boolean;
  stateKeys: readonly string[];
  loss: boolean;
}

export interface NetworkPlan {
  /** step: forward and backward; perturb: the gradient check's centered differences of the loss */
  op: 'step' | 'perturb';
  layers: PlannedLayer[];
  /** every tensor name in params, in request order */
  tensors: string[];
  /** run the loss layer (the last layer is a loss and y was sent) and the backward pass */
  loss: boolean;
  reg: number;
  /** distinct tensors bound to an input named w (the ones reg applies to) */
  regularized: string[];
  /** one step of an update rule over every tensor, after the gradients */
  update?: PlannedUpdate;
  /** perturb: h, and the coordinates (tensor name, flat index) to move by ±h */
  step?: number;
  coords?: { tensor: string; index: number }[];
}

export interface PlannedUpdate {
  rule: string;
  /** the rule's params after its schema (defaults applied) */
  params: unknown;
  /** integer state (adam's t) by tensor name and key, as sent; tensor state travels in the inputs */
  integers: Record<string, Record<string, number>>;
}

/**
 * Keys of the task's inputs and of the result's tensors. The fixed part comes first and holds no
 * ':', so no two client names can make the same key.
 */
export const key = {
  x: 'x',
  param: (name: string) => `param:${name}`,
  grad: (name: string) => `grad:${name}`,
  state: (layer: string, stat: string) => `state:${stat}:${layer}`,
  /** the tensor after the update */
  updated: (name: string) => `updated:${name}`,
  /** an update rule's state key of one tensor (sent or answered; integers as one-element arrays in the answer) */
  rule: (name: string, stateKey: string) => `rule:${stateKey}:${name}`,
};

/** `layers[2] (max-pool "pool1")`: how errors name a layer. */
export function layerLabel(l: { index: number; kind: string; name?: string }): string {
  return `layers[${l.index}] (${l.kind}${l.name === undefined ? '' : ` ${JSON.stringify(l.name)}`})`;
}

/** What the gradcheck hands to the main thread: the checked step in float64, to run and perturb across the pool. */
export interface PreparedNetworkGradcheck {
  task: LayerTask<NetworkPlan>;
  body: { step: number; samples: number; seed: number; threshold: number };
}
