import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.ts';
import { loadConfig, type Config } from './config.ts';

let config: Config;
try {
  config = loadConfig();
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
const app = await buildApp(config);

// SIGTERM/SIGINT: readiness turns false and new work gets 503 at once; in-flight requests finish,
// the pool closes, and the process exits 0 — or 1 if that takes longer than SHUTDOWN_GRACE_MS.
closeWithGrace({ delay: config.SHUTDOWN_GRACE_MS, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error');
  else app.log.info({ signal }, 'closing');
  app.shuttingDown = true;
  await app.close();
});

await app.listen({ port: config.PORT, host: config.HOST });
