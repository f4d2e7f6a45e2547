import { z } from 'zod';

/**
 * The wire forms of a tensor (API.md, "Tensors on the wire"). zod checks the envelope only:
 * the numbers themselves are checked by one typed loop in decode.ts, because a million numbers
 * through z.array(z.number()) costs more than the kernel. The `.meta()` here is what the
 * OpenAPI document shows for those arrays.
 */
export const FORMS = ['nested', 'flat', 'base64', 'binary'] as const;
export type Form = (typeof FORMS)[number];

export const DTYPES = ['float64', 'float32'] as const;
export const Dtype = z.enum(DTYPES).meta({ description: 'IEEE-754 compute dtype' });

const arrayOf = (items: object, description: string) =>
  z.custom<unknown[]>((v) => Array.isArray(v), { error: 'expected an array' }).meta({ type: 'array', items, description });

export const Shape = z
  .array(z.int().min(1, { error: 'every dimension must be >= 1' }))
  .min(1, { error: 'a tensor is at least 1-D' })
  .meta({ description: 'dimensions, row-major; each >= 1', example: [2, 3] });

export const NestedTensor = arrayOf(
  {},
  'nested arrays of numbers, rectangular, at least 1-D; the shape is inferred',
).meta({ id: 'NestedTensor', example: [[1, -2], [3, -4]] });

export const FlatTensor = z
  .strictObject({
    shape: Shape,
    data: arrayOf({ type: 'number' }, 'the values in row-major order; length = product of shape'),
  })
  .meta({ id: 'FlatTensor', example: { shape: [2, 2], data: [1, -2, 3, -4] } });

export const Base64Tensor = z
  .strictObject({
    shape: Shape,
    dtype: Dtype,
    b64: z.string().meta({ description: "base64 of the little-endian IEEE-754 bytes of 'dtype'" }),
  })
  .meta({ id: 'Base64Tensor', example: { shape: [2], dtype: 'float32', b64: 'AACAPwAAAEA=' } });

/** [start, end) of the binary section of a framed body (API.md, "Binary bodies"). */
const ByteRange = z
  .tuple([z.int().min(0), z.int().min(0)])
  .meta({ description: 'byte offsets [start, end) into the binary section after the JSON header of a framed body', example: [0, 16] });

export const BytesTensor = z
  .strictObject({ shape: Shape, dtype: Dtype, bytes: ByteRange })
  .meta({ id: 'BytesTensor', description: 'only in a framed body (Inference-Header-Content-Length): little-endian bytes of the binary section', example: { shape: [2, 2], dtype: 'float64', bytes: [0, 32] } });

export const TensorSchema = z
  .union([NestedTensor, FlatTensor, Base64Tensor, BytesTensor])
  .meta({ id: 'Tensor', description: 'A tensor in any of the wire forms (bytes: framed bodies only)' });

export type WireTensor = z.infer<typeof TensorSchema>;

export const LabelsSchema = z
  .union([
    z.array(z.int()),
    z.strictObject({ shape: z.tuple([z.int().min(1)]), data: z.array(z.int()) }),
    z.strictObject({ shape: z.tuple([z.int().min(1)]), dtype: z.enum(['int32', 'int64']), bytes: ByteRange }),
  ])
  .meta({ id: 'Labels', description: 'integer class labels: an array of N integers, or {shape: [N], data}', example: [0, 2] });

export type WireLabels = z.infer<typeof LabelsSchema>;

/** Which form a validated wire tensor is in. */
export function formOf(t: WireTensor): Form {
  if (Array.isArray(t)) return 'nested';
  return 'b64' in t ? 'base64' : 'bytes' in t ? 'binary' : 'flat';
}
