import type { z } from 'zod';
import type { Dtype, Tensor } from '../kernels/types.ts';

/** A float tensor input: its name, the rank it must have, and its layout for the docs. */
export interface FloatInputSpec {
  name: string;
  kind: 'float';
  /** exact rank, or a minimum rank, or any rank */
  rank: number | { min: number } | 'any';
  layout: string;
  /** the request may leave it out (dropout's mask) */
  optional?: boolean;
  /** false: the answer has no gradient for it (dropout's mask); every other float input gets one */
  gradient?: false;
}

/** Integer class labels (the loss layers' `y`). */
export interface LabelInputSpec {
  name: string;
  kind: 'labels';
  layout: string;
}

export type InputSpec = FloatInputSpec | LabelInputSpec;
export type Mode = 'train' | 'test';
export const MODES: readonly Mode[] = ['train', 'test'];

/** What the shape rules see: every shape known, no number read yet. */
export interface ShapeContext<P> {
  /** shapes of the inputs sent (an optional input left out is absent) */
  shapes: Record<string, number[]>;
  /** label counts by input name */
  labels: Record<string, number>;
  params: P;
  mode: Mode;
  state: Partial<Record<string, number[]>>;
}

/** The work a kernel does, as it crosses to a worker thread. Plain data and typed arrays only. */
export interface LayerTask<P = unknown> {
  /** the worker task's name: a layer's, or another feature's (src/tasks.ts) */
  layer: string;
  dtype: Dtype;
  mode: Mode;
  params: P;
  inputs: Record<string, Tensor>;
  labels: Record<string, Int32Array>;
  /** by state key: the batchnorm family's running statistics, an update rule's state */
  state: Record<string, Tensor>;
  dout?: Tensor;
}

export interface LayerResult {
  out?: Tensor;
  loss?: number;
  grads?: Record<string, Tensor>;
  state?: Record<string, Tensor>;
  /** further tensors of the answer, at its top level (dropout's `mask`), as the definition's `outputs` list them */
  outputs?: Record<string, Tensor>;
}

/** A layer with modes: `mode` is accepted (default train), and what each mode does. */
export interface ModesSpec {
  train: string;
  test: string;
}

/** State the client carries between requests (the batchnorm family's running statistics). */
export interface StateSpec {
  /** what it is, in words ("running statistics") */
  what: string;
  keys: readonly string[];
  description: string;
  /** the modes whose answer returns the updated state */
  returnedIn: readonly Mode[];
  /** a mode that cannot run without it, and why (finishes "mode "test" …, so state.… are required") */
  required?: { mode: Mode; why: string };
}

/** A further tensor of the answer (dropout's mask), returned in the modes listed. */
export interface OutputSpec {
  name: string;
  layout: string;
  modes: readonly Mode[];
}

/** A factor by which a claim is typically off for this layer and request (/check hints). */
export interface Factor {
  value: number;
  label: string;
  /** why the claim might be this many times the reference */
  times?: (key: string) => string | undefined;
  /** why it might be 1/value of it */
  over?: (key: string) => string | undefined;
}

/**
 * A common mistake as a "mistaken reference" (/check hints): a claim that matches it gets the hint.
 * Either a request to run through the same layer (its answer at `keys` is the mistaken reference)
 * or values derived from the true reference, or both.
 */
export interface Mistake {
  /** the claim keys it can explain; built only when one of them failed */
  keys: readonly string[];
  task?: LayerTask;
  values?: Record<string, ArrayLike<number>>;
  hint(key: string): string;
}

/** A mistake recognised by where a claim differs from the reference: only at elements where `at` holds. */
export interface LocalMistake<P> {
  key: string;
  at(task: LayerTask<P>, index: number): boolean;
  hint(count: number): string;
}

/** What the check routes know about a layer: examples for their docs, and the mistakes to recognise. */
export interface CheckSpec<P> {
  /** `claimed` for the layer's own example (Swagger UI's Try it out of /check), and what it shows */
  example: { claimed: Record<string, unknown>; shows: string };
  /** inputs for /gradcheck's example where the layer's own example sits on a kink on purpose */
  gradcheckInputs?: Record<string, unknown>;
  /** the factors by which this layer's claims are typically off, beyond the batch size N */
  factors?(task: LayerTask<P>, outShape: readonly number[]): Factor[];
  /** mistakes that need a kernel run or a transform of the reference, for this request */
  mistakes?(task: LayerTask<P>, reference: LayerResult): Mistake[];
  local?: readonly LocalMistake<P>[];
}

/**
 * A normalization layer's statistics groups: every element of x belongs to one group (a feature, a
 * channel, a row, a (sample, group)) and to one channel of gamma and beta. The check routes compute
 * the common normalization mistakes (eps outside the root, the unbiased variance) from this.
 */
export interface NormalizationSpec<P> {
  grouping(shape: readonly number[], params: P): { groups: number; group: Int32Array; channel: Int32Array };
  /** whether this mode normalizes with the batch's statistics (else the running ones in state) */
  batchStatistics(mode: Mode): boolean;
  eps(params: P): number;
}

/**
 * One layer: everything the routes, /v1/layers, the OpenAPI document, the check routes and the
 * workers need. Adding a layer is one of these, its kernel file and one registry line (README.md).
 */
export interface LayerDefinition<P = any> {
  name: string;
  summary: string;
  description: string;
  inputs: readonly InputSpec[];
  /** strict zod object with defaults: unknown params are refused, missing ones defaulted */
  params: z.ZodType<P>;
  /** train/test: `mode` is accepted only when set */
  modes?: ModesSpec;
  /** `state` is accepted only when set */
  state?: StateSpec;
  /** tensors the answer holds beside out and grads */
  outputs?: readonly OutputSpec[];
  /** loss layers: return `loss` and always `grads.x`, refuse `dout` */
  loss?: boolean;
  /** a small body that works as is in Swagger UI's Try it out */
  example: Record<string, unknown>;
  /**
   * Shape rules, before any number is decoded: returns the output shape (`[]` for a loss) or throws
   * a ProblemError naming the field.
   */
  outShape(ctx: ShapeContext<P>): number[];
  /** Checks that need values (label ranges, mask values), after decoding. */
  validate?(task: LayerTask<P>): void;
  /** The computation, on a worker thread. Only kernels; no HTTP knowledge. */
  compute(task: LayerTask<P>): LayerResult;
  /**
   * Optional: cut a task worth parallelizing into parts for several workers (or return undefined
   * to run it whole), and put the parts' results back together. Parts must only read their inputs
   * (views of one shared body, batch-split.ts); merge must copy, never return a part's arrays: they
   * are loans of the workers that computed them, returned right after the merge (src/pool/slabs.ts).
   */
  split?(task: LayerTask<P>, workers: number): LayerTask<P>[] | undefined;
  merge?(results: LayerResult[], task: LayerTask<P>): LayerResult;
  /** /check and /gradcheck: examples and recognised mistakes */
  check?: CheckSpec<P>;
  normalization?: NormalizationSpec<P>;
}

/** The float inputs that get a gradient, in order. */
export const gradientInputs = (def: LayerDefinition): string[] =>
  def.inputs.filter((i) => i.kind === 'float' && i.gradient !== false).map((i) => i.name);

/** Identity helper that infers P from the params schema. */
export function defineLayer<S extends z.ZodType>(def: LayerDefinition<z.output<S>> & { params: S }): LayerDefinition<z.output<S>> {
  return def;
}
