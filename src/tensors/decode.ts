import { ProblemError } from '../errors/problems.ts';
import { formatShape, type Dtype, type FloatArray, type Tensor } from '../kernels/types.ts';
import { firstNonFinite } from './finite.ts';
import { sectionFor } from './frame.ts';
import { formOf, type Form, type WireLabels, type WireTensor } from './wire.ts';

/** A wire tensor whose shape is known and checked, before its numbers are read. */
export interface TensorHeader {
  path: string;
  form: Form;
  shape: number[];
  size: number;
  wire: WireTensor;
  /** binary form: the tensor's bytes in the request's binary section (range and length checked) */
  bytes?: Uint8Array;
}

const BYTES: Record<Dtype, number> = { float64: 8, float32: 4 };

/**
 * Reads a tensor's shape without touching its numbers. Nested arrays are measured by walking
 * first elements only, never deeper than maxRank, so an attacker's nesting depth costs nothing.
 */
export function readHeader(path: string, wire: WireTensor, maxRank: number): TensorHeader {
  const form = formOf(wire);
  let shape: number[];
  if (form === 'nested') {
    shape = [];
    let p: unknown = wire;
    while (Array.isArray(p)) {
      if (shape.length === maxRank) {
        throw ProblemError.at('invalidTensor', path, `nested deeper than the maximum rank ${maxRank}`);
      }
      if (p.length === 0) {
        throw ProblemError.at('invalidTensor', path, `an empty array at depth ${shape.length}: every dimension must be >= 1`);
      }
      shape.push(p.length);
      p = p[0];
    }
  } else {
    shape = (wire as { shape: number[] }).shape;
    if (shape.length > maxRank) {
      throw ProblemError.at('invalidTensor', `${path}.shape`, `rank ${shape.length} is above the maximum rank ${maxRank}`);
    }
  }
  let size = 1;
  for (const d of shape) size *= d;
  if (!Number.isSafeInteger(size)) {
    throw ProblemError.at('tooManyElements', `${path}.shape`, `${formatShape(shape)} holds more elements than can be counted`);
  }
  if (form === 'binary') {
    // The range is checked with the shape, before anything is decoded; its dtype against the request's in decodeTensor.
    const w = wire as { dtype: Dtype; bytes: [number, number] };
    const bytes = sectionFor(path).claim(path, w.bytes, size * BYTES[w.dtype], `shape ${formatShape(shape)} in ${w.dtype}`);
    return { path, form, shape, size, wire, bytes };
  }
  return { path, form, shape, size, wire };
}

function allocate(dtype: Dtype, n: number): FloatArray {
  return dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  return typeof v;
}

function badNumber(path: string, v: unknown, dtype: Dtype): ProblemError {
  if (typeof v === 'number') {
    // JSON numbers are finite when parsed, so this is an overflow: 1e400, or a float32 overflow.
    return ProblemError.at('nonFiniteInput', path, `${v} is not finite in ${dtype}`);
  }
  return ProblemError.at('invalidTensor', path, `expected a finite number, got ${describe(v)}`);
}

/** Copies JSON numbers into `out`, checking each once; returns nothing, throws at the first bad one. */
function fillFromArray(src: unknown[], out: FloatArray, offset: number, path: (i: number) => string, dtype: Dtype): void {
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (typeof v !== 'number') throw badNumber(path(i), v, dtype);
    out[offset + i] = v;
    if (out[offset + i] - out[offset + i] !== 0) throw badNumber(path(i), v, dtype);
  }
}

function fillNested(h: TensorHeader, out: FloatArray, dtype: Dtype): void {
  const { shape } = h;
  const rank = shape.length;
  let offset = 0;
  // Depth is bounded by the rank readHeader already checked, not by the input.
  const walk = (node: unknown, depth: number, where: string): void => {
    if (!Array.isArray(node)) {
      throw ProblemError.at('invalidTensor', where, `expected an array of length ${shape[depth]}, got ${describe(node)}: nested arrays must be rectangular with shape ${formatShape(shape)}`);
    }
    if (node.length !== shape[depth]) {
      throw ProblemError.at('invalidTensor', where, `has length ${node.length}, expected ${shape[depth]}: nested arrays must be rectangular (shape ${formatShape(shape)} from the first elements)`);
    }
    if (depth === rank - 1) {
      fillFromArray(node, out, offset, (i) => `${where}[${i}]`, dtype);
      offset += node.length;
      return;
    }
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${where}[${i}]`);
  };
  walk(h.wire, 0, h.path);
}

/** Checks a base64 tensor's dtype, alphabet and byte count, before anything is allocated. */
function checkBase64(h: TensorHeader, dtype: Dtype): string {
  const wire = h.wire as { dtype: Dtype; b64: string };
  if (wire.dtype !== dtype) {
    throw ProblemError.at('invalidTensor', `${h.path}.dtype`, `is ${wire.dtype}, but the request's dtype is ${dtype}: a base64 tensor must use the request's dtype`);
  }
  const b64 = wire.b64;
  const unpadded = b64.endsWith('==') ? b64.length - 2 : b64.endsWith('=') ? b64.length - 1 : b64.length;
  // A lone trailing character carries no byte; padding, when present, completes a quartet.
  if (unpadded % 4 === 1 || (unpadded < b64.length && b64.length % 4 !== 0)) throw notBase64(h);
  const bytes = Math.floor((unpadded * 3) / 4);
  const want = h.size * BYTES[dtype];
  if (bytes !== want) {
    throw ProblemError.at('invalidTensor', `${h.path}.b64`, `decodes to ${bytes} bytes; shape ${formatShape(h.shape)} in ${dtype} needs ${want}`);
  }
  return b64;
}

const notBase64 = (h: TensorHeader) =>
  ProblemError.at('invalidTensor', `${h.path}.b64`, 'is not valid base64 (standard alphabet A–Z a–z 0–9 + /, optional = padding)');

function fillBase64(h: TensorHeader, b64: string, out: FloatArray): void {
  // Decode straight into the typed array's memory: no intermediate Buffer or number[].
  const written = Buffer.from(out.buffer, out.byteOffset, out.byteLength).write(b64, 0, 'base64');
  // Node's decoder skips characters outside the alphabet (it accepts the URL-safe one too). The
  // byte count expected from the text's length was checked, so a skipped character shows as a
  // short write: no second pass over the text (a regular expression over it cost 140 ms per 11 MB).
  if (written !== out.byteLength) throw notBase64(h);
  const bad = firstNonFinite(out);
  if (bad >= 0) {
    throw ProblemError.at('nonFiniteInput', h.path, `holds ${out[bad]} at flat index ${bad}: values must be finite`);
  }
}

/** A binary-form tensor: its dtype must be the request's; the bytes are copied (they need not be aligned). */
function decodeBinary(h: TensorHeader, dtype: Dtype): Tensor {
  const wire = h.wire as { dtype: Dtype };
  if (wire.dtype !== dtype) {
    throw ProblemError.at('invalidTensor', `${h.path}.dtype`, `is ${wire.dtype}, but the request's dtype is ${dtype}: a bytes tensor must use the request's dtype`);
  }
  const bytes = h.bytes!;
  const item = BYTES[dtype];
  const w = h.wire as unknown as { bytes: [number, number] };
  // Read in place when aligned and no other tensor shares the bytes (a kernel may write into its
  // inputs); otherwise copied. The body is the worker's own: nothing else holds it.
  const inPlace = bytes.byteOffset % item === 0 && !sectionFor(h.path).overlapsAnother(w.bytes);
  let data: FloatArray;
  if (inPlace) data = dtype === 'float32' ? new Float32Array(bytes.buffer, bytes.byteOffset, h.size) : new Float64Array(bytes.buffer, bytes.byteOffset, h.size);
  else {
    data = allocate(dtype, h.size);
    new Uint8Array(data.buffer).set(bytes);
  }
  const bad = firstNonFinite(data);
  if (bad >= 0) {
    throw ProblemError.at('nonFiniteInput', h.path, `holds ${data[bad]} at flat index ${bad}: values must be finite`);
  }
  return { shape: h.shape, data };
}

/** The numbers of a checked header, as a typed array of the request's dtype. Sizes are checked before allocating. */
export function decodeTensor(h: TensorHeader, dtype: Dtype): Tensor {
  if (h.form === 'binary') return decodeBinary(h, dtype);
  if (h.form === 'base64') {
    const b64 = checkBase64(h, dtype);
    const data = allocate(dtype, h.size);
    fillBase64(h, b64, data);
    return { shape: h.shape, data };
  }
  if (h.form === 'flat') {
    const src = (h.wire as { data: unknown[] }).data;
    if (src.length !== h.size) {
      throw ProblemError.at('invalidTensor', `${h.path}.data`, `has ${src.length} numbers; shape ${formatShape(h.shape)} needs ${h.size}`);
    }
    const data = allocate(dtype, h.size);
    fillFromArray(src, data, 0, (i) => `${h.path}.data[${i}]`, dtype);
    return { shape: h.shape, data };
  }
  const data = allocate(dtype, h.size);
  fillNested(h, data, dtype);
  return { shape: h.shape, data };
}

/** Integer labels (already typed as integers by the schema) into an Int32Array. */
export function decodeLabels(path: string, wire: WireLabels): Int32Array {
  if (Array.isArray(wire)) return Int32Array.from(wire, (v, i) => checkLabel(`${path}[${i}]`, v));
  if ('bytes' in wire) return decodeBinaryLabels(path, wire);
  if (wire.data.length !== wire.shape[0]) {
    throw ProblemError.at('invalidTensor', `${path}.data`, `has ${wire.data.length} labels; shape [${wire.shape[0]}] needs ${wire.shape[0]}`);
  }
  return Int32Array.from(wire.data, (v, i) => checkLabel(`${path}.data[${i}]`, v));
}

/** int32 or int64 little-endian labels from the binary section. */
function decodeBinaryLabels(path: string, wire: { shape: [number]; dtype: 'int32' | 'int64'; bytes: [number, number] }): Int32Array {
  const n = wire.shape[0];
  const wide = wire.dtype === 'int64';
  const bytes = sectionFor(path).claim(path, wire.bytes, n * (wide ? 8 : 4), `shape [${n}] in ${wire.dtype}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    if (!wide) out[i] = view.getInt32(4 * i, true);
    else {
      const v = view.getBigInt64(8 * i, true);
      if (v < -0x80000000n || v > 0x7fffffffn) throw ProblemError.at('invalidParam', `${path}[${i}]`, `label ${v} is outside the 32-bit integer range`);
      out[i] = Number(v);
    }
  }
  return out;
}

function checkLabel(path: string, v: number): number {
  if (v < -0x80000000 || v > 0x7fffffff) throw ProblemError.at('invalidParam', path, `label ${v} is outside the 32-bit integer range`);
  return v;
}

