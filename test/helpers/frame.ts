/** Client-side framing for tests: a JSON header whose tensors point into a binary section (API.md, "Binary bodies"). */
export type Typed = Float32Array | Float64Array | Int32Array | BigInt64Array;

const DTYPE = (a: Typed) => (a instanceof Float32Array ? 'float32' : a instanceof Float64Array ? 'float64' : a instanceof Int32Array ? 'int32' : 'int64');

/** `binary(shape, typed)` marks a tensor to be sent as bytes. */
export const binary = (shape: number[], data: Typed) => ({ __binary: true as const, shape, data });

/** The body with every `binary(...)` replaced by `{shape, dtype, bytes}`, and the framed bytes. */
export function frame(body: unknown): { payload: Buffer; headers: Record<string, string>; headerLength: number } {
  const chunks: Buffer[] = [];
  let offset = 0;
  const walk = (v: any): any => {
    if (v && typeof v === 'object' && v.__binary) {
      const b = Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength);
      chunks.push(b);
      offset += b.length;
      return { shape: v.shape, dtype: DTYPE(v.data), bytes: [offset - b.length, offset] };
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, walk(e)]));
    return v;
  };
  const head = Buffer.from(JSON.stringify(walk(body)));
  return {
    payload: Buffer.concat([head, ...chunks]),
    headers: { 'inference-header-content-length': String(head.length), 'content-type': 'application/octet-stream' },
    headerLength: head.length,
  };
}

/** A framed answer: its JSON header and its section; `tensor(t)` reads a `{shape, dtype, bytes}` tensor of it. */
export function unframe(raw: Buffer, headerLength: string | string[] | number | undefined) {
  const L = Number(headerLength);
  const json = JSON.parse(raw.subarray(0, L).toString('utf8'));
  const section = raw.subarray(L);
  const tensor = (t: { shape: number[]; dtype: string; bytes: [number, number] }) => {
    const b = section.subarray(t.bytes[0], t.bytes[1]);
    const copy = new Uint8Array(b).buffer;
    const data = t.dtype === 'float32' ? new Float32Array(copy) : t.dtype === 'float64' ? new Float64Array(copy) : t.dtype === 'int32' ? new Int32Array(copy) : new BigInt64Array(copy);
    return { shape: t.shape, data };
  };
  return { json, section, tensor };
}
