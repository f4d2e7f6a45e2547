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
// A signal while the app is still being built is remembered, not lost: in a container Node is PID 1,
// which ignores SIGTERM without a handler, so `docker stop` would wait for its SIGKILL.
let early: NodeJS.Signals | undefined;
const remember = (signal: NodeJS.Signals) => (early ??= signal);
process.on('SIGTERM', remember).on('SIGINT', remember);
const app = await buildApp(config);
process.off('SIGTERM', remember).off('SIGINT', remember);
if (early) {
  app.log.info({ signal: early }, 'stopped while starting: closing without listening');
  await app.close();
  process.exit(0);
}

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
