/**
 * Baselines, run as their own process (prints "listening <url>"):
 * - POST /relu: the small-request target's, relu on a JSON body in its own handler (no workers, no
 *   validation, no problem details);
 * - POST /bytes: the floor under a big binary request: it reads the body (any type) and answers as many
 *   bytes from one buffer it keeps, so a client timing it measures moving those bytes over HTTP and nothing else.
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 1 << 30 });
app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
let kept = Buffer.alloc(0);
app.post('/bytes', async (request, reply) => {
  const n = (request.body as Buffer).length;
  if (kept.length < n) kept = Buffer.alloc(n, 1);
  return reply.type('application/octet-stream').send(kept.subarray(0, n));
});
app.post('/relu', async (request) => {
  const { inputs } = request.body as { inputs: { x: number[] } };
  return { out: inputs.x.map((v) => (v > 0 ? v : 0)) };
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`listening ${url}`);
