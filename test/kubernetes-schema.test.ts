import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../src/config.ts';
import { checkAgainstSchema } from './helpers/kubernetes.ts';

// deploy/kubernetes against the Kubernetes API schema (kubernetes-models), unknown fields refused, and
// the kustomization rendered by `kubectl kustomize` when kubectl is installed (.ci/run installs it).
// test/deploy.test.ts checks that the same manifests agree with the service (ports, probes, workers).

const root = join(import.meta.dirname, '..');
const K8S = join(root, 'deploy/kubernetes');
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; spec?: any };

const files = readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml');
const parseDocs = (text: string, where: string): K8sObject[] =>
  parseAllDocuments(text)
    .filter((d) => d.contents !== null)
    .map((d) => {
      expect(d.errors, where).toEqual([]);
      return d.toJS() as K8sObject;
    });
const objects = files.flatMap((f) => parseDocs(readFileSync(join(K8S, f), 'utf8'), f).map((o) => ({ file: f, o })));
const deployment = objects.find(({ o }) => o.kind === 'Deployment')!.o;

function kubectl(): string | null {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore', timeout: 20_000 });
    return 'kubectl';
  } catch {
    return null;
  }
}
const KUBECTL = kubectl();

describe('Kubernetes manifests against the API schema', () => {
  it.each(objects.map(({ file, o }) => [`${file}: ${o.apiVersion} ${o.kind}`, o] as const))('%s: valid, no unknown field', async (_name, o) => {
    const report = await checkAgainstSchema(o);
    expect(report.errors).toEqual([]);
    expect(report.unknownFields).toEqual([]);
  });

  it('the autoscaler measures what it can: its resource metrics have a request in every container to be a percentage of', () => {
    const hpa = objects.find(({ o }) => o.kind === 'HorizontalPodAutoscaler')!.o;
    const resources = hpa.spec.metrics.filter((m: any) => m.type === 'Resource').map((m: any) => m.resource.name);
    expect(resources).toContain('cpu');
    for (const c of deployment.spec.template.spec.containers) {
      for (const r of resources) expect(c.resources?.requests?.[r], `${c.name} requests.${r}`).toBeDefined();
    }
  });

  it('every literal environment value is one the service accepts (TRUST_PROXY included)', () => {
    const container = deployment.spec.template.spec.containers[0];
    const literal = Object.fromEntries(container.env.filter((e: any) => 'value' in e).map((e: any) => [e.name, String(e.value)]));
    expect(literal.TRUST_PROXY, 'TRUST_PROXY set to the cluster network').toBeTruthy();
    expect(() => loadConfig(literal)).not.toThrow();
  });
});

// The checker itself: each way a manifest can be wrong is caught (so the tests above can fail).
describe('the schema check catches', () => {
  const broken = (edit: (d: any) => void) => {
    const d = structuredClone(deployment) as any;
    edit(d);
    return checkAgainstSchema(d);
  };
  const container = (d: any) => d.spec.template.spec.containers[0];

  it('a misspelled nested field (httpGet.paht)', async () => {
    const report = await broken((d) => {
      const get = container(d).readinessProbe.httpGet;
      get.paht = get.path;
      delete get.path;
    });
    expect(report.unknownFields).toEqual(['/spec/template/spec/containers/0/readinessProbe/httpGet/paht']);
  });

  it('a misspelled container field (readinesProbe)', async () => {
    const report = await broken((d) => {
      container(d).readinesProbe = container(d).readinessProbe;
      delete container(d).readinessProbe;
    });
    expect(report.unknownFields).toEqual(['/spec/template/spec/containers/0/readinesProbe']);
  });

  it('a wrong type and a missing required field', async () => {
    expect((await broken((d) => (d.spec.revisionHistoryLimit = 'five'))).errors.join()).toMatch(/revisionHistoryLimit/);
    expect((await broken((d) => delete container(d).name)).errors.join()).toMatch(/name/);
  });

  it('an apiVersion or kind that does not exist', async () => {
    await expect(checkAgainstSchema({ ...deployment, apiVersion: 'apps/v1beta9' })).rejects.toThrow(/no Deployment in apps\/v1beta9/);
    await expect(checkAgainstSchema({ ...deployment, kind: 'Deploymnet' })).rejects.toThrow(/no Deploymnet/);
  });

  it('while free-form maps (labels, resource quantities) take any key', async () => {
    const report = await broken((d) => {
      d.metadata.labels['example.com/team'] = 'ml';
      container(d).resources.limits['example.com/gpu'] = '1';
    });
    expect(report).toEqual({ errors: [], unknownFields: [] });
  });
});

describe.skipIf(!KUBECTL)('kubectl kustomize deploy/kubernetes (skipped: kubectl is not installed)', () => {
  it('renders every resource, each valid against the schema, with the kustomization image applied', async () => {
    const rendered = parseDocs(execFileSync(KUBECTL!, ['kustomize', K8S], { encoding: 'utf8', timeout: 60_000 }), 'kubectl kustomize');
    expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(objects.map(({ o }) => `${o.kind}/${o.metadata.name}`).sort());
    for (const o of rendered) {
      const report = await checkAgainstSchema(o);
      expect(report, `${o.kind}/${o.metadata.name}`).toEqual({ errors: [], unknownFields: [] });
    }
    const { images } = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'));
    const image = rendered.find((o) => o.kind === 'Deployment')!.spec.template.spec.containers[0].image;
    const want = images.find((i: any) => i.name === 'layerserve');
    expect(image).toBe(`${want.newName ?? want.name}:${want.newTag}`);
  });
});
