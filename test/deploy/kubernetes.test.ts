/**
 * deploy/kubernetes: every manifest, as written and as rendered by `kubectl kustomize` (base, the
 * postgres-ha overlay, the ServiceMonitor), is validated against the Kubernetes OpenAPI schemas with
 * the npm package kubernetes-models (models generated from Kubernetes' OpenAPI spec, with ajv
 * validators; @kubernetes-models/prometheus-operator for ServiceMonitor), and checked for what the
 * schemas cannot see: selectors, probes, references to the ConfigMap and the Secret, the config itself
 * (parsed by quietwatch), the non-root user of the image, and what each overlay must change.
 *
 * The schemas do not forbid unknown fields (neither does the API server unless asked to), so a typo'd
 * key is caught here only where the checks below look for the field.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseConfig } from '../../src/config/load.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const K8S = join(ROOT, 'deploy/kubernetes');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };

const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
};

/** Validate against the OpenAPI schema of its apiVersion/kind; returns the problems (ajv's paths). */
function schemaProblems(m: Manifest): string[] {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (!Model) return [`${m.apiVersion}/${m.kind}: no schema known to this test`];
  try {
    new Model(m).validate();
    return [];
  } catch (err) {
    return [`${m.kind}/${m.metadata?.name}: ${(err as Error).message}`];
  }
}

function docs(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as Manifest)
    .filter(Boolean);
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

let kubectl: string | undefined;
try {
  const v = execFileSync('kubectl', ['version', '--client'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  kubectl = `kubectl ${/v\d+\.\d+\.\d+/.exec(v)?.[0] ?? '(unknown version)'}`;
} catch {
  kubectl = undefined;
}

function render(dir: string): Manifest[] {
  if (!kubectl) throw new Error('kubectl is not installed: scripts/test.sh installs Debian\'s kubernetes-client (kubectl kustomize renders the overlays)');
  return docs(execFileSync('kubectl', ['kustomize', join(K8S, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

const example = docs(readFileSync(join(K8S, 'secret.example.yaml'), 'utf8'))[0]!;
const secretKeys = Object.keys(example.stringData as Record<string, string>);

const byKind = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);
const one = (ms: Manifest[], kind: string, name?: string) => {
  const found = byKind(ms, kind).filter((m) => name === undefined || m.metadata.name === name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
};
const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** What every rendering must hold, whatever the overlay. */
function checkCommon(ms: Manifest[]) {
  for (const m of ms) expect(schemaProblems(m)).toEqual([]);
  const sts = one(ms, 'StatefulSet', 'quietwatch');
  const pod = sts.spec.template;
  expect(matches(sts.spec.selector.matchLabels, pod.metadata.labels), 'StatefulSet selector matches its pods').toBe(true);
  const svc = byKind(ms, 'Service');
  expect(svc.map((s) => s.metadata.name).sort()).toEqual(['quietwatch', 'quietwatch-headless']);
  for (const s of svc) expect(matches(s.spec.selector, pod.metadata.labels), `${s.metadata.name} selects the pods`).toBe(true);
  expect(one(ms, 'Service', 'quietwatch-headless').spec.clusterIP).toBe('None');
  expect(sts.spec.serviceName).toBe('quietwatch-headless');
  const pdb = one(ms, 'PodDisruptionBudget', 'quietwatch');
  expect(matches(pdb.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);

  const [c, ...more] = pod.spec.containers as any[];
  expect(more).toEqual([]);
  expect(c.image).toBe(`quietwatch:${pkg.version}`);
  const ports = (c.ports as any[]).map((p) => p.name);
  expect(ports).toEqual(['http']);
  expect(c.ports[0].containerPort).toBe(8080);
  expect(c.args).toEqual(['serve', '--host', '0.0.0.0', '--port', '8080']);
  expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
  expect(c.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
  expect(c.resources.limits.memory).toBeDefined();
  // The image's node user (test/image checks the image side); no root, no writable root filesystem.
  expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 });
  expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  const mounts: Record<string, string> = Object.fromEntries((c.volumeMounts as any[]).map((v) => [v.mountPath, v.name]));
  expect(mounts).toEqual({ '/etc/quietwatch': 'config', '/var/lib/quietwatch': 'data', '/tmp': 'tmp' });
  const volumes = Object.fromEntries((pod.spec.volumes as any[]).map((v) => [v.name, v]));
  const claims = (sts.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata.name);
  for (const name of Object.values(mounts)) expect(volumes[name] ?? (claims.includes(name) ? 'claim' : undefined), `volume ${name}`).toBeDefined();

  // The ConfigMap the pod mounts is the rendered one (with its content hash), and holds a config quietwatch accepts.
  const cmName = volumes.config.configMap.name as string;
  const cm = one(ms, 'ConfigMap', cmName);
  expect(cmName).toMatch(/^quietwatch-config-[a-z0-9]{10}$/);
  const env = Object.fromEntries(Object.entries(example.stringData as Record<string, string>));
  const config = parseConfig(cm.data['quietwatch.yaml'], 'ConfigMap quietwatch-config', env);
  expect(config.server).toMatchObject({ host: '0.0.0.0', port: 8080 });
  expect(config.auth.tokens.length).toBeGreaterThan(0); // from QUIETWATCH_TOKENS: it would refuse 0.0.0.0 otherwise
  expect((config as any).sandbox?.enabled ?? false).toBe(false);

  // Every Secret reference names the Secret and a key the example documents.
  expect(c.envFrom).toEqual([{ secretRef: { name: example.metadata.name } }]);
  for (const e of c.env as any[]) {
    if (e.valueFrom?.secretKeyRef) {
      expect(e.valueFrom.secretKeyRef.name).toBe(example.metadata.name);
      expect(secretKeys).toContain(e.valueFrom.secretKeyRef.key);
      expect(e.valueFrom.secretKeyRef.optional ?? false).toBe(false);
    }
  }
  expect(byKind(ms, 'Secret'), 'no Secret with values in the rendered manifests').toEqual([]);
  return { sts, pod, c, pdb, config, volumes };
}

describe('Kubernetes manifests', () => {
  it('every manifest file validates against the Kubernetes OpenAPI schemas (the patches of the overlay as what they patch)', () => {
    const seen: string[] = [];
    for (const f of files(K8S).filter((p) => /\.ya?ml$/.test(p))) {
      const rel = relative(K8S, f);
      if (/kustomization\.yaml$/.test(rel) || rel === 'base/quietwatch.yaml' || rel.endsWith('no-volume-claims.yaml')) continue;
      if (rel.startsWith('overlays/')) continue; // partial objects: validated after rendering
      for (const m of docs(readFileSync(f, 'utf8'))) {
        expect(schemaProblems(m), rel).toEqual([]);
        seen.push(`${m.kind}`);
      }
    }
    expect(seen.sort()).toEqual(['PodDisruptionBudget', 'Secret', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor', 'StatefulSet']);
  });

  it('the validator rejects what the API server would', () => {
    const sts = docs(readFileSync(join(K8S, 'base/statefulset.yaml'), 'utf8'))[0]!;
    const broken = structuredClone(sts);
    broken.spec.replicas = 'one';
    broken.spec.template.spec.containers[0].imagePullPolicy = 'Sometimes';
    delete broken.spec.selector;
    const problems = schemaProblems(broken).join('\n');
    expect(problems).toMatch(/spec must have required property '?selector/);
    expect(problems).toMatch(/spec\/replicas must be integer/);
    expect(problems).toMatch(/imagePullPolicy must be equal to one of the allowed values/);
  });

  it(`base renders (kubectl kustomize: ${kubectl ?? 'missing'}): one replica on SQLite with its own volume, every reference resolved`, () => {
    const ms = render('base');
    expect(ms.map((m) => m.kind).sort()).toEqual(['ConfigMap', 'PodDisruptionBudget', 'Service', 'Service', 'ServiceAccount', 'StatefulSet']);
    const { sts, pdb, config, volumes } = checkCommon(ms);
    expect(sts.spec.replicas).toBe(1);
    expect(sts.spec.volumeClaimTemplates.map((t: any) => [t.metadata.name, t.spec.accessModes, t.spec.resources.requests.storage])).toEqual([['data', ['ReadWriteOnce'], '1Gi']]);
    expect(volumes.data).toBeUndefined(); // the claim template provides it
    expect(config.store.path).toBe('/var/lib/quietwatch/quietwatch.sqlite');
    expect(pdb.spec).toMatchObject({ maxUnavailable: 1 });
    expect(sts.spec.template.spec.containers[0].env.map((e: any) => e.name)).not.toContain('QUIETWATCH_STORE_URL');
  });

  it('overlays/postgres-ha renders: two replicas on PostgreSQL, one per node, the store URL required, one kept through drains', () => {
    const ms = render('overlays/postgres-ha');
    const { sts, c, pdb, volumes } = checkCommon(ms);
    expect(sts.spec.replicas).toBe(2);
    expect(sts.spec.volumeClaimTemplates).toBeUndefined();
    expect(volumes.data.emptyDir).toBeDefined();
    const url = (c.env as any[]).find((e) => e.name === 'QUIETWATCH_STORE_URL');
    expect(url.valueFrom.secretKeyRef).toEqual({ name: 'quietwatch-secrets', key: 'QUIETWATCH_STORE_URL' });
    // The URL reaches the config as store.url (QUIETWATCH_STORE_URL), so both replicas share it.
    const cm = one(ms, 'ConfigMap');
    const cfg = parseConfig(cm.data['quietwatch.yaml'], 'ConfigMap', example.stringData);
    expect((cfg.store as unknown as { url?: { reveal(): string } }).url?.reveal()).toBe(example.stringData.QUIETWATCH_STORE_URL);
    expect(pdb.spec.minAvailable).toBe(1);
    expect(pdb.spec.maxUnavailable).toBeUndefined();
    const anti = sts.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0];
    expect(anti.topologyKey).toBe('kubernetes.io/hostname');
    expect(matches(anti.labelSelector.matchLabels, sts.spec.template.metadata.labels)).toBe(true);
    // Everything else is the base's.
    const base = render('base');
    expect(one(ms, 'Service', 'quietwatch')).toEqual(one(base, 'Service', 'quietwatch'));
    expect(cm.data).toEqual(one(base, 'ConfigMap').data);
  });

  it('the ServiceMonitor scrapes /metrics of the ClusterIP service only, with the read token from the Secret', () => {
    const [sm, ...rest] = render('servicemonitor');
    expect(rest).toEqual([]);
    expect(schemaProblems(sm!)).toEqual([]);
    const base = render('base');
    const selected = byKind(base, 'Service').filter((s) => matches(sm!.spec.selector.matchLabels, s.metadata.labels));
    expect(selected.map((s) => s.metadata.name)).toEqual(['quietwatch']);
    const [ep] = sm!.spec.endpoints;
    expect(ep).toMatchObject({ port: 'http', path: '/metrics' });
    expect(selected[0]!.spec.ports.map((p: any) => p.name)).toContain(ep.port);
    expect(ep.authorization.credentials.name).toBe('quietwatch-secrets');
    expect(secretKeys).toContain(ep.authorization.credentials.key);
    // The metrics token is a read token of QUIETWATCH_TOKENS.
    expect(example.stringData.QUIETWATCH_TOKENS).toContain(`read=${example.stringData.METRICS_TOKEN}`);
  });
});
