/** Argument checks shared by the wasm engines (./engine.ts, ./conv-kernels.ts): they guard memory the kernels index with i32. */

export function checkDims(g: { M: number; N: number; K: number; beta: number }): void {
  for (const k of ['M', 'N', 'K'] as const) {
    const v = g[k];
    // The wasm kernels index with i32.
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) throw new RangeError(`gemm: bad ${k} = ${v}`);
  }
  if (g.beta !== 0 && g.beta !== 1) throw new RangeError(`gemm: beta must be 0 or 1, got ${g.beta}`);
}

/** Checks that a rows×cols operand with leading dimension ld fits in `length` elements. */
export function checkOperand(name: string, length: number, offset: number, rows: number, cols: number, ld: number): void {
  if (!Number.isInteger(offset) || offset < 0) throw new RangeError(`gemm: bad offset of ${name}: ${offset}`);
  if (rows === 0 || cols === 0) return; // nothing is read or written
  if (!Number.isInteger(ld) || ld < cols) throw new RangeError(`gemm: ld of ${name} = ${ld} < ${cols}`);
  if ((rows - 1) * ld + cols > length) {
    throw new RangeError(`gemm: ${name} needs ${(rows - 1) * ld + cols} elements, has ${length}`);
  }
}

/** Checks `planes` planes of rows × cols (plane and ld apart) from `offset` fit in `length` elements. */
export function checkPlanes(name: string, length: number, offset: number, planes: number, plane: number, rows: number, ld: number, cols: number): void {
  for (const [k, v] of [['offset', offset], ['planes', planes], ['plane', plane], ['rows', rows], ['ld', ld], ['cols', cols]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`${name}: bad ${k} ${v}`);
  }
  if (planes === 0 || rows === 0 || cols === 0) return;
  if (ld < cols) throw new RangeError(`${name}: ld ${ld} < ${cols} columns`);
  const end = offset + (planes - 1) * plane + (rows - 1) * ld + cols;
  if (end > length) throw new RangeError(`${name} needs ${end} elements, has ${length}`);
}
