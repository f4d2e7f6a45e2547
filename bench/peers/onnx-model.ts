/**
 * A tiny ONNX writer: a ModelProto holding one node, its weights as initializers, built at bench time
 * (no binary model files in the repo). Only the protobuf fields used here are encoded; field numbers
 * are those of onnx.proto (ModelProto.graph = 7, GraphProto.node = 1, …).
 */

type Field = Uint8Array;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  if (v < 0n) v += 1n << 64n;
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const concat = (parts: readonly Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** wire type 0 */
const int = (field: number, n: number): Field => Uint8Array.from([...varint(field << 3), ...varint(n)]);
/** wire type 2: bytes, strings and embedded messages */
const bytes = (field: number, b: Uint8Array): Field => concat([Uint8Array.from([...varint((field << 3) | 2), ...varint(b.length)]), b]);
const str = (field: number, s: string) => bytes(field, new TextEncoder().encode(s));
const msg = (field: number, ...parts: Field[]) => bytes(field, concat(parts));

export type ElemType = 'float32' | 'float64';
const ELEM: Record<ElemType, number> = { float32: 1, float64: 11 };

export type Attr = number | number[];

function attribute(name: string, value: Attr): Field {
  // AttributeProto: name 1, i 3, ints 8, type 20 (INT = 2, INTS = 7)
  if (Array.isArray(value)) return msg(5, str(1, name), ...value.map((v) => int(8, v)), int(20, 7));
  return msg(5, str(1, name), int(3, value), int(20, 2));
}

function valueInfo(field: number, name: string, elem: ElemType, shape: readonly number[]): Field {
  // ValueInfoProto { name 1, type 2: TypeProto { tensor_type 1: { elem_type 1, shape 2: { dim 1: { dim_value 1 } } } } }
  const dims = shape.map((d) => msg(1, int(1, d)));
  return msg(field, str(1, name), msg(2, msg(1, int(1, ELEM[elem]), msg(2, ...dims))));
}

function initializer(name: string, elem: ElemType, shape: readonly number[], data: Float32Array | Float64Array): Field {
  // TensorProto { dims 1, data_type 2, name 8, raw_data 9 (little-endian) }
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return msg(5, ...shape.map((d) => int(1, d)), int(2, ELEM[elem]), str(8, name), bytes(9, raw));
}

export interface NodeGraph {
  op: string;
  elem: ElemType;
  /** the fed input, always named "x" */
  x: readonly number[];
  /** weights, in the node's input order after x */
  weights: { name: string; shape: readonly number[]; data: Float32Array | Float64Array }[];
  out: readonly number[];
  attrs: Record<string, Attr>;
  opset: number;
}

/** The serialized ModelProto: inputs x, output y, one node. */
export function singleNodeModel(g: NodeGraph): Uint8Array {
  const node = msg(
    1,
    str(1, 'x'),
    ...g.weights.map((w) => str(1, w.name)),
    str(2, 'y'),
    str(3, g.op.toLowerCase()),
    str(4, g.op),
    ...Object.entries(g.attrs).map(([k, v]) => attribute(k, v)),
  );
  const graph = msg(
    7,
    node,
    str(2, `bench-${g.op}`),
    ...g.weights.map((w) => initializer(w.name, g.elem, w.shape, w.data)),
    valueInfo(11, 'x', g.elem, g.x),
    valueInfo(12, 'y', g.elem, g.out),
  );
  // ModelProto { ir_version 1, producer_name 2, graph 7, opset_import 8: { domain 1, version 2 } }
  return concat([int(1, 8), str(2, 'layerserve-bench'), graph, msg(8, str(1, ''), int(2, g.opset))]);
}
