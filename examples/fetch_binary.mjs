#!/usr/bin/env node
// A framed /v1 request with Node's fetch: typed arrays in, typed arrays out (API.md, "Binary bodies").
//   node examples/fetch_binary.mjs [BASE_URL]          (default: http://127.0.0.1:8080)
const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const x = Float32Array.from({ length: 16 * 32 * 32 * 32 }, () => Math.random() - 0.5);
const w = Float32Array.from({ length: 64 * 32 * 3 * 3 }, () => Math.random() - 0.5);
const dout = Float32Array.from({ length: 16 * 64 * 32 * 32 }, () => Math.random() - 0.5);

// The JSON header names byte ranges of the binary section that follows it.
const parts = [];
let offset = 0;
const bytes = (a, shape) => {
  parts.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  offset += a.byteLength;
  return { shape, dtype: 'float32', bytes: [offset - a.byteLength, offset] };
};
const head = new TextEncoder().encode(JSON.stringify({
  dtype: 'float32',
  params: { pad: 1 },
  inputs: { x: bytes(x, [16, 32, 32, 32]), w: bytes(w, [64, 32, 3, 3]), b: new Array(64).fill(0) },
  dout: bytes(dout, [16, 64, 32, 32]),
}));

const t0 = performance.now();
const res = await fetch(`${base}/v1/layers/conv`, {
  method: 'POST',
  headers: { 'inference-header-content-length': String(head.length) },
  body: new Blob([head, ...parts]),
});
const body = new Uint8Array(await res.arrayBuffer());
const ms = performance.now() - t0;
if (!res.ok) throw new Error(new TextDecoder().decode(body));

// A binary x makes a binary answer: JSON header, then the bytes its tensors point to.
const n = Number(res.headers.get('inference-header-content-length'));
const answer = JSON.parse(new TextDecoder().decode(body.subarray(0, n)));
const tensor = ({ shape, bytes: [start, end] }) => ({ shape, data: new Float32Array(body.slice(n + start, n + end).buffer) });
const dw = tensor(answer.grads.w);
console.log(`out ${answer.out.shape}, grads.w ${dw.shape} (dw[0] = ${dw.data[0].toFixed(4)}): ${ms.toFixed(1)} ms; ${res.headers.get('server-timing')}`);
