import { availableParallelism } from 'node:os';
import { z } from 'zod';

const int = (min: number) => z.coerce.number().int().min(min);

/** Every setting, its default and its range. Read once from the environment; frozen. */
export const ConfigSchema = z.object({
  PORT: int(0).max(65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  WORKERS: int(1).max(256).default(availableParallelism()),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  BODY_LIMIT_BYTES: int(1).default(64 * 1024 * 1024),
  MAX_ELEMENTS: int(1).default(16_777_216),
  MAX_RANK: int(1).max(32).default(8),
});

export type Config = Readonly<z.infer<typeof ConfigSchema>>;

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

/** Defaults plus overrides, for tests and tools. */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({ ...ConfigSchema.parse({}), WORKERS: 1, LOG_LEVEL: 'silent' as const, ...overrides });
}
