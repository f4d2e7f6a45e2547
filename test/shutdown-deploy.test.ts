import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ConfigSchema, loadConfig } from '../src/config.ts';

// The shutdown numbers of the deployments agree with the code and with each other: nobody SIGKILLs an
// answer that SHUTDOWN_GRACE_MS still allows, and a balancer stops sending before anything is refused.

const root = join(import.meta.dirname, '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const DEFAULTS = ConfigSchema.parse({});
/** Kubernetes proxies and ingress controllers apply an endpoint removal within a few seconds. */
const ENDPOINT_PROPAGATION_S = 5;

/** "15s", "1m30s", "500ms", "2" (seconds) as milliseconds, for compose durations and HAProxy times. */
function ms(duration: string, bareUnit: 's' | 'ms'): number {
  const parts = [...duration.matchAll(/(\d+(?:\.\d+)?)(ms|us|s|m|h)?/g)];
  expect(parts.map((p) => p[0]).join(''), `duration ${duration}`).toBe(duration.trim());
  const unit = { ms: 1, us: 0.001, s: 1000, m: 60_000, h: 3_600_000 };
  return parts.reduce((sum, [, n, u]) => sum + Number(n) * unit[(u ?? bareUnit) as keyof typeof unit], 0);
}
/** Compose interpolation with nothing set in the environment: `${X:-d}` -> d, `${X}` -> "". */
const interpolate = (v: unknown) => String(v).replace(/\$\{[A-Z_]+(?::?-([^}]*))?\}/g, (_, d: string | undefined) => d ?? '');

describe('shutdown settings in docker-compose.yml and haproxy.cfg', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true });
  const backends = Object.entries(compose.services as Record<string, any>).filter(([, s]) => s.networks?.default?.aliases?.includes('backend'));
  const haproxy = read('deploy/haproxy/haproxy.cfg');

  it('every backend is valid config, and stop_grace_period exceeds SHUTDOWN_GRACE_MS', () => {
    expect(backends.map(([name]) => name).sort()).toEqual(['layerserve', 'replica']);
    for (const [name, s] of backends) {
      const env = Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, interpolate(v)]));
      const config = loadConfig(env);
      expect(env.SHUTDOWN_GRACE_MS, `${name}: SHUTDOWN_GRACE_MS set explicitly`).toBeTruthy();
      expect(ms(String(s.stop_grace_period), 's'), name).toBeGreaterThan(config.SHUTDOWN_GRACE_MS);
    }
  });

  it("serves through the drain until HAProxy's checks have taken the replica out (SHUTDOWN_DRAIN_MS > inter × fall)", () => {
    const server = /^\s*default-server\s+(.*)$/m.exec(haproxy)?.[1] ?? '';
    const inter = ms(/\binter\s+(\S+)/.exec(server)?.[1] ?? '2s', 'ms'); // HAProxy's default inter is 2 s
    const fall = Number(/\bfall\s+(\d+)/.exec(server)?.[1] ?? 3);
    expect(/http-check send meth GET uri \/health\/ready/.test(haproxy), 'HAProxy checks readiness').toBe(true);
    for (const [name, s] of backends) {
      const config = loadConfig(Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, interpolate(v)])));
      expect(config.SHUTDOWN_DRAIN_MS, name).toBeGreaterThan(inter * fall);
      expect(config.SHUTDOWN_DRAIN_MS, name).toBeLessThan(config.SHUTDOWN_GRACE_MS);
    }
  });

  it("keeps idle connections open longer than HAProxy does (KEEP_ALIVE_TIMEOUT_MS > timeout http-keep-alive)", () => {
    const haproxyKeepAlive = ms(/^\s*timeout http-keep-alive\s+(\S+)/m.exec(haproxy)?.[1] ?? '', 'ms');
    for (const [name, s] of backends) {
      const config = loadConfig(Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, interpolate(v)])));
      expect(config.KEEP_ALIVE_TIMEOUT_MS, name).toBeGreaterThan(haproxyKeepAlive);
    }
  });
});

describe('shutdown settings in deploy/kubernetes', () => {
  const objects = parseAllDocuments(read('deploy/kubernetes/deployment.yaml')).map((d) => d.toJS());
  const pod = objects.find((o) => o.kind === 'Deployment').spec.template;
  const container = pod.spec.containers.find((c: any) => c.name === 'layerserve');
  const env = Object.fromEntries(container.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, String(e.value)]));
  const config = loadConfig(env);
  const preStop = container.lifecycle?.preStop;
  const preStopS = Number(preStop?.sleep?.seconds ?? (preStop?.exec?.command?.[0] === 'sleep' ? preStop.exec.command.at(-1) : 0));

  it('a preStop delay lets the endpoint removal reach every node before SIGTERM', () => {
    expect(preStopS * 1000 + config.SHUTDOWN_DRAIN_MS).toBeGreaterThanOrEqual(ENDPOINT_PROPAGATION_S * 1000);
  });

  it('terminationGracePeriodSeconds exceeds the preStop delay + SHUTDOWN_GRACE_MS, so SIGKILL cuts no answer the service would finish', () => {
    expect(env.SHUTDOWN_GRACE_MS, 'SHUTDOWN_GRACE_MS set explicitly').toBeDefined();
    expect(config.SHUTDOWN_GRACE_MS).toBeGreaterThanOrEqual(DEFAULTS.SHUTDOWN_GRACE_MS);
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopS * 1000 + config.SHUTDOWN_GRACE_MS);
  });
});

describe('the shutdown settings themselves', () => {
  it('refuse a drain that would not fit in the grace period, and a headers timeout above the request timeout', () => {
    expect(() => loadConfig({ SHUTDOWN_DRAIN_MS: '10000', SHUTDOWN_GRACE_MS: '10000' })).toThrow(/SHUTDOWN_DRAIN_MS: must be below SHUTDOWN_GRACE_MS/);
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '1000' })).toThrow(/HEADERS_TIMEOUT_MS: must not exceed REQUEST_TIMEOUT_MS/);
    expect(loadConfig({ HEADERS_TIMEOUT_MS: '5000', REQUEST_TIMEOUT_MS: '0' }).HEADERS_TIMEOUT_MS).toBe(5000);
    expect(DEFAULTS).toMatchObject({ SHUTDOWN_DRAIN_MS: 0, SHUTDOWN_GRACE_MS: 10_000 });
  });
});
