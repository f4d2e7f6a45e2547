import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const int = (min: number) => z.coerce.number().int().min(min);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const access = z.enum(['public', 'token', 'off']);

/** proxy-addr's named ranges, which fastify's trustProxy also takes. */
const PROXY_PRESETS = new Set(['loopback', 'linklocal', 'uniquelocal']);
/** An address, a CIDR (`10.0.0.0/8`, `fd00::/8`) or one of PROXY_PRESETS. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_PRESETS.has(entry)) return true;
  const [addr, prefix, ...rest] = entry.split('/');
  const family = isIP(addr);
  if (family === 0 || rest.length > 0) return false;
  return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

/** Every setting, its default and its range. Read once from the environment; frozen. */
export const ConfigSchema = z.object({
  PORT: int(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  WORKERS: int(1).max(256).default(availableParallelism()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  // Limits on one request
  BODY_LIMIT_BYTES: int(1).default(64 * 1024 * 1024),
  MAX_ELEMENTS: int(1).default(16_777_216),
  MAX_RANK: int(1).max(32).default(8),
  COMPUTE_TIMEOUT_MS: int(1).default(30_000),

  // Load
  MAX_QUEUE: int(0).default(256),
  MAX_EVENT_LOOP_DELAY_MS: int(0).default(1_000),
  MAX_HEAP_USED_BYTES: int(0).default(0),
  MAX_RSS_BYTES: int(0).default(0),
  RATE_LIMIT_MAX: int(0).default(0),
  RATE_LIMIT_WINDOW_MS: int(1).default(60_000),

  // Access
  API_TOKENS: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean)),
  DOCS_ACCESS: access.default('public'),
  METRICS_ACCESS: access.default('public'),

  /**
   * Proxies whose X-Forwarded-For is believed (comma-separated addresses, CIDRs, or loopback, linklocal,
   * uniquelocal). Empty: none, the client is the TCP peer. A request from any other peer keeps its peer
   * address for rate limits and logs, whatever headers it sends.
   */
  TRUST_PROXY: z
    .string()
    .default('')
    .transform((s) => s.split(',').map((t) => t.trim()).filter(Boolean))
    .refine((list) => list.every(isProxyEntry), {
      message: 'expected comma-separated IP addresses, CIDRs (10.0.0.0/8) or loopback, linklocal, uniquelocal',
    }),

  // HTTP connections (README, "Shutdown, slow clients and timeouts")
  /** the request line and headers must arrive within this (slowloris); 408 and closed after it */
  HEADERS_TIMEOUT_MS: int(1).default(10_000),
  /** the whole request, body included, must arrive within this; 408 after it (0: no limit) */
  REQUEST_TIMEOUT_MS: int(0).default(120_000),
  /** an idle kept-alive connection is closed after this; above the idle timeout of balancers in front */
  KEEP_ALIVE_TIMEOUT_MS: int(1).default(72_000),
  /** a client that takes no byte of its answer for this long is disconnected (0: never) */
  SEND_TIMEOUT_MS: int(0).default(60_000),
  /** answers started but not yet taken by their clients' sockets, in bytes; above it 503 (0: no limit) */
  MAX_UNSENT_BYTES: int(0).default(256 * 1024 * 1024),

  // Shutdown: on SIGTERM readiness is 503 at once; requests are still served for SHUTDOWN_DRAIN_MS,
  // then refused while every started answer is delivered; SHUTDOWN_GRACE_MS bounds the whole.
  SHUTDOWN_DRAIN_MS: int(0).default(0),
  SHUTDOWN_GRACE_MS: int(0).default(10_000),
  /** test only: exposes the `fault` layer that throws, kills its worker or hangs */
  ENABLE_FAULT_LAYER: bool.default(false),
})
  .refine((c) => c.SHUTDOWN_DRAIN_MS === 0 || c.SHUTDOWN_DRAIN_MS < c.SHUTDOWN_GRACE_MS, {
    path: ['SHUTDOWN_DRAIN_MS'],
    message: 'must be below SHUTDOWN_GRACE_MS, which bounds the whole shutdown',
  })
  .refine((c) => c.REQUEST_TIMEOUT_MS === 0 || c.HEADERS_TIMEOUT_MS <= c.REQUEST_TIMEOUT_MS, {
    path: ['HEADERS_TIMEOUT_MS'],
    message: 'must not exceed REQUEST_TIMEOUT_MS (Node requires it)',
  });

export type Config = Readonly<z.output<typeof ConfigSchema>>;

/** Parse a config from an environment-like record; unknown keys are ignored. Throws a readable error. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const picked = Object.fromEntries(
    Object.keys(ConfigSchema.shape)
      .filter((k) => env[k] !== undefined && env[k] !== '')
      .map((k) => [k, env[k]]),
  );
  const parsed = ConfigSchema.safeParse(picked);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return Object.freeze(parsed.data);
}

/** Defaults plus overrides, for tests and tools: one worker, silent. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...ConfigSchema.parse({}), WORKERS: 1, LOG_LEVEL: 'silent' as const, ...overrides });
}
