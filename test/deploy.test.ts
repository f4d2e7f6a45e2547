import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { buildApp } from '../src/app.ts';
import { ConfigSchema, testConfig } from '../src/config.ts';

// The deployment files agree with the service: ports, health routes, settings, and with each other.
// They are read as text (no Docker or cluster needed); the image itself is checked by
// ../shared/tools/docker/verify-docker.sh (see the README, "Docker").

const root = join(import.meta.dirname, '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const K8S = 'deploy/kubernetes';
const DEFAULTS = ConfigSchema.parse({});
const CONFIG_KEYS = new Set(Object.keys(ConfigSchema.shape));
const NODE_IMAGE_DEFAULT = 'node:24-bookworm-slim';

/** Kubernetes CPU quantity in cores: "2", "1500m", 2. */
function cores(q: string | number | undefined): number {
  if (q === undefined) return Number.NaN;
  const s = String(q);
  return s.endsWith('m') ? Number(s.slice(0, -1)) / 1000 : Number(s);
}

/** Kubernetes memory quantity in bytes: "1536Mi", "1Gi", "1G", 1024. */
function bytes(q: string | number | undefined): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]i?)?$/.exec(String(q ?? ''));
  if (!m) return Number.NaN;
  const unit = m[2] ?? '';
  const pow = { '': 0, K: 1, M: 2, G: 3, T: 4 }[unit.replace('i', '') as '' | 'K' | 'M' | 'G' | 'T'];
  return Number(m[1]) * (unit.endsWith('i') ? 1024 : 1000) ** pow;
}

/** Compose interpolation with nothing set in the environment: `${X:-d}` -> d, `${X}` -> "". */
const interpolate = (v: unknown) => String(v).replace(/\$\{[A-Z_]+(?::?-([^}]*))?\}/g, (_, d: string | undefined) => d ?? '');

// ---------------------------------------------------------------- Kubernetes
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: any;
}

const manifestFiles = readdirSync(join(root, K8S)).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
const objects: K8sObject[] = manifestFiles.flatMap((f) =>
  parseAllDocuments(read(join(K8S, f))).map((doc) => {
    expect(doc.errors, `${f}: ${doc.errors.map((e) => e.message).join('; ')}`).toEqual([]);
    return doc.toJS() as K8sObject;
  }),
);
const only = (kind: string): K8sObject => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.map((o) => o.kind), `exactly one ${kind} in ${K8S}`).toEqual([kind]);
  return found[0];
};
const deployment = only('Deployment');
const service = only('Service');
const hpa = only('HorizontalPodAutoscaler');
const pdb = only('PodDisruptionBudget');
const pod = deployment.spec.template;
const container = pod.spec.containers.find((c: any) => c.name === 'layerserve');
const env = (name: string) => container.env.find((e: any) => e.name === name);
const podLabels: Record<string, string> = pod.metadata.labels;
const selects = (matchLabels: Record<string, string>) => Object.entries(matchLabels).every(([k, v]) => podLabels[k] === v);
/** A container port by number or by name, as probes and Services may name it. */
const containerPort = (port: number | string) =>
  container.ports.find((p: any) => p.containerPort === port || p.name === port)?.containerPort;

let app: FastifyInstance;
beforeAll(async () => {
  app = await buildApp(testConfig());
  await app.ready();
});
afterAll(async () => {
  await app?.close();
});

describe('Kubernetes manifests', () => {
  it('parse, are complete objects, and are all listed in the kustomization', () => {
    for (const o of objects) {
      expect(o.apiVersion, JSON.stringify(o).slice(0, 80)).toBeTruthy();
      expect(o.metadata?.name).toBeTruthy();
    }
    expect(objects.map((o) => `${o.apiVersion} ${o.kind}`).sort()).toEqual(
      ['apps/v1 Deployment', 'autoscaling/v2 HorizontalPodAutoscaler', 'policy/v1 PodDisruptionBudget', 'v1 Service'],
    );
    const kustomization = parse(read(join(K8S, 'kustomization.yaml')));
    expect([...kustomization.resources].sort()).toEqual([...manifestFiles].sort());
  });

  it('listen where the service listens: containerPort = PORT = the config default, on all interfaces', () => {
    expect(container.ports.map((p: any) => p.containerPort)).toEqual([DEFAULTS.PORT]);
    expect(env('PORT').value).toBe(String(DEFAULTS.PORT));
    expect(env('HOST').value).toBe('0.0.0.0');
  });

  it('set only settings the service knows', () => {
    for (const e of container.env) expect(CONFIG_KEYS, `env ${e.name}`).toContain(e.name);
  });

  it('probe the health routes on the service port, and those routes answer 200', async () => {
    expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
    expect(container.livenessProbe.httpGet.path).toBe('/health/live');
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      const get = container[probe]?.httpGet;
      if (!get) continue;
      expect(containerPort(get.port), `${probe} port ${get.port}`).toBe(DEFAULTS.PORT);
      const res = await app.inject({ url: get.path });
      expect(res.statusCode, `${probe} GET ${get.path}`).toBe(200);
    }
  });

  it('give each worker a whole core: WORKERS is the CPU limit, and requests equal limits', () => {
    const { requests, limits } = container.resources;
    expect(cores(requests.cpu)).toBe(cores(limits.cpu));
    expect(bytes(requests.memory)).toBe(bytes(limits.memory));
    const workers = env('WORKERS');
    if (workers.valueFrom) {
      // WORKERS = ceil(limits.cpu / divisor): whole cores, so that it is exactly the limit
      expect(workers.valueFrom.resourceFieldRef).toMatchObject({ resource: 'limits.cpu', containerName: container.name });
      expect(cores(workers.valueFrom.resourceFieldRef.divisor ?? 1)).toBe(1);
      expect(Number.isInteger(cores(limits.cpu))).toBe(true);
    } else {
      const n = Number(workers.value);
      expect(Number.isInteger(n) && n >= 1).toBe(true);
      expect(cores(limits.cpu)).toBeGreaterThanOrEqual(n);
      expect(cores(requests.cpu)).toBeGreaterThanOrEqual(n);
    }
    expect(cores(limits.cpu)).toBeGreaterThanOrEqual(1);
  });

  it('shed load before the memory limit: MAX_RSS_BYTES is below it', () => {
    const rss = Number(env('MAX_RSS_BYTES').value);
    expect(rss).toBeGreaterThan(0);
    expect(rss).toBeLessThan(bytes(container.resources.limits.memory));
  });

  it('let a stopping pod finish its work: grace period > preStop delay + SHUTDOWN_GRACE_MS', () => {
    const preStop = container.lifecycle?.preStop;
    const delay = preStop?.sleep?.seconds ?? Number(preStop?.exec?.command?.at(-1) ?? 0);
    const grace = Number(env('SHUTDOWN_GRACE_MS')?.value ?? DEFAULTS.SHUTDOWN_GRACE_MS) / 1000;
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThan(delay + grace);
  });

  it('run as a non-root user', () => {
    const sc = { ...pod.spec.securityContext, ...container.securityContext };
    expect(sc.runAsNonRoot).toBe(true);
    expect(sc.runAsUser).toBeGreaterThan(0);
    expect(sc.allowPrivilegeEscalation).toBe(false);
  });

  it('select the pods they mean: Deployment, Service and PodDisruptionBudget selectors match the pod labels', () => {
    expect(selects(deployment.spec.selector.matchLabels)).toBe(true);
    expect(selects(service.spec.selector)).toBe(true);
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true);
  });

  it('route the Service to the container port', () => {
    for (const p of service.spec.ports) expect(containerPort(p.targetPort), `targetPort ${p.targetPort}`).toBe(DEFAULTS.PORT);
  });

  it('scale the Deployment with the HorizontalPodAutoscaler, and keep a pod through a drain', () => {
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThanOrEqual(hpa.spec.minReplicas);
    // the HPA owns the count: a replicas field would reset it on every apply
    expect(deployment.spec.replicas).toBeUndefined();
    // a PDB that allows no disruption at minReplicas would block node drains
    const allowed = pdb.spec.maxUnavailable ?? hpa.spec.minReplicas - pdb.spec.minAvailable;
    expect(allowed).toBeGreaterThanOrEqual(1);
  });
});

// ---------------------------------------------------------------- Dockerfile
describe('Dockerfile', () => {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const froms = lines.map((l, i) => [l, i] as const).filter(([l]) => /^FROM\s/i.test(l));
  const lastStage = lines.slice(froms.at(-1)![1]);

  it('takes its base image from ARG NODE_IMAGE (default node:24-bookworm-slim) in every stage', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const [from, i] of froms) {
      expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}( AS \w+)?$/i);
      expect(lines.slice(0, i), `an ARG before ${from}`).toContain(`ARG NODE_IMAGE=${NODE_IMAGE_DEFAULT}`);
    }
  });

  it('installs production dependencies only for the runtime, and runs the built output', () => {
    expect(lines.some((l) => /^RUN .*npm ci .*--omit=dev/.test(l))).toBe(true);
    expect(lastStage.some((l) => /^COPY --from=\w+ .*dist/.test(l))).toBe(true);
    expect(lastStage.at(-1)).toBe('CMD ["node", "dist/server.js"]');
  });

  it('runs as a non-root user, on 0.0.0.0:8080, with a HEALTHCHECK on /health/ready that needs only node', () => {
    const user = lastStage.filter((l) => /^USER\s/.test(l)).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(:|$)/);
    expect(lastStage).toContain(`EXPOSE ${DEFAULTS.PORT}`);
    expect(lastStage.some((l) => /^ENV .*HOST=0\.0\.0\.0/.test(l))).toBe(true);
    const hc = lastStage.find((l) => /^HEALTHCHECK\s/.test(l));
    expect(hc).toMatch(/CMD \["node", /);
    expect(hc).toContain('/health/ready');
    expect(hc).not.toMatch(/curl|wget/);
  });

  it('copies only what .dockerignore lets into the build context', () => {
    const allowed = read('.dockerignore').split('\n').filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const sources = lines
      .filter((l) => /^COPY\s/.test(l) && !/--from=/.test(l))
      .flatMap((l) => l.split(/\s+/).slice(1, -1).filter((a) => !a.startsWith('--')));
    for (const s of sources) {
      expect(existsSync(join(root, s)), `${s} exists`).toBe(true);
      expect(allowed.some((a) => s.replace(/\/$/, '') === a || s.startsWith(`${a}/`)), `${s} allowed by .dockerignore`).toBe(true);
    }
  });
});

// ---------------------------------------------------------------- docker-compose.yml
describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'), { merge: true });
  const services: Record<string, any> = compose.services;

  it('parses, and every build passes NODE_IMAGE with the default base image', () => {
    expect(Object.keys(services)).toContain('layerserve');
    for (const [name, s] of Object.entries(services)) {
      if (!s.build) continue;
      expect(s.build.args?.NODE_IMAGE, name).toBe(`\${NODE_IMAGE:-${NODE_IMAGE_DEFAULT}}`);
    }
  });

  it('runs the service on 0.0.0.0:8080 with its healthcheck, a restart policy and limits that match WORKERS', () => {
    const s = services.layerserve;
    const env = Object.fromEntries(Object.entries(s.environment).map(([k, v]) => [k, interpolate(v)]));
    expect(env.HOST).toBe('0.0.0.0');
    expect(env.PORT).toBe(String(DEFAULTS.PORT));
    expect(s.ports.map((p: string) => p.split(':').at(-1))).toEqual([String(DEFAULTS.PORT)]);
    for (const k of Object.keys(env)) expect(CONFIG_KEYS, `environment ${k}`).toContain(k);
    expect(s.healthcheck.test.join(' ')).toContain(`http://127.0.0.1:${DEFAULTS.PORT}/health/ready`);
    expect(s.restart).toMatch(/^(always|unless-stopped|on-failure)/);
    expect(Number(interpolate(s.cpus))).toBe(Number(env.WORKERS));
    expect(Number(env.MAX_RSS_BYTES)).toBeLessThan(bytes(interpolate(s.mem_limit).replace(/([kmg])$/, (u) => `${u.toUpperCase()}i`)));
  });

  it('puts replicas and HAProxy in the scale profile (test/haproxy.test.ts checks its config)', () => {
    expect(services.replica.profiles).toEqual(['scale']);
    expect(services.lb.profiles).toEqual(['scale']);
    expect(services.lb.image).toMatch(/^haproxy:/);
  });
});
