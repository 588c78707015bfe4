// Journal behaviour against real SQLite files: atomic appends, dedup, per-sink offsets, budget, reopen.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoredEvent, type NormalizedEvent, type StreamName } from '../core/contracts.js';
import { CollectorError } from '../core/errors.js';
import { Journal, type JournalOptions } from './journal.js';

const T0 = Date.parse('2025-03-01T12:00:00Z');
const DAY = 24 * 3600 * 1000;

let root: string;
let dir: string;
let clock: number;
const open: Journal[] = [];

function journal(opts: Partial<JournalOptions> = {}): Journal {
  const j = Journal.open({ dir, now: () => clock, ...opts });
  open.push(j);
  return j;
}

function ev(id: string, stream: StreamName = 'siem', extra: Partial<NormalizedEvent> = {}): NormalizedEvent {
  return {
    id,
    stream,
    account: 'acme',
    time: new Date(clock - 60_000).toISOString(),
    doc: { '@timestamp': 'x', event: { id }, message: `event ${id}` },
    ...extra,
  };
}

function rowCount(table: string): number {
  const db = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
  try {
    const n: unknown = db.prepare(`SELECT count(*) FROM ${table}`).pluck().get();
    return Number(n);
  } finally {
    db.close();
  }
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'journal-test-'));
  dir = root;
  clock = T0;
});

afterEach(() => {
  for (const j of open.splice(0)) j.close();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('Journal', () => {
  it('appends, reads back in order and deletes once acked', () => {
    const j = journal();
    j.setSinks(['out']);
    const r = j.append('acme/siem', { events: [ev('a'), ev('b'), ev('c')], cursor: 'p1' });
    expect(r).toEqual({ inserted: 3, duplicates: 0, quarantined: 0 });
    expect(j.getCursor('acme/siem')).toBe('p1');
    expect(j.headSeq()).toBe(3);

    const { events, lastSeq } = j.read('out', 100, 1 << 20);
    expect(events.map((e) => [e.seq, e.id, e.stream, e.account])).toEqual([
      [1, 'a', 'siem', 'acme'],
      [2, 'b', 'siem', 'acme'],
      [3, 'c', 'siem', 'acme'],
    ]);
    expect(JSON.parse(events[0]!.json)).toEqual(ev('a').doc);
    expect(events[0]!.time).toBe(ev('a').time);
    expect(lastSeq).toBe(3);
    expect(j.usage().events).toBe(3);
    // What the rows occupy: the documents plus, per row, its other columns and bookkeeping.
    const docs = events.reduce((n, e) => n + Buffer.byteLength(e.json), 0);
    expect(j.usage().bytes).toBeGreaterThan(docs + 3 * 60);
    expect(j.usage().bytes).toBeLessThan(docs + 3 * 150);

    j.ack('out', 2);
    expect(j.offset('out')).toBe(2);
    expect(j.usage().events).toBe(1);
    expect(rowCount('events')).toBe(1);
    expect(j.read('out', 100, 1 << 20).events.map((e) => e.id)).toEqual(['c']);

    j.ack('out', 1); // never backwards
    expect(j.offset('out')).toBe(2);
    j.ack('out', 3);
    expect(j.usage()).toMatchObject({ events: 0, bytes: 0 });
    expect(j.read('out', 100, 1 << 20)).toEqual({ events: [], lastSeq: 3 });
  });

  it('bounds a read by events and bytes but always returns at least one event', () => {
    const j = journal();
    j.setSinks(['out']);
    j.append('k', { events: ['a', 'b', 'c', 'd'].map((id) => ev(id)), cursor: 'c' });
    expect(j.read('out', 2, 1 << 20).events.map((e) => e.id)).toEqual(['a', 'b']);
    const one = j.read('out', 100, 1);
    expect(one.events.map((e) => e.id)).toEqual(['a']);
    expect(one.lastSeq).toBe(1);
    const size = Buffer.byteLength(one.events[0]!.json);
    const two = j.read('out', 100, size * 2 + 1);
    expect(two.events.map((e) => e.id)).toEqual(['a', 'b']);
    expect(two.lastSeq).toBe(2);
  });

  it('drops duplicates within a batch, across appends and across reopen; ids are scoped per account', () => {
    let j = journal();
    expect(j.append('k', { events: [ev('a'), ev('b'), ev('a')], cursor: '1' })).toEqual({ inserted: 2, duplicates: 1, quarantined: 0 });
    expect(j.append('k', { events: [ev('b'), ev('c')], cursor: '2' })).toEqual({ inserted: 1, duplicates: 1, quarantined: 0 });
    expect(j.append('k', { events: [ev('c', 'siem', { account: 'other' })], cursor: '3' }).inserted).toBe(1);
    // Unparsable and far-past times take the other dedup table; they must be remembered too.
    expect(j.append('k', { events: [ev('odd', 'siem', { time: 'not a time' }), ev('old', 'siem', { time: '2001-01-01T00:00:00Z' })], cursor: '4' }).inserted).toBe(2);
    j.close();

    j = journal();
    const again = j.append('k', {
      events: [ev('a'), ev('c'), ev('odd', 'siem', { time: 'not a time' }), ev('old', 'siem', { time: '2001-01-01T00:00:00Z' }), ev('d')],
      cursor: '5',
    });
    expect(again).toEqual({ inserted: 1, duplicates: 4, quarantined: 0 });
    expect(j.headSeq()).toBe(7);
    expect(j.getCursor('k')).toBe('5');
  });

  it('finds an event stamped with its collection time again by id alone, whatever time the next read gives it', () => {
    let j = journal();
    const first = ev('undated', 'siem', { time: new Date(clock - 1000).toISOString(), timeMissing: true });
    expect(j.append('k', { events: [first], cursor: '1' }).inserted).toBe(1);
    // Re-read an hour later (a window overlap, a restart): another collection time, the same record.
    clock += 3600_000;
    const reread = ev('undated', 'siem', { time: new Date(clock - 1000).toISOString(), timeMissing: true });
    expect(j.append('k', { events: [reread], cursor: '2' }).duplicates).toBe(1);
    j.close();
    j = journal();
    clock += 3600_000;
    expect(j.append('k', { events: [ev('undated', 'siem', { time: new Date(clock).toISOString(), timeMissing: true })], cursor: '3' }).duplicates).toBe(1);
    expect(j.headSeq()).toBe(1);
  });

  it('moves the cursor with the events and not without them', () => {
    const j = journal();
    j.setSinks(['out']);
    j.append('k', { events: [ev('a')], cursor: 'before' });
    const usage = j.usage();
    const bad = ev('bad');
    bad.doc = { n: 10n };
    let err: unknown;
    try {
      j.append('k', {
        events: [ev('b'), bad, ev('c')],
        cursor: 'after',
        quarantined: [{ reason: 'bad_json', detail: 'x', location: 'line=1', raw: '{' }],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as CollectorError).code).toBe('JOURNAL_FAILED');
    expect((err as CollectorError).message).toContain(path.join(dir, 'journal.sqlite'));
    expect((err as CollectorError).cause).toBeInstanceOf(TypeError);

    expect(j.getCursor('k')).toBe('before');
    expect(j.usage()).toEqual(usage);
    expect(j.headSeq()).toBe(1);
    expect(j.quarantineCount()).toBe(0);
    expect(j.read('out', 100, 1 << 20).events.map((e) => e.id)).toEqual(['a']);
    // The rolled-back ids were not remembered: a retry of the fixed batch inserts them.
    expect(j.append('k', { events: [ev('b'), ev('c')], cursor: 'after' })).toEqual({ inserted: 2, duplicates: 0, quarantined: 0 });
    expect(j.read('out', 100, 1 << 20).events.map((e) => [e.seq, e.id])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
    ]);
  });

  it('deletes a row only after every sink has passed it, whatever their routing', () => {
    const j = journal();
    j.setSinks(['siem-only', 'audit-only']);
    j.append('k', { events: [ev('s1'), ev('a1', 'audit'), ev('s2'), ev('s3'), ev('a2', 'audit')], cursor: 'c' });

    const s = j.read('siem-only', 2, 1 << 20, ['siem']);
    expect(s.events.map((e) => e.id)).toEqual(['s1', 's2']);
    expect(s.lastSeq).toBe(3);
    j.ack('siem-only', s.lastSeq);
    const s2 = j.read('siem-only', 100, 1 << 20, ['siem']);
    expect(s2.events.map((e) => e.id)).toEqual(['s3']);
    expect(s2.lastSeq).toBe(5); // scanned past a2, which is not its own
    j.ack('siem-only', s2.lastSeq);
    expect(j.usage().events).toBe(5);
    expect(j.backlog('audit-only')).toMatchObject({ events: 5, oldestSeq: 1 });
    expect(j.backlog('siem-only')).toEqual({ events: 0 });

    const a = j.read('audit-only', 1, 1 << 20, ['audit']);
    expect(a.events.map((e) => e.id)).toEqual(['a1']);
    expect(a.lastSeq).toBe(2);
    j.ack('audit-only', a.lastSeq);
    expect(j.usage().events).toBe(3);
    expect(rowCount('events')).toBe(3);
    const b = j.read('audit-only', 100, 1 << 20, ['audit', 'ttp_url']);
    expect(b.events.map((e) => e.id)).toEqual(['a2']);
    j.ack('audit-only', b.lastSeq);
    expect(j.usage()).toMatchObject({ events: 0, bytes: 0 });
    expect(rowCount('events')).toBe(0);
    // A sink routed to nothing still moves past everything.
    j.append('k', { events: [ev('s4')], cursor: 'd' });
    expect(j.read('audit-only', 10, 1 << 20, [])).toEqual({ events: [], lastSeq: 6 });
  });

  it('setSinks drops removed sinks so they stop holding back deletion; new ones start at 0', () => {
    const j = journal();
    expect(j.setSinks(['a', 'b'])).toEqual([]);
    j.append('k', { events: [ev('1'), ev('2')], cursor: 'c' });
    j.ack('a', 2);
    expect(j.usage().events).toBe(2);
    expect(j.setSinks(['a'])).toEqual(['b']);
    expect(j.usage().events).toBe(0);
    j.ack('b', 2); // late ack from a removed drain is ignored
    expect(j.offset('b')).toBe(0);
    expect(() => j.read('b', 10, 1000)).toThrow(/not configured/);

    j.append('k', { events: [ev('3')], cursor: 'd' });
    expect(j.setSinks(['a', 'c'])).toEqual([]);
    expect(j.offset('c')).toBe(0);
    expect(j.read('c', 10, 1 << 20).events.map((e) => e.id)).toEqual(['3']);
    j.ack('a', 3);
    expect(j.usage().events).toBe(1);
  });

  it('reports over budget past maxEvents or maxBytes and recovers after acks', () => {
    const j = journal({ maxEvents: 3 });
    j.setSinks(['out']);
    j.append('k', { events: [ev('1'), ev('2'), ev('3')], cursor: 'c' });
    expect(j.overBudget()).toBe(false);
    j.append('k', { events: [ev('4')], cursor: 'd' });
    expect(j.overBudget()).toBe(true);
    j.ack('out', 1);
    expect(j.overBudget()).toBe(false);
    j.close();

    dir = path.join(root, 'bytes'); // a fresh journal for the byte budget
    const b = journal({ maxBytes: 800 });
    b.setSinks(['out']);
    const big = (id: string): NormalizedEvent => ({ ...ev(id), doc: { pad: 'x'.repeat(200) } });
    b.append('k', { events: [big('1'), big('2')], cursor: 'c' });
    expect(b.overBudget()).toBe(false);
    b.append('k', { events: [big('3')], cursor: 'd' });
    expect(b.usage().bytes).toBeGreaterThan(800);
    expect(b.overBudget()).toBe(true);
    b.ack('out', 2);
    expect(b.overBudget()).toBe(false);
  });

  it('prunes dedup ids once older than the window', () => {
    const j = journal({ dedupWindowMs: DAY });
    j.append('k', { events: [ev('a'), ev('odd', 'siem', { time: '??' })], cursor: '1' });
    expect(j.pruneDedup()).toBe(0);
    clock += DAY / 2;
    expect(j.pruneDedup()).toBe(0);
    expect(j.append('k', { events: [ev('a', 'siem', { time: new Date(T0 - 60_000).toISOString() }), ev('odd', 'siem', { time: '??' })], cursor: '2' }).duplicates).toBe(2);
    clock = T0 + DAY + 60_000;
    expect(j.pruneDedup()).toBe(2);
    expect(j.pruneDedup()).toBe(0);
    const r = j.append('k', { events: [ev('odd', 'siem', { time: '??' })], cursor: '3' });
    expect(r.inserted).toBe(1);
    expect(rowCount('dedup')).toBe(0);
  });

  it('keeps cursors, offsets, seqs, quarantine and dead letters across reopen', () => {
    let j = journal();
    j.setSinks(['out', 'slow']);
    j.append('acme/siem', {
      events: [ev('1'), ev('2'), ev('3')],
      cursor: 'tok-3',
      quarantined: [{ reason: 'bad_json', detail: 'Unexpected token', location: 'blob=1,line=7', raw: '{"a":' }],
    });
    j.append('acme/audit', { events: [], cursor: 'page-9' });
    j.ack('out', 3);
    j.ack('slow', 3);
    const [first] = j.read('out', 1, 1 << 20).events;
    expect(first).toBeUndefined();
    j.deadLetter('out', [new StoredEvent(2, '2', 'siem', 'acme', 't', Buffer.from('{}'))], 'HEC code 6');
    j.setCursor('acme/dlp', 'x');
    j.setCursor('acme/dlp', undefined);
    j.close();
    j.close(); // idempotent
    expect(() => j.headSeq()).not.toThrow(); // in-memory counters stay readable
    expect(() => j.getCursor('acme/siem')).toThrow(CollectorError);

    clock += 5000;
    j = journal();
    expect(j.headSeq()).toBe(3);
    expect(j.offset('out')).toBe(3);
    expect(j.listCursors()).toEqual([
      { key: 'acme/audit', cursor: 'page-9', updatedAt: T0 },
      { key: 'acme/siem', cursor: 'tok-3', updatedAt: T0 },
    ]);
    expect(j.quarantineCount()).toBe(1);
    expect(j.quarantine()).toEqual([
      { key: 'acme/siem', reason: 'bad_json', detail: 'Unexpected token', location: 'blob=1,line=7', raw: '{"a":', at: T0, id: 1, refetchable: false },
    ]);
    expect(j.deadLetterCount()).toBe(1);
    expect(j.deadLetters()[0]).toMatchObject({ sink: 'out', reason: 'HEC code 6', event: { seq: 2, id: '2' } });
    // seqs continue after the deleted ones, so old offsets stay meaningful
    expect(j.setSinks(['out'])).toEqual(['slow']);
    j.append('acme/siem', { events: [ev('4')], cursor: 'tok-4' });
    const r = j.read('out', 10, 1 << 20);
    expect(r.events.map((e) => e.seq)).toEqual([4]);
  });

  it('keeps each event\'s severity beside it (SQLite, the tail cache, dead letters); rows from before version 7 have none', () => {
    for (const tailCacheBytes of [0, 1 << 20]) {
      dir = path.join(root, `sev-${tailCacheBytes}`);
      const j = journal({ tailCacheBytes });
      j.setSinks(['out']);
      j.append('k', { events: [ev('a', 'siem', { severity: 8 }), ev('b', 'siem', { severity: 0 }), ev('c')], cursor: 'c' });
      const { events } = j.read('out', 10, 1 << 20);
      expect(events.map((e) => [e.id, e.severity])).toEqual([['a', 8], ['b', 0], ['c', undefined]]);
      j.deadLetter('out', events.slice(0, 1), 'rejected');
      expect(j.deadLetters()[0]?.event.severity).toBe(8);
      j.close();
    }
    // A journal written by version 6: the column is added, its rows read without a severity, new rows with one.
    dir = path.join(root, 'sev-0');
    const db = new Database(path.join(dir, 'journal.sqlite'));
    db.exec('ALTER TABLE events DROP COLUMN severity; ALTER TABLE dead_letter DROP COLUMN severity');
    db.pragma('user_version = 6');
    db.close();
    const again = journal({ tailCacheBytes: 0 });
    again.append('k', { events: [ev('d', 'siem', { severity: 5 })], cursor: 'd' });
    expect(again.read('out', 10, 1 << 20).events.map((e) => [e.id, e.severity])).toEqual([['a', undefined], ['b', undefined], ['c', undefined], ['d', 5]]);
    expect(again.deadLetters()[0]?.event.severity).toBeUndefined();
  });

  it('stores documents as UTF-8 bytes in blocks on 32 KiB pages, and still reads rows earlier versions stored in the row, as text', () => {
    const j = journal({ tailCacheBytes: 0 });
    j.setSinks(['out']);
    j.append('k', { events: [ev('1', 'siem', { json: '{"s":"Grüße"}' }), ev('2')], cursor: 'c' });
    j.close();
    const db = new Database(path.join(dir, 'journal.sqlite'));
    try {
      expect(db.pragma('page_size', { simple: true })).toBe(32768);
      expect(db.prepare('SELECT block, off, len, length(json) FROM events ORDER BY seq').raw().all()).toEqual([
        [1, 0, 15, 0],
        [1, 15, JSON.stringify(ev('2').doc).length, 0],
      ]);
      expect(db.prepare('SELECT first, last, typeof(data), data FROM blocks').raw().all()).toEqual([[1, 2, 'blob', Buffer.from(`{"s":"Grüße"}${JSON.stringify(ev('2').doc)}`)]]);
      // What a journal written before version 6 holds: the document in the row, as text before documents were bytes.
      db.exec('UPDATE events SET json = CAST((SELECT substr(data, off + 1, len) FROM blocks WHERE first = events.block) AS TEXT), block = NULL, off = NULL, len = NULL');
      db.exec('DELETE FROM blocks');
      expect(db.prepare('SELECT typeof(json) FROM events ORDER BY seq').pluck().all()).toEqual(['text', 'text']);
    } finally {
      db.close();
    }
    const again = journal({ tailCacheBytes: 0 });
    const { events } = again.read('out', 10, 1 << 20);
    expect(events.map((e) => e.json)).toEqual(['{"s":"Grüße"}', JSON.stringify(ev('2').doc)]);
    expect(events[0]?.bytes).toEqual(Buffer.from('{"s":"Grüße"}'));
  });

  it('keeps only the newest maxQuarantine quarantined rows', () => {
    const j = journal({ maxQuarantine: 3 });
    for (let i = 0; i < 5; i++) {
      j.append('k', { events: [], cursor: String(i), quarantined: [{ reason: 'r', detail: String(i), location: '', raw: '' }] });
    }
    expect(j.quarantineCount()).toBe(3);
    expect(j.quarantine(2).map((q) => q.detail)).toEqual(['4', '3']);
  });

  it('never trims an entry that says how to fetch a file again to make room for bad records', () => {
    const j = journal({ maxQuarantine: 3 });
    j.append('k', { events: [], cursor: 'a', quarantined: [{ reason: 'blob_corrupt', detail: 'file', location: 'blob=0', raw: '', refetch: '{"v":1}' }] });
    for (let i = 0; i < 10; i++) j.append('k', { events: [], cursor: String(i), quarantined: [{ reason: 'bad_json', detail: String(i), location: '', raw: '' }] });
    const rows = j.quarantine(100);
    expect(rows.filter((r) => r.refetchable).map((r) => r.detail)).toEqual(['file']);
    expect(rows.filter((r) => !r.refetchable).map((r) => r.detail)).toEqual(['9', '8', '7']);
  });

  it('names the path when data_dir cannot be created', () => {
    const blocker = path.join(dir, 'a-file');
    fs.writeFileSync(blocker, 'x');
    const target = path.join(blocker, 'data');
    let err: unknown;
    try {
      Journal.open({ dir: target });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as CollectorError).code).toBe('JOURNAL_FAILED');
    expect((err as CollectorError).message).toContain(target);
  });

  it('refuses a journal written by a newer schema, naming the file', () => {
    journal().close();
    const db = new Database(path.join(dir, 'journal.sqlite'));
    db.pragma('user_version = 99');
    db.close();
    expect(() => journal()).toThrow(/journal\.sqlite has schema version 99/);
  });

  it('reports backlog and its oldest event', () => {
    const j = journal();
    j.setSinks(['out']);
    expect(j.backlog('out')).toEqual({ events: 0 });
    j.append('k', { events: [ev('1', 'siem', { time: '2025-03-01T11:00:00.000Z' }), ev('2')], cursor: 'c' });
    expect(j.backlog('out')).toEqual({ events: 2, oldestSeq: 1, oldestTime: '2025-03-01T11:00:00.000Z' });
    j.ack('out', 1);
    expect(j.backlog('out')).toMatchObject({ events: 1, oldestSeq: 2 });
  });
});

describe('Journal document blocks', () => {
  /** Documents of about `bytes` bytes, with a multi-byte character, so offsets are counted in bytes. */
  function big(id: string, bytes: number, stream: StreamName = 'siem'): NormalizedEvent {
    return ev(id, stream, { json: JSON.stringify({ event: { id }, message: `é${'x'.repeat(bytes)}` }) });
  }

  it('reads documents back byte for byte across blocks, in small reads, filtered by stream, and after a reopen', () => {
    const j = journal({ tailCacheBytes: 0 });
    j.setSinks(['all', 'audit']);
    // ~1.2 MB in one append: several 256 KiB blocks; one document larger than a block gets a block of its own.
    const events = Array.from({ length: 400 }, (_, i) => big(`e${i}`, i === 150 ? 300_000 : 2_000 + (i % 7) * 100, i % 3 === 0 ? 'audit' : 'siem'));
    j.append('k', { events, cursor: 'c' });
    const want = new Map(events.map((e) => [e.id, e.json]));
    const blocks = Number(new Database(path.join(dir, 'journal.sqlite'), { readonly: true }).prepare('SELECT count(*) FROM blocks').pluck().get());
    expect(blocks).toBeGreaterThanOrEqual(5);

    const readAll = (jj: Journal, sink: string, streams?: StreamName[]): string[] => {
      const got: string[] = [];
      let after = 0;
      for (;;) {
        const r = jj.read(sink, 7, 1 << 20, streams, after);
        if (r.lastSeq === after) break;
        for (const e of r.events) {
          expect(e.json).toBe(want.get(e.id));
          expect(e.size).toBe(Buffer.byteLength(want.get(e.id) ?? '', 'utf8'));
          got.push(e.id);
        }
        after = r.lastSeq;
      }
      return got;
    };
    expect(readAll(j, 'all')).toEqual(events.map((e) => e.id));
    expect(readAll(j, 'audit', ['audit'])).toEqual(events.filter((e) => e.stream === 'audit').map((e) => e.id));
    j.close();
    expect(readAll(journal({ tailCacheBytes: 0 }), 'all')).toEqual(events.map((e) => e.id));
  });

  it('copies what a read takes from SQLite into the caller\'s buffer as far as it has room, the rest as ranges of blocks', () => {
    const j = journal({ tailCacheBytes: 0 });
    j.setSinks(['all', 'audit']);
    const events = Array.from({ length: 60 }, (_, i) => big(`e${i}`, 1_000 + i * 10, i % 2 === 0 ? 'audit' : 'siem'));
    j.append('k', { events, cursor: 'c' });
    const want = new Map(events.map((e) => [e.id, e.json]));
    const into = Buffer.alloc(20_000, 0x2a);
    for (const [sink, streams] of [['all', undefined], ['audit', ['audit']]] as const) {
      const r = j.read(sink, 100, 1 << 20, streams, 0, into);
      expect(r.events.length).toBe(streams === undefined ? 60 : 30);
      let used = 0;
      r.events.forEach((e, i) => {
        expect(e.json).toBe(want.get(e.id));
        // In order from the buffer's start while they fit; every later one is a range of a block.
        const inBuffer = e.bytes.buffer === into.buffer;
        if (inBuffer) {
          expect(e.bytes.byteOffset - into.byteOffset).toBe(used);
          used += e.size;
        } else expect(r.events.slice(i).every((x) => x.bytes.buffer !== into.buffer)).toBe(true);
      });
      expect(used).toBeGreaterThan(15_000);
      expect(used).toBeLessThanOrEqual(into.length);
      // The buffer holds the documents as the events give them.
      expect(into.toString('utf8', 0, r.events[0]?.size)).toBe(want.get(r.events[0]?.id ?? ''));
    }
  });

  it('deletes a block once every event in it is acknowledged by every sink, and not before', () => {
    const j = journal({ tailCacheBytes: 0 });
    j.setSinks(['a', 'b']);
    j.append('k', { events: Array.from({ length: 300 }, (_, i) => big(`e${i}`, 2_000)), cursor: 'c' });
    const db = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
    const blocks = (): number[][] => db.prepare('SELECT first, last FROM blocks ORDER BY first').raw().all() as number[][];
    try {
      const all = blocks();
      expect(all.length).toBeGreaterThan(2);
      const [first, second] = all;
      if (first === undefined || second === undefined) throw new Error('two blocks expected');
      // One block's last event acknowledged by one sink only: nothing goes.
      j.ack('a', first[1] ?? 0);
      expect(blocks()).toEqual(all);
      // By both, but the next block only part way: the first goes, the second stays whole and readable.
      j.ack('b', (second[0] ?? 0) + 3);
      j.ack('a', (second[0] ?? 0) + 3);
      expect(blocks()).toEqual(all.slice(1));
      const r = j.read('a', 1, 1 << 20);
      expect(r.events[0]?.id).toBe(`e${(second[0] ?? 0) + 3}`);
      expect(r.events[0]?.json).toContain(`"id":"e${(second[0] ?? 0) + 3}"`);
      j.ack('a', j.headSeq());
      j.ack('b', j.headSeq());
      expect(blocks()).toEqual([]);
      expect(rowCount('events')).toBe(0);
    } finally {
      db.close();
    }
  });

  it('acknowledging delivered events writes a small fraction of their bytes to the WAL (they are not rewritten on the way out)', () => {
    const j = journal({ tailCacheBytes: 0, checkpointWorker: false });
    j.setSinks(['out']);
    const n = 4_000;
    const docBytes = 1_500;
    for (let i = 0; i < n; i += 200) j.append('k', { events: Array.from({ length: 200 }, (_, k) => big(`e${i + k}`, docBytes)), cursor: String(i) });
    const wal = path.join(dir, 'journal.sqlite-wal');
    const side = new Database(path.join(dir, 'journal.sqlite'));
    try {
      side.pragma('wal_checkpoint(TRUNCATE)');
      expect(fs.statSync(wal).size).toBe(0);
      // Acknowledged 1,000 at a time, as a sink's batches are: each transaction still writes a few whole pages.
      for (let seq = 1_000; seq <= n; seq += 1_000) {
        j.read('out', 1_000, 1 << 30);
        j.ack('out', seq);
      }
      expect(rowCount('events')).toBe(0);
      // Before documents lived in blocks, deleting rows rewrote their pages: the WAL grew by more than the documents.
      expect(fs.statSync(wal).size).toBeLessThan((n * docBytes) / 3);
    } finally {
      side.close();
    }
  });
});
