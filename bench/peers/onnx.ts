/**
 * onnxruntime-node peer (CPU execution provider, one intra-op and one inter-op thread), forward only:
 * a one-node model per case, written at bench time by onnx-model.ts. Weights are initializers, so
 * ORT may pre-pack them as it would for a deployed model. float64 runs where ORT's CPU kernels have it.
 */
import { measure } from '../lib/measure.ts';
import type { Case, Dtype } from '../lib/cases.ts';
import { firstLine } from '../lib/ours.ts';
import { PEERS_INSTALL, type PeerContext } from '../lib/results.ts';
import { singleNodeModel, type NodeGraph } from './onnx-model.ts';

interface OrtTensor {
  readonly data: unknown;
}
interface Ort {
  env: { versions?: { common?: string } };
  Tensor: new (type: 'float32' | 'float64', data: Float32Array | Float64Array, dims: readonly number[]) => OrtTensor;
  InferenceSession: {
    create(model: Uint8Array, options: object): Promise<{ run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>> }>;
  };
}

const UNSUPPORTED: Partial<Record<Case['kind'], string>> = {
  batchnorm: 'ONNX BatchNormalization normalizes with running statistics (inference), not batch statistics',
  'spatial-batchnorm': 'ONNX BatchNormalization normalizes with running statistics (inference), not batch statistics',
};

function graph(c: Case, dtype: Dtype, weights: NodeGraph['weights']): NodeGraph {
  const base = { elem: dtype, x: c.shapes.x, out: c.out, opset: 17, weights };
  const pool = { kernel_shape: [c.size, c.size], strides: [c.stride, c.stride] };
  switch (c.kind) {
    case 'conv': {
      const [, , HH, WW] = c.shapes.w;
      const p = c.pad;
      return { ...base, op: 'Conv', attrs: { kernel_shape: [HH, WW], strides: [c.stride, c.stride], pads: [p, p, p, p] } };
    }
    case 'max-pool':
      return { ...base, op: 'MaxPool', weights: [], attrs: pool };
    case 'avg-pool':
      return { ...base, op: 'AveragePool', weights: [], attrs: pool };
    case 'affine':
      return { ...base, op: 'Gemm', attrs: {} };
    case 'layernorm':
      return { ...base, op: 'LayerNormalization', attrs: { axis: -1 } };
    default:
      throw new Error(`no ONNX graph for ${c.kind}`);
  }
}

export async function runOnnx(ctx: PeerContext): Promise<void> {
  let ort: Ort;
  try {
    ort = (await import('onnxruntime-node' as string)) as Ort;
  } catch {
    ctx.results.implNotes.set('onnx', `not installed: ${PEERS_INSTALL}`);
    return;
  }
  ctx.results.addInfo(`onnxruntime-node ${ort.env.versions?.common ?? '?'}: CPU execution provider, 1 intra-op + 1 inter-op thread`);
  const options = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };

  for (const c of ctx.cases) {
    for (const dtype of ['float32', 'float64'] as const) {
      ctx.results.add({ impl: 'onnx', caseId: c.id, dtype, pass: 'fwd+bwd', note: 'forward only (inference runtime)' });
      const skip = UNSUPPORTED[c.kind];
      if (skip) {
        ctx.results.add({ impl: 'onnx', caseId: c.id, dtype, pass: 'fwd', note: skip });
        continue;
      }
      const d = ctx.data(c, dtype);
      const weights = Object.keys(c.shapes)
        .filter((k) => k !== 'x')
        .map((name) => ({ name, shape: c.shapes[name], data: d.inputs[name] }));
      let note: string | undefined;
      try {
        const session = await ort.InferenceSession.create(singleNodeModel(graph(c, dtype, weights)), options);
        const x = new ort.Tensor(dtype, d.inputs.x, c.shapes.x);
        ctx.log(`onnx ${c.id} ${dtype} fwd`);
        const t = await measure(() => session.run({ x }), ctx.budget);
        ctx.results.add({ impl: 'onnx', caseId: c.id, dtype, pass: 'fwd', ...t });
        continue;
      } catch (e) {
        const msg = firstLine(e);
        note = /NOT_IMPLEMENTED|Could not find an implementation/i.test(msg) ? `${dtype} not implemented in ORT's CPU kernels` : `failed: ${msg}`;
      }
      ctx.results.add({ impl: 'onnx', caseId: c.id, dtype, pass: 'fwd', note });
    }
  }
}
