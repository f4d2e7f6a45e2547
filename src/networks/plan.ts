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
  stateful: boolean;
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
  /** perturb: h, and the coordinates (tensor name, flat index) to move by ±h */
  step?: number;
  coords?: { tensor: string; index: number }[];
}

/** Keys of the task's inputs and of the result's tensors. */
export const key = {
  x: 'x',
  param: (name: string) => `param:${name}`,
  grad: (name: string) => `grad:${name}`,
  state: (layer: string, stat: string) => `state:${layer}:${stat}`,
};

/** `layers[2] (max-pool "pool1")`: how errors name a layer. */
export function layerLabel(l: { index: number; kind: string; name?: string }): string {
  return `layers[${l.index}] (${l.kind}${l.name === undefined ? '' : ` ${JSON.stringify(l.name)}`})`;
}
