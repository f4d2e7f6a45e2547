import { ProblemError } from '../errors/problems.ts';
import type { Dtype, Tensor } from '../kernels/types.ts';
import type { Limits } from '../layers/prepare.ts';
import { gradientInputs, type LayerDefinition, type LayerTask, type ShapeContext } from '../layers/types.ts';
import { formatShape } from '../kernels/types.ts';
import { decodeTensor, readHeader } from '../tensors/decode.ts';
import type { WireTensor } from '../tensors/wire.ts';
import { CHECK_THRESHOLD, type Claimed } from './schema.ts';

/** One claimed value, decoded to float64. `shape` is null for the loss, a number. */
export interface Claim {
  key: string;
  shape: number[] | null;
  data: Float64Array;
  /** the coarser of the request's dtype and the claim's own (base64) dtype: picks the default threshold */
  precision: Dtype;
  threshold: number;
}

const to64 = (t: Tensor): Tensor<Float64Array> => (t.data instanceof Float64Array ? (t as Tensor<Float64Array>) : { shape: t.shape, data: Float64Array.from(t.data) });

/** The task with every float tensor in float64: the reference is always computed in float64. */
export function inFloat64(task: LayerTask): LayerTask {
  const map = <K extends string>(r: Partial<Record<K, Tensor>>) => Object.fromEntries(Object.entries(r).map(([k, t]) => [k, to64(t as Tensor)])) as Record<K, Tensor>;
  return { ...task, dtype: 'float64', inputs: map(task.inputs), state: map(task.state), dout: task.dout && to64(task.dout) };
}

/** Tensor elements the prepared task holds (prepareTask has already limited these alone). */
export function elementsOf(task: LayerTask): number {
  let n = 0;
  for (const t of [...Object.values(task.inputs), ...Object.values(task.state), ...(task.dout ? [task.dout] : [])]) n += t.data.length;
  for (const l of Object.values(task.labels)) n += l.length;
  return n;
}

/** The layer's output shape for a prepared task (prepareTask checked it; this only recomputes it). */
export function outShapeOf(def: LayerDefinition, task: LayerTask): number[] {
  const ctx: ShapeContext<unknown> = {
    shapes: Object.fromEntries(Object.entries(task.inputs).map(([k, t]) => [k, t.shape])),
    labels: Object.fromEntries(Object.entries(task.labels).map(([k, l]) => [k, l.length])),
    params: task.params,
    mode: task.mode,
    state: Object.fromEntries(Object.entries(task.state).map(([k, t]) => [k, t!.shape])),
  };
  return def.outShape(ctx);
}

/** The keys this request can produce, in the answer's order: what may be claimed. */
export function producible(def: LayerDefinition, task: LayerTask): string[] {
  const grads = def.loss || task.dout ? gradientInputs(def).map((name) => `grads.${name}`) : [];
  const state = def.state?.returnedIn.includes(task.mode) ? def.state.keys.map((k) => `state.${k}`) : [];
  return [def.loss ? 'loss' : 'out', ...grads, ...state];
}

/**
 * Every 4xx decision about `claimed`, after prepareTask made the layer's own: a claim the request
 * cannot produce, none at all, too many elements, a claim larger than any tensor of the layer;
 * then malformed or non-finite numbers, by decode.ts. A claim of the wrong shape is not an error
 * here: the answer says so, with a hint.
 */
export function prepareClaims(def: LayerDefinition, task: LayerTask, claimed: Claimed, threshold: number | undefined, limits: Limits): Claim[] {
  const wires: { key: string; wire: WireTensor }[] = [];
  let loss: number | undefined;
  if (claimed.grads && Object.values(claimed.grads).some((t) => t !== undefined) && !def.loss && !task.dout) {
    throw ProblemError.at('invalidRequest', 'claimed.grads', 'gradients are those of sum(out · dout): send the dout you used with them');
  }
  if (claimed.state && Object.values(claimed.state).some((t) => t !== undefined) && !def.state?.returnedIn.includes(task.mode)) {
    throw ProblemError.at('invalidRequest', 'claimed.state', `mode "${task.mode}" leaves the ${def.state?.what ?? 'state'} alone and returns no state; claim state in mode ${(def.state?.returnedIn ?? []).map((m) => `"${m}"`).join(' or ')}`);
  }
  if (claimed.out !== undefined) wires.push({ key: 'out', wire: claimed.out });
  if (claimed.loss !== undefined) loss = claimed.loss;
  for (const [name, wire] of Object.entries(claimed.grads ?? {})) if (wire !== undefined) wires.push({ key: `grads.${name}`, wire });
  for (const [name, wire] of Object.entries(claimed.state ?? {})) if (wire !== undefined) wires.push({ key: `state.${name}`, wire });
  if (wires.length === 0 && loss === undefined) {
    throw ProblemError.at('invalidRequest', 'claimed', `claims nothing; claim any of ${producible(def, task).join(', ')}`);
  }

  const headers = wires.map(({ key, wire }) => ({ key, h: readHeader(`claimed.${key}`, wire, limits.maxRank) }));
  const total = elementsOf(task) + headers.reduce((a, { h }) => a + h.size, 0);
  if (total > limits.maxElements) {
    throw new ProblemError('tooManyElements', `the request holds ${total} tensor elements with the claims; the limit is ${limits.maxElements}`);
  }
  // A mis-shaped claim is an answer, not an error; one bigger than every tensor of the layer is no
  // mistake a hint could explain (a gradient not summed over N is still no bigger than out).
  const out = outShapeOf(def, task);
  const sizes: [string, number[]][] = [['out', out], ...Object.entries(task.inputs).map(([k, t]) => [`inputs.${k}`, t.shape] as [string, number[]])];
  if (task.dout) sizes.push(['dout', task.dout.shape]);
  const [bigName, bigShape] = sizes.reduce((a, b) => (size(b[1]) > size(a[1]) ? b : a));
  for (const { key, h } of headers) {
    if (h.size > size(bigShape)) {
      throw ProblemError.at(
        'shapeMismatch',
        `claimed.${key}`,
        `has shape ${formatShape(h.shape)}, ${h.size} elements; no tensor of this layer has more than ${size(bigShape)} (${bigName} ${formatShape(bigShape)})`,
      );
    }
  }

  const coarser = (d: Dtype): Dtype => (task.dtype === 'float32' || d === 'float32' ? 'float32' : 'float64');
  const claims: Claim[] = headers.map(({ key, h }) => {
    const own: Dtype = h.form === 'base64' ? (h.wire as { dtype: Dtype }).dtype : 'float64';
    const t = to64(decodeTensor(h, own));
    const precision = coarser(own);
    return { key, shape: t.shape, data: t.data, precision, threshold: threshold ?? CHECK_THRESHOLD[precision] };
  });
  if (loss !== undefined) {
    const precision = coarser('float64');
    claims.unshift({ key: 'loss', shape: null, data: Float64Array.of(loss), precision, threshold: threshold ?? CHECK_THRESHOLD[precision] });
  }
  return claims;
}

const size = (shape: readonly number[]) => shape.reduce((a, d) => a * d, 1);
