// The `_bulk` fake answers as the Elasticsearch bulk API docs say, over real HTTP on loopback.
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { filterPath, startBulkReceiver, type BulkReceiver, type BulkReceiverOptions } from './bulk-receiver.js';

let es: BulkReceiver | undefined;
afterEach(async () => {
  await es?.close();
  es = undefined;
});

async function start(opts: BulkReceiverOptions = {}): Promise<BulkReceiver> {
  es = await startBulkReceiver(opts);
  return es;
}

interface Answer {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
}

const NDJSON = { 'content-type': 'application/x-ndjson' };

async function call(r: BulkReceiver, path: string, body?: string | Buffer, headers: Record<string, string> = NDJSON, method: 'GET' | 'POST' = 'POST'): Promise<Answer> {
  const res = await request(`${r.url}${path}`, { method, headers, body: body ?? null });
  const text = await res.body.text();
  return { status: res.statusCode, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>), headers: res.headers };
}

const bulk = (r: BulkReceiver, lines: unknown[], path = '/_bulk', headers: Record<string, string> = NDJSON): Promise<Answer> =>
  call(r, path, lines.map((l) => JSON.stringify(l)).join('\n') + '\n', headers);

const doc = (id: string): Record<string, unknown> => ({ '@timestamp': '2024-01-01T00:00:00Z', event: { id }, message: `m-${id}` });
const create = (index: string, id: string): unknown[] => [{ create: { _index: index, _id: id } }, doc(id)];

type Item = Record<string, { _index: string; _id: string | null; status: number; result?: string; error?: { type: string; reason: string } }>;
const items = (a: Answer): Item[] => a.body['items'] as Item[];
const statuses = (a: Answer): number[] => items(a).map((i) => Object.values(i)[0]?.status ?? 0);

describe('bulk fake: items', () => {
  it('creates documents, reports per-item results by position, and a resent _id is 409 version_conflict_engine_exception', async () => {
    const r = await start();
    const first = await bulk(r, [...create('mimecast', 'a'), ...create('mimecast', 'b')]);
    expect(first.status).toBe(200);
    expect(first.body['errors']).toBe(false);
    expect(items(first)[0]).toMatchObject({ create: { _index: 'mimecast', _id: 'a', _version: 1, result: 'created', status: 201 } });
    const again = await bulk(r, [...create('mimecast', 'c'), ...create('mimecast', 'a')]);
    expect(again.body['errors']).toBe(true);
    expect(statuses(again)).toEqual([201, 409]);
    expect(items(again)[1]?.['create']?.error?.type).toBe('version_conflict_engine_exception');
    expect(r.docs('mimecast').map((d) => d._id)).toEqual(['a', 'b', 'c']);
    expect(r.count()).toBe(3);
    expect(r.doc('mimecast', 'a')?._source).toEqual(doc('a'));
  });

  it('light: sources are not parsed (benchmarks), yet a resent _id is 409, a non-object source and a missing @timestamp are 400', async () => {
    const r = await start({ light: true });
    const a = await call(r, '/_bulk', ['{"create":{"_index":"logs-mimecast.siem-default","_id":"a"}}', JSON.stringify(doc('a')), '{"create":{"_index":"logs-mimecast.siem-default","_id":"a"}}', JSON.stringify(doc('a')), '{"create":{"_index":"logs-mimecast.siem-default","_id":"b"}}', '[1]', '{"create":{"_index":"logs-mimecast.siem-default","_id":"c"}}', '{"event":{}}', ''].join('\n'));
    expect(statuses(a)).toEqual([201, 409, 400, 400]);
    expect(r.count()).toBe(1);
    const unterminated = await call(r, '/_bulk', `{"create":{"_index":"logs-mimecast.siem-default","_id":"d"}}\n${JSON.stringify(doc('d'))}`);
    expect(unterminated.status).toBe(400);
    expect((await call(r, '/_bulk', ' \n')).status).toBe(400);
    const multibyte = await call(r, '/_bulk', `{"create":{"_index":"logs-mimecast.siem-default","_id":"é✓"}}\n${JSON.stringify({ ...doc('e'), m: 'ü\n' })}\n`);
    expect(statuses(multibyte)).toEqual([201]);
    expect(r.count()).toBe(2);
  });

  it('index creates or replaces (201 then 200 updated); no _id gets a generated one; delete works; the path index is the default', async () => {
    const r = await start();
    const a = await bulk(r, [{ index: { _id: 'x' } }, { v: 1 }, { index: { _id: 'x' } }, { v: 2 }, { index: {} }, { v: 3 }, { delete: { _id: 'x' } }, { delete: { _id: 'nope' } }], '/things/_bulk');
    expect(statuses(a)).toEqual([201, 200, 201, 200, 404]);
    expect(items(a).map((i) => Object.values(i)[0]?.result)).toEqual(['created', 'updated', 'created', 'deleted', 'not_found']);
    expect(items(a)[2]?.['index']?._id).toMatch(/^[\w-]{20}$/);
    expect(r.docs('things').map((d) => d._source)).toEqual([{ v: 3 }]);
    expect(a.body['errors']).toBe(false);
  });

  it('a source that is not a JSON object is an item 400 parsing exception; the others still go in', async () => {
    const r = await start();
    const body = `${JSON.stringify({ create: { _index: 'i', _id: '1' } })}\n{not json\n${JSON.stringify({ create: { _index: 'i', _id: '2' } })}\n{"ok":true}\n`;
    const a = await call(r, '/_bulk', body);
    expect(statuses(a)).toEqual([400, 201]);
    expect(items(a)[0]?.['create']?.error?.type).toBe('document_parsing_exception');
    const os = await startBulkReceiver({ distribution: 'opensearch' });
    try {
      const b = await call(os, '/_bulk', body);
      expect(items(b)[0]?.['create']?.error?.type).toBe('mapper_parsing_exception');
      expect((await call(os, '/', undefined, {}, 'GET')).body).toMatchObject({ version: { distribution: 'opensearch', number: '2.17.0' } });
    } finally {
      await os.close();
    }
  });

  it('data streams take only create, need @timestamp, and report the backing index', async () => {
    const r = await start();
    const stream = 'logs-mimecast.siem-default';
    const a = await bulk(r, [...create(stream, 'a'), { index: { _index: stream, _id: 'b' } }, doc('b'), { create: { _index: stream, _id: 'c' } }, { message: 'no time' }]);
    expect(statuses(a)).toEqual([201, 400, 400]);
    expect(items(a)[0]?.['create']?._index).toMatch(/^\.ds-logs-mimecast\.siem-default-\d{4}\.\d{2}\.\d{2}-000001$/);
    expect(items(a)[1]?.['index']?.error?.type).toBe('illegal_argument_exception');
    expect(items(a)[2]?.['create']?.error?.reason).toContain('data stream timestamp field [@timestamp] is missing');
    expect(r.count('logs-*')).toBe(1);
  });

  it('autoCreateIndex: false: an item for a missing index is 404 index_not_found_exception', async () => {
    const r = await start({ autoCreateIndex: false });
    r.createIndex('there');
    const a = await bulk(r, [...create('there', 'a'), ...create('missing', 'b')]);
    expect(statuses(a)).toEqual([201, 404]);
    expect(items(a)[1]?.['create']?.error?.type).toBe('index_not_found_exception');
  });

  it('scripted item faults hit the next request by position (429, 400, 404, 503), then a function', async () => {
    const r = await start();
    r.itemFaults({ 0: { kind: 'rejected' }, 1: { kind: 'mapping' }, 2: { kind: 'index_not_found' }, 3: { kind: 'unavailable' } });
    const lines = ['a', 'b', 'c', 'd', 'e'].flatMap((id) => create('i', id));
    const a = await bulk(r, lines);
    expect(statuses(a)).toEqual([429, 400, 404, 503, 201]);
    expect(items(a).map((i) => Object.values(i)[0]?.error?.type)).toEqual(['es_rejected_execution_exception', 'mapper_parsing_exception', 'index_not_found_exception', 'unavailable_shards_exception', undefined]);
    expect(r.docs('i').map((d) => d._id)).toEqual(['e']);
    const b = await bulk(r, lines);
    expect(statuses(b)).toEqual([201, 201, 201, 201, 409]);
    r.setItemFaultFunction(({ id }) => (id === 'b' ? { kind: 'status', status: 500, error: { type: 'internal', reason: 'x' } } : undefined));
    expect(statuses(await bulk(r, [...create('j', 'a'), ...create('j', 'b')]))).toEqual([201, 500]);
  });

  it('filter_path keeps only what is asked; items.*.error alone drops the successful items, with status it keeps positions', async () => {
    const r = await start();
    await bulk(r, create('i', 'a'));
    const lines = [...create('i', 'b'), ...create('i', 'a')];
    const errorsOnly = await bulk(r, lines, '/_bulk?filter_path=items.*.error');
    expect(errorsOnly.body).toEqual({ items: [{ create: { error: expect.objectContaining({ type: 'version_conflict_engine_exception' }) } }] });
    const small = await bulk(r, [...create('i', 'c'), ...create('i', 'a')], '/_bulk?filter_path=errors,items.*.error,items.*.status');
    expect(small.body).toEqual({ errors: true, items: [{ create: { status: 201 } }, { create: { status: 409, error: expect.objectContaining({ type: 'version_conflict_engine_exception' }) } }] });
    expect((await bulk(r, create('i', 'd'), '/_bulk?filter_path=errors,items.*.error')).body).toEqual({ errors: false });
    expect(r.requests.at(-1)?.filterPath).toBe('errors,items.*.error');
  });

  it('filterPath: ** reaches any depth and * works inside a key', () => {
    const v = { a: { b: { status: 1, other: 2 }, status: 3 }, stat: 4, list: [{ status: 5 }, { x: 1 }] };
    expect(filterPath(v, '**.status')).toEqual({ a: { b: { status: 1 }, status: 3 }, list: [{ status: 5 }] });
    expect(filterPath(v, 'sta*')).toEqual({ stat: 4 });
    expect(filterPath(v, 'nothing')).toEqual({});
    expect(filterPath(v, 'a.**.status')).toEqual({ a: { b: { status: 1 }, status: 3 } });
    expect(filterPath(v, 'a.b,a.b.other')).toEqual({ a: { b: { status: 1, other: 2 } } });
    const reply = { took: 3, errors: true, items: [{ create: { _id: '1', status: 201, _shards: { total: 1 } } }, { create: { _id: '2', status: 409, error: { type: 'x' } } }] };
    expect(filterPath(reply, 'errors,items.*.error,items.*.status')).toEqual({ errors: true, items: [{ create: { status: 201 } }, { create: { status: 409, error: { type: 'x' } } }] });
  });
});

describe('bulk fake: requests', () => {
  it('needs a trailing newline, an NDJSON/JSON content type, well-formed action lines and some content', async () => {
    const r = await start();
    const one = JSON.stringify({ create: { _index: 'i', _id: '1' } }) + '\n' + JSON.stringify(doc('1'));
    const a = await call(r, '/_bulk', one);
    expect(a.status).toBe(400);
    expect(a.body).toMatchObject({ error: { type: 'illegal_argument_exception' }, status: 400 });
    expect((await call(r, '/_bulk', one + '\n', { 'content-type': 'text/plain' })).status).toBe(406);
    expect((await call(r, '/_bulk', '{"bogus":{}}\n{}\n')).body).toMatchObject({ error: { type: 'illegal_argument_exception' } });
    expect((await call(r, '/_bulk', '{"create":{"_id":"1"}}\n{}\n')).body).toMatchObject({ error: { type: 'action_request_validation_exception' } });
    expect((await call(r, '/_bulk', '')).status).toBe(400);
    expect(r.count()).toBe(0);
    expect((await call(r, '/_bulk', one + '\n', { 'content-type': 'application/json; charset=UTF-8' })).status).toBe(200);
  });

  it('reads gzip bodies; a body over maxBodyBytes is 413 with nothing indexed', async () => {
    const r = await start({ maxBodyBytes: 3_000 });
    const text = Array.from({ length: 30 }, (_, i) => create('i', `d${i}`)).flat().map((l) => JSON.stringify(l)).join('\n') + '\n';
    expect(Buffer.byteLength(text)).toBeGreaterThan(3_000);
    const zipped = await call(r, '/_bulk', gzipSync(text), { ...NDJSON, 'content-encoding': 'gzip' });
    expect(zipped.status).toBe(200);
    expect(r.count('i')).toBe(30);
    expect(r.requests[0]?.gzip).toBe(true);
    expect((await call(r, '/_bulk', text)).status).toBe(413);
    expect(r.count('i')).toBe(30);
  });

  it('checks basic, ApiKey and Bearer credentials; a failure is 401 security_exception with WWW-Authenticate', async () => {
    const r = await start({ auth: { basic: { username: 'elastic', password: 'p:w' }, apiKey: 'a2V5OnNlY3JldA==', bearer: 'tok' } });
    const none = await bulk(r, create('i', 'a'));
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { type: 'security_exception', root_cause: [{ type: 'security_exception' }] }, status: 401 });
    expect((none.body['error'] as { reason: string }).reason).toContain('missing authentication credentials');
    expect(String(none.headers['www-authenticate'])).toContain('Basic realm="security"');
    const basic = (u: string, p: string): Record<string, string> => ({ ...NDJSON, authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    expect((await bulk(r, create('i', 'a'), '/_bulk', basic('elastic', 'wrong'))).status).toBe(401);
    expect((await bulk(r, create('i', 'a'), '/_bulk', basic('elastic', 'p:w'))).status).toBe(200);
    expect((await bulk(r, create('i', 'b'), '/_bulk', { ...NDJSON, authorization: 'ApiKey a2V5OnNlY3JldA==' })).status).toBe(200);
    expect((await bulk(r, create('i', 'c'), '/_bulk', { ...NDJSON, authorization: 'ApiKey bad' })).status).toBe(401);
    expect((await bulk(r, create('i', 'd'), '/_bulk', { ...NDJSON, authorization: 'Bearer tok' })).status).toBe(200);
    expect((await call(r, '/', undefined, {}, 'GET')).status).toBe(401);
    expect(r.count()).toBe(3);
  });

  it('whole-request faults: 429, 503, 413, any reply; nothing indexed; a fault function by bulk number', async () => {
    const r = await start();
    r.fault({ kind: 'rejected' }, { kind: 'unavailable' }, { kind: 'too_large' }, { kind: 'reply', status: 502, body: { oops: true }, headers: { 'retry-after': '3' } });
    const a = await bulk(r, create('i', 'a'));
    expect(a).toMatchObject({ status: 429, body: { error: { type: 'es_rejected_execution_exception' }, status: 429 } });
    expect((await bulk(r, create('i', 'a'))).status).toBe(503);
    expect((await bulk(r, create('i', 'a'))).status).toBe(413);
    const custom = await bulk(r, create('i', 'a'));
    expect([custom.status, custom.headers['retry-after']]).toEqual([502, '3']);
    expect(r.count()).toBe(0);
    expect((await bulk(r, create('i', 'a'))).status).toBe(200);
    expect(r.countBulk(200)).toBe(1);
    const before = r.countBulk();
    r.setFaultFunction(({ bulkNo }) => (bulkNo === before + 2 ? { kind: 'rejected' } : undefined));
    expect((await bulk(r, create('i', 'b'))).status).toBe(200);
    expect((await bulk(r, create('i', 'c'))).status).toBe(429);
    expect((await bulk(r, create('i', 'c'))).status).toBe(200);
  });

  it('delay, drop before reading (nothing indexed) and drop after indexing (reply lost, resend is 409)', async () => {
    const r = await start();
    r.fault({ kind: 'delay', ms: 150 }, { kind: 'drop' }, { kind: 'drop', when: 'after_index' });
    const t0 = performance.now();
    expect((await bulk(r, create('i', 'a'))).status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    await expect(bulk(r, create('i', 'b'))).rejects.toThrow();
    expect(r.count()).toBe(1);
    await expect(bulk(r, create('i', 'c'))).rejects.toThrow();
    expect(r.count()).toBe(2);
    expect(statuses(await bulk(r, create('i', 'c')))).toEqual([409]);
  });

  it('GET /, /_cluster/health, _count and _refresh (names, lists, patterns; 404 for a missing index)', async () => {
    const r = await start();
    expect((await call(r, '/', undefined, {}, 'GET')).body).toMatchObject({ version: { number: '8.15.0' }, tagline: 'You Know, for Search' });
    expect((await call(r, '/_cluster/health', undefined, {}, 'GET')).body).toMatchObject({ status: 'green' });
    await bulk(r, [...create('logs-a-default', 'a'), ...create('logs-b-default', 'b'), ...create('other', 'c')]);
    expect((await call(r, '/_refresh', '', {})).body).toMatchObject({ _shards: { failed: 0 } });
    expect((await call(r, '/logs-*/_count', undefined, {}, 'GET')).body).toMatchObject({ count: 2 });
    expect((await call(r, '/other,logs-a-default/_count', undefined, {}, 'GET')).body).toMatchObject({ count: 2 });
    expect((await call(r, '/_count', undefined, {}, 'GET')).body).toMatchObject({ count: 3 });
    const missing = await call(r, '/nope/_count', undefined, {}, 'GET');
    expect(missing).toMatchObject({ status: 404, body: { error: { type: 'index_not_found_exception' } } });
  });

  it('stop() is an outage on the same port; start() comes back there with the documents kept', async () => {
    const r = await start();
    await bulk(r, create('i', 'a'));
    const port = r.port;
    await r.stop();
    await expect(bulk(r, create('i', 'b'))).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await r.start();
    expect(r.port).toBe(port);
    expect(statuses(await bulk(r, create('i', 'b')))).toEqual([201]);
    expect(r.count('i')).toBe(2);
  });
});
