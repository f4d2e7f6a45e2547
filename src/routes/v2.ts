import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ProblemError } from '../errors/problems.ts';
import type { LayerDefinition } from '../layers/types.ts';
import { ClientGoneError } from '../pool/pool.ts';
import { toProblem } from '../plugins/problems.ts';
import { HEADER_LENGTH } from '../tensors/frame.ts';
import { InferRequest, InferResponse, inferExample, MODEL_VERSION, ModelMetadata, modelMetadata, V2Error } from '../v2/protocol.ts';
import type { LayerRouteOptions } from './layers.ts';
import { acceptRawBodies, postOnWorker, splitContinuation } from './worker-route.ts';

const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

const errors = {
  '4xx': { description: 'the v1 problem detail', content: { 'application/json': { schema: V2Error } } },
  '5xx': { description: 'a fault, overload or time limit', content: { 'application/json': { schema: V2Error } } },
};

/** Errors the protocol's way: the v1 status code and headers, body `{"error": "<the v1 detail>"}`. */
function sendError(reply: FastifyReply, problem: ProblemError): FastifyReply {
  for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v);
  return reply.code(problem.status).type('application/json; charset=utf-8').send(JSON.stringify({ error: problem.message }));
}

/**
 * The Open Inference Protocol (KServe V2) routes under /v2, driven by the layer registry: each layer
 * is a model, version "1". Infer requests run on the workers like /v1 (src/v2/endpoint.ts).
 * Registered with the prefix /v2, so that this context's error and not-found handlers answer
 * `{"error": …}` for every /v2 URL.
 */
export default async function v2Routes(app: FastifyInstance, opts: LayerRouteOptions) {
  acceptRawBodies(app);
  const byName = new Map(opts.layers.map((l) => [l.name, l]));
  const unknown = (name: string) =>
    new ProblemError('unknownLayer', `no model "${name}"; the models are the layers: ${[...byName.keys()].join(', ')}`);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ClientGoneError) return reply.code(499).send();
    const problem = toProblem(error, request);
    if (problem.status >= 500) request.log.error({ err: error, reqId: request.id }, 'request failed');
    return sendError(reply, problem);
  });
  app.setNotFoundHandler((request, reply) => {
    const model = /^\/v2\/models\/([^/?]+)/.exec(request.url)?.[1];
    const problem =
      model && !byName.has(decodeURIComponent(model))
        ? unknown(decodeURIComponent(model))
        : new ProblemError('notFound', `no route ${request.method} ${request.url.split('?')[0]}; see /docs for the routes`);
    return sendError(reply, problem);
  });

  // Health answers even under pressure, like /health.
  const health = { pressureHandler: () => undefined };
  const tags = ['v2'];
  const ok = (example: Record<string, unknown>) => z.looseObject({}).meta({ example });
  app.get('/health/live', { config: health, schema: { tags, summary: 'V2 liveness', response: { 200: ok({ live: true }) } } }, async () => ({ live: true }));
  app.get('/health/ready', { config: health, schema: { tags, summary: 'V2 readiness: 503 while the pool is down or the service shuts down', response: { 200: ok({ ready: true }), 503: ok({ ready: false }) } } }, async (_request, reply) => {
    const ready = !app.pool.isClosed && !app.shuttingDown;
    return reply.code(ready ? 200 : 503).send({ ready });
  });
  app.get('/', { schema: { tags, summary: 'V2 server metadata', response: { 200: ok({ name: 'layerserve', version: VERSION, extensions: ['binary_tensor_data'] }) } } }, async () => ({ name: 'layerserve', version: VERSION, extensions: ['binary_tensor_data'] }));

  const model = (params: unknown): LayerDefinition => {
    const { model: name, version } = params as { model: string; version?: string };
    const def = byName.get(name);
    if (!def) throw unknown(name);
    if (version !== undefined && version !== MODEL_VERSION) throw new ProblemError('notFound', `model "${name}" has only version ${MODEL_VERSION}; got version "${version}"`);
    return def;
  };
  for (const url of ['/models/:model', '/models/:model/versions/:version']) {
    const hide = url.includes('versions');
    app.get(url, { schema: { tags, hide, summary: 'V2 model metadata: the layer\'s inputs and outputs', response: { 200: ModelMetadata.meta({ example: modelMetadata(opts.layers.find((l) => l.name === 'conv') ?? opts.layers[0]) }), ...errors } } }, async (request) =>
      modelMetadata(model(request.params)),
    );
    app.get(`${url}/ready`, { schema: { tags, hide, summary: 'V2 model readiness' } }, async (request, reply) => {
      model(request.params);
      if (app.pool.isClosed || app.shuttingDown) throw new ProblemError('shuttingDown', 'the service is shutting down');
      return reply.code(200).send();
    });
  }

  for (const def of opts.layers) {
    for (const prefix of [`/models/${def.name}`, `/models/${def.name}/versions/${MODEL_VERSION}`]) {
      postOnWorker(app, {
        url: `${prefix}/infer`,
        endpoint: 'v2-infer',
        key: def.name,
        limits: opts.limits,
        anyContentType: true,
        onHandoff: splitContinuation(app, 'v2-infer', def.name),
        config: { layer: `v2/${def.name}` },
        schema: {
          tags,
          hide: prefix.includes('versions'),
          security: [{ bearer: [] }, {}],
          summary: `V2 infer: ${def.summary}`,
          description:
            `Inputs: ${modelMetadata(def).inputs.map((i) => i.name).join(', ')}. ` +
            `Outputs: ${modelMetadata(def).outputs.map((o) => o.name).join(', ')}. Params as request parameters under their v1 names ` +
            '(pairs as an int or "h,w"). JSON or binary tensors (Triton\'s binary tensor data extension: `' + HEADER_LENGTH + '`, `binary_data_size`, `binary_data_output`); no content type needed.',
          body: InferRequest.meta({ example: inferExample(def) }),
          response: { 200: { description: 'the outputs (framed when any is binary)', content: { 'application/json': { schema: InferResponse } } }, ...errors },
        },
      });
    }
  }
}
