/** The two compute dtypes. float32 kernels read and write Float32Array but accumulate in double. */
export type FloatArray = Float64Array | Float32Array;
export type Dtype = 'float64' | 'float32';

/** A dense row-major tensor. */
export interface Tensor<A extends FloatArray = FloatArray> {
  shape: number[];
  data: A;
}

/** A zero-filled array of the same dtype as `like`. */
export function zerosLike<A extends FloatArray>(like: A, length: number): A {
  return (like instanceof Float32Array ? new Float32Array(length) : new Float64Array(length)) as A;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[2, 3, 8, 8]`, as shapes are written in messages (the one formatter: kernels, tensors, layers and check use it). */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
