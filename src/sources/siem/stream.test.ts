// The SIEM stream-mode source against a scripted /siem/v1/events/cg: 24-hour rule, replays through the journal, cursor trust.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../core/errors.js';
import { Journal } from '../../journal/journal.js';
import { silentLogger } from '../../telemetry/logger.js';
import { captureLogger, clientFor, drain, ids, startFake, type FakeReply, type FakeRequest, type FakeServer } from '../paged/testkit.js';
import { isEmptyStreamToken, parseStreamCursor, SiemStreamSource, STREAM_LOOKBACK_MS, type SiemStreamOptions } from './stream.js';

const NOW = Date.parse('2024-05-01T12:00:00Z');
const HOUR = 3_600_000;

function tok(from: number, to: number, gen = 1): string {
  return Buffer.from(`[receipt=${from}-${to}, delivery=0-0]:${gen}:opaque`).toString('base64');
}

/** The stream endpoint over an in-memory event list; tokens carry the offset. */
class StreamEndpoint {
  readonly events: Record<string, unknown>[] = [];
  replay = false;
  generation = 1;
  zeroTokenAt: number | undefined;
  constructor(readonly pageSize: number) {}

  add(n: number, t: number): void {
    this.events.push({ _offset: n, _partition: 1, accountId: 'CUK1', type: 'receipt', action: 'Acc', direction: 'Inbound', senderEnvelope: `s${n}@x.example`, processingId: `p${n}`, aggregateId: `a${n}`, timestamp: t });
  }

  handle(req: FakeRequest): FakeReply {
    const q = req.query;
    let offset: number;
    if (q['nextPage'] !== undefined) {
      const m = /^\[receipt=(\d+)-(\d+), delivery=0-0\]:(\d+):/.exec(Buffer.from(q['nextPage'], 'base64').toString('utf8'));
      if (m === null || Number(m[3]) !== this.generation) return { status: 400, body: { error: { code: 'invalid_cursor', message: 'the cursor is not valid' } } };
      offset = Number(m[2]);
    } else {
      const start = Date.parse(q['dateRangeStartsAt'] ?? '');
      if (Number.isNaN(start) || start < NOW - 24 * HOUR) return { status: 400, body: { error: { code: 'bad_request', message: 'dateRangeStartsAt must be within the last 24 hours' } } };
      const idx = this.events.findIndex((e) => (e['timestamp'] as number) >= start);
      offset = idx < 0 ? this.events.length : idx;
    }
    const from = this.replay && offset > 0 ? offset - 1 : offset;
    const page = this.events.slice(from, offset + this.pageSize);
    const end = Math.min(this.events.length, offset + this.pageSize);
    const next = this.zeroTokenAt !== undefined && offset >= this.zeroTokenAt ? Buffer.from('[receipt=0-0, delivery=0-0]:1:x').toString('base64') : tok(offset, end, this.generation);
    return { body: { value: page, '@nextPage': next, '@nextLink': 'http://x', pageSize: this.pageSize, isCaughtUp: end >= this.events.length } };
  }
}

let fake: FakeServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function setup(pageSize = 25): Promise<{ ep: StreamEndpoint; f: FakeServer; make: (o?: Partial<SiemStreamOptions>) => SiemStreamSource }> {
  const ep = new StreamEndpoint(pageSize);
  const f = await startFake((req) => (req.path === '/siem/v1/events/cg' ? ep.handle(req) : { status: 404 }));
  fake = f;
  const client = clientFor(f);
  const make = (o: Partial<SiemStreamOptions> = {}): SiemStreamSource =>
    new SiemStreamSource({ account: 'acme', api: client, logger: silentLogger(), startFromMs: 3 * 24 * HOUR, pageSize, now: () => NOW, ...o });
  return { ep, f, make };
}

describe('SiemStreamSource', () => {
  it('clamps the first start to now − 23h50m, sends the type set as a comma list, pages to isCaughtUp', async () => {
    const { ep, f, make } = await setup();
    for (let i = 0; i < 100; i++) ep.add(i, NOW - 20 * HOUR + i * 60_000);
    const src = make({ types: ['url_protect', 'receipt'] });
    expect(src.key).toBe('acme/siem/stream/receipt+url_protect');
    const { batches, cursor } = await drain(src, undefined);
    expect(f.requests[0]?.query['dateRangeStartsAt']).toBe(new Date(NOW - STREAM_LOOKBACK_MS).toISOString());
    expect(f.requests[0]?.query['dateRangeStartsAt']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(f.requests.every((r) => r.query['types'] === 'receipt,url protect')).toBe(true);
    expect(f.requests.slice(1).every((r) => r.query['nextPage'] !== undefined && r.query['dateRangeStartsAt'] === undefined)).toBe(true);
    expect(new Set(ids(batches)).size).toBe(100);
    expect(f.requests).toHaveLength(4);
    const c = parseStreamCursor(cursor);
    expect(c?.next).toBe(tok(75, 100));
    expect(c?.pos).toBe(new Date(NOW - 20 * HOUR + 99 * 60_000).toISOString());
    expect(batches.every((b) => b.events.every((e) => e.stream === 'siem' && e.doc['event'] !== undefined))).toBe(true);
  });

  it('delivers a record without a timestamp, and its collection time never becomes the stream position', async () => {
    const { ep, make } = await setup();
    for (let i = 0; i < 10; i++) ep.add(i, NOW - 5 * HOUR + i * 60_000);
    ep.events.push({ _offset: 10, _partition: 1, accountId: 'CUK1', type: 'receipt', action: 'Acc', processingId: 'p10', aggregateId: 'a10' });
    const { batches, cursor } = await drain(make(), undefined);
    const undated = batches.flatMap((b) => b.events).filter((e) => e.timeMissing === true);
    expect(undated).toHaveLength(1);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
    expect(parseStreamCursor(cursor)?.pos).toBe(new Date(NOW - 5 * HOUR + 9 * 60_000).toISOString());
  });

  it('commits each page, and replayed records collapse in the journal (dedup by event.id)', async () => {
    const { ep, make } = await setup(10);
    ep.replay = true;
    for (let i = 0; i < 45; i++) ep.add(i, NOW - 2 * HOUR + i * 1000);
    const journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-stream-')) });
    try {
      let inserted = 0;
      let duplicates = 0;
      let cursor: string | undefined;
      for (const b of (await drain(make(), undefined)).batches) {
        const r = journal.append('acme/siem/stream', b);
        inserted += r.inserted;
        duplicates += r.duplicates;
        cursor = b.cursor;
      }
      expect(inserted).toBe(45);
      expect(duplicates).toBe(4);
      expect(journal.getCursor('acme/siem/stream')).toBe(cursor);
      // A resume from the committed cursor with new events: only the new ones are new.
      for (let i = 45; i < 50; i++) ep.add(i, NOW - HOUR + i * 1000);
      let more = 0;
      for (const b of (await drain(make(), journal.getCursor('acme/siem/stream'))).batches) more += journal.append('acme/siem/stream', b).inserted;
      expect(more).toBe(5);
    } finally {
      journal.close();
    }
  });

  it('warns and restarts at the 24-hour limit when the stored cursor is older than the endpoint allows', async () => {
    const { ep, f, make } = await setup();
    for (let i = 0; i < 30; i++) ep.add(i, NOW - 23 * HOUR + i * 60_000);
    const old = JSON.stringify({ v: 1, start: new Date(NOW - 40 * HOUR).toISOString(), next: tok(0, 5), at: new Date(NOW - 30 * HOUR).toISOString(), pos: new Date(NOW - 30 * HOUR).toISOString() });
    const log = captureLogger();
    const { batches } = await drain(make({ logger: log.logger }), old);
    expect(f.requests[0]?.query['nextPage']).toBeUndefined();
    const limit = new Date(NOW - STREAM_LOOKBACK_MS).toISOString();
    expect(f.requests[0]?.query['dateRangeStartsAt']).toBe(limit);
    const warn = log.lines().find((l) => l.msg.includes('were not collected'));
    expect(warn?.msg).toBe(`events between ${new Date(NOW - 30 * HOUR).toISOString()} and ${limit} were not collected: the stream endpoint only looks back 24 hours`);
    expect(batches[0]?.counters?.['lookback_lost']).toBe(1);
    expect(new Set(ids(batches)).size).toBe(30);
  });

  it('resumes by date from the newest committed event when the old token expired but that event is recent', async () => {
    const { ep, f, make } = await setup();
    for (let i = 0; i < 10; i++) ep.add(i, NOW - 2 * HOUR + i * 60_000);
    const pos = new Date(NOW - 2 * HOUR + 5 * 60_000).toISOString();
    const old = JSON.stringify({ v: 1, start: new Date(NOW - 40 * HOUR).toISOString(), next: tok(0, 5), at: new Date(NOW - 26 * HOUR).toISOString(), pos });
    const log = captureLogger();
    const { batches } = await drain(make({ logger: log.logger }), old);
    expect(f.requests[0]?.query['dateRangeStartsAt']).toBe(pos);
    expect(log.lines().some((l) => l.msg.includes('were not collected'))).toBe(false);
    expect(ids(batches)).toHaveLength(5);
  });

  it('continues by date range when the endpoint refuses a stored token', async () => {
    const { ep, f, make } = await setup();
    for (let i = 0; i < 10; i++) ep.add(i, NOW - 2 * HOUR + i * 60_000);
    const first = await drain(make(), undefined);
    ep.generation = 2;
    for (let i = 10; i < 15; i++) ep.add(i, NOW - HOUR + i * 60_000);
    const before = f.requests.length;
    const second = await drain(make(), first.cursor);
    expect(f.requests[before]?.query['nextPage']).toBeDefined();
    expect(f.requests[before + 1]?.query['dateRangeStartsAt']).toBe(new Date(NOW - 2 * HOUR + 9 * 60_000).toISOString());
    expect(new Set(ids(second.batches))).toEqual(new Set([...ids(first.batches).slice(-1), ...ids(second.batches).slice(1)]));
    expect(second.batches[0]?.counters?.['cursor_restarts']).toBe(1);
    expect(ids(second.batches)).toHaveLength(6);
  });

  it('does not keep a cursor whose per-type ranges are all 0-0', async () => {
    const { ep, f, make } = await setup(10);
    ep.zeroTokenAt = 0;
    for (let i = 0; i < 30; i++) ep.add(i, NOW - 3 * HOUR + i * 60_000);
    const { batches, cursor } = await drain(make(), undefined);
    expect(f.requests).toHaveLength(1);
    expect(ids(batches)).toHaveLength(10);
    const c = parseStreamCursor(cursor);
    expect(c?.next).toBeUndefined();
    // The next cycle starts from the newest event held rather than re-reading from the old start.
    expect(c?.start).toBe(new Date(NOW - 3 * HOUR + 9 * 60_000).toISOString());
    expect(batches[0]?.counters?.['untrusted_cursor']).toBe(1);
  });

  it('stops on an empty page and on an absent @nextPage, keeping the last good token', async () => {
    const replies: FakeReply[] = [
      { body: { value: [], '@nextPage': tok(0, 3), isCaughtUp: false } },
      { body: { value: [{ type: 'receipt', timestamp: NOW - HOUR, _offset: 1 }], isCaughtUp: false } },
    ];
    const f = await startFake(() => replies.shift() ?? { status: 500 });
    fake = f;
    const src = new SiemStreamSource({ account: 'acme', api: clientFor(f), logger: silentLogger(), startFromMs: HOUR * 2, now: () => NOW });
    const one = await drain(src, undefined);
    expect(f.requests).toHaveLength(1);
    expect(parseStreamCursor(one.cursor)?.next).toBe(tok(0, 3));
    const two = await drain(src, one.cursor);
    expect(f.requests).toHaveLength(2);
    expect(ids(two.batches)).toHaveLength(1);
    expect(parseStreamCursor(two.cursor)?.next).toBe(tok(0, 3));
  });

  it('recognises all-zero tokens only', () => {
    expect(isEmptyStreamToken(Buffer.from('[av=0-0, delivery=0-0]:1:t').toString('base64'))).toBe(true);
    expect(isEmptyStreamToken(Buffer.from('[av=0-0, delivery=3-9]:1:t').toString('base64'))).toBe(false);
    expect(isEmptyStreamToken('not base64 at all!')).toBe(false);
  });

  it('throws a "disabled" error when the account may not use the stream endpoint (HTTP 403)', async () => {
    const f = await startFake(() => ({ status: 403, body: { error: { code: 'not_licensed', message: 'the account is not licensed for siem' } } }));
    fake = f;
    const src = new SiemStreamSource({ account: 'acme', api: clientFor(f), logger: silentLogger(), startFromMs: HOUR, now: () => NOW });
    const err = (await drain(src, undefined).catch((e: unknown) => e)) as ApiError;
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe('API_PERMISSION_DENIED');
    expect(err.details['disabled']).toBe(true);
    expect(err.message).toMatch(/^stream siem disabled for account acme: the account is not licensed for it \(HTTP 403/);
  });
});
