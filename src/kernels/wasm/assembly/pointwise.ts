// Entry of the pointwise module (scripts/build-wasm.mjs builds pointwise-simd.wasm and
// pointwise-relaxed-simd.wasm from it; src/kernels/wasm/pointwise-engine.ts instantiates it on the GEMM
// arena's memory). Memory is imported and nothing may live in it: no static data, no lookup tables
// (Math.log and friends bring some), as the arena's low bytes are the GEMM's workspace.

export { softmaxRowsF32, softmaxRowsF64, expF64 } from './softmax';
export { reluForwardF32, reluForwardF64, reluBackwardF32, reluBackwardF64 } from './relu';
