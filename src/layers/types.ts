import type { z } from 'zod';
import type { Dtype, Tensor } from '../kernels/types.ts';

/** A float tensor input: its name, the rank it must have, and its layout for the docs. */
export interface FloatInputSpec {
  name: string;
  kind: 'float';
  /** exact rank, or a minimum rank, or any rank */
  rank: number | { min: number } | 'any';
  layout: string;
}

/** Integer class labels (the loss layers' `y`). */
export interface LabelInputSpec {
  name: string;
  kind: 'labels';
  layout: string;
}

export type InputSpec = FloatInputSpec | LabelInputSpec;
export type Mode = 'train' | 'test';
export type StateName = 'runningMean' | 'runningVar';
export const STATE_NAMES: readonly StateName[] = ['runningMean', 'runningVar'];

/** What the shape rules see: every shape known, no number read yet. */
export interface ShapeContext<P> {
  shapes: Record<string, number[]>;
  /** label counts by input name */
  labels: Record<string, number>;
  params: P;
  mode: Mode;
  state: Partial<Record<StateName, number[]>>;
}

/** The work a kernel does, as it crosses to a worker thread. Plain data and typed arrays only. */
export interface LayerTask<P = unknown> {
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
}

/**
 * One layer: everything the routes, /v1/layers, the OpenAPI document and the workers need.
 * Adding a layer is one of these plus one kernel file.
 */
export interface LayerDefinition<P = any> {
  name: string;
  summary: string;
  description: string;
  inputs: readonly InputSpec[];
  /** strict zod object with defaults: unknown params are refused, missing ones defaulted */
  params: z.ZodType<P>;
  /** batchnorm family: accepts `mode` and `state`, returns updated `state` in train mode */
  stateful?: boolean;
  /** loss layers: return `loss` and always `grads.x`, refuse `dout` */
  loss?: boolean;
  /** a small body that works as is in Swagger UI's Try it out */
  example: Record<string, unknown>;
  /**
   * Shape rules, on the main thread before any number is decoded: returns the output shape
   * (`[]` for a loss) or throws a ProblemError naming the field.
   */
  outShape(ctx: ShapeContext<P>): number[];
  /** Checks that need values (label ranges), on the main thread after decoding. */
  validate?(task: LayerTask<P>): void;
  /** The computation, on a worker thread. Only kernels; no HTTP knowledge. */
  compute(task: LayerTask<P>): LayerResult;
  /**
   * Optional: cut a task worth parallelizing into parts for several workers (or return undefined
   * to run it whole), and put the parts' results back together.
   */
  split?(task: LayerTask<P>, workers: number): LayerTask<P>[] | undefined;
  merge?(results: LayerResult[], task: LayerTask<P>): LayerResult;
}

/** Identity helper that infers P from the params schema. */
export function defineLayer<S extends z.ZodType>(def: LayerDefinition<z.output<S>> & { params: S }): LayerDefinition<z.output<S>> {
  return def;
}
