/**
 * The service over real HTTP: buildApp(loadConfig({ WORKERS: '1', … })) listening on an ephemeral
 * loopback port, requests through Node's fetch (undici, keep-alive). The latency of one request is
 * from the call until the whole response body has arrived (the client's JSON.parse is not counted).
 * The request bodies are serialized once, before timing. Besides the service's Server-Timing parts,
 * the client records when the response headers arrived and how long the body took after them.
 */
import type { FastifyInstance } from 'fastify';
import { median } from './measure.ts';
import type { Case, CaseData, Dtype, Pass } from './cases.ts';
import { LAYER } from './layer-names.ts';

export type Encoding = 'base64' | 'nested';
export const ENCODINGS: readonly Encoding[] = ['base64', 'nested'];

export interface Service {
  url: string;
  /** layer names the running service offers (GET /v1/layers) */
  layers: Set<string>;
  close(): Promise<void>;
}

export async function startService(): Promise<Service> {
  const { buildApp } = (await import('../../src/app.ts')) as typeof import('../../src/app.ts');
  const { loadConfig } = (await import('../../src/config.ts')) as typeof import('../../src/config.ts');
  // Two guards are lifted for timing: the 64 MiB body limit (below affine's nested float32 request
  // with dout), and the event-loop-delay guard (1 s by default), which answers 503 to the request that
  // follows any nested body taking over a second to parse.
  const config = loadConfig({
    WORKERS: '1', LOG_LEVEL: 'silent', PORT: '0', HOST: '127.0.0.1',
    BODY_LIMIT_BYTES: String(512 << 20), MAX_EVENT_LOOP_DELAY_MS: '0',
  });
  const app: FastifyInstance = await buildApp(config);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const catalogue = (await (await fetch(`${url}/v1/layers`)).json()) as { layers: { name: string }[] };
  return { url, layers: new Set(catalogue.layers.map((l) => l.name)), close: () => app.close() };
}

/** The HTTP layer that serves a case's kind. */
export { LAYER };

function params(c: Case): object | undefined {
  switch (c.kind) {
    case 'conv':
      return { stride: c.stride, pad: c.pad };
    case 'max-pool':
    case 'avg-pool':
      return { poolHeight: c.size, poolWidth: c.size, stride: c.stride };
    default:
      return c.params;
  }
}

function wire(data: Float32Array | Float64Array, shape: readonly number[], dtype: Dtype, encoding: Encoding): string {
  if (encoding === 'base64') {
    const b64 = Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');
    return `{"shape":[${shape}],"dtype":"${dtype}","b64":"${b64}"}`;
  }
  // Nested arrays, as JSON.stringify would print them, built row by row (faster for millions of values).
  let level: string[] = [];
  const row = shape[shape.length - 1];
  for (let o = 0; o < data.length; o += row) level.push(`[${data.subarray(o, o + row).join(',')}]`);
  for (let axis = shape.length - 2; axis >= 0; axis--) {
    const n = shape[axis];
    const next: string[] = [];
    for (let g = 0; g < level.length; g += n) next.push(`[${level.slice(g, g + n).join(',')}]`);
    level = next;
  }
  return level[0];
}

export function requestBody(c: Case, d: CaseData, dtype: Dtype, pass: Pass, encoding: Encoding): string {
  const inputs = Object.keys(c.shapes).map((k) => `"${k}":${wire(d.inputs[k], c.shapes[k], dtype, encoding)}`);
  for (const [k, y] of Object.entries(d.labels)) inputs.push(`"${k}":[${y.join(',')}]`);
  const p = params(c);
  return (
    `{"dtype":"${dtype}","inputs":{${inputs.join(',')}}` +
    (p ? `,"params":${JSON.stringify(p)}` : '') +
    (pass === 'fwd+bwd' && !c.labels ? `,"dout":${wire(d.dout, c.out, dtype, encoding)}` : '') +
    '}'
  );
}

/** Server-Timing durations (ms) by name, from one response. */
function serverTiming(header: string | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of (header ?? '').split(',')) {
    const m = /^\s*([\w-]+);dur=([\d.]+)/.exec(part);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

export interface Poster {
  post(): Promise<void>;
  /** medians of the Server-Timing parts over every request made so far */
  timing(): Record<string, number>;
  bytes: number;
}

/** Posts one prepared body; the first answer is checked (200 with out, and grads when dout was sent). */
export async function poster(service: Service, c: Case, body: string, pass: Pass): Promise<Poster> {
  const url = `${service.url}/v1/layers/${LAYER[c.kind]}`;
  const seen: Record<string, number[]> = {};
  const send = async () => {
    const t0 = performance.now();
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const t1 = performance.now();
    const bytes = await res.arrayBuffer();
    const t2 = performance.now();
    const parts = { ...serverTiming(res.headers.get('server-timing')), 'until headers': t1 - t0, 'body download': t2 - t1 };
    for (const [k, v] of Object.entries(parts)) (seen[k] ??= []).push(v);
    return { status: res.status, bytes };
  };
  const first = await send();
  const text = Buffer.from(first.bytes).toString('utf8');
  if (first.status !== 200) throw new Error(`HTTP ${first.status}: ${problemDetail(text)}`);
  const answer = JSON.parse(text) as { out?: unknown; grads?: unknown };
  if (answer.out === undefined || (pass === 'fwd+bwd' && answer.grads === undefined)) throw new Error('answer without out/grads');
  return {
    bytes: body.length,
    async post() {
      const r = await send();
      if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
    },
    timing: () => Object.fromEntries(Object.entries(seen).map(([k, v]) => [k, median(v)])),
  };
}

function problemDetail(text: string): string {
  try {
    const p = JSON.parse(text) as { detail?: string; title?: string };
    return (p.detail ?? p.title ?? text).slice(0, 160);
  } catch {
    return text.slice(0, 160);
  }
}
