/**
 * The baseline for the small-request target: a bare fastify route that does relu on a JSON body in
 * its own handler (no workers, no validation, no problem details). Run as its own process; prints
 * "listening <url>".
 */
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
app.post('/relu', async (request) => {
  const { inputs } = request.body as { inputs: { x: number[] } };
  return { out: inputs.x.map((v) => (v > 0 ? v : 0)) };
});
const url = await app.listen({ port: 0, host: '127.0.0.1' });
console.log(`listening ${url}`);
