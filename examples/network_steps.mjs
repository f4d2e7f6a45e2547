#!/usr/bin/env node
// A few adam steps of cs231n's three-layer convnet through POST /v1/networks/step, with fetch.
// Node 20+, no dependencies. The data is synthetic (8x8 images whose label is the brightest of 10
// fixed patterns), so the loss falls within a few steps. Bodies are framed binary (API.md, "Binary
// bodies"): a JSON header whose tensors point into the bytes that follow it.
//
//   npm start &
//   node examples/network_steps.mjs [http://127.0.0.1:8080] [steps]
const base = (process.argv[2] ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const steps = Number(process.argv[3] ?? 20);
const N = 64;

let seed = 1;
const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
const randn = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
const tensor = (shape, f) => ({ shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, f) });

// Frame a body: every {shape, data: Float32Array | Int32Array} becomes {shape, dtype, bytes: [start, end]}.
function frame(body) {
  const chunks = [];
  let offset = 0;
  const walk = (v) => {
    if (v && ArrayBuffer.isView(v.data)) {
      const bytes = Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength);
      chunks.push(bytes);
      offset += bytes.length;
      return { shape: v.shape, dtype: v.data instanceof Int32Array ? 'int32' : 'float32', bytes: [offset - bytes.length, offset] };
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, walk(e)]));
    return v;
  };
  const head = Buffer.from(JSON.stringify(walk(body)));
  return { head, body: Buffer.concat([head, ...chunks]) };
}

// A framed answer back: its {shape, dtype, bytes} tensors become {shape, data: Float32Array}.
function unframe(raw, length) {
  const section = raw.subarray(length);
  const walk = (v) => {
    if (v && Array.isArray(v.bytes)) return { shape: v.shape, data: new Float32Array(section.buffer.slice(section.byteOffset + v.bytes[0], section.byteOffset + v.bytes[1])) };
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, e]) => [k, walk(e)]));
    return v;
  };
  return walk(JSON.parse(raw.subarray(0, length).toString('utf8')));
}

async function step(body) {
  const framed = frame(body);
  const res = await fetch(`${base}/v1/networks/step`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(framed.head.length) },
    body: framed.body,
  });
  const raw = Buffer.from(await res.arrayBuffer());
  if (!res.ok) throw new Error(`${res.status}: ${raw.toString()}`);
  return { answer: unframe(raw, Number(res.headers.get('inference-header-content-length'))), timing: res.headers.get('server-timing') };
}

const layers = [
  { layer: 'conv', name: 'conv1', params: { pad: 1 }, inputs: { w: 'W1', b: 'b1' } },
  { layer: 'relu' },
  { layer: 'max-pool', name: 'pool1', params: { poolHeight: 2, poolWidth: 2 } },
  { layer: 'affine', name: 'fc1', inputs: { w: 'W2', b: 'b2' } },
  { layer: 'relu' },
  { layer: 'affine', name: 'fc2', inputs: { w: 'W3', b: 'b3' } },
  { layer: 'softmax-loss' },
];
let params = {
  W1: tensor([16, 1, 3, 3], () => randn() * Math.sqrt(2 / 9)),
  b1: tensor([16], () => 0),
  W2: tensor([256, 64], () => randn() * Math.sqrt(2 / 256)),
  b2: tensor([64], () => 0),
  W3: tensor([64, 10], () => randn() * Math.sqrt(2 / 64)),
  b3: tensor([10], () => 0),
};
const patterns = Array.from({ length: 10 }, () => Float32Array.from({ length: 64 }, () => randn()));
let updateState = {};

for (let k = 1; k <= steps; k++) {
  const y = Int32Array.from({ length: N }, () => Math.floor(rand() * 10));
  const x = new Float32Array(N * 64);
  for (let n = 0; n < N; n++) for (let i = 0; i < 64; i++) x[n * 64 + i] = patterns[y[n]][i] + 0.5 * randn();
  const t0 = performance.now();
  const { answer, timing } = await step({
    dtype: 'float32',
    layers,
    params,
    x: { shape: [N, 1, 8, 8], data: x },
    y: { shape: [N], data: y },
    update: { rule: 'adam', params: { learningRate: 0.01 }, state: updateState },
  });
  const ms = performance.now() - t0;
  ({ params, updateState } = answer);
  console.log(`step ${String(k).padStart(2)}: loss ${answer.loss.toFixed(4)}  ${ms.toFixed(1)} ms  (${timing})`);
}
