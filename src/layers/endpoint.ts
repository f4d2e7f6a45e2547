import { memoSchema, type WorkerEndpoint } from '../pool/endpoint.ts';
import type { Form } from '../tensors/wire.ts';
import { requestSchema, type LayerRequest } from './envelope.ts';
import { prepareTask } from './prepare.ts';
import { findLayer } from './registry.ts';
import { encodeAnswer } from './respond.ts';
import type { LayerDefinition, LayerResult, LayerTask } from './types.ts';
import { recycleAll } from '../kernels/buffers.ts';
import { returnLoans } from '../pool/slabs.ts';
import { withUnbuiltConcatenations } from './batch-split.ts';

function layer(name: string): LayerDefinition {
  const def = findLayer(name);
  if (!def) throw new Error(`no layer ${name}`);
  return def;
}

/** A split request as it goes back to the main thread: the parts to run, and what merging and encoding need. */
export interface SplitHandoff {
  parts: LayerTask[];
  /** the task without its tensors (they went into the parts): what `merge` sees */
  task: LayerTask;
  form: Form;
}

/** What the main thread sends back to a worker to end a split request. */
export interface SplitFinish {
  results: LayerResult[];
  task: LayerTask;
  form: Form;
}

/** What `merge` sees of the whole task: its shapes (a merge may need them), none of its numbers. */
const shapeOnly = (t: { shape: number[] }) => ({ shape: t.shape, data: new Float64Array(0) });
export const withoutTensors = (task: LayerTask): LayerTask => ({
  ...task,
  inputs: Object.fromEntries(Object.entries(task.inputs).map(([k, t]) => [k, shapeOnly(t)])),
  labels: {},
  state: {},
  dout: undefined,
});

/** POST /v1/layers/{layer} on the workers: validate, prepare, then compute and encode, or split. */
export const layerEndpoint: WorkerEndpoint = {
  schema: memoSchema((name) => requestSchema(layer(name))),
  context: (name) => name,
  handle(name, body, { limits, workers }) {
    const def = layer(name);
    const { task, form } = prepareTask(def, body as LayerRequest, limits);
    const parts = def.merge ? def.split?.(task, workers) : undefined;
    if (parts && parts.length > 1) return { handoff: { parts, task: withoutTensors(task), form } satisfies SplitHandoff, sharesMemory: true };
    return { compute: () => def.compute(task), encode: (result: LayerResult) => encodeAnswer(result, form, task.dtype) };
  },
  finish(name, { results, task, form }: SplitFinish) {
    const def = layer(name);
    // A binary answer takes the parts' bytes straight into its section: no merged copy in between.
    const merge = () => def.merge!(results, task);
    const merged = form === 'binary' ? withUnbuiltConcatenations(merge) : merge();
    try {
      return encodeAnswer(merged, form, task.dtype);
    } finally {
      // The encoded answer is a copy: the merged arrays (this thread's pool, batch-split.ts) go back,
      // and so do the parts' results, loans of the workers that computed them.
      recycleAll(merged);
      returnLoans(results);
    }
  },
};

