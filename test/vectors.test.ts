import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAYERS, TEST_LAYERS } from '../src/layers/registry.ts';
import { RULES } from '../src/optimizers/registry.ts';
import { buildTestApp, post } from './helpers/app.ts';
import { compareAnswer, inAllForms, V11_DIR, VECTOR_DIR, vectorFiles, type VectorFile } from './helpers/vectors.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

/** Every file of both folders is replayed; a route that is not served fails its cases: nothing is skipped. */
const files: VectorFile[] = [...vectorFiles(VECTOR_DIR), ...vectorFiles(V11_DIR)];


describe('every layer and update rule the service exposes over HTTP has reference vectors', () => {
  // The test-only fault layer and the workers' internal tasks (the check probe) are not in LAYERS.
  it.each(LAYERS.map((l) => l.name))('%s', (name) => {
    const file = files.find((f) => f.route === `/v1/layers/${name}`);
    expect(file, `no vector file for layer ${name}: add test/vectors/v1.1/${name}.json`).toBeDefined();
    expect(file!.cases.length).toBeGreaterThan(0);
  });
  it.each(RULES.map((r) => r.name))('update rule %s', (name) => {
    expect(files.find((f) => f.route === `/v1/optimizers/${name}`), `no vector file for update rule ${name}`).toBeDefined();
  });
  it('and the layers HTTP exposes are exactly those (plus the test-only ones when enabled)', async () => {
    expect(app.layerNames.filter((n) => !TEST_LAYERS.some((t) => t.name === n))).toEqual(LAYERS.map((l) => l.name));
    expect(app.ruleNames).toEqual(RULES.map((r) => r.name));
  });
});

// Every reference case, through the HTTP layer (app.inject), in all three tensor forms, to the file's route.
for (const file of files) {
  describe(`vectors: ${file.file} → ${file.route}`, () => {
    for (const c of file.cases) {
      for (const [form, request] of Object.entries(inAllForms(c.request))) {
        it(`${c.name} (${form})`, async () => {
          const r = await post(app, file.route, request);
          expect(r.status, r.body.slice(0, 300)).toBe(200);
          expect(r.headers['server-timing']).toMatch(/decode;dur=.*queue;dur=.*kernel;dur=.*encode;dur=/);
          const e = c.expect;
          expect(compareAnswer(r.json, e, c.tol)).toEqual([]);
          if (!e.grads) expect(r.json.grads).toBeUndefined();
          if (!e.state) expect(r.json.state ?? {}).toEqual({});
          // The response comes back in the form of the first input (x, or an update rule's w; a network's x).
          const first = r.json.out ?? r.json.grads?.x ?? r.json.w ?? Object.values(r.json.grads ?? {})[0];
          if (form === 'nested') expect(Array.isArray(first)).toBe(true);
          if (form === 'base64') expect(typeof first.b64).toBe('string');
          if (form === 'flat') expect(Array.isArray(first.data)).toBe(true);
        });
      }
    }
  });
}
