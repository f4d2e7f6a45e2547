import { ProblemError } from '../errors/problems.ts';
import type { Dtype, FloatArray, Tensor } from '../kernels/types.ts';
import { firstNonFinite } from './finite.ts';
import type { BinaryWriter } from './frame.ts';
import type { Form } from './wire.ts';

/**
 * The encoder of an answer's tensors, by path: non-finite values only travel in base64 or binary; in a
 * JSON form they are a 422 naming the tensor (its path in the answer).
 */
export function answerTensors(form: Form, dtype: Dtype, section?: BinaryWriter): (path: string, t: Tensor) => string {
  return (path, t) => {
    const bad = form === 'base64' || form === 'binary' ? -1 : firstNonFinite(t.data);
    if (bad >= 0) {
      throw ProblemError.at('nonFiniteResult', path, `holds ${t.data[bad]} at flat index ${bad} (${dtype} overflow?); JSON cannot carry it: ask for "encoding": "base64" or use float64`);
    }
    return encodeTensor(t, form, dtype, section);
  };
}

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
