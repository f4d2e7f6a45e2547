import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildApp } from '../src/app.ts';
import { ConfigSchema, loadConfig, testConfig } from '../src/config.ts';

// deploy/haproxy/haproxy.cfg agrees with the service and with the compose `scale` profile that runs it;
// `haproxy -c` checks its syntax where haproxy is installed (.ci/run installs Debian's 2.6, the oldest
// version the config must work with). The real thing runs in ../shared/tools/docker/verify-docker.sh
// (README, "Docker") and scripts/failover.sh.

const root = join(import.meta.dirname, '..');
const CFG = 'deploy/haproxy/haproxy.cfg';
const cfgText = readFileSync(join(root, CFG), 'utf8');
const DEFAULTS = ConfigSchema.parse({});

interface Section {
  kind: string;
  name: string;
  lines: string[][];
}
/** haproxy.cfg as sections of tokenized lines, comments dropped (the file has no quoted strings). */
const sections: Section[] = [];
for (const raw of cfgText.split('\n')) {
  const line = raw.replace(/#.*/, '').trimEnd();
  if (!line.trim()) continue;
  const words = line.trim().split(/\s+/);
  if (/^\S/.test(line)) sections.push({ kind: words[0], name: words[1] ?? '', lines: [] });
  else sections.at(-1)!.lines.push(words);
}
const section = (kind: string, name?: string) => {
  const found = sections.filter((s) => s.kind === kind && (name === undefined || s.name === name));
  expect(found.length, `one ${kind} ${name ?? ''}`).toBe(1);
  return found[0];
};
/** The first line of `section` starting with these words (then the rest of the words). */
const find = (s: Section, ...head: string[]) => s.lines.find((l) => head.every((h, i) => l[i] === h))?.slice(head.length);
/** HAProxy time: "60s", "1m", "500ms", "2000" (ms) -> ms. */
const ms = (t: string | undefined) => {
  const m = /^(\d+)(us|ms|s|m|h|d)?$/.exec(t ?? '');
  if (!m) return Number.NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms']!;
};

const global = section('global');
const defaults = section('defaults');
const backend = section('backend');
const frontends = sections.filter((s) => s.kind === 'frontend');
const bindPort = (s: Section) => Number(find(s, 'bind')?.[0].split(':').at(-1));
const main = frontends.find((f) => find(f, 'default_backend')?.[0] === backend.name)!;
const exporter = frontends.find((f) => f.lines.some((l) => l.includes('prometheus-exporter')))!;
/** A setting from the backend, else the defaults section. */
const setting = (...head: string[]) => find(backend, ...head) ?? find(defaults, ...head);
const template = find(backend, 'server-template')!; // [prefix, range, fqdn:port, ...params]
const serverParams = [...(find(backend, 'default-server') ?? []), ...template.slice(3)];
const param = (name: string) => {
  const i = serverParams.indexOf(name);
  return i < 0 ? undefined : serverParams[i + 1];
};

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true });
const lb = compose.services.lb;
const serviceEnv = compose.services.layerserve.environment as Record<string, string>;
/** Compose interpolation with nothing set in the environment: `${X:-d}` -> d, `${X}` -> "". */
const interpolate = (v: unknown) => String(v).replace(/\$\{[A-Z_]+(?::?-([^}]*))?\}/g, (_, d: string | undefined) => d ?? '');

function ipv4(a: string): number {
  const p = a.split('.').map(Number);
  expect(p.length === 4 && p.every((x) => Number.isInteger(x) && x >= 0 && x <= 255), `IPv4 ${a}`).toBe(true);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
const inCidr = (addr: string, cidr: string) => {
  const [net, bits] = cidr.split('/');
  const mask = Number(bits) === 0 ? 0 : (~0 << (32 - Number(bits))) >>> 0;
  return (ipv4(addr) & mask) === (ipv4(net) & mask);
};

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildApp(testConfig());
  await app.ready();
});
afterAll(async () => {
  await app?.close();
});

function haproxyBinary(): string | null {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore' });
    return 'haproxy';
  } catch {
    return null;
  }
}
const HAPROXY = haproxyBinary();

describe.skipIf(!HAPROXY)(`haproxy -c -f ${CFG} (skipped: haproxy is not installed; .ci/run checks it)`, () => {
  it('is valid, without a warning', () => {
    // haproxy -c writes its verdict on stdout and warnings on stderr; run it through a shell to get both
    const out = execFileSync('sh', ['-c', `${HAPROXY} -c -f "$0" 2>&1`, join(root, CFG)], { encoding: 'utf8' });
    expect(out).toContain('Configuration file is valid');
    expect(out).not.toMatch(/\[(WARNING|ALERT)\]/);
  });

  it('and haproxy -c does fail on a config it does not understand (so the check above can fail)', () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'haproxy-')), 'bad.cfg');
    writeFileSync(bad, cfgText.replace('balance leastconn', 'balance leastconnections'));
    expect(() => execFileSync(HAPROXY!, ['-c', '-f', bad], { stdio: 'pipe' })).toThrow();
  });
});

describe(`${CFG} agrees with the service`, () => {
  it('finds the replicas by Docker DNS on the compose alias and port, and checks /health/ready', async () => {
    const [fqdn, port] = template[2].split(':');
    expect(compose['x-service']?.networks?.default?.aliases ?? compose.services.replica.networks.default.aliases).toContain(fqdn);
    expect(Number(port)).toBe(DEFAULTS.PORT);
    expect(template[1]).toMatch(/^1-\d+$/);
    expect(serverParams).toContain('check');
    const resolvers = section('resolvers', param('resolvers'));
    expect(find(resolvers, 'nameserver')?.[1]).toBe('127.0.0.11:53'); // Docker's embedded DNS
    expect(param('init-addr')).toBe('none'); // start even before a replica exists
    expect(find(backend, 'option', 'httpchk')).toBeDefined();
    expect(find(backend, 'http-check', 'send')).toEqual(['meth', 'GET', 'uri', '/health/ready']);
    expect(find(backend, 'http-check', 'expect')).toEqual(['status', '200']);
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200);
  });

  it('sends each request to the least busy replica, and retries what is safe to retry on another one', () => {
    expect(find(backend, 'balance')).toEqual(['leastconn']);
    expect(setting('retry-on')).toEqual(expect.arrayContaining(['conn-failure', 'empty-response', '503']));
    expect(Number(setting('retries')?.[0])).toBeGreaterThanOrEqual(2);
    expect(setting('option', 'redispatch')).toBeDefined();
    expect(Number(param('maxconn'))).toBeGreaterThan(0);
    // a retry replays the buffered request: wait for the body before choosing a server
    expect(setting('option', 'http-buffer-request')).toBeDefined();
  });

  it('can retry the common small requests: one fits in a buffer', () => {
    // conv C of the README's benchmark table, x (2,3,8,8) and w (4,3,3,3) float32 in nested JSON with
    // seven significant digits (about what numpy's tolist() sends), plus generous headers
    const r = (n: number) => Array.from({ length: n }, (_, i) => Number((Math.sin(i + 1) * 1.234567).toPrecision(7)));
    const nest = (flat: number[], shape: number[]): unknown =>
      shape.length === 1 ? flat : Array.from({ length: shape[0] }, (_, i) => nest(flat.slice((i * flat.length) / shape[0], ((i + 1) * flat.length) / shape[0]), shape.slice(1)));
    const body = JSON.stringify({
      inputs: { x: nest(r(384), [2, 3, 8, 8]), w: nest(r(108), [4, 3, 3, 3]), b: r(4) },
      params: { stride: 1, pad: 1 },
    });
    const request = body.length + 2048;
    const usable = Number(find(global, 'tune.bufsize')?.[0]) - Number(find(global, 'tune.maxrewrite')?.[0]);
    expect(request).toBeLessThan(usable);
  });

  it('lets the largest request finish: server and client timeouts exceed COMPUTE_TIMEOUT_MS with room to parse and encode', () => {
    const server = ms(setting('timeout', 'server')?.[0]);
    const client = ms(setting('timeout', 'client')?.[0]);
    expect(server).toBeGreaterThanOrEqual(DEFAULTS.COMPUTE_TIMEOUT_MS + 10_000);
    expect(client).toBeGreaterThanOrEqual(server);
    // a stopping HAProxy waits for requests in flight, and compose waits for HAProxy
    const hardStop = ms(find(global, 'hard-stop-after')?.[0]);
    expect(hardStop).toBeGreaterThanOrEqual(server);
    expect(ms(String(lb.stop_grace_period))).toBeGreaterThan(hardStop);
  });

  it('tells the replicas who the client is (option forwardfor), and sets the other forwarded headers itself', () => {
    expect(setting('option', 'forwardfor') ?? find(main, 'option', 'forwardfor')).toBeDefined();
    expect(find(main, 'http-request', 'set-header', 'X-Forwarded-Proto')).toBeDefined();
    expect(find(main, 'http-request', 'del-header', 'X-Forwarded-Host')).toBeDefined();
  });

  it('answers its own health on a monitor-uri that the service does not serve, failing without replicas', async () => {
    const uri = find(main, 'monitor-uri')?.[0];
    expect(uri).toMatch(/^\//);
    expect((await app.inject({ url: uri! })).statusCode).toBe(404);
    expect(find(main, 'monitor', 'fail')?.join(' ')).toBe(`if { nbsrv(${backend.name}) lt 1 }`);
  });

  it('serves Prometheus metrics on a port of their own', () => {
    expect(exporter).toBeDefined();
    expect(find(exporter, 'http-request', 'use-service', 'prometheus-exporter')).toBeDefined();
    expect(bindPort(exporter)).not.toBe(bindPort(main));
  });
});

describe('the compose scale profile runs the official HAProxy image with this config', () => {
  it('pinned image, the config mounted read-only where the image reads it, its graceful stop signal', () => {
    expect(lb.profiles).toEqual(['scale']);
    expect(lb.image).toMatch(/^haproxy:\d+\.\d+(\.\d+)?$/);
    expect(lb.build).toBeUndefined();
    expect(lb.command).toBeUndefined(); // the image's CMD: haproxy -W -db -f /usr/local/etc/haproxy/haproxy.cfg
    expect(lb.volumes).toEqual([`./${CFG}:/usr/local/etc/haproxy/haproxy.cfg:ro`]);
    expect(lb.stop_signal).toBe('SIGUSR1');
    expect(compose.services.replica.profiles).toEqual(['scale']);
  });

  it('publishes the balancer and the exporter ports that haproxy.cfg binds', () => {
    const targets = lb.ports.map((p: string) => Number(interpolate(p).split(':').at(-1)));
    expect(targets.sort()).toEqual([bindPort(main), bindPort(exporter)].sort());
  });

  it('gives HAProxy a fixed address outside the dynamic range, and the services trust exactly that address', () => {
    const subnet = interpolate(compose.networks.default.ipam.config[0].subnet);
    const range = interpolate(compose.networks.default.ipam.config[0].ip_range);
    const address = interpolate(lb.networks.default.ipv4_address);
    expect(inCidr(address, subnet)).toBe(true);
    expect(inCidr(range.split('/')[0], subnet)).toBe(true);
    expect(inCidr(address, range)).toBe(false); // no replica can be given HAProxy's address
    const trust = interpolate(serviceEnv.TRUST_PROXY);
    expect(trust).toBe(address);
    expect(loadConfig({ TRUST_PROXY: trust }).TRUST_PROXY).toEqual([address]);
  });
});
