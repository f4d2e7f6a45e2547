import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LAYERS } from '../src/layers/registry.ts';
import { RULES } from '../src/optimizers/registry.ts';
import { buildTestApp, post } from './helpers/app.ts';
import { malformedBody } from './helpers/fuzz.ts';

// `npm run fuzz` runs the same property longer: FUZZ_RUNS per layer, a fresh seed unless FUZZ_SEED is set.
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED = process.env.FUZZ_SEED === 'random' ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED ?? 20261125);

let app: FastifyInstance;
let sent = 0;
const statuses: Record<number, number> = {};
beforeAll(async () => {
  app = await buildTestApp({ MAX_ELEMENTS: 1_000_000 });
});
afterAll(async () => {
  console.log(`fuzz: ${sent} malformed requests (seed ${SEED}), answers by status: ${JSON.stringify(statuses)}`);
  await app.close();
});

const routes = [
  ...LAYERS.map((def) => ({ url: `/v1/layers/${def.name}`, example: def.example })),
  ...RULES.map((rule) => ({ url: `/v1/optimizers/${rule.name}`, example: rule.example })),
];

describe('fuzz: malformed bodies to every layer and update-rule route get 4xx problems, never a 5xx', () => {
  for (const { url, example } of routes) {
    it(url, async () => {
      await fc.assert(
        fc.asyncProperty(malformedBody(example), async (input) => {
          sent++;
          const res = await app.inject({
            method: 'POST',
            url,
            headers: { 'content-type': 'application/json' },
            payload: input.kind === 'raw' ? input.text : JSON.stringify(input.body),
          });
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          if (res.statusCode === 200) return; // a mutation can leave the body valid
          expect(res.statusCode, res.body.slice(0, 300)).toBeGreaterThanOrEqual(400);
          expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500);
          expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
          const problem = res.json();
          expect(problem.status).toBe(res.statusCode);
          expect(typeof problem.detail).toBe('string');
        }),
        { numRuns: RUNS, seed: SEED, endOnFailure: true },
      );
      const ok = await post(app, url, example);
      expect(ok.status, ok.body).toBe(200);
    }, 120_000);
  }
});
