// The http sink end to end against the official Splunk, Elasticsearch and OpenSearch images (testcontainers): events
// through the real Pipeline and SinkRunner, read back with the engine's own API. Skipped, saying why, without a
// container runtime (no Docker daemon on the development machines; see docs/operations.md).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from 'testcontainers';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../src/core/contracts.js';
import { Pipeline } from '../src/core/pipeline.js';
import { Journal } from '../src/journal/journal.js';
import { bindSink } from '../src/sinks/common.js';
import { httpSink, httpSinkSchema } from '../src/sinks/http/index.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { onceSource } from '../src/testkit/once-source.js';

/** Why the container tests cannot run here (undefined: a runtime answered). Rejects within milliseconds without one. */
const noRuntime = await getContainerRuntimeClient().then(
  () => undefined,
  (e: unknown) => String(e),
);
if (noRuntime !== undefined) console.log(`test/containers.test.ts: skipped, no container runtime (${noRuntime})`);

const N = 25;
const T0 = Date.parse('2026-12-01T00:00:00Z');
const started: StartedTestContainer[] = [];

afterAll(async () => {
  await Promise.all(started.map((c) => c.stop().catch(() => undefined)));
}, 120_000);

async function start(container: GenericContainer): Promise<StartedTestContainer> {
  const c = await container.start();
  started.push(c);
  return c;
}

function events(prefix: string): NormalizedEvent[] {
  return Array.from({ length: N }, (_, i) => {
    const id = `${prefix}${i + 1}`;
    const time = new Date(T0 + i * 1000).toISOString();
    return { id, stream: 'siem', account: 'corp', time, logType: 'receipt', doc: { '@timestamp': time, event: { id }, mimecast: { log_type: 'receipt' }, message: `event ${i + 1}` } };
  });
}

/** Delivers `evs` through a real Pipeline (journal, SinkRunner) to the http sink `cfg`; resolves once all are acked. */
async function deliver(raw: Record<string, unknown>, evs: NormalizedEvent[]): Promise<void> {
  const cfg = httpSinkSchema.parse({ name: 'out', type: 'http', batch: { max_events: 10, max_wait: '0s' }, ...raw });
  const sink = httpSink.create(cfg, { logger: silentLogger() });
  const source = onceSource(evs);
  const journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-containers-')), checkpointWorker: false });
  const pipeline = new Pipeline({ journal, sources: [{ source, pollIntervalMs: 3_600_000 }], sinks: [bindSink(sink, cfg)], logger: pino({ level: 'silent' }) });
  pipeline.start();
  try {
    for (let i = 0; i < 600 && journal.offset('out') < evs.length; i++) await new Promise((r) => setTimeout(r, 100));
    expect(journal.offset('out')).toBe(evs.length);
    expect(pipeline.sinks()[0]).toMatchObject({ deadLettered: 0 });
  } finally {
    await pipeline.stop();
    journal.close();
    await sink.close();
  }
}

/** Polls `read` (a count) until it reaches `want` or 60 s pass; returns the last count. */
async function eventually(read: () => Promise<number>, want: number): Promise<number> {
  let got = -1;
  for (let i = 0; i < 120; i++) {
    got = await read().catch(() => -1);
    if (got === want) return got;
    await new Promise((r) => setTimeout(r, 500));
  }
  return got;
}

async function json(url: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string; dispatcher?: Agent } = {}): Promise<{ status: number; text: string }> {
  const res = await request(url, { method: init.method ?? 'GET', ...(init.headers === undefined ? {} : { headers: init.headers }), ...(init.body === undefined ? {} : { body: init.body }), ...(init.dispatcher === undefined ? {} : { dispatcher: init.dispatcher }) });
  return { status: res.statusCode, text: await res.body.text() };
}

async function searchCount(base: string, index: string): Promise<number> {
  await json(`${base}/${index}/_refresh`, { method: 'POST' });
  const r = await json(`${base}/${index}/_count`);
  if (r.status !== 200) throw new Error(`_count answered ${r.status}: ${r.text}`);
  const count = (JSON.parse(r.text) as { count?: unknown }).count;
  return typeof count === 'number' ? count : -1;
}

describe.skipIf(noRuntime !== undefined)('http sink against the official images (testcontainers)', () => {
  it('Elasticsearch 8 (single node, security off): every event once in the data stream', async () => {
    const es = await start(
      new GenericContainer('docker.elastic.co/elasticsearch/elasticsearch:8.17.4')
        .withEnvironment({ 'discovery.type': 'single-node', 'xpack.security.enabled': 'false', ES_JAVA_OPTS: '-Xms512m -Xmx512m' })
        .withExposedPorts(9200)
        .withWaitStrategy(Wait.forHttp('/_cluster/health?wait_for_status=yellow', 9200).forStatusCode(200))
        .withStartupTimeout(180_000),
    );
    const url = `http://${es.getHost()}:${es.getMappedPort(9200)}`;
    // Elasticsearch's built-in logs-*-* template makes logs-mimecast.siem-containers a data stream.
    await deliver({ preset: 'elasticsearch', url, namespace: 'containers' }, events('es'));
    expect(await eventually(() => searchCount(url, 'logs-mimecast.siem-containers'), N)).toBe(N);
    // A resend (as after a lost reply) meets the same _ids: nothing doubled.
    await deliver({ preset: 'elasticsearch', url, namespace: 'containers' }, events('es'));
    expect(await searchCount(url, 'logs-mimecast.siem-containers')).toBe(N);
  }, 300_000);

  it('OpenSearch 2 (security plugin off): every event once in the index', async () => {
    const os = await start(
      new GenericContainer('opensearchproject/opensearch:2.19.1')
        .withEnvironment({ 'discovery.type': 'single-node', DISABLE_SECURITY_PLUGIN: 'true', DISABLE_INSTALL_DEMO_CONFIG: 'true', OPENSEARCH_JAVA_OPTS: '-Xms512m -Xmx512m' })
        .withExposedPorts(9200)
        .withWaitStrategy(Wait.forHttp('/_cluster/health?wait_for_status=yellow', 9200).forStatusCode(200))
        .withStartupTimeout(180_000),
    );
    const url = `http://${os.getHost()}:${os.getMappedPort(9200)}`;
    // OpenSearch has no logs-*-* data stream template: a plain index.
    await deliver({ preset: 'elasticsearch', url, index: 'mimecast-{stream}-containers' }, events('os'));
    expect(await eventually(() => searchCount(url, 'mimecast-siem-containers'), N)).toBe(N);
  }, 300_000);

  it('Splunk (HEC on 8088): every event searchable through the REST API on 8089', async () => {
    const token = '00000000-0000-4000-8000-00000000c0de';
    const password = 'Containers-Test-1';
    const splunk = await start(
      new GenericContainer('splunk/splunk:9.4')
        .withEnvironment({
          SPLUNK_START_ARGS: '--accept-license',
          SPLUNK_GENERAL_TERMS: '--accept-sgt-current-at-splunk-com',
          SPLUNK_PASSWORD: password,
          SPLUNK_HEC_TOKEN: token,
        })
        .withExposedPorts(8088, 8089)
        .withWaitStrategy(Wait.forHttp('/services/collector/health', 8088).usingTls().allowInsecure().forStatusCode(200))
        .withStartupTimeout(300_000),
    );
    const host = splunk.getHost();
    // HEC and the management port serve the image's self-signed certificate: verification off for this test only.
    await deliver({ preset: 'splunk_hec', url: `https://${host}:${splunk.getMappedPort(8088)}`, token, index: 'main', tls: { verify: false } }, events('hec'));
    const insecure = new Agent({ connect: { rejectUnauthorized: false } });
    const search = async (): Promise<number> => {
      const r = await json(`https://${host}:${splunk.getMappedPort(8089)}/services/search/jobs/export`, {
        method: 'POST',
        dispatcher: insecure,
        headers: { authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ search: 'search index=main source="mimecast:corp" earliest=0 | spath path=event.id output=id | stats dc(id) AS n', output_mode: 'json' }).toString(),
      });
      if (r.status !== 200) throw new Error(`export answered ${r.status}`);
      for (const line of r.text.split('\n')) {
        if (line.trim() === '') continue;
        const n = (JSON.parse(line) as { result?: { n?: unknown } }).result?.n;
        if (n !== undefined) return Number(n);
      }
      return 0;
    };
    try {
      expect(await eventually(search, N)).toBe(N);
    } finally {
      await insecure.close();
    }
  }, 600_000);
});
