import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';
import { shutDown } from './shutdown.ts';

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
const app = await buildApp(config);

// SIGTERM/SIGINT: readiness turns 503, requests are served for SHUTDOWN_DRAIN_MS more, then refused
// with 503; every answer started is delivered whole, the pool closes, and the process exits 0. Past
// SHUTDOWN_GRACE_MS the answers still open are cut, each logged with how far it got, and it exits 1.
closeWithGrace(
  {
    delay: config.SHUTDOWN_GRACE_MS,
    logger: app.log,
    onTimeout: (delay) => {
      const cut = app.delivery.cut(`the shutdown deadline (SHUTDOWN_GRACE_MS=${delay})`);
      app.log.error({ cut }, `shutdown took longer than SHUTDOWN_GRACE_MS=${delay}: exiting with 1`);
    },
  },
  async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'closing after an error');
    else app.log.info({ signal }, 'closing');
    // after an error, no drain: stop taking work at once, but still deliver what was started
    await shutDown(app, { drainMs: err ? 0 : config.SHUTDOWN_DRAIN_MS });
  },
);

await app.listen({ port: config.PORT, host: config.HOST });
