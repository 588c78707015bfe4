// The deployment files checked without a Docker engine or a cluster: each Kustomize overlay rendered by kubectl and
// every object validated against the Kubernetes API schemas, docker-compose.yml parsed, the Dockerfile's choices read.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Namespace, ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../src/config/load.js';
import { startSimulator } from '../src/simulator/index.js';
import { silentLogger } from '../src/telemetry/logger.js';

const root = join(import.meta.dirname, '..');
type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** The object at `path` below `o`; fails the test naming the path when something on the way is not an object. */
function at(o: unknown, ...path: (string | number)[]): unknown {
  let cur: unknown = o;
  for (const k of path) {
    if (typeof k === 'number') cur = Array.isArray(cur) ? (cur as unknown[])[k] : undefined;
    else cur = isObj(cur) ? cur[k] : undefined;
  }
  return cur;
}
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** Every kind the manifests may hold, constructed with its kubernetes-models class and validated against the schema. */
const VALIDATORS: Record<string, (o: Obj) => void> = {
  'v1/Namespace': (o) => new Namespace(o).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o).validate(),
  'v1/Secret': (o) => new Secret(o).validate(),
  'v1/Service': (o) => new Service(o).validate(),
  'apps/v1/StatefulSet': (o) => new StatefulSet(o).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o).validate(),
  'monitoring.coreos.com/v1/ServiceMonitor': checkServiceMonitor,
};

/** The Prometheus Operator CRD is not in kubernetes-models: the fields it needs, checked by hand. */
function checkServiceMonitor(o: Obj): void {
  const known = new Set(['apiVersion', 'kind', 'metadata', 'spec']);
  const extra = Object.keys(o).filter((k) => !known.has(k));
  if (extra.length > 0) throw new Error(`ServiceMonitor: unknown top-level fields ${extra.join(', ')}`);
  if (str(at(o, 'metadata', 'name')) === '') throw new Error('ServiceMonitor: metadata.name missing');
  const labels = at(o, 'spec', 'selector', 'matchLabels');
  if (!isObj(labels) || Object.keys(labels).length === 0) throw new Error('ServiceMonitor: spec.selector.matchLabels missing');
  const endpoints = list(at(o, 'spec', 'endpoints'));
  if (endpoints.length === 0) throw new Error('ServiceMonitor: spec.endpoints empty');
  for (const e of endpoints) {
    const ok = new Set(['port', 'path', 'interval', 'scrapeTimeout', 'scheme']);
    const bad = isObj(e) ? Object.keys(e).filter((k) => !ok.has(k)) : ['(not an object)'];
    if (bad.length > 0) throw new Error(`ServiceMonitor: endpoint fields not expected here: ${bad.join(', ')}`);
    if (str(at(e, 'port')) === '' || !str(at(e, 'path')).startsWith('/')) throw new Error('ServiceMonitor: endpoint needs port and path');
    for (const d of ['interval', 'scrapeTimeout']) {
      const v = at(e, d);
      if (v !== undefined && !/^\d+(ms|s|m|h)$/.test(str(v))) throw new Error(`ServiceMonitor: ${d} ${String(v)} is not a Prometheus duration`);
    }
  }
}

/**
 * The kubernetes-models type (module, interface) of each core kind: their JSON-schema validators accept fields the
 * API does not know (a misspelled `runAsNonRot` passes), so the objects are also type-checked against these.
 */
const TYPES: Record<string, [string, string]> = {
  'v1/Namespace': ['kubernetes-models/v1/Namespace', 'INamespace'],
  'v1/ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1/Secret': ['kubernetes-models/v1/Secret', 'ISecret'],
  'v1/Service': ['kubernetes-models/v1/Service', 'IService'],
  'apps/v1/StatefulSet': ['kubernetes-models/apps/v1/StatefulSet', 'IStatefulSet'],
  'apps/v1/Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'policy/v1/PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
};

/**
 * Every field of every object is one the Kubernetes API knows: each object becomes an object literal typed with its
 * kind's interface, and TypeScript's excess-property check names any unknown field and the type it is not in.
 * Returns tsc's complaints, each with the object it is about; empty when all is well.
 */
function unknownFields(objs: readonly Obj[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'mc-k8s-fields-'));
  const lines: string[] = [];
  const names: string[] = [];
  objs.forEach((o, i) => {
    const t = TYPES[`${str(o['apiVersion'])}/${str(o['kind'])}`];
    if (t === undefined) return;
    lines.unshift(`import type { ${t[1]} as T${i} } from '${t[0]}';`);
    lines.push(`export const o${i}: T${i} = ${JSON.stringify(o)};`);
    names[i] = `${str(o['kind'])} ${str(at(o, 'metadata', 'name'))}`;
  });
  writeFileSync(join(dir, 'manifests.ts'), lines.join('\n') + '\n');
  const nm = join(root, 'node_modules');
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        module: 'commonjs',
        moduleResolution: 'node',
        skipLibCheck: true,
        types: [],
        baseUrl: nm,
        paths: { 'kubernetes-models/*': ['kubernetes-models/*'], '@kubernetes-models/*': ['@kubernetes-models/*'] },
      },
      files: ['manifests.ts'],
    }),
  );
  const r = spawnSync(process.execPath, [join(nm, 'typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
  if (r.status === 0) return [];
  const out = `${r.stdout}${r.stderr}`.trim();
  const found = [...out.matchAll(/manifests\.ts\((\d+),\d+\): error TS\d+: (.*)/g)].map((m) => {
    const line = lines[Number(m[1]) - 1] ?? '';
    const i = Number(/^export const o(\d+)/.exec(line)?.[1] ?? -1);
    return `${names[i] ?? 'an object'}: ${m[2] ?? ''}`;
  });
  return found.length > 0 ? found : [out];
}

function validateObject(o: Obj): void {
  const key = `${str(o['apiVersion'])}/${str(o['kind'])}`;
  const validate = VALIDATORS[key];
  if (validate === undefined) throw new Error(`${key} ${str(at(o, 'metadata', 'name'))}: a kind this test does not know how to validate`);
  validate(o);
}

function render(overlay: string): Obj[] {
  const r = spawnSync('kubectl', ['kustomize', join(root, 'deploy/kubernetes/overlays', overlay)], { encoding: 'utf8' });
  if (r.error !== undefined) {
    throw new Error(`kubectl is needed to render the Kustomize overlays (${r.error.message}): install it, e.g. apt-get install -y kubectl (.ci/run does)`);
  }
  if (r.status !== 0) throw new Error(`kubectl kustomize ${overlay} failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as unknown).filter(isObj);
}

const byKind = (objs: Obj[], kind: string): Obj[] => objs.filter((o) => o['kind'] === kind);
function one(objs: Obj[], kind: string, name?: string): Obj {
  const found = byKind(objs, kind).filter((o) => name === undefined || str(at(o, 'metadata', 'name')) === name);
  expect(found.length, `${kind} ${name ?? ''}`).toBe(1);
  return found[0] as Obj;
}

/** Kubernetes quantities in bytes (Mi, Gi, M, G) or cores (m). */
function quantity(q: unknown): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|k|M|G)?$/.exec(String(q));
  if (m === null) throw new Error(`not a quantity: ${String(q)}`);
  const mult: Record<string, number> = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] === undefined ? 1 : (mult[m[2]] ?? NaN));
}

/** The restricted Pod Security profile, on the pod and on every container. */
function expectRestricted(template: unknown, what: string): void {
  const pod = at(template, 'spec', 'securityContext');
  expect(at(pod, 'runAsNonRoot'), `${what}: pod runAsNonRoot`).toBe(true);
  expect(at(pod, 'runAsUser'), `${what}: a non-zero runAsUser`).toBeGreaterThan(0);
  expect(at(pod, 'seccompProfile', 'type'), `${what}: pod seccomp`).toBe('RuntimeDefault');
  expect(at(template, 'spec', 'automountServiceAccountToken'), `${what}: no API token`).toBe(false);
  const containers = list(at(template, 'spec', 'containers'));
  expect(containers.length).toBeGreaterThan(0);
  for (const c of containers) {
    const sc = at(c, 'securityContext');
    const name = `${what}/${str(at(c, 'name'))}`;
    expect(at(sc, 'readOnlyRootFilesystem'), `${name}: readOnlyRootFilesystem`).toBe(true);
    expect(at(sc, 'allowPrivilegeEscalation'), `${name}: allowPrivilegeEscalation`).toBe(false);
    expect(at(sc, 'runAsNonRoot'), `${name}: runAsNonRoot`).toBe(true);
    expect(at(sc, 'capabilities', 'drop'), `${name}: capabilities`).toEqual(['ALL']);
    expect(at(sc, 'capabilities', 'add'), `${name}: no capability added`).toBeUndefined();
    expect(at(sc, 'seccompProfile', 'type'), `${name}: seccomp`).toBe('RuntimeDefault');
    expect(quantity(at(c, 'resources', 'requests', 'memory')), `${name}: memory request`).toBeGreaterThan(0);
    expect(quantity(at(c, 'resources', 'limits', 'memory')), `${name}: memory limit`).toBeGreaterThan(0);
    expect(quantity(at(c, 'resources', 'requests', 'cpu')), `${name}: cpu request`).toBeGreaterThan(0);
  }
}

/** A collector config parses and validates with the collector's own loader (the secret file stood in by a temp file). */
function expectValidConfig(text: string, what: string, env: Record<string, string> = { MIMECAST_CLIENT_ID: 'client-id' }): NonNullable<ReturnType<typeof parseConfigText>['config']> {
  const dir = mkdtempSync(join(tmpdir(), 'deploy-test-'));
  const secret = join(dir, 'client_secret');
  writeFileSync(secret, 'secret-value\n');
  const parsed = parseConfigText(text.replaceAll(/\/run\/secrets\/[\w/]+/g, secret), env);
  expect(parsed.issues, what).toEqual([]);
  if (parsed.config === undefined) throw new Error(`${what}: no config`);
  return parsed.config;
}

/** The seed-1 simulator's credentials, as the demo configs must carry them. */
async function simulatorCredentials(): Promise<{ clientId: string; clientSecret: string }> {
  const sim = await startSimulator({ port: 0, seed: '1', backlogRecords: 0, logger: silentLogger() });
  try {
    return { clientId: sim.clientId, clientSecret: sim.clientSecret };
  } finally {
    await sim.close();
  }
}

describe('kubernetes overlays', () => {
  for (const overlay of ['demo', 'production']) {
    describe(overlay, () => {
      it('renders, and every object is valid against the Kubernetes API schemas', () => {
        const objs = render(overlay);
        expect(objs.length).toBeGreaterThan(0);
        for (const o of objs) expect(() => validateObject(o), `${str(o['kind'])} ${str(at(o, 'metadata', 'name'))}`).not.toThrow();
        expect(unknownFields(objs)).toEqual([]);
        for (const kind of ['Namespace', 'ConfigMap', 'StatefulSet', 'Service', 'PodDisruptionBudget', 'ServiceMonitor']) {
          expect(byKind(objs, kind).length, kind).toBeGreaterThan(0);
        }
        const ns = one(objs, 'Namespace');
        expect(at(ns, 'metadata', 'labels', 'pod-security.kubernetes.io/enforce')).toBe('restricted');
        for (const o of objs.filter((x) => x['kind'] !== 'Namespace')) expect(at(o, 'metadata', 'namespace')).toBe(at(ns, 'metadata', 'name'));
      });

      it('the StatefulSet: one replica, a claim for /data, probes, resources, restricted securityContext', () => {
        const objs = render(overlay);
        const sts = one(objs, 'StatefulSet', 'mimecast-collector');
        expect(at(sts, 'spec', 'replicas')).toBe(1);
        const tpl = at(sts, 'spec', 'template');
        expectRestricted(tpl, 'StatefulSet');
        expect(at(tpl, 'spec', 'terminationGracePeriodSeconds')).toBeGreaterThan(30);
        const c = at(tpl, 'spec', 'containers', 0);
        expect(at(c, 'args')).toEqual(['run', '--config', '/config/config.yaml']);
        const httpPort = list(at(c, 'ports')).find((p) => at(p, 'name') === 'http');
        expect(at(httpPort, 'containerPort')).toBe(9090);
        expect(at(c, 'livenessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'http' });
        expect(at(c, 'readinessProbe', 'httpGet')).toEqual({ path: '/readyz', port: 'http' });
        // Sized from docs/benchmarks.md: a peak RSS of about 200 MB must fit under the limit with room.
        expect(quantity(at(c, 'resources', 'limits', 'memory'))).toBeGreaterThanOrEqual(400 * 1024 ** 2);
        expect(quantity(at(c, 'resources', 'requests', 'memory'))).toBeGreaterThanOrEqual(200 * 1024 ** 2);

        const claim = list(at(sts, 'spec', 'volumeClaimTemplates'))[0];
        expect(at(claim, 'spec', 'accessModes')).toEqual(['ReadWriteOnce']);
        const mounts = list(at(c, 'volumeMounts'));
        expect(mounts.find((m) => at(m, 'mountPath') === '/data')).toMatchObject({ name: at(claim, 'metadata', 'name') });
        for (const m of mounts.filter((x) => at(x, 'mountPath') !== '/data')) expect(at(m, 'readOnly'), str(at(m, 'mountPath'))).toBe(true);

        // The config the pod mounts is the overlay's ConfigMap, valid for the collector, journal on the claim.
        const configVolume = list(at(tpl, 'spec', 'volumes')).find((v) => at(v, 'name') === 'config');
        const cm = one(objs, 'ConfigMap', str(at(configVolume, 'configMap', 'name')));
        expect(mounts.find((m) => at(m, 'name') === 'config')).toMatchObject({ mountPath: '/config' });
        const config = expectValidConfig(str(at(cm, 'data', 'config.yaml')), `${overlay} config.yaml`);
        expect(config.data_dir).toBe('/data');
        expect(config.http?.listen).toBe('0.0.0.0:9090');
        expect(at(tpl, 'spec', 'terminationGracePeriodSeconds')).toBeGreaterThan(config.shutdown_timeout / 1000);
      });

      it('Service, PodDisruptionBudget and ServiceMonitor select the collector on its http port', () => {
        const objs = render(overlay);
        const podLabels = at(one(objs, 'StatefulSet', 'mimecast-collector'), 'spec', 'template', 'metadata', 'labels');
        const matches = (sel: unknown): boolean => isObj(sel) && isObj(podLabels) && Object.entries(sel).every(([k, v]) => podLabels[k] === v);
        const svc = one(objs, 'Service', 'mimecast-collector');
        expect(matches(at(svc, 'spec', 'selector'))).toBe(true);
        expect(list(at(svc, 'spec', 'ports')).find((p) => at(p, 'name') === 'http')).toMatchObject({ port: 9090, targetPort: 'http' });
        expect(matches(at(one(objs, 'PodDisruptionBudget'), 'spec', 'selector', 'matchLabels'))).toBe(true);
        const sm = one(objs, 'ServiceMonitor');
        const svcLabels = at(svc, 'metadata', 'labels');
        const smSel = at(sm, 'spec', 'selector', 'matchLabels');
        expect(isObj(smSel) && isObj(svcLabels) && Object.entries(smSel).every(([k, v]) => svcLabels[k] === v)).toBe(true);
        // Only the collector's Service: the demo's simulator Service must not be scraped.
        const selected = byKind(objs, 'Service').filter((s) => isObj(smSel) && Object.entries(smSel).every(([k, v]) => at(s, 'metadata', 'labels', k) === v));
        expect(selected.map((s) => at(s, 'metadata', 'name'))).toEqual(['mimecast-collector']);
        expect(at(sm, 'spec', 'endpoints', 0)).toMatchObject({ port: 'http', path: '/metrics' });
      });
    });
  }

  it('production references its credentials Secret and holds no secret value', () => {
    const objs = render('production');
    expect(byKind(objs, 'Secret')).toEqual([]);
    const tpl = at(one(objs, 'StatefulSet', 'mimecast-collector'), 'spec', 'template');
    const creds = list(at(tpl, 'spec', 'volumes')).find((v) => at(v, 'name') === 'credentials');
    expect(at(creds, 'secret', 'secretName')).toBe('mimecast-collector-credentials');
    const env = list(at(tpl, 'spec', 'containers', 0, 'env')).find((e) => at(e, 'name') === 'MIMECAST_CLIENT_ID');
    expect(at(env, 'valueFrom', 'secretKeyRef')).toEqual({ name: 'mimecast-collector-credentials', key: 'client_id' });
    expect(str(at(one(objs, 'StatefulSet'), 'spec', 'template', 'spec', 'containers', 0, 'image'))).toMatch(/^[\w.-]+\/.+:\d/);
  });

  it('demo runs a restricted simulator whose seed-1 credentials the generated Secret carries', async () => {
    const objs = render('demo');
    const sim = one(objs, 'Deployment', 'mimecast-simulator');
    expectRestricted(at(sim, 'spec', 'template'), 'simulator');
    const args = list(at(sim, 'spec', 'template', 'spec', 'containers', 0, 'args')).map(String);
    expect(args.slice(0, 1)).toEqual(['simulate']);
    expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');
    expect(args[args.indexOf('--seed') + 1]).toBe('1');
    const port = args[args.indexOf('--port') + 1];
    const svc = one(objs, 'Service', 'mimecast-simulator');
    expect(String(at(svc, 'spec', 'ports', 0, 'port'))).toBe(port);

    const tpl = at(one(objs, 'StatefulSet', 'mimecast-collector'), 'spec', 'template');
    const secretName = str(at(list(at(tpl, 'spec', 'volumes')).find((v) => at(v, 'name') === 'credentials'), 'secret', 'secretName'));
    const secret = one(objs, 'Secret', secretName);
    const decode = (k: string): string => Buffer.from(str(at(secret, 'data', k)), 'base64').toString('utf8');
    const creds = await simulatorCredentials();
    expect(decode('client_id')).toBe(creds.clientId);
    expect(decode('client_secret')).toBe(creds.clientSecret);
    const cm = one(objs, 'ConfigMap');
    const config = expectValidConfig(str(at(cm, 'data', 'config.yaml')), 'demo config', { MIMECAST_CLIENT_ID: creds.clientId });
    expect(config.accounts[0]?.base_url).toBe(`http://${str(at(svc, 'metadata', 'name'))}:${port}`);
  });

  it('an object of a kind nobody checks fails the validation, and so does an invalid one', () => {
    expect(() => validateObject({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(/does not know/);
    expect(() => validateObject({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'x' }, spec: { replicas: 'one' } })).toThrow();
    expect(() => validateObject({ apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'x' }, spec: { endpoints: [] } })).toThrow(/matchLabels/);
  });

  it('a misspelled field anywhere in an object is named, with the object (the schema validators let it through)', () => {
    const sts = one(render('demo'), 'StatefulSet', 'mimecast-collector');
    const spec = at(sts, 'spec', 'template', 'spec') as Obj;
    const container = list(spec['containers'])[0] as Obj;
    const bad = { ...sts, spec: { ...(sts['spec'] as Obj), template: { ...(at(sts, 'spec', 'template') as Obj), spec: { ...spec, containers: [{ ...container, securityContext: { ...(container['securityContext'] as Obj), runAsNonRot: true } }] } } } };
    expect(() => validateObject(bad)).not.toThrow();
    expect(unknownFields([bad])).toEqual([expect.stringMatching(/^StatefulSet mimecast-collector: .*'"runAsNonRot"' does not exist in type 'ISecurityContext'/)]);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as unknown;
  const service = (name: string): unknown => at(compose, 'services', name);

  it('starts the simulator, the collector and a receiver with no profile; the tenant only with its profile', () => {
    const services = at(compose, 'services');
    expect(isObj(services) && Object.keys(services).sort()).toEqual(['collector', 'receiver', 'simulator', 'tenant']);
    for (const s of ['simulator', 'collector', 'receiver']) expect(at(service(s), 'profiles'), s).toBeUndefined();
    expect(at(service('tenant'), 'profiles')).toEqual(['tenant']);
  });

  it('the collectors: read-only root, one named volume at /data, /healthz healthcheck, SIGTERM with time to finish', () => {
    for (const name of ['collector', 'tenant']) {
      const s = service(name);
      expect(at(s, 'read_only'), name).toBe(true);
      expect(at(s, 'cap_drop'), name).toEqual(['ALL']);
      expect(at(s, 'stop_signal'), name).toBe('SIGTERM');
      expect(parseInt(str(at(s, 'stop_grace_period')), 10), name).toBeGreaterThan(30);
      expect(list(at(s, 'healthcheck', 'test')).join(' '), name).toMatch(/127\.0\.0\.1:9090\/healthz/);
      const volumes = list(at(s, 'volumes')).map(String);
      const data = volumes.filter((v) => v.endsWith(':/data'));
      expect(data.length, name).toBe(1);
      const volumeName = (data[0] ?? '').split(':')[0] ?? '';
      expect(at(compose, 'volumes', volumeName), `${name}: volume ${volumeName} declared`).toBeDefined();
      const writable = volumes.filter((v) => !v.endsWith(':ro'));
      expect(writable, `${name}: only /data is writable`).toEqual(data);
      const configMount = volumes.find((v) => v.endsWith(':/config/config.yaml:ro'));
      expect(configMount, name).toBeDefined();
      const file = join(root, (configMount ?? '').split(':')[0] ?? '');
      expect(existsSync(file), file).toBe(true);
    }
  });

  it('the demo collector reaches the simulator with its seed-1 credentials and writes where the receiver reads', async () => {
    const args = list(at(service('simulator'), 'command')).map(String);
    expect(args[0]).toBe('simulate');
    expect(args[args.indexOf('--host') + 1]).toBe('0.0.0.0');
    expect(args[args.indexOf('--seed') + 1]).toBe('1');
    const creds = await simulatorCredentials();
    const config = expectValidConfig(readFileSync(join(root, 'deploy/compose/collector.yaml'), 'utf8'), 'compose collector.yaml');
    const account = config.accounts[0];
    expect(account?.base_url).toBe(`http://simulator:${args[args.indexOf('--port') + 1] ?? ''}`);
    expect(account && 'client_id' in account ? account.client_id : undefined).toBe(creds.clientId);
    expect(account && 'client_secret' in account ? account.client_secret : undefined).toBe(creds.clientSecret);
    expect(config.data_dir).toBe('/data');
    const sink = config.sinks[0];
    const path = sink && 'path' in sink ? String(sink.path) : '';
    expect(path.startsWith('/data/')).toBe(true);
    const receiver = service('receiver');
    expect(list(at(receiver, 'command')).join(' ')).toContain(path);
    expect(list(at(receiver, 'volumes'))).toContain('collector-data:/data:ro');
    expect(at(service('collector'), 'depends_on', 'simulator', 'condition')).toBe('service_healthy');
  });

  it('the tenant profile takes its client secret from a Docker secret file', () => {
    const tenant = service('tenant');
    expect(list(at(tenant, 'secrets'))).toEqual(['mimecast_client_secret']);
    expect(str(at(compose, 'secrets', 'mimecast_client_secret', 'file'))).toMatch(/^\.\/deploy\/compose\/secrets\//);
    const config = expectValidConfig(readFileSync(join(root, 'deploy/compose/tenant.yaml'), 'utf8'), 'compose tenant.yaml');
    expect(config.data_dir).toBe('/data');
    expect(readFileSync(join(root, 'deploy/compose/tenant.yaml'), 'utf8')).toContain('client_secret_file: /run/secrets/mimecast_client_secret');
  });
});

/** Dockerfile instructions, continuation lines joined and comments dropped, grouped by stage. */
function dockerStages(text: string): { from: string; instructions: { op: string; args: string }[] }[] {
  const lines: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    if (raw.endsWith('\\')) cur += raw.slice(0, -1) + ' ';
    else {
      cur += raw;
      if (cur.trim() !== '') lines.push(cur.trim());
      cur = '';
    }
  }
  const stages: { from: string; instructions: { op: string; args: string }[] }[] = [];
  for (const line of lines) {
    const [op = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op.toUpperCase() === 'FROM') stages.push({ from: args, instructions: [] });
    else stages.at(-1)?.instructions.push({ op: op.toUpperCase(), args });
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages(readFileSync(join(root, 'Dockerfile'), 'utf8'));
  const final = stages.at(-1);
  const args = (op: string): string[] => (final?.instructions ?? []).filter((i) => i.op === op).map((i) => i.args);

  it('multi-stage: built on Node 24 (native modules for the runtime ABI), dev dependencies pruned', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const build = stages[0];
    expect(build?.from).toMatch(/^node:24[-.\w]* AS build$/i);
    const run = (build?.instructions ?? []).filter((i) => i.op === 'RUN').map((i) => i.args).join(' && ');
    expect(run).toMatch(/npm ci\b/);
    expect(run).toMatch(/npm run build\b/);
    expect(run).toMatch(/npm prune --omit=dev\b/);
    expect(run).toMatch(/better-sqlite3/);
  });

  it('the runtime: Node 24, a fixed non-root UID, one data volume, the glibc mmap threshold, /healthz checked by node, SIGTERM, the CLI', () => {
    expect(final?.from).toMatch(/^node:24[-.\w]*( AS \w+)?$/i);
    const user = args('USER').at(-1) ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    expect(args('VOLUME')).toEqual(['["/data"]']);
    expect(args('ENV').join(' ')).toMatch(/TMPDIR=\/data\b/);
    // glibc's mmap threshold fixed (docs/benchmarks.md, "Memory"): the arenas no longer grow with freed buffers.
    expect(args('ENV').join(' ')).toMatch(/\bMALLOC_MMAP_THRESHOLD_=131072\b/);
    const health = args('HEALTHCHECK').join(' ');
    expect(health).toMatch(/CMD \["node", "-e", ".*http:\/\/127\.0\.0\.1:9090\/healthz/);
    expect(health).not.toMatch(/curl|wget/);
    expect(args('STOPSIGNAL')).toEqual(['SIGTERM']);
    expect(JSON.parse(args('ENTRYPOINT').at(-1) ?? 'null')).toEqual(['node', '/app/dist/cli/main.js']);
    expect(JSON.parse(args('CMD').at(-1) ?? 'null')).toEqual(['run', '--config', '/config/config.yaml']);
    expect(args('COPY').some((a) => a.includes('node_modules') && a.includes('--from=build'))).toBe(true);
  });

  it('.dockerignore keeps the host node_modules, journals and git out of the build context', () => {
    const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['node_modules', 'dist', 'data', '.git']) expect(ignored, p).toContain(p);
  });
});
