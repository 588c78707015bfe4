// The threat-intel feed source against a scripted get-feed endpoint: token chain, streamed bundles, cut files, resume, 403.
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../core/contracts.js';
import { ApiError, CollectorError } from '../../core/errors.js';
import { silentLogger } from '../../telemetry/logger.js';
import { clientFor, drain, ids, startFake, type FakeReply, type FakeRequest, type FakeServer } from '../paged/testkit.js';
import { scanBundle, type BundleItem, type BundleSummary } from './bundle.js';
import { parseThreatIntelCursor, ThreatIntelSource, type ThreatIntelOptions } from './source.js';

const NOW = Date.parse('2024-06-01T08:00:00Z');
const DAY = 86_400_000;

function stixNormalize(record: unknown, ctx: { account: string }): NormalizedEvent {
  const r = record as Record<string, unknown>;
  if (typeof r['id'] !== 'string') throw new CollectorError('NORMALIZE_FAILED', 'STIX object without id');
  return { id: r['id'], stream: 'threat_intel', account: ctx.account, time: new Date(NOW).toISOString(), doc: r };
}

function bundle(prefix: string, n: number): string {
  const objects = Array.from({ length: n }, (_, i) => ({
    type: i % 2 === 0 ? 'indicator' : 'malware',
    id: `${prefix}--${i}`,
    created: '2024-05-31T10:00:00.000Z',
    name: `Invoice "${prefix}" ünïcödé ✓ ${i}`,
    labels: ['malicious-activity'],
    pattern: `[file:hashes.'SHA-256' = '${String(i).padStart(64, '0')}']`,
    nested: { objects: [{ id: 'not-a-top-level-object' }], list: [1, [2, 3], { a: '}]' }] },
  }));
  return JSON.stringify({ type: 'bundle', id: `bundle--${prefix}`, spec_version: '2.0', objects });
}

/** Splits text into byte chunks of `size`, so multi-byte characters and escapes are cut. */
function byteChunks(text: string, size: number): Buffer[] {
  const b = Buffer.from(text, 'utf8');
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += size) out.push(b.subarray(i, i + size));
  return out;
}

let fake: FakeServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

function tokenOf(req: FakeRequest): string | undefined {
  const item = (req.body as { data: Record<string, unknown>[] }).data[0] ?? {};
  return typeof item['token'] === 'string' ? item['token'] : undefined;
}

async function setup(files: Record<string, FakeReply>): Promise<{ f: FakeServer; make: (o?: Partial<ThreatIntelOptions>) => ThreatIntelSource }> {
  const f = await startFake((req) => files[tokenOf(req) ?? 'first'] ?? { status: 500, body: { fail: [{ code: 'x', message: 'unexpected token' }] } });
  fake = f;
  const client = clientFor(f);
  const make = (o: Partial<ThreatIntelOptions> = {}): ThreatIntelSource =>
    new ThreatIntelSource({ account: 'acme', feedType: 'malware_customer', api: client, logger: silentLogger(), startFromMs: DAY, normalize: stixNormalize, now: () => NOW, ...o });
  return { f, make };
}

const stix = { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="malware_customer_stix_20240601080000000.stix"' };

describe('ThreatIntelSource', () => {
  it('follows the X-Mc-Threat-Feed-Next-Token chain, streaming each bundle in bounded chunks', async () => {
    const { f, make } = await setup({
      first: { headers: { ...stix, 'x-mc-threat-feed-next-token': 'tok-2' }, chunks: byteChunks(bundle('a', 30), 7) },
      'tok-2': { headers: { ...stix, 'x-mc-threat-feed-next-token': 'tok-3' }, chunks: byteChunks(bundle('b', 5), 13) },
      'tok-3': { headers: stix, chunks: byteChunks(bundle('c', 12), 1000) },
    });
    const { batches, cursor } = await drain(make({ chunkObjects: 8 }), undefined);
    expect(f.requests.map(tokenOf)).toEqual([undefined, 'tok-2', 'tok-3']);
    const item = (f.requests[0]?.body as { data: Record<string, unknown>[] }).data[0];
    expect(item).toMatchObject({ feedType: 'malware_customer', fileType: 'stix', start: '2024-05-31T08:00:00+0000', end: '2024-06-01T08:00:00+0000' });
    const got = ids(batches);
    expect(got).toHaveLength(47);
    expect(new Set(got)).toEqual(new Set([...[...Array(30).keys()].map((i) => `a--${i}`), ...[...Array(5).keys()].map((i) => `b--${i}`), ...[...Array(12).keys()].map((i) => `c--${i}`)]));
    expect(Math.max(...batches.map((b) => b.events.length))).toBeLessThanOrEqual(8);
    expect(batches.flatMap((b) => b.events).find((e) => e.id === 'a--3')?.doc['name']).toBe('Invoice "a" ünïcödé ✓ 3');
    expect(batches.every((b) => (b.quarantined ?? []).length === 0)).toBe(true);
    expect(parseThreatIntelCursor(cursor)).toEqual({ v: 1, start: new Date(NOW).toISOString() });
    // After file one, the committed cursor names the next file.
    const afterFirst = batches.find((b) => b.counters?.['files'] === 1);
    expect(parseThreatIntelCursor(afterFirst?.cursor)?.token).toBe('tok-2');
  });

  it('resumes a chain from the stored token with the same window', async () => {
    const { f, make } = await setup({ 'tok-3': { headers: stix, body: bundle('c', 3) } });
    const stored = JSON.stringify({ v: 1, start: '2024-05-30T00:00:00.000Z', end: '2024-05-31T00:00:00.000Z', token: 'tok-3' });
    const { batches } = await drain(make(), stored);
    expect(ids(batches)).toHaveLength(3);
    expect((f.requests[0]?.body as { data: Record<string, unknown>[] }).data[0]).toMatchObject({ token: 'tok-3', start: '2024-05-30T00:00:00+0000', end: '2024-05-31T00:00:00+0000' });
  });

  it('fetches a file cut in transit again and delivers all of it, nothing quarantined', async () => {
    const full = bundle('b', 10);
    const seen = new Map<string, number>();
    const f = await startFake((req) => {
      const t = tokenOf(req) ?? 'first';
      const n = (seen.get(t) ?? 0) + 1;
      seen.set(t, n);
      if (t === 'first') return { headers: { ...stix, 'x-mc-threat-feed-next-token': 'tok-2' }, body: n === 1 ? full.slice(0, Math.floor(full.length / 2)) : full };
      return { headers: stix, body: bundle('c', 2) };
    });
    fake = f;
    const src = new ThreatIntelSource({ account: 'acme', feedType: 'malware_customer', api: clientFor(f), logger: silentLogger(), startFromMs: DAY, normalize: stixNormalize, now: () => NOW });
    const { batches } = await drain(src, undefined);
    expect(f.requests.map(tokenOf)).toEqual([undefined, undefined, 'tok-2']);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
    expect(new Set(ids(batches).filter((i) => i.startsWith('b--'))).size).toBe(10);
    expect(batches.reduce((n, b) => n + (b.counters?.['file_retry'] ?? 0), 0)).toBe(1);
    // Every batch of the cut file and of its retry is committed with the cursor that re-reads it.
    const retried = batches.filter((b) => b.counters?.['file_retry'] === 1);
    expect(parseThreatIntelCursor(retried[0]?.cursor)?.token).toBeUndefined();
  });

  it('quarantines a file that stays cut and moves on along the chain', async () => {
    const full = bundle('b', 10);
    const { f, make } = await setup({
      first: { headers: { ...stix, 'x-mc-threat-feed-next-token': 'tok-2' }, body: full.slice(0, Math.floor(full.length / 2)) },
      'tok-2': { headers: { ...stix, 'x-mc-threat-feed-next-token': 'tok-3' }, chunks: byteChunks(full.replace(/b--/g, 'x--'), 300).slice(0, 3), destroyAfterChunks: true },
      'tok-3': { headers: stix, body: bundle('c', 2) },
    });
    const { batches } = await drain(make(), undefined);
    expect(f.requests.map(tokenOf)).toEqual([undefined, undefined, undefined, 'tok-2', 'tok-2', 'tok-2', 'tok-3']);
    const q = batches.flatMap((b) => b.quarantined ?? []);
    expect(q.map((x) => x.reason)).toEqual(['truncated_file', 'truncated_file']);
    expect(q[0]?.detail).toMatch(/after 3 attempts/);
    expect(q[0]?.location).toBe('feed=malware_customer,token=first');
    const got = ids(batches);
    // What each attempt read completely is delivered (again on each attempt: the journal's dedup absorbs that).
    expect(new Set(got.filter((i) => i.startsWith('b--'))).size).toBeGreaterThan(0);
    expect(new Set(got.filter((i) => i.startsWith('b--'))).size).toBeLessThan(10);
    expect(got.filter((i) => i.startsWith('c--'))).toHaveLength(2);
  });

  it('normalizes with the registry normalizer when none is given', async () => {
    const indicator = { type: 'indicator', id: 'indicator--1', created: '2024-05-31T10:00:00.000Z', modified: '2024-05-31T10:00:00.000Z', labels: ['malicious-activity'], pattern: "[file:hashes.'SHA-256' = 'aa']", valid_from: '2024-05-31T10:00:00.000Z' };
    const { f } = await setup({ first: { headers: stix, body: { type: 'bundle', id: 'bundle--1', spec_version: '2.0', objects: [indicator] } } });
    const src = new ThreatIntelSource({ account: 'acme', feedType: 'malware_grid', api: clientFor(f), logger: silentLogger(), startFromMs: DAY, now: () => NOW });
    const { batches } = await drain(src, undefined);
    const events = batches.flatMap((b) => b.events);
    expect(events).toHaveLength(1);
    expect(events[0]?.stream).toBe('threat_intel');
    expect(src.key).toBe('acme/threat_intel/malware_grid');
  });

  it('throws a "disabled" error when the feed is not licensed (HTTP 403)', async () => {
    const { make } = await setup({ first: { status: 403, body: { fail: [{ code: 'forbidden', message: 'no access' }] } } });
    const err = (await drain(make(), undefined).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('API_PERMISSION_DENIED');
    expect(err.details['disabled']).toBe(true);
    expect(err.message).toMatch(/^stream threat_intel disabled/);
  });
});

async function scan(text: string, max = 1_000_000, size = 5): Promise<{ items: BundleItem[]; summary: BundleSummary }> {
  const summary: BundleSummary = { truncated: false, nonObjects: 0 };
  const items: BundleItem[] = [];
  for await (const it of scanBundle(Readable.from(byteChunks(text, size)), max, summary)) items.push(it);
  return { items, summary };
}

describe('scanBundle', () => {
  it('cuts out only the top-level objects, whatever the nesting, escapes and chunk boundaries', async () => {
    const text = '{"id":"b","meta":{"objects":[{"x":1}]},"type":"bundle","objects":[ {"a":"\\"}]{","b":[{"c":1}]} , {"d":"✓"}, 5, [1] ],"after":{"objects":[{"no":1}]}}';
    const { items, summary } = await scan(text);
    expect(items).toEqual([
      { kind: 'object', text: '{"a":"\\"}]{","b":[{"c":1}]}' },
      { kind: 'object', text: '{"d":"✓"}' },
    ]);
    expect(summary).toMatchObject({ truncated: false, type: 'bundle', nonObjects: 2 });
  });

  it('skips an object above the size limit but keeps the rest', async () => {
    const big = JSON.stringify({ id: 'big', blob: 'x'.repeat(5000) });
    const { items } = await scan(`{"objects":[{"id":"a"},${big},{"id":"c"}]}`, 1000, 64);
    expect(items.map((i) => i.kind)).toEqual(['object', 'too_large', 'object']);
    expect(items[1]).toMatchObject({ kind: 'too_large', bytes: big.length });
  });

  it('reports a cut file and a file that is not JSON', async () => {
    expect((await scan('{"objects":[{"id":"a"},{"id":')).summary.truncated).toBe(true);
    expect((await scan('{"objects":[{"id":"a"}]}')).summary.truncated).toBe(false);
    const csv = await scan('id,name\n1,x\n');
    expect(csv.items).toEqual([]);
    expect(csv.summary.notJson).toMatch(/^id,na/);
    expect((await scan('[{"id":"a"},{"id":"b"}]')).items).toHaveLength(2);
    expect((await scan('{"objects":["s",null,{"id":"a"}],"type":"bundle"}')).summary).toMatchObject({ nonObjects: 2, type: 'bundle' });
  });
});
