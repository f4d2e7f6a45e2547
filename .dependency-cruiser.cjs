/**
 * The architecture, checked by `npm run depcruise` (part of `npm test`). See STYLE.md and issue 13.
 * Parsed with swc: TypeScript 7 has no JavaScript API for dependency-cruiser's TypeScript parser.
 */
/** The worker thread's entry: everything it imports is loaded by every worker. */
const WORKER_ENTRY = '^src/pool/worker\\.ts$';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import circles between files (type imports count): a reference never imports its fast twin, shared types go to a types file.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'kernels-are-pure',
      severity: 'error',
      comment: 'Kernels are pure functions on typed arrays: no fastify, zod, piscina or process (STYLE.md 2).',
      from: { path: '^src/kernels/' },
      to: { path: ['node_modules/(fastify|@fastify/[^/]+|fastify-[^/]+|zod|piscina)/', '^(node:)?process$'], reachable: true },
    },
    {
      name: 'kernels-stay-in-kernels',
      severity: 'error',
      comment: 'Kernels import only kernels (and Node built-ins other than process): nothing of the service.',
      from: { path: '^src/kernels/' },
      to: { path: '^src/', pathNot: '^src/kernels/' },
    },
    {
      name: 'worker-loads-no-http',
      severity: 'error',
      comment: 'A worker loads what it runs: nothing of src/routes or src/plugins, no fastify.',
      from: { path: WORKER_ENTRY },
      to: { path: ['^src/routes/', '^src/plugins/', 'node_modules/(fastify|@fastify/[^/]+|fastify-[^/]+)/'], reachable: true },
    },
    {
      name: 'layers-do-not-import-check',
      severity: 'error',
      comment: 'The check feature builds on the layers, never the other way round: it registers its own worker tasks.',
      from: { path: '^src/layers/' },
      to: { path: '^src/check/' },
    },
    {
      name: 'endpoint-parts-import-no-http',
      severity: 'error',
      comment: "The endpoint parts (schema, prepare, compute, encode) run on the workers: nothing of fastify, src/routes or src/plugins.",
      from: { path: '^src/(layers|check|optimizers|networks|tensors|errors)/' },
      to: { path: ['^src/routes/', '^src/plugins/', 'node_modules/(fastify|@fastify/[^/]+|fastify-[^/]+)/'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/kernels/wasm/assembly/' },
    parser: 'swc',
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
