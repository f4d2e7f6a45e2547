import type { Dtype, FloatArray, Tensor } from '../kernels/types.ts';
import type { BinaryWriter } from './frame.ts';
import type { Form } from './wire.ts';

/**
 * Tensors to JSON text, straight from typed arrays. `Array.prototype.join` on a typed array prints
 * each value with Number#toString, which is exactly what JSON.stringify would print for finite values.
 * Callers check finiteness first (firstNonFinite): a JSON form cannot carry NaN or Infinity.
 */
export function encodeTensor(t: Tensor, form: Form, dtype: Dtype, section?: BinaryWriter): string {
  const shape = `[${t.shape.join(',')}]`;
  switch (form) {
    case 'binary': {
      if (!section) throw new Error('encodeTensor: the binary form needs a section to write to');
      const [start, end] = section.add(t.data);
      return `{"shape":${shape},"dtype":"${dtype}","bytes":[${start},${end}]}`;
    }
    case 'base64':
      return `{"shape":${shape},"dtype":"${dtype}","b64":"${toBase64(t.data)}"}`;
    case 'flat':
      return `{"shape":${shape},"data":[${t.data.join(',')}]}`;
    case 'nested':
      return nested(t.data, t.shape);
  }
}

export function toBase64(data: FloatArray): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
}

function nested(data: FloatArray, shape: readonly number[]): string {
  const rank = shape.length;
  const row = shape[rank - 1];
  const rows: string[] = new Array(data.length / row);
  for (let r = 0, o = 0; o < data.length; r++, o += row) rows[r] = `[${data.subarray(o, o + row).join(',')}]`;
  // Group rows into brackets, innermost leading axis first.
  let level = rows;
  for (let axis = rank - 2; axis >= 0; axis--) {
    const n = shape[axis];
    const next: string[] = new Array(level.length / n);
    for (let g = 0; g < next.length; g++) next[g] = `[${level.slice(g * n, g * n + n).join(',')}]`;
    level = next;
  }
  return level[0];
}
