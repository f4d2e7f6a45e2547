import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTestApp, postLayer } from './helpers/app.ts';
import { compareTensor, inAllForms, layerVectorFiles } from './helpers/vectors.ts';

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildTestApp();
});
afterAll(() => app.close());

// Every PyTorch reference case, through the HTTP layer (app.inject), in all three tensor forms.
for (const file of layerVectorFiles()) {
  describe(`vectors: ${file.layer}`, () => {
    for (const c of file.cases) {
      for (const [form, request] of Object.entries(inAllForms(c.request))) {
        it(`${c.name} (${form})`, async (ctx) => {
          if (!app.layerNames.includes(file.layer)) ctx.skip();
          const r = await postLayer(app, file.layer, request);
          expect(r.status, r.body.slice(0, 300)).toBe(200);
          expect(r.headers['server-timing']).toMatch(/decode;dur=.*queue;dur=.*kernel;dur=.*encode;dur=/);
          const e = c.expect;
          const fails: string[] = [];
          if (e.loss !== undefined) fails.push(...compareTensor('loss', r.json.loss, e.loss, c.tol));
          if (e.out) fails.push(...compareTensor('out', r.json.out, e.out, c.tol));
          for (const [k, v] of Object.entries(e.grads ?? {})) fails.push(...compareTensor(`grads.${k}`, r.json.grads?.[k], v, c.tol));
          for (const [k, v] of Object.entries(e.state ?? {})) fails.push(...compareTensor(`state.${k}`, r.json.state?.[k], v, c.tol));
          expect(fails).toEqual([]);
          if (!e.grads) expect(r.json.grads).toBeUndefined();
          if (!e.state) expect(r.json.state).toBeUndefined();
          // The response comes back in the form of inputs.x.
          if (form === 'nested') expect(Array.isArray(r.json.out ?? r.json.grads.x)).toBe(true);
          if (form === 'base64') expect(typeof (r.json.out ?? r.json.grads.x).b64).toBe('string');
          if (form === 'flat') expect(Array.isArray((r.json.out ?? r.json.grads.x).data)).toBe(true);
        });
      }
    }
  });
}
