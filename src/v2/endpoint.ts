import { ProblemError } from '../errors/problems.ts';
import type { Dtype, Tensor } from '../kernels/types.ts';
import { withoutTensors, type SplitFinish, type SplitHandoff } from '../layers/endpoint.ts';
import { requestSchema, type LayerRequest } from '../layers/envelope.ts';
import { prepareTask } from '../layers/prepare.ts';
import { findLayer } from '../layers/registry.ts';
import type { LayerDefinition, LayerResult, Mode } from '../layers/types.ts';
import { memoSchema, type WorkerEndpoint } from '../pool/endpoint.ts';
import { validate } from '../pool/validate.ts';
import { firstNonFinite } from '../tensors/finite.ts';
import { assemble, BinaryWriter } from '../tensors/frame.ts';
import { InferRequest, isProtocolParam, MODEL_VERSION, outputNames, PAIR_PARAMS, stateInputs, type InferRequest as Infer, type OutputName } from './protocol.ts';

/**
 * POST /v2/models/{layer}/infer on the workers: the V2 request is translated into the layer's v1
 * request (binary inputs become `bytes` tensors of the same binary section), which then goes through
 * exactly the v1 validation, shape checks and decoding; the result is encoded as V2 outputs.
 */
const layerSchemas = memoSchema((name) => requestSchema(layer(name)));

function layer(name: string): LayerDefinition {
  const def = findLayer(name);
  if (!def) throw new Error(`no layer ${name}`);
  return def;
}

const FLOAT_TYPES: Record<string, Dtype> = { FP32: 'float32', FP64: 'float64' };
const LABEL_TYPES: Record<string, 'int32' | 'int64'> = { INT32: 'int32', INT64: 'int64' };
const DATATYPE: Record<Dtype, string> = { float32: 'FP32', float64: 'FP64' };

const bad = (path: string, message: string) => ProblemError.at('invalidRequest', path, message);

/** A protocol parameter value as the layer's param: pairs may be "h,w". */
function paramValue(key: string, v: unknown): unknown {
  if (typeof v === 'string' && PAIR_PARAMS.includes(key)) {
    const m = /^\s*(-?\d+)\s*(?:,\s*(-?\d+)\s*)?$/.exec(v);
    if (m) return m[2] === undefined ? Number(m[1]) : [Number(m[1]), Number(m[2])];
  }
  return v;
}

export interface Translated {
  body: LayerRequest;
  /** outputs to return, in order, and whether each goes binary */
  outputs: { name: OutputName; binary: boolean }[];
}

/** The V2 request as the v1 request of `def`, plus the outputs asked for. Every 400 names the V2 field. */
export function translate(def: LayerDefinition, req: Infer): Translated {
  const params: Record<string, unknown> = {};
  let mode: unknown;
  for (const [k, v] of Object.entries(req.parameters ?? {})) {
    if (isProtocolParam(k)) continue;
    if (k === 'mode') mode = v;
    else params[k] = paramValue(k, v);
  }

  const names = new Map(def.inputs.map((i) => [i.name, i]));
  const states = stateInputs(def);
  const accepted = [...names.keys(), ...(def.loss ? [] : ['dout']), ...states.keys()];
  const inputs: Record<string, unknown> = {};
  const state: Record<string, unknown> = {};
  let dout: unknown;
  let dtype: Dtype | undefined;
  let offset = 0;
  const seen = new Set<string>();
  req.inputs.forEach((input, i) => {
    const at = `inputs[${i}]`;
    if (!accepted.includes(input.name)) throw bad(`${at}.name`, `"${input.name}" is not an input of ${def.name}; it takes ${accepted.map((n) => `"${n}"`).join(', ')}`);
    if (seen.has(input.name)) throw bad(`${at}.name`, `"${input.name}" is sent twice`);
    seen.add(input.name);
    const labels = names.get(input.name)?.kind === 'labels';
    const types = labels ? LABEL_TYPES : FLOAT_TYPES;
    const type = types[input.datatype];
    if (!type) throw bad(`${at}.datatype`, `is "${input.datatype}"; ${input.name} takes ${Object.keys(types).join(' or ')}`);
    if (!labels) {
      if (dtype && dtype !== type) throw bad(`${at}.datatype`, `is ${input.datatype}, but an earlier float input is ${DATATYPE[dtype]}: float inputs share one datatype (the compute dtype)`);
      dtype = type as Dtype;
    }
    const size = input.parameters?.binary_data_size;
    let tensor: unknown;
    if (size !== undefined && size !== null) {
      if (input.data !== undefined) throw bad(`${at}`, 'has both data and parameters.binary_data_size: send one');
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(`${at}.parameters.binary_data_size`, `must be a byte count; got ${JSON.stringify(size)}`);
      tensor = { shape: input.shape, dtype: type, bytes: [offset, offset + size] };
      offset += size;
    } else {
      if (input.data === undefined) throw bad(`${at}`, 'has neither data nor parameters.binary_data_size');
      const data = Array.isArray(input.data) ? (input.data as unknown[]).flat(Infinity) : input.data;
      tensor = { shape: input.shape, data };
    }
    if (input.name === 'dout') dout = tensor;
    else if (states.has(input.name)) state[states.get(input.name)!] = tensor;
    else inputs[input.name] = tensor;
  });

  const body: Record<string, unknown> = { dtype: dtype ?? 'float64', inputs, params };
  if (mode !== undefined) body.mode = mode;
  if (Object.keys(state).length) body.state = state;
  if (dout !== undefined) body.dout = dout;

  // What this request produces, decided before any kernel runs.
  const current = (typeof mode === 'string' ? mode : 'train') as Mode;
  const grads = def.loss || dout !== undefined;
  const all = outputNames(def);
  const produces = (o: OutputName) => o.when === 'always' || (o.when === 'gradients' ? grads : o.modes!.includes(current));
  const fallback = req.parameters?.binary_data_output === true;
  const outputs = (req.outputs ?? all.filter(produces).map((o) => ({ name: o.name, parameters: undefined }))).map((o, i) => {
    const at = `outputs[${i}].name`;
    const known = all.find((x) => x.name === o.name);
    if (!known) throw bad(at, `"${o.name}" is not an output of ${def.name}; it has ${all.map((n) => `"${n.name}"`).join(', ')}`);
    if (!produces(known)) {
      throw bad(at, known.when === 'gradients' ? `${o.name} needs the input "dout" (the upstream gradient)` : `${o.name} is produced in ${known.modes!.join(', ')} mode only`);
    }
    const binary = o.parameters?.binary_data;
    return { name: known, binary: typeof binary === 'boolean' ? binary : fallback };
  });
  return { body: body as LayerRequest, outputs };
}

function tensorOf(result: LayerResult, { path: [field, key] }: OutputName, dtype: Dtype): Tensor | undefined {
  if (field === 'loss') {
    const data = dtype === 'float32' ? new Float32Array(1) : new Float64Array(1);
    data[0] = result.loss!;
    return { shape: [1], data };
  }
  if (field === 'out') return result.out;
  return (result[field as 'grads' | 'state' | 'outputs'] as Record<string, Tensor> | undefined)?.[key!];
}

/** The V2 answer: JSON outputs with flat data, binary ones in the section in the order listed. */
export function encodeOutputs(def: LayerDefinition, req: Infer, outputs: Translated['outputs'], result: LayerResult, dtype: Dtype) {
  const section = new BinaryWriter();
  if (result.loss !== undefined && !Number.isFinite(result.loss)) throw ProblemError.at('nonFiniteResult', 'loss', `is ${result.loss}`);
  const parts = outputs.map(({ name: output, binary }) => {
    const { name } = output;
    const t = tensorOf(result, output, dtype);
    if (!t) throw new Error(`v2: the result has no ${name}`);
    const head = `{"name":"${name}","datatype":"${DATATYPE[dtype]}","shape":[${t.shape.join(',')}]`;
    if (binary) {
      const [s, e] = section.add(t.data);
      return `${head},"parameters":{"binary_data_size":${e - s}}}`;
    }
    const badAt = firstNonFinite(t.data);
    if (badAt >= 0) {
      throw ProblemError.at('nonFiniteResult', name, `holds ${t.data[badAt]} at flat index ${badAt} (${dtype} overflow?); JSON cannot carry it: ask for it with binary_data or use FP64`);
    }
    return `${head},"data":[${t.data.join(',')}]}`;
  });
  const id = req.id !== undefined ? `,"id":${JSON.stringify(req.id)}` : '';
  return assemble(`{"model_name":"${def.name}","model_version":"${MODEL_VERSION}"${id},"outputs":[${parts.join(',')}]}`, section);
}

/** What a split V2 request carries besides the parts: the request and outputs, to encode after the merge. */
interface V2Split extends SplitHandoff {
  req: Infer;
  outputs: Translated['outputs'];
}

export const v2InferEndpoint: WorkerEndpoint = {
  schema: () => InferRequest,
  context: (name) => name,
  handle(name, body, { limits, workers }) {
    const def = layer(name);
    const req = body as Infer;
    const { body: v1, outputs } = translate(def, req);
    const { task, form } = prepareTask(def, validate<LayerRequest>(layerSchemas(name), v1), limits);
    // A big request the layer splits runs on several workers, as on /v1.
    const parts = def.merge ? def.split?.(task, workers) : undefined;
    if (parts && parts.length > 1) return { handoff: { parts, task: withoutTensors(task), form, req, outputs } satisfies V2Split };
    return { compute: () => def.compute(task), encode: (result: LayerResult) => encodeOutputs(def, req, outputs, result, task.dtype) };
  },
  finish(name, { results, task, req, outputs }: SplitFinish & V2Split) {
    const def = layer(name);
    return encodeOutputs(def, req, outputs, def.merge!(results, task), task.dtype);
  },
};
