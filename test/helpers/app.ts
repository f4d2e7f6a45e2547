import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.ts';
import { testConfig, type Config } from '../../src/config.ts';

/** A ready app with one worker and no logs, closed by the caller (use in beforeAll/afterAll). */
export async function buildTestApp(overrides: Partial<Config> = {}): Promise<FastifyInstance> {
  const app = await buildApp(testConfig(overrides));
  await app.ready();
  return app;
}

export async function postLayer(app: FastifyInstance, layer: string, body: unknown) {
  return post(app, `/v1/layers/${layer}`, body);
}

/** POST a JSON body to any route. */
export async function post(app: FastifyInstance, url: string, body: unknown) {
  const res = await app.inject({ method: 'POST', url, payload: body as object });
  return { status: res.statusCode, headers: res.headers, json: safeJson(res.body), body: res.body };
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
