import { z } from 'zod';
import { gradientInputs, type LayerDefinition, type Mode } from '../layers/types.ts';

/**
 * The Open Inference Protocol (KServe V2) as layerserve maps it (API.md, "Open Inference Protocol"):
 * every layer is a model named like its route, version "1". Names, metadata, schemas and examples
 * all come from the layer registry; nothing here is per layer. Worker-safe (no fastify).
 */
export const MODEL_VERSION = '1';

/** A v1 field name as a V2 tensor name: runningMean -> running_mean. */
export const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** V2 input names of the layer's state (the batchnorm family's running_mean, running_var), to their v1 keys. */
export function stateInputs(def: LayerDefinition): Map<string, string> {
  return new Map((def.state?.keys ?? []).map((k) => [snake(k), k]));
}

/**
 * Request parameters that belong to the protocol, never to the layer: Triton's reserved keys
 * (tritonclient's TRITON_RESERVED_REQUEST_PARAMS) and anything under its `triton_` prefix.
 */
const PROTOCOL_PARAMS = new Set(['binary_data_output', 'timeout', 'priority', 'sequence_id', 'sequence_start', 'sequence_end', 'headers']);
export const isProtocolParam = (key: string) => PROTOCOL_PARAMS.has(key) || key.startsWith('triton_');

/** Pair params travel as an int or the string "h,w" (protocol parameters are scalars). */
export const PAIR_PARAMS = ['stride', 'pad', 'dilation'];

interface TensorMeta {
  name: string;
  datatype: 'FP64' | 'INT64';
  shape: number[];
}

function dims(rank: number | { min: number } | 'any'): number[] {
  return typeof rank === 'number' ? new Array(rank).fill(-1) : [-1];
}

const xRank = (def: LayerDefinition) => {
  const x = def.inputs.find((i) => i.name === 'x');
  return x && x.kind === 'float' ? x.rank : 'any';
};

/** One V2 output: its name and where it is in the layer's result. */
export interface OutputName {
  name: string;
  /** which requests produce it */
  when: 'always' | 'gradients' | 'modes';
  modes?: readonly Mode[];
  /** grads.x, state.runningMean, outputs.mask, out, loss */
  path: [string, string?];
}

/** Every output the layer can produce: out (or loss), grad_<input>, its state, its further outputs (mask). */
export function outputNames(def: LayerDefinition): OutputName[] {
  const out: OutputName[] = [def.loss ? { name: 'loss', when: 'always', path: ['loss'] } : { name: 'out', when: 'always', path: ['out'] }];
  for (const i of gradientInputs(def)) out.push({ name: `grad_${i}`, when: 'gradients', path: ['grads', i] });
  for (const k of def.state?.keys ?? []) out.push({ name: snake(k), when: 'modes', modes: def.state!.returnedIn, path: ['state', k] });
  for (const o of def.outputs ?? []) out.push({ name: o.name, when: 'modes', modes: o.modes, path: ['outputs', o.name] });
  return out;
}

/** GET /v2/models/{layer}: float tensors as FP64 (FP32 accepted alike), labels INT64, -1 per dimension. */
export function modelMetadata(def: LayerDefinition) {
  const float = (name: string, rank: number | { min: number } | 'any'): TensorMeta => ({ name, datatype: 'FP64', shape: dims(rank) });
  const inputs: TensorMeta[] = def.inputs
    .filter((i) => i.kind === 'labels' || !i.optional)
    .map((i) => (i.kind === 'labels' ? { name: i.name, datatype: 'INT64', shape: [-1] } : float(i.name, i.rank)));
  // Optional inputs after the rest: dout, the state, the layer's own optional ones (dropout's mask).
  if (!def.loss) inputs.push(float('dout', xRank(def)));
  for (const name of stateInputs(def).keys()) inputs.push(float(name, 'any'));
  for (const i of def.inputs) if (i.kind === 'float' && i.optional) inputs.push(float(i.name, i.rank));
  const shapeOf = (o: OutputName): number[] => {
    if (o.name === 'loss') return [1];
    if (o.path[0] === 'grads') {
      const i = def.inputs.find((x) => x.name === o.path[1]);
      return i && i.kind === 'float' ? dims(i.rank) : [-1];
    }
    if (o.path[0] === 'state') return [-1];
    return dims(xRank(def));
  };
  const outputs = outputNames(def).map((o) => ({ name: o.name, datatype: 'FP64', shape: shapeOf(o) }));
  return { name: def.name, versions: [MODEL_VERSION], platform: 'layerserve', inputs, outputs };
}

const Scalar = z.union([z.string(), z.number(), z.boolean()]);
const Parameters = z.record(z.string(), Scalar.or(z.null())).meta({ description: 'protocol parameters (string, number or boolean values)' });

export const InferInput = z.object({
  name: z.string().meta({ description: "a layer input, 'dout', or 'running_mean' / 'running_var'" }),
  shape: z.array(z.int().min(0)),
  datatype: z.string().meta({ description: 'FP32 or FP64 for float tensors (all alike: the compute dtype); INT64 or INT32 for labels' }),
  parameters: Parameters.optional().meta({ description: 'binary_data_size: the tensor is in the binary section' }),
  data: z.unknown().optional().meta({ description: 'row-major values, flat or nested; absent when binary_data_size is set' }),
});

export const InferRequestedOutput = z.object({
  name: z.string(),
  parameters: Parameters.optional().meta({ description: 'binary_data: this output in the binary section' }),
});

export const InferRequest = z
  .object({
    id: z.string().optional(),
    parameters: Parameters.optional().meta({
      description: 'the layer params under their v1 names (pairs as an int or "h,w"), mode, and the protocol\'s own: binary_data_output, timeout, priority, …',
    }),
    inputs: z.array(InferInput).min(1),
    outputs: z.array(InferRequestedOutput).optional(),
  })
  .meta({ description: 'a V2 inference request; each route shows its layer\'s example' });

export type InferRequest = z.infer<typeof InferRequest>;

export const InferResponse = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    outputs: z.array(
      z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.int()), parameters: Parameters.optional(), data: z.array(z.number()).optional() }),
    ),
  })
  .meta({ id: 'V2InferResponse' });

export const V2Error = z.object({ error: z.string() }).meta({ id: 'V2Error', description: 'the v1 problem detail' });

export const TensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.int()) });
export const ModelMetadata = z.object({
  name: z.string(),
  versions: z.array(z.string()),
  platform: z.string(),
  inputs: z.array(TensorMetadata),
  outputs: z.array(TensorMetadata),
});

/** A v1 example tensor (nested or flat) as {shape, data}. */
function flatOf(t: unknown): { shape: number[]; data: unknown[] } {
  if (Array.isArray(t)) {
    const shape: number[] = [];
    let p: unknown = t;
    while (Array.isArray(p)) {
      shape.push(p.length);
      p = p[0];
    }
    return { shape, data: (t as unknown[]).flat(Infinity) };
  }
  return t as { shape: number[]; data: unknown[] };
}

/** The layer's own v1 example as a V2 JSON infer request: what Swagger UI's Try it out sends. */
export function inferExample(def: LayerDefinition): InferRequest {
  const ex = def.example as { inputs: Record<string, unknown>; params?: Record<string, unknown>; dout?: unknown; mode?: string; state?: Record<string, unknown> };
  const tensor = (name: string, t: unknown, datatype: string) => {
    const { shape, data } = flatOf(t);
    return { name, shape, datatype, data };
  };
  const inputs = Object.entries(ex.inputs).map(([name, t]) =>
    tensor(name, t, def.inputs.find((i) => i.name === name)?.kind === 'labels' ? 'INT64' : 'FP64'),
  );
  if (ex.dout !== undefined) inputs.push(tensor('dout', ex.dout, 'FP64'));
  if (ex.state) for (const [v2, v1] of stateInputs(def)) if (ex.state[v1] !== undefined) inputs.push(tensor(v2, ex.state[v1], 'FP64'));
  const parameters: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(ex.params ?? {})) parameters[k] = Array.isArray(v) ? v.join(',') : (v as string | number | boolean);
  if (ex.mode) parameters.mode = ex.mode;
  return { ...(Object.keys(parameters).length ? { parameters } : {}), inputs } as InferRequest;
}
