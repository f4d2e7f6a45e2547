import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';

/**
 * The shutdown sequence after SIGTERM; the caller bounds it with SHUTDOWN_GRACE_MS.
 * 1. Readiness turns 503 at once; for `drainMs` requests are still served (their answers close their
 *    connections), so that a balancer probing readiness stops sending here before anything is refused.
 * 2. The listener closes; requests still arriving on open connections get 503 with Retry-After and
 *    Connection: close.
 * 3. Every answer started is delivered to its socket (not merely returned by its route).
 * 4. Connections left without an answer close, then the app (the worker pool with it).
 */
export async function shutDown(app: FastifyInstance, { drainMs }: { drainMs: number }): Promise<void> {
  app.shuttingDown = true;
  if (drainMs > 0) {
    app.log.info({ drainMs }, 'draining: readiness is 503, requests are still served');
    await sleep(drainMs);
  }
  app.delivery.refusing = true;
  app.delivery.stopListening(app.server);
  const inFlight = app.delivery.inFlight;
  if (inFlight > 0) {
    app.log.info({ inFlight, unsentBytes: app.delivery.unsentBytes() }, 'listener closed; new requests get 503; delivering the answers in flight');
    await app.delivery.settled();
  }
  // What is left are idle connections and requests whose headers never completed (slowloris): no
  // answer to deliver. Closed now, in the tick the last answer closed; the app's close would wait for
  // them, and Node stops enforcing HEADERS_TIMEOUT_MS once the server closes.
  app.server.closeAllConnections();
  app.log.info('every answer delivered; closing');
  await app.close();
}
