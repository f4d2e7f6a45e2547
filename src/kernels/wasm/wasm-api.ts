/**
 * The slice of the WebAssembly JS API these kernels use. tsconfig's lib is ES2023 without DOM, which
 * carries no WebAssembly types, so they are described here instead of widening the project's lib.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(deltaPages: number): number;
}

export interface WasmModule {
  readonly __wasmModule?: never;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => {
    readonly exports: Record<string, unknown>;
  };
  validate(bytes: Uint8Array): boolean;
}

/** The WebAssembly global, or undefined where there is none. */
export const wasm: WasmApi | undefined = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

/** A new memory able to grow to the wasm32 limit (4 GiB; the maximum only reserves address space). */
export function newMemory(): WasmMemory {
  if (wasm === undefined) throw new Error('no WebAssembly in this runtime');
  return new wasm.Memory({ initial: 0, maximum: 65536 });
}
