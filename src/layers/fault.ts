import { z } from 'zod';
import { paramsObject } from './params.ts';
import { defineLayer } from './types.ts';

/**
 * Fault injection, for tests of the failure paths only: exposed when ENABLE_FAULT_LAYER is set.
 * `throw` raises in the kernel, `exit` kills the worker thread, `hang` spins for `ms` (the timeout path).
 */
export const fault = defineLayer({
  name: 'fault',
  summary: 'Test only: a kernel that fails on purpose',
  description: 'Exposed only when ENABLE_FAULT_LAYER is set. kind: throw | exit | hang (spins for ms, then answers like relu).',
  inputs: [{ name: 'x', kind: 'float', rank: 'any', layout: '(any shape)' }],
  params: paramsObject({
      kind: z.enum(['throw', 'exit', 'hang']).default('throw'),
      ms: z.int().min(0).max(600_000).default(0),
    }),
  example: { inputs: { x: [1] }, params: { kind: 'throw' } },
  outShape: ({ shapes: { x } }) => x,
  compute({ inputs: { x }, params }) {
    if (params.kind === 'throw') throw new Error('injected fault: /secret/internal/path.ts');
    if (params.kind === 'exit') process.exit(3);
    const until = performance.now() + params.ms;
    while (performance.now() < until) {
      // busy: a kernel stuck in a loop, which only terminating the worker stops
    }
    return { out: x };
  },
});
