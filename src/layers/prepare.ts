import { ProblemError } from '../errors/problems.ts';
import { formatShape, type Tensor } from '../kernels/types.ts';
import { decodeLabels, decodeTensor, readHeader, type TensorHeader } from '../tensors/decode.ts';
import type { Form, WireLabels, WireTensor } from '../tensors/wire.ts';
import type { LayerRequest } from './envelope.ts';
import { checkRank, expectShape } from './shape-rules.ts';
import type { LayerDefinition, LayerTask } from './types.ts';

export interface Limits {
  maxRank: number;
  maxElements: number;
}

export interface PreparedTask {
  task: LayerTask;
  /** the wire form of the response tensors */
  form: Form;
}

/**
 * Every 4xx decision about a request, in order of cost: shapes and counts first, numbers last.
 * What comes out can be computed without failing on input.
 */
export function prepareTask(def: LayerDefinition, body: LayerRequest, limits: Limits): PreparedTask {
  const headers: Record<string, TensorHeader> = {};
  const labelWires: Record<string, WireLabels> = {};
  const labelCounts: Record<string, number> = {};
  let elements = 0;

  for (const spec of def.inputs) {
    const wire = body.inputs[spec.name];
    if (wire === undefined) continue; // an optional input left out (the schema requires the others)
    if (spec.kind === 'labels') {
      const w = wire as WireLabels;
      labelWires[spec.name] = w;
      labelCounts[spec.name] = Array.isArray(w) ? w.length : w.shape[0];
      elements += labelCounts[spec.name];
    } else {
      const h = readHeader(`inputs.${spec.name}`, wire as WireTensor, limits.maxRank);
      headers[spec.name] = h;
      elements += h.size;
    }
  }
  const stateHeaders: Record<string, TensorHeader> = {};
  if (body.state && def.state) {
    for (const k of def.state.keys) {
      stateHeaders[k] = readHeader(`state.${k}`, body.state[k], limits.maxRank);
      elements += stateHeaders[k].size;
    }
  }
  const doutHeader = body.dout ? readHeader('dout', body.dout, limits.maxRank) : undefined;
  if (doutHeader) elements += doutHeader.size;

  if (elements > limits.maxElements) {
    throw new ProblemError('tooManyElements', `the request holds ${elements} tensor elements; the limit is ${limits.maxElements}`);
  }

  for (const spec of def.inputs) if (spec.kind === 'float' && headers[spec.name]) checkRank(spec, headers[spec.name].shape);

  const mode = body.mode ?? 'train';
  const required = def.state?.required;
  if (required && mode === required.mode && !body.state) {
    const keys = def.state!.keys.map((k) => `state.${k}`);
    throw ProblemError.at('invalidRequest', 'state', `mode "${mode}" ${required.why}, so ${keys.slice(0, -1).join(', ')}${keys.length > 1 ? ' and ' : ''}${keys.at(-1)} are required`);
  }

  const outShape = def.outShape({
    shapes: Object.fromEntries(Object.entries(headers).map(([k, h]) => [k, h.shape])),
    labels: labelCounts,
    params: body.params,
    mode,
    state: Object.fromEntries(Object.entries(stateHeaders).map(([k, h]) => [k, h.shape])),
  });
  const outSize = outShape.reduce((a, d) => a * d, 1);
  if (outSize > limits.maxElements) {
    throw new ProblemError('tooManyElements', `out would have shape ${formatShape(outShape)}, ${outSize} elements; the limit is ${limits.maxElements}`);
  }
  if (doutHeader) expectShape('dout', doutHeader.shape, outShape, 'it is the gradient of out, so');

  const dtype = body.dtype;
  const inputs: Record<string, Tensor> = {};
  for (const [name, h] of Object.entries(headers)) inputs[name] = decodeTensor(h, dtype);
  const labels: Record<string, Int32Array> = {};
  for (const [name, w] of Object.entries(labelWires)) labels[name] = decodeLabels(`inputs.${name}`, w);
  const state: LayerTask['state'] = {};
  for (const [name, h] of Object.entries(stateHeaders)) state[name] = decodeTensor(h, dtype);
  const dout = doutHeader ? decodeTensor(doutHeader, dtype) : undefined;

  const task: LayerTask = { layer: def.name, dtype, mode, params: body.params, inputs, labels, state, dout };
  def.validate?.(task);

  const xForm = headers.x?.form ?? 'nested';
  return { task, form: body.encoding ?? xForm };
}
