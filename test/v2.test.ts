import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { conv } from '../src/layers/conv.ts';
import { LAYERS } from '../src/layers/registry.ts';
import { buildTestApp } from './helpers/app.ts';
import { unframe } from './helpers/frame.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

type Input = { name: string; shape: number[]; datatype: string; data?: unknown; bin?: ArrayBufferView };

/** A V2 infer request the way tritonclient sends it: no content type; binary inputs framed after the JSON. */
async function infer(model: string, inputs: Input[], extra: Record<string, unknown> = {}, target: FastifyInstance = app, headers: Record<string, string> = {}) {
  const bins: Buffer[] = [];
  const json = {
    ...extra,
    inputs: inputs.map(({ bin, ...i }) => {
      if (!bin) return i;
      bins.push(Buffer.from(bin.buffer, bin.byteOffset, bin.byteLength));
      return { ...i, parameters: { binary_data_size: bin.byteLength } };
    }),
  };
  const head = Buffer.from(JSON.stringify(json));
  const res = await target.inject({
    method: 'POST',
    url: `/v2/models/${model}/infer`,
    payload: Buffer.concat([head, ...bins]),
    headers: { ...(bins.length ? { 'inference-header-content-length': String(head.length) } : {}), ...headers },
  });
  const framed = res.headers['inference-header-content-length'];
  const body = framed !== undefined ? unframe(res.rawPayload, framed) : undefined;
  const json2 = body ? body.json : JSON.parse(res.body);
  /** an output by name, as numbers, from JSON data or the binary section (in the order listed) */
  const output = (name: string): number[] => {
    const o = json2.outputs.find((x: { name: string }) => x.name === name);
    if (o.data) return o.data;
    let offset = 0;
    for (const x of json2.outputs) {
      if (x.name === name) break;
      offset += x.parameters?.binary_data_size ?? 0;
    }
    const bytes = new Uint8Array(body!.section.subarray(offset, offset + o.parameters.binary_data_size)).buffer;
    return Array.from(o.datatype === 'FP32' ? new Float32Array(bytes) : new Float64Array(bytes));
  };
  return { status: res.statusCode, headers: res.headers, json: json2, output, framed: framed !== undefined };
}

describe('V2 health and metadata', () => {
  it('health, server metadata, model metadata and readiness as the contract shows them', async () => {
    expect((await app.inject({ url: '/v2/health/live' })).json()).toEqual({ live: true });
    expect((await app.inject({ url: '/v2/health/ready' })).json()).toEqual({ ready: true });
    expect((await app.inject({ url: '/v2' })).json()).toEqual({ name: 'layerserve', version: expect.any(String), extensions: ['binary_tensor_data'] });
    const conv = (await app.inject({ url: '/v2/models/conv' })).json();
    const four = [-1, -1, -1, -1];
    expect(conv).toEqual({
      name: 'conv',
      versions: ['1'],
      platform: 'layerserve',
      inputs: [
        { name: 'x', datatype: 'FP64', shape: four },
        { name: 'w', datatype: 'FP64', shape: four },
        { name: 'b', datatype: 'FP64', shape: [-1] },
        { name: 'dout', datatype: 'FP64', shape: four },
      ],
      outputs: [
        { name: 'out', datatype: 'FP64', shape: four },
        { name: 'grad_x', datatype: 'FP64', shape: four },
        { name: 'grad_w', datatype: 'FP64', shape: four },
        { name: 'grad_b', datatype: 'FP64', shape: [-1] },
      ],
    });
    expect((await app.inject({ url: '/v2/models/conv/versions/1' })).json()).toEqual(conv);
    const loss = (await app.inject({ url: '/v2/models/softmax-loss' })).json();
    expect(loss.inputs).toEqual([{ name: 'x', datatype: 'FP64', shape: [-1, -1] }, { name: 'y', datatype: 'INT64', shape: [-1] }]);
    expect(loss.outputs).toEqual([{ name: 'loss', datatype: 'FP64', shape: [1] }, { name: 'grad_x', datatype: 'FP64', shape: [-1, -1] }]);
    const bn = (await app.inject({ url: '/v2/models/batchnorm' })).json();
    expect(bn.inputs.map((i: { name: string }) => i.name)).toEqual(['x', 'gamma', 'beta', 'dout', 'running_mean', 'running_var']);
    expect(bn.outputs.map((i: { name: string }) => i.name)).toEqual(['out', 'grad_x', 'grad_gamma', 'grad_beta', 'running_mean', 'running_var']);
    expect((await app.inject({ url: '/v2/models/conv/ready' })).statusCode).toBe(200);
    expect((await app.inject({ url: '/v2/models/conv/versions/1/ready' })).statusCode).toBe(200);
  });

  it('unknown models, versions and routes are 404 {"error"}', async () => {
    for (const url of ['/v2/models/nope', '/v2/models/nope/ready', '/v2/models/conv/versions/2', '/v2/nothing']) {
      const r = await app.inject({ url });
      expect(r.statusCode, url).toBe(404);
      expect(Object.keys(r.json())).toEqual(['error']);
    }
    const post = await app.inject({ method: 'POST', url: '/v2/models/nope/infer', payload: '{}' });
    expect(post.statusCode).toBe(404);
    expect(post.json().error).toMatch(/no model "nope"; the models are the layers: affine, .*\bconv\b/);
  });
});

describe('V2 infer', () => {
  it('JSON in, JSON out: nested or flat data, id echoed, every output the request produces', async () => {
    const r = await infer('relu', [
      { name: 'x', shape: [2, 2], datatype: 'FP32', data: [[1, -2], [3, -4]] },
      { name: 'dout', shape: [2, 2], datatype: 'FP32', data: [1, 1, 1, 1] },
    ], { id: 'req-7' });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      model_name: 'relu',
      model_version: '1',
      id: 'req-7',
      outputs: [
        { name: 'out', datatype: 'FP32', shape: [2, 2], data: [1, 0, 3, 0] },
        { name: 'grad_x', datatype: 'FP32', shape: [2, 2], data: [1, 0, 1, 0] },
      ],
    });
  });

  it('binary in and out (binary_data_size, binary_data_output), FP64, conv with a pair param "h,w"', async () => {
    const x = Float64Array.from({ length: 16 }, (_, i) => i);
    const w = Float64Array.from([0, 0, 0, 0, 1, 0, 0, 0, 0]); // identity kernel
    const r = await infer(
      'conv',
      [
        { name: 'x', shape: [1, 1, 4, 4], datatype: 'FP64', bin: x },
        { name: 'w', shape: [1, 1, 3, 3], datatype: 'FP64', bin: w },
        { name: 'b', shape: [1], datatype: 'FP64', data: [0.5] },
      ],
      { parameters: { pad: 1, stride: '2,1', binary_data_output: true, timeout: 1000, priority: 1, sequence_id: 0, triton_enable_empty_final_response: false } },
    );
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.framed).toBe(true);
    expect(r.headers['content-type']).toBe('application/octet-stream');
    expect(r.json.outputs).toEqual([{ name: 'out', datatype: 'FP64', shape: [1, 1, 2, 4], parameters: { binary_data_size: 64 } }]);
    expect(r.output('out')).toEqual([0, 1, 2, 3, 8, 9, 10, 11].map((v) => v + 0.5));
  });

  it('outputs selects and orders; binary_data per output overrides binary_data_output', async () => {
    const r = await infer(
      'relu',
      [
        { name: 'x', shape: [3], datatype: 'FP64', data: [-1, 2, -3] },
        { name: 'dout', shape: [3], datatype: 'FP64', data: [5, 6, 7] },
      ],
      { parameters: { binary_data_output: true }, outputs: [{ name: 'grad_x', parameters: { binary_data: false } }, { name: 'out' }] },
    );
    expect(r.status).toBe(200);
    expect(r.json.outputs.map((o: { name: string }) => o.name)).toEqual(['grad_x', 'out']);
    expect(r.json.outputs[0].data).toEqual([0, 6, 0]);
    expect(r.json.outputs[1].parameters).toEqual({ binary_data_size: 24 });
    expect(r.output('out')).toEqual([0, 2, 0]);
  });

  it('softmax-loss with INT64 and INT32 labels, binary or JSON: loss has the compute dtype and shape [1]', async () => {
    const x = Float32Array.from([1, 2, 3, 1, 2, 3]);
    const want = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 2.5;
    for (const y of [{ datatype: 'INT64', bin: BigInt64Array.from([1n, 2n]) }, { datatype: 'INT32', bin: Int32Array.from([1, 2]) }, { datatype: 'INT64', data: [1, 2] }]) {
      const r = await infer('softmax-loss', [{ name: 'x', shape: [2, 3], datatype: 'FP32', bin: x }, { name: 'y', shape: [2], ...y }]);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.outputs.map((o: { name: string; datatype: string; shape: number[] }) => [o.name, o.datatype, o.shape])).toEqual([['loss', 'FP32', [1]], ['grad_x', 'FP32', [2, 3]]]);
      expect(r.output('loss')[0]).toBeCloseTo(want, 5);
    }
  });

  it('batchnorm with running statistics in and out; mode as a parameter', async () => {
    const x = [[1, 2], [3, 6]];
    const inputs: Input[] = [
      { name: 'x', shape: [2, 2], datatype: 'FP64', data: x },
      { name: 'gamma', shape: [2], datatype: 'FP64', data: [1, 1] },
      { name: 'beta', shape: [2], datatype: 'FP64', data: [0, 0] },
      { name: 'running_mean', shape: [2], datatype: 'FP64', data: [0, 0] },
      { name: 'running_var', shape: [2], datatype: 'FP64', data: [1, 1] },
    ];
    const r = await infer('batchnorm', inputs, { parameters: { momentum: 0.5 } });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.json.outputs.map((o: { name: string }) => o.name)).toEqual(['out', 'running_mean', 'running_var']);
    expect(r.output('running_mean')).toEqual([1, 2]);
    expect(r.output('running_var')).toEqual([1, 2.5]);
    const test = await infer('batchnorm', inputs, { parameters: { mode: 'test' }, outputs: [{ name: 'running_mean' }] });
    expect(test.status).toBe(400);
    expect(test.json.error).toMatch(/running_mean is produced in train mode only/);
  });

  it('a big conv is split across 2 workers like on /v1, and answers like the whole computation', async () => {
    const two = await buildTestApp({ WORKERS: 2 });
    const t = (shape: number[], seed: number) => Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(seed * 1000 + i));
    const [x, w, b, dout] = [t([4, 32, 16, 16], 1), t([32, 32, 3, 3], 2), t([32], 3), t([4, 32, 16, 16], 4)];
    const r = await infer(
      'conv',
      [
        { name: 'x', shape: [4, 32, 16, 16], datatype: 'FP64', bin: x },
        { name: 'w', shape: [32, 32, 3, 3], datatype: 'FP64', bin: w },
        { name: 'b', shape: [32], datatype: 'FP64', bin: b },
        { name: 'dout', shape: [4, 32, 16, 16], datatype: 'FP64', bin: dout },
      ],
      { parameters: { pad: 1, binary_data_output: true }, outputs: [{ name: 'grad_w' }, { name: 'out' }] },
      two,
    );
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    expect(r.headers['server-timing']).toMatch(/kernel;dur=[\d.]+;desc="2 workers"/);
    const whole = conv.compute({ layer: 'conv', dtype: 'float64', mode: 'train', labels: {}, state: {}, params: { stride: 1, pad: 1, dilation: 1, groups: 1 }, inputs: { x: { shape: [4, 32, 16, 16], data: x }, w: { shape: [32, 32, 3, 3], data: w }, b: { shape: [32], data: b } }, dout: { shape: [4, 32, 16, 16], data: dout } });
    const dw = r.output('grad_w');
    expect(dw.length).toBe(whole.grads!.w.data.length);
    dw.forEach((v, i) => expect(Math.abs(v - whole.grads!.w.data[i])).toBeLessThan(1e-9 * (1 + Math.abs(whole.grads!.w.data[i]))));
    expect(r.output('out').length).toBe(whole.out!.data.length);
    await two.close();
  });

  it('every layer\'s V2 example in the OpenAPI document works as is', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    for (const def of LAYERS) {
      const example = doc.paths[`/v2/models/${def.name}/infer`].post.requestBody.content['application/json'].schema.example;
      const r = await app.inject({ method: 'POST', url: `/v2/models/${def.name}/infer`, payload: JSON.stringify(example) });
      expect(r.statusCode, `${def.name}: ${r.body}`).toBe(200);
      expect(r.json().outputs.length).toBeGreaterThan(0);
    }
  });
});

describe('V2 errors: the v1 status and detail as {"error"}', () => {
  const x = { name: 'x', shape: [2], datatype: 'FP64', data: [1, 2] };
  const cases: [string, string, Input[], Record<string, unknown>, number, RegExp][] = [
    ['an unknown input', 'relu', [x, { name: 'z', shape: [1], datatype: 'FP64', data: [1] }], {}, 400, /inputs\[1\]\.name: "z" is not an input of relu; it takes "x", "dout"/],
    ['an unknown layer param (protocol keys are not params)', 'relu', [x], { parameters: { timeout: 3, alpha: 1 } }, 400, /^relu: params.alpha: unknown field "alpha"/],
    ['a gradient without dout', 'relu', [x], { outputs: [{ name: 'grad_x' }] }, 400, /grad_x needs the input "dout"/],
    ['an unknown output', 'relu', [x], { outputs: [{ name: 'mask' }] }, 400, /outputs\[0\]\.name: "mask" is not an output of relu/],
    ['FP32 and FP64 mixed', 'relu', [x, { name: 'dout', shape: [2], datatype: 'FP32', data: [1, 1] }], {}, 400, /float inputs share one datatype/],
    ['a float input as INT64', 'relu', [{ ...x, datatype: 'INT64' }], {}, 400, /inputs\[0\]\.datatype: is "INT64"; x takes FP32 or FP64/],
    ['shapes that do not fit (the v1 detail)', 'conv', [{ name: 'x', shape: [1, 1, 2, 2], datatype: 'FP64', data: [1, 2, 3, 4] }, { name: 'w', shape: [1, 2, 1, 1], datatype: 'FP64', data: [1, 1] }, { name: 'b', shape: [1], datatype: 'FP64', data: [0] }], {}, 400, /^conv: inputs\.w has shape \[1, 2, 1, 1\]/],
    ['data of the wrong length', 'relu', [{ ...x, shape: [3] }], {}, 400, /inputs\.x\.data: has 2 numbers; shape \[3\] needs 3/],
    ['a non-finite FP32 result asked as JSON', 'affine', [{ name: 'x', shape: [1, 1], datatype: 'FP32', data: [1e30] }, { name: 'w', shape: [1, 1], datatype: 'FP32', data: [1e30] }, { name: 'b', shape: [1], datatype: 'FP32', data: [0] }], {}, 422, /^affine: out: holds Infinity/],
    ['neither data nor binary_data_size', 'relu', [{ name: 'x', shape: [2], datatype: 'FP64' }], {}, 400, /inputs\[0\]: has neither data nor parameters\.binary_data_size/],
  ];
  it.each(cases)('%s', async (_what, model, inputs, extra, status, detail) => {
    const r = await infer(model, inputs, extra);
    expect(r.status, JSON.stringify(r.json)).toBe(status);
    expect(String(r.headers['content-type'])).toMatch(/^application\/json/);
    expect(Object.keys(r.json)).toEqual(['error']);
    expect(r.json.error).toMatch(detail);
  });

  it('binary sizes that do not fit the section are 400s; malformed JSON too; any content type is accepted', async () => {
    const bad = await infer('relu', [{ name: 'x', shape: [2], datatype: 'FP64', bin: new Float64Array(3) }]);
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/inputs\.x\.bytes: \[0, 24\] holds 24 bytes; shape \[2\] in float64 needs 16/);
    const junk = await app.inject({ method: 'POST', url: '/v2/models/relu/infer', payload: '{"inputs": [' });
    expect(junk.statusCode).toBe(400);
    expect(junk.json().error).toMatch(/not valid JSON/);
    const typed = await infer('relu', [x], {}, app, { 'content-type': 'text/plain' });
    expect(typed.status).toBe(200);
  });

  it('bearer tokens and body limits apply to /v2 like /v1; /v2/health stays open', async () => {
    const guarded = await buildTestApp({ API_TOKENS: ['s3cret'], BODY_LIMIT_BYTES: 2000 });
    expect((await guarded.inject({ url: '/v2/health/live' })).statusCode).toBe(200);
    expect((await guarded.inject({ url: '/v2/health/ready' })).statusCode).toBe(200);
    for (const url of ['/v2', '/v2/models/relu', '/v2/models/relu/ready']) {
      const r = await guarded.inject({ url });
      expect(r.statusCode, url).toBe(401);
      expect(r.json().error).toMatch(/Bearer/);
    }
    expect((await infer('relu', [x], {}, guarded)).status).toBe(401);
    expect((await infer('relu', [x], {}, guarded, { authorization: 'Bearer s3cret' })).status).toBe(200);
    const big = await infer('relu', [{ name: 'x', shape: [400], datatype: 'FP64', data: new Array(400).fill(1.25) }], {}, guarded, { authorization: 'Bearer s3cret' });
    expect(big.status).toBe(413);
    const metrics = (await guarded.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/layerserve_requests_total\{layer="v2\/relu",status="200"\} 1/);
    expect(metrics).toMatch(/layerserve_requests_total\{layer="v2\/relu",status="401"\} 1/);
    await guarded.close();
  });
});

describe('V2 for a layer with further outputs (dropout\'s mask)', () => {
  it('mask is listed and returned in train mode, refused in test mode', async () => {
    const meta = (await app.inject({ url: '/v2/models/dropout' })).json();
    expect(meta.inputs.map((i: { name: string }) => i.name)).toEqual(['x', 'dout', 'mask']);
    expect(meta.outputs.map((i: { name: string }) => i.name)).toEqual(['out', 'grad_x', 'mask']);
    const x = { name: 'x', shape: [4], datatype: 'FP64', data: [1, 2, 3, 4] };
    const train = await infer('dropout', [x], { parameters: { p: 0.5, seed: 3 } });
    expect(train.status, JSON.stringify(train.json)).toBe(200);
    expect(train.json.outputs.map((o: { name: string }) => o.name)).toEqual(['out', 'mask']);
    const mask = train.output('mask');
    expect(train.output('out')).toEqual([1, 2, 3, 4].map((v, i) => v * mask[i]));
    const test = await infer('dropout', [x], { parameters: { p: 0.5, mode: 'test' }, outputs: [{ name: 'mask' }] });
    expect(test.status).toBe(400);
    expect(test.json.error).toMatch(/mask is produced in train mode only/);
  });
});

describe('V2 health while shutting down', () => {
  it('/v2/health/live still answers and /v2/health/ready says 503 {"ready": false}; infer is refused with 503 {"error"}', async () => {
    const closing = await buildTestApp();
    closing.shuttingDown = true;
    closing.delivery.refusing = true; // past the drain: new requests are refused
    expect((await closing.inject({ url: '/v2/health/live' })).json()).toEqual({ live: true });
    const ready = await closing.inject({ url: '/v2/health/ready' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toEqual({ ready: false });
    const refused = await infer('relu', [{ name: 'x', shape: [1], datatype: 'FP64', data: [1] }], {}, closing);
    expect(refused.status).toBe(503);
    expect(refused.json.error).toMatch(/shutting down/);
    await closing.close();
  });
});
