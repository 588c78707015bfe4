// The elasticsearch preset against a real OpenSearch node (documents read back) and the scriptable bulk fake (faults).
import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { engineRequest, pick, startSearchEngine, type RunningSearchEngine } from '../../testkit/search-engine.js';
import { StoredEvent, type NormalizedEvent, type OutEvent, type Sink, type StreamName } from '../../core/contracts.js';
import { Pipeline } from '../../core/pipeline.js';
import { Journal } from '../../journal/journal.js';
import { silentLogger, type Logger } from '../../telemetry/logger.js';
import { startBulkReceiver, type BulkReceiver } from '../../testkit/bulk-receiver.js';
import { bindSink } from '../common.js';
import { httpSinkSchema, type ElasticsearchConfig } from './config.js';
import { BULK_FILTER_PATH, indexName } from './elasticsearch.js';
import { httpSink } from './index.js';
import { sinkFailure } from '../../testkit/sink-failure.js';
import { onceSource } from '../../testkit/once-source.js';

const signal = new AbortController().signal;
const T0 = Date.parse('2026-12-01T00:00:00Z');

let sinks: Sink[] = [];
let fakes: BulkReceiver[] = [];
let servers: Server[] = [];

afterEach(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await Promise.all(fakes.map((f) => f.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  sinks = [];
  fakes = [];
  servers = [];
});

function config(cfg: Record<string, unknown>): ElasticsearchConfig {
  const parsed = httpSinkSchema.parse({ name: 'es', type: 'http', preset: 'elasticsearch', ...cfg });
  if (parsed.preset !== 'elasticsearch') throw new Error('not the elasticsearch preset');
  return parsed;
}

function sink(cfg: Record<string, unknown>, logger: Logger = silentLogger()): Sink {
  const s = httpSink.create(config(cfg), { logger });
  sinks.push(s);
  return s;
}

async function fake(opts: Parameters<typeof startBulkReceiver>[0] = {}): Promise<BulkReceiver> {
  const f = await startBulkReceiver(opts);
  fakes.push(f);
  return f;
}

function doc(id: string, n: number, logType: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { '@timestamp': new Date(T0 + n * 1000).toISOString(), event: { id }, mimecast: { log_type: logType }, message: `event ${n}`, ...extra };
}

/** Out events as the journal hands them over; `withoutTimestamp` positions carry no `@timestamp`. */
function events(n: number, opts: { prefix?: string; stream?: StreamName; logTypes?: readonly string[]; withoutTimestamp?: readonly number[] } = {}): OutEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `${opts.prefix ?? 'e'}${i + 1}`;
    const logType = opts.logTypes?.[i % opts.logTypes.length] ?? 'receipt';
    const d = doc(id, i, logType);
    if (opts.withoutTimestamp?.includes(i) === true) delete d['@timestamp'];
    return new StoredEvent(i + 1, id, opts.stream ?? 'siem', 'corp', new Date(T0 + i * 1000).toISOString(), Buffer.from(JSON.stringify(d)), logType);
  });
}

const failure = sinkFailure;

/** Log lines written through a pino logger, parsed. */
function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

describe('index names', () => {
  it('fills the template per event and keeps the result a valid index name', () => {
    const e = { stream: 'siem', logType: 'url_protect', account: 'corp' };
    expect(indexName('logs-mimecast.{stream}-{namespace}', 'default', e)).toBe('logs-mimecast.siem-default');
    expect(indexName('logs-mimecast.{log_type}-{namespace}', 'prod', e)).toBe('logs-mimecast.url_protect-prod');
    expect(indexName('mimecast-{account}-{stream}', 'x', { ...e, account: 'Corp West/EU*#1' })).toBe('mimecast-corp_west_eu__1-siem');
    expect(indexName('logs-{log_type}-x', 'x', { ...e, logType: '' })).toBe('logs-unknown-x');
    expect(indexName('{account}', 'x', { ...e, account: '_-+acme' })).toBe('acme');
    expect(Buffer.byteLength(indexName('m-{account}', 'x', { ...e, account: 'é'.repeat(300) }))).toBeLessThanOrEqual(255);
  });

  it('validates the template in the config with the key', () => {
    const bad = (index: string): string[] => {
      const r = httpSinkSchema.safeParse({ name: 'es', type: 'http', preset: 'elasticsearch', url: 'https://h:9200', index });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(bad('logs-mimecast.{stream}-{namespace}')).toEqual([]);
    expect(bad('mimecast-{account}-{log_type}')).toEqual([]);
    expect(bad('logs-{dataset}-x')).toEqual(['index: unknown placeholder {dataset} (expected {stream}, {log_type}, {account}, {namespace})']);
    expect(bad('Logs-{stream}')).toEqual(['index: index names are lower-case']);
    expect(bad('logs {stream}')).toEqual(['index: index names cannot contain " " (nor \\ / * ? " < > | , # : or spaces)']);
    expect(bad('logs#{stream}')[0]).toMatch(/^index: index names cannot contain "#"/);
    expect(bad('_logs-{stream}')).toEqual(['index: index names cannot start with "-", "_" or "+"']);
    expect(bad('logs-{stream')).toEqual(['index: unbalanced "{" or "}"']);
  });
});

describe('elasticsearch preset against the bulk fake', () => {
  it('POSTs /_bulk NDJSON creates with _id = event.id, the documents as they are, filter_path, pipeline and gzip', async () => {
    const f = await fake();
    const evs = events(3);
    const odd = new StoredEvent(4, 'id "quoted" \\ é', 'audit', 'corp', 't', Buffer.from('{"@timestamp":"2026-12-01T00:00:00.000Z","x":"\\u00e9 é"}'), 'audit');
    await expect(sink({ url: f.url, pipeline: 'mimecast ecs' }).send([...evs, odd], signal)).resolves.toBeUndefined();
    expect(f.requests).toHaveLength(1);
    expect(f.requests[0]).toMatchObject({ method: 'POST', path: '/_bulk', filterPath: BULK_FILTER_PATH, pipeline: 'mimecast ecs', gzip: true, items: 4, failed: 0 });
    expect(f.docs('logs-mimecast.siem-default').map((d) => [d._id, d._source])).toEqual(evs.map((e) => [e.id, JSON.parse(e.json)]));
    expect(f.doc('logs-mimecast.audit-default', 'id "quoted" \\ é')?._source).toEqual({ '@timestamp': '2026-12-01T00:00:00.000Z', x: 'é é' });

    await sink({ url: f.url, compression: 'none' }).send(events(1, { prefix: 'plain' }), signal);
    expect(f.requests[1]).toMatchObject({ gzip: false, pipeline: undefined });
  });

  it('a 200 with mixed items gives exact verdicts: 201 and 409 delivered, 429 retried, 400 and 404 rejected with type and reason', async () => {
    const f = await fake();
    const s = sink({ url: f.url });
    const evs = events(6);
    await s.send([evs[1] as OutEvent], signal); // e2 is there already: a resend answers 409
    f.itemFaults({ 2: { kind: 'rejected' }, 3: { kind: 'mapping' }, 4: { kind: 'index_not_found' } });
    const result = await s.send(evs, signal);
    expect(result).toEqual({
      retry: [
        {
          index: 2,
          reason:
            'es_rejected_execution_exception: rejected execution of primary operation [coordinating_and_primary_bytes=0, max_coordinating_and_primary_bytes=0] (scripted) (item status 429)',
        },
      ],
      rejected: [
        { index: 3, reason: 'mapper_parsing_exception: failed to parse field [scripted] of type [long] (scripted) (item status 400)' },
        { index: 4, reason: 'index_not_found_exception: no such index [logs-mimecast.siem-default] (item status 404)' },
      ],
    });
    expect(f.docs('logs-mimecast.siem-default').map((d) => d._id)).toEqual(['e2', 'e1', 'e6']);
    // A 503 item is retried too.
    f.itemFaults({ 0: { kind: 'unavailable' } });
    expect(await s.send(events(1, { prefix: 'u' }), signal)).toEqual({
      retry: [{ index: 0, reason: 'unavailable_shards_exception: [logs-mimecast.siem-default][0] primary shard is not active (scripted) (item status 503)' }],
    });
  });

  it('the same batch twice: the second send is all 409s, delivered, nothing stored twice', async () => {
    const f = await fake();
    const s = sink({ url: f.url });
    await s.send(events(5), signal);
    await expect(s.send(events(5), signal)).resolves.toBeUndefined();
    expect(f.requests[1]?.failed).toBe(5);
    expect(f.count()).toBe(5);
  });

  it('whole-request answers: 429 and 503 retried (Retry-After honoured), 413 too large, 401 stops the sink naming the auth way, not the secret', async () => {
    const f = await fake({ maxBodyBytes: 4096, auth: { apiKey: 'right-key-0123456789' } });
    const good = sink({ url: f.url, api_key: 'right-key-0123456789', compression: 'none' });
    f.fault({ kind: 'reply', status: 429, body: { error: { type: 'es_rejected_execution_exception', reason: 'queue full' }, status: 429 }, headers: { 'retry-after': '3' } });
    const busy = await failure(good.send(events(1), signal));
    expect([busy.code, busy.retryAfterMs, busy.message]).toEqual(['SINK_RETRYABLE', 3000, 'sink es: POST /_bulk answered HTTP 429: es_rejected_execution_exception: queue full']);
    f.fault({ kind: 'unavailable' });
    expect((await failure(good.send(events(1), signal))).code).toBe('SINK_RETRYABLE');

    const big = await failure(good.send(events(100), signal));
    expect(big.code).toBe('SINK_TOO_LARGE');

    const wrong = await failure(sink({ url: f.url, api_key: 'wrong-key-9876543210' }).send(events(1), signal));
    expect(wrong.code).toBe('SINK_CONFIG');
    expect(wrong.message).toBe(
      'sink es: POST /_bulk answered HTTP 401: security_exception: unable to authenticate with provided credentials and anonymous access is not allowed for this request (authenticating with api_key)',
    );
    expect(wrong.message).not.toContain('wrong-key');
    const none = await failure(sink({ url: f.url }).check?.(signal) ?? Promise.resolve());
    expect(none.code).toBe('SINK_CONFIG');
    expect(none.message).toMatch(/^sink es: GET \/ answered HTTP 401: security_exception: missing authentication credentials .*\(authenticating with no credentials configured/);
    expect(f.count()).toBe(0);
  });

  it('authenticates each way: basic, ApiKey (encoded or id:key), Bearer', async () => {
    const f = await fake({ auth: { basic: { username: 'writer', password: 'pass:word-123' }, apiKey: Buffer.from('kid:ksecret-123').toString('base64'), bearer: 'tok-abcdefgh' } });
    await sink({ url: f.url, username: 'writer', password: 'pass:word-123' }).send(events(1, { prefix: 'b' }), signal);
    await sink({ url: f.url, api_key: Buffer.from('kid:ksecret-123').toString('base64') }).send(events(1, { prefix: 'k' }), signal);
    await sink({ url: f.url, api_key: 'kid:ksecret-123' }).send(events(1, { prefix: 'p' }), signal);
    await sink({ url: f.url, token: 'tok-abcdefgh' }).send(events(1, { prefix: 't' }), signal);
    expect(f.requests.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(f.count()).toBe(4);
    const basic = await failure(sink({ url: f.url, username: 'writer', password: 'nope-nope' }).send(events(1), signal));
    expect(basic.message).toMatch(/unable to authenticate user \[writer\].*\(authenticating with username\/password as writer\)$/);
    expect(basic.message).not.toContain('nope-nope');
    expect(() => config({ url: f.url, api_key: 'a', token: 'b' })).toThrow(/use one way to authenticate/);
  });

  it('an index that does not exist with auto-create off: every item so → the sink stops naming it; only some → those dead-lettered', async () => {
    const f = await fake({ autoCreateIndex: false });
    const s = sink({ url: f.url, index: 'mimecast-{log_type}' });
    const e = await failure(s.send(events(3, { logTypes: ['receipt', 'process'] }), signal));
    expect(e.code).toBe('SINK_CONFIG');
    expect(e.message).toBe(
      'sink es: POST /_bulk: index mimecast-receipt, mimecast-process does not exist and the cluster does not create indices on write (action.auto_create_index): create it, or an index template matching it, or change index',
    );
    f.createIndex('mimecast-receipt');
    expect(await s.send(events(3, { logTypes: ['receipt', 'process'] }), signal)).toEqual({
      rejected: [{ index: 1, reason: 'index_not_found_exception: no such index [mimecast-process] (item status 404)' }],
    });
    expect(f.count('mimecast-receipt')).toBe(2);
  });

  it('404 on /_bulk and item 403 stop the sink; a reply whose items do not line up is retried', async () => {
    const f = await fake();
    const s = sink({ url: f.url });
    f.fault({ kind: 'reply', status: 404, body: { error: 'no handler found for uri [/_bulk]', status: 404 } });
    const nf = await failure(s.send(events(1), signal));
    expect([nf.code, nf.message]).toEqual(['SINK_CONFIG', 'sink es: POST /_bulk answered HTTP 404: no handler found for uri [/_bulk]: url does not lead to Elasticsearch or OpenSearch']);
    f.itemFaults({ 0: { kind: 'status', status: 403, error: { type: 'security_exception', reason: 'action [indices:data/write/bulk[s]] is unauthorized' } } });
    const denied = await failure(s.send(events(2), signal));
    expect(denied.code).toBe('SINK_CONFIG');
    expect(denied.message).toMatch(/1 of 2 documents refused for lack of rights \(no credentials configured.*\): security_exception: action \[indices:data\/write\/bulk\[s\]\] is unauthorized/);
    f.fault({ kind: 'reply', status: 200, body: { errors: true, items: [] } });
    const odd = await failure(s.send(events(2), signal));
    expect([odd.code, odd.message]).toEqual(['SINK_RETRYABLE', 'sink es: POST /_bulk: the reply lists 0 items for 2 documents']);
  });

  it('check() logs the distribution and version; probe() says whether GET / answers', async () => {
    const f = await fake({ distribution: 'opensearch', version: '2.17.0' });
    const { logger, lines } = capture();
    const s = sink({ url: f.url }, logger);
    await s.check?.(signal);
    expect(lines.map((l) => [l['msg'], l['distribution'], l['version']])).toEqual([['receiver is OpenSearch 2.17.0', 'opensearch', '2.17.0']]);
    expect(await s.probe?.(signal)).toBe(true);
    await f.stop();
    expect(await s.probe?.(signal)).toBe(false);
    expect((await failure(s.check?.(signal) ?? Promise.resolve())).code).toBe('SINK_RETRYABLE');
  });

  it('check() lets write-only credentials through (GET / answers 403 without the monitor privilege), with a warning', async () => {
    const f = await fake({});
    // A proxy in front of the fake refuses GET / as Elasticsearch does for a key without the monitor privilege.
    const proxy = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/') {
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { type: 'security_exception', reason: 'action [cluster:monitor/main] is unauthorized' }, status: 403 }));
        return;
      }
      const up = httpRequest(`${f.url}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const { logger, lines } = capture();
    const s = sink({ url }, logger);
    await expect(s.check?.(signal)).resolves.toBeUndefined();
    expect(String(lines[0]?.['msg'])).toMatch(/GET \/ answered HTTP 403: these credentials cannot read the cluster info/);
    await s.send(events(2), signal);
    expect(f.count()).toBe(2);
    expect(await s.probe?.(signal)).toBe(true);
    await s.close();
    await new Promise((r) => proxy.close(r));
  });
});

// ---------------------------------------------------------------------------------------------------------------------

async function count(engine: RunningSearchEngine, index: string): Promise<number> {
  await engineRequest(engine.url, 'POST', `/${index}/_refresh`);
  return Number(pick((await engineRequest(engine.url, 'GET', `/${index}/_count`)).json, 'count'));
}

async function idsIn(engine: RunningSearchEngine, index: string): Promise<string[]> {
  await engineRequest(engine.url, 'POST', `/${index}/_refresh`);
  const hits = pick((await engineRequest(engine.url, 'GET', `/${index}/_search?size=1000`)).json, 'hits', 'hits');
  return (Array.isArray(hits) ? hits : []).map((h) => String(pick(h, '_id'))).sort();
}

/**
 * A pass-through proxy to the real engine that, in the first `_bulk`, keeps the document at `position` from the
 * engine and answers for it an item 429 (a real engine gives one only under load).
 */
async function injectItem429(engineUrl: string, position: number): Promise<{ url: string; bulks: string[][] }> {
  const bulks: string[][] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let text = Buffer.concat(chunks).toString('utf8');
        const isBulk = (req.url ?? '').startsWith('/_bulk');
        const first = isBulk && bulks.length === 0;
        if (isBulk) {
          const lines = text.split('\n').slice(0, -1);
          bulks.push(lines.filter((_, i) => i % 2 === 0).map((l) => String(pick(JSON.parse(l), 'create', '_id'))));
          if (first) text = `${lines.filter((_, i) => i !== 2 * position && i !== 2 * position + 1).join('\n')}\n`;
        }
        const up = await request(`${engineUrl}${req.url ?? '/'}`, {
          method: (req.method ?? 'GET') as 'GET',
          headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
          ...(req.method === 'GET' ? {} : { body: text }),
        });
        let reply = await up.body.text();
        if (first) {
          const parsed = JSON.parse(reply) as { errors: boolean; items: unknown[] };
          parsed.items.splice(position, 0, { create: { status: 429, error: { type: 'es_rejected_execution_exception', reason: 'injected' } } });
          reply = JSON.stringify({ ...parsed, errors: true });
        }
        res.writeHead(up.statusCode, { 'content-type': 'application/json' }).end(reply);
      })();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bulks };
}

describe('elasticsearch preset against a real OpenSearch', () => {
  // Started by the first test (not beforeAll, whose failure would only mark the tests skipped).
  let starting: Promise<RunningSearchEngine> | undefined;
  const up = async (): Promise<RunningSearchEngine> => {
    if (starting === undefined) {
      starting = (async () => {
        const engine = await startSearchEngine();
        // OpenSearch has no built-in `logs-*-*` template: make `logs-mimecast.*-*` data streams, as an operator would.
        const template = await engineRequest(engine.url, 'PUT', '/_index_template/mimecast', {
          index_patterns: ['logs-mimecast.*-*'],
          data_stream: {},
          priority: 200,
          template: { settings: { number_of_shards: 1, number_of_replicas: 0 } },
        });
        expect(template.status).toBe(200);
        return engine;
      })();
    }
    return starting;
  };

  afterAll(async () => {
    const engine = await starting?.catch(() => undefined);
    await engine?.stop();
  }, 30_000);

  it('check() names OpenSearch and its version; delivered events read back with their _ids; a resend is all 409s, count unchanged', async () => {
    const engine = await up();
    const { logger, lines } = capture();
    const s = sink({ url: engine.url, namespace: 'first' }, logger);
    await s.check?.(signal);
    expect(lines[0]).toMatchObject({ distribution: 'opensearch', version: expect.stringMatching(/^2\.19\./) as string });
    const evs = events(20);
    await expect(s.send(evs, signal)).resolves.toBeUndefined();
    const stream = 'logs-mimecast.siem-first';
    expect(await count(engine, stream)).toBe(20);
    expect(await idsIn(engine, stream)).toEqual(evs.map((e) => e.id).sort());
    const one = pick((await engineRequest(engine.url, 'GET', `/${stream}/_search?q=_id:e7`)).json, 'hits', 'hits', 0, '_source');
    expect(one).toEqual(JSON.parse((evs[6] as OutEvent).json));
    // The same batch again (a resend after a lost reply): every item 409, all delivered, nothing doubled.
    await expect(s.send(evs, signal)).resolves.toBeUndefined();
    expect(await count(engine, stream)).toBe(20);
  }, 120_000);

  it('a document without @timestamp is rejected with the engine\'s reason; the others are delivered', async () => {
    const engine = await up();
    const s = sink({ url: engine.url, namespace: 'notime' });
    const result = await s.send(events(4, { withoutTimestamp: [2] }), signal);
    expect(result).toEqual({ rejected: [{ index: 2, reason: expect.stringMatching(/^mapper_parsing_exception: .*@timestamp.*\(item status 400\)$/) as string }] });
    expect(await idsIn(engine, 'logs-mimecast.siem-notime')).toEqual(['e1', 'e2', 'e4']);
  }, 120_000);

  it('index with {log_type} routes to one data stream per log type', async () => {
    const engine = await up();
    const s = sink({ url: engine.url, index: 'logs-mimecast.{log_type}-{namespace}', namespace: 'bytype' });
    await expect(s.send(events(9, { logTypes: ['receipt', 'process', 'url_protect'] }), signal)).resolves.toBeUndefined();
    const streams = pick((await engineRequest(engine.url, 'GET', '/_data_stream/logs-mimecast.*-bytype')).json, 'data_streams');
    expect((Array.isArray(streams) ? streams : []).map((d) => pick(d, 'name')).sort()).toEqual([
      'logs-mimecast.process-bytype',
      'logs-mimecast.receipt-bytype',
      'logs-mimecast.url_protect-bytype',
    ]);
    expect(await idsIn(engine, 'logs-mimecast.process-bytype')).toEqual(['e2', 'e5', 'e8']);
  }, 120_000);

  it('an index the cluster will not create: every item index_not_found → the sink stops naming it', async () => {
    const engine = await up();
    const setting = await engineRequest(engine.url, 'PUT', '/_cluster/settings', { transient: { 'action.auto_create_index': '-nocreate-*,+*' } });
    expect(setting.status).toBe(200);
    try {
      const e = await failure(sink({ url: engine.url, index: 'nocreate-{stream}' }).send(events(2), signal));
      expect(e.code).toBe('SINK_CONFIG');
      expect(e.message).toMatch(/index nocreate-siem does not exist and the cluster does not create indices on write/);
    } finally {
      await engineRequest(engine.url, 'PUT', '/_cluster/settings', { transient: { 'action.auto_create_index': null } });
    }
  }, 120_000);

  it('through the sink runner: N events with an item 429 on the way, every event once, count = N', async () => {
    const engine = await up();
    const proxy = await injectItem429(engine.url, 5);
    const N = 50;
    const cfg = config({ url: proxy.url, namespace: 'runner', compression: 'none', batch: { max_events: 20, max_wait: '0s' } });
    const s = httpSink.create(cfg, { logger: silentLogger() });
    sinks.push(s);
    const evs: NormalizedEvent[] = Array.from({ length: N }, (_, i) => {
      const id = `r${i + 1}`;
      const d = doc(id, i, 'receipt');
      return { id, stream: 'siem', account: 'corp', time: String(d['@timestamp']), logType: 'receipt', doc: d };
    });
    // One batch: all N are journaled before the first send, so the sends are 20, 20, 10 whatever the timing.
    const source = onceSource(evs);
    const journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-es-runner-')), checkpointWorker: false });
    const pipeline = new Pipeline({ journal, sources: [{ source, pollIntervalMs: 3_600_000 }], sinks: [bindSink(s, cfg)], logger: pino({ level: 'silent' }) });
    pipeline.start();
    try {
      for (let i = 0; i < 300 && journal.offset('es') < N; i++) await new Promise((r) => setTimeout(r, 100));
      expect(journal.offset('es')).toBe(N);
      expect(pipeline.sinks()[0]).toMatchObject({ deadLettered: 0, retries: 1 });
    } finally {
      await pipeline.stop();
      journal.close();
    }
    // The one event the engine was never given was sent again, alone (the three batches go out together: the
    // preset's default concurrency is 4).
    expect(proxy.bulks.map((b) => b.length).sort((a, b) => a - b)).toEqual([1, 10, 20, 20]);
    expect(proxy.bulks.find((b) => b.length === 1)).toEqual(['r6']);
    expect(await count(engine, 'logs-mimecast.siem-runner')).toBe(N);
    expect(await idsIn(engine, 'logs-mimecast.siem-runner')).toEqual(evs.map((e) => e.id).sort());
  }, 120_000);
});
