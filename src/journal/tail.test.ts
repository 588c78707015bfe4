// The journal's in-memory tail cache: same answers as SQLite, nothing from failed appends, bounded, gone after restart.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NormalizedEvent, OutEvent, StreamName } from '../core/contracts.js';
import { CollectorError } from '../core/errors.js';
import { Journal, type JournalOptions } from './journal.js';

const T0 = Date.parse('2025-03-01T12:00:00Z');

let root: string;
let clock: number;
const open: Journal[] = [];

function journal(dir: string, opts: Partial<JournalOptions> = {}): Journal {
  const j = Journal.open({ dir: path.join(root, dir), now: () => clock, ...opts });
  open.push(j);
  return j;
}

function ev(id: string, stream: StreamName = 'siem', extra: Partial<NormalizedEvent> = {}): NormalizedEvent {
  return {
    id,
    stream,
    account: 'acme',
    time: new Date(clock - 60_000).toISOString(),
    doc: { event: { id }, message: `event ${id}` },
    ...extra,
  };
}

/** A small deterministic PRNG (mulberry32) so a failing run can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ids(r: { events: OutEvent[] }): string[] {
  return r.events.map((e) => e.id);
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'journal-tail-'));
  clock = T0;
});

afterEach(() => {
  for (const j of open.splice(0)) j.close();
  fs.rmSync(root, { recursive: true, force: true });
});


/** What a sink sees of a read: the cache holds bytes and SQLite answers text, and both must read the same. */
function view(r: { events: OutEvent[]; lastSeq: number }): unknown {
  return {
    lastSeq: r.lastSeq,
    events: r.events.map((e) => {
      const written = Buffer.alloc(e.size);
      e.writeTo(written, 0);
      return { seq: e.seq, id: e.id, stream: e.stream, account: e.account, time: e.time, logType: e.logType, severity: e.severity, size: e.size, json: e.json, bytes: e.bytes.toString('hex'), written: written.toString('hex') };
    }),
  };
}

describe('Journal tail cache', () => {
  it('answers every read exactly as SQLite does (randomized, two sinks, routing, limits, restarts)', () => {
    const STREAMS: StreamName[] = ['siem', 'audit', 'ttp_url', 'dlp'];
    const ROUTES: (readonly StreamName[] | undefined)[] = [undefined, ['siem'], ['audit', 'dlp'], [], ['ttp_url', 'siem', 'siem']];
    const SINKS = ['a', 'b'];
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const rand = rng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
      // A small cache so eviction, partial coverage and fallback all happen.
      const tailBytes = 1000 + Math.floor(rand() * 20_000);
      const sub = `seed-${seed}`;
      let cached = journal(`${sub}/cached`, { tailCacheBytes: tailBytes });
      let plain = journal(`${sub}/plain`, { tailCacheBytes: 0 });
      const both = <T>(fn: (j: Journal) => T): [T, T] => [fn(cached), fn(plain)];
      both((j) => j.setSinks(SINKS));
      const routes = new Map(SINKS.map((s) => [s, pick(ROUTES)]));
      let nextId = 0;
      // Reads the cache served or left to SQLite, summed over reopened instances.
      let hits = 0;
      let misses = 0;

      for (let step = 0; step < 400; step++) {
        const op = rand();
        if (op < 0.3) {
          const n = Math.floor(rand() * 25);
          const events: NormalizedEvent[] = [];
          for (let i = 0; i < n; i++) {
            // Some replays (dedup), some pre-serialised text, rarely text SQLite cannot store verbatim.
            const id = rand() < 0.1 && nextId > 0 ? String(Math.floor(rand() * nextId)) : String(nextId++);
            const e = ev(id, pick(STREAMS), { doc: { id, pad: 'é'.repeat(Math.floor(rand() * 100)) } });
            // Severity kept beside the document, absent for events normalized before it existed.
            if (rand() < 0.8) e.severity = Math.floor(rand() * 11);
            const r = rand();
            if (r < 0.1) e.json = JSON.stringify(e.doc);
            else if (r < 0.105) e.json = `{"id":"${id}","bad":"\uD800"}`;
            events.push(e);
          }
          const failing = rand() < 0.1;
          if (failing) events.splice(Math.floor(rand() * (events.length + 1)), 0, ev(`boom-${step}`, 'siem', { doc: { n: 10n } }));
          const results = both((j) => {
            try {
              return j.append('k', { events, cursor: String(step) });
            } catch (err) {
              return err instanceof CollectorError ? err.code : err;
            }
          });
          expect(results[0], `seed ${seed} step ${step}`).toEqual(results[1]);
          if (failing) expect(results[0]).toBe('JOURNAL_FAILED');
        } else if (op < 0.8) {
          const sink = pick(SINKS);
          const maxEvents = rand() < 0.05 ? 2.5 : 1 + Math.floor(rand() * 30);
          const maxBytes = rand() < 0.2 ? 1 : 1 + Math.floor(rand() * 8000);
          const [x, y] = both((j) => j.read(sink, maxEvents, maxBytes, routes.get(sink)));
          expect(view(x), `seed ${seed} step ${step}`).toEqual(view(y));
          if (rand() < 0.7) {
            const upto = rand() < 0.8 ? x.lastSeq : x.lastSeq - Math.floor(rand() * 5);
            both((j) => j.ack(sink, upto));
          }
        } else if (op < 0.85) {
          const sink = pick(SINKS);
          routes.set(sink, pick(ROUTES));
        } else if (op < 0.88) {
          hits += cached.tailCache().hits;
          misses += cached.tailCache().misses;
          cached.close();
          plain.close();
          cached = journal(`${sub}/cached`, { tailCacheBytes: tailBytes });
          plain = journal(`${sub}/plain`, { tailCacheBytes: 0 });
        } else if (op < 0.9) {
          // Drop a sink and bring it back: it restarts from whatever is still journaled.
          const sink = pick(SINKS);
          both((j) => j.setSinks(SINKS.filter((s) => s !== sink)));
          both((j) => j.setSinks(SINKS));
        }
        expect(cached.usage()).toEqual(plain.usage());
        expect(cached.headSeq()).toBe(plain.headSeq());
        for (const s of SINKS) expect(cached.offset(s)).toBe(plain.offset(s));
        expect(cached.tailCache().bytes).toBeLessThanOrEqual(tailBytes);
      }
      // Drain both sinks to the end through both journals.
      for (const sink of SINKS) {
        for (;;) {
          const [x, y] = both((j) => j.read(sink, 7, 3000, routes.get(sink)));
          expect(view(x)).toEqual(view(y));
          if (x.lastSeq <= cached.offset(sink)) break;
          both((j) => j.ack(sink, x.lastSeq));
        }
      }
      expect(cached.usage()).toMatchObject({ events: 0, bytes: 0 });
      expect(cached.tailCache().events).toBe(0);
      // The comparison only means something if the cache really answered reads, and also left some to SQLite.
      hits += cached.tailCache().hits;
      misses += cached.tailCache().misses;
      expect(hits, `seed ${seed}`).toBeGreaterThan(50);
      expect(misses, `seed ${seed}`).toBeGreaterThan(5);
      expect(plain.tailCache()).toEqual({ events: 0, bytes: 0, hits: 0, misses: 0, slabs_reused: 0 });
    }
  });

  it('keeps nothing of a failed append', () => {
    const j = journal('j');
    j.setSinks(['out']);
    j.append('k', { events: [ev('a'), ev('b')], cursor: '1' });
    const before = j.tailCache();
    expect(before.events).toBe(2);

    expect(() => j.append('k', { events: [ev('c'), ev('d', 'siem', { doc: { n: 10n } }), ev('e')], cursor: '2' })).toThrow(CollectorError);
    expect(() => j.append('k', { events: [ev('f'), ev('g', 'nope' as StreamName)], cursor: '2' })).toThrow(/unknown stream/);
    expect(j.tailCache()).toEqual(before);

    const r = j.read('out', 100, 1 << 20);
    expect(r.events.map((e) => [e.seq, e.id])).toEqual([
      [1, 'a'],
      [2, 'b'],
    ]);
    expect(j.tailCache().hits).toBe(1);
    // The next committed append continues the run with the seqs SQLite assigned.
    j.append('k', { events: [ev('c'), ev('e')], cursor: '2' });
    expect(j.read('out', 100, 1 << 20).events.map((e) => [e.seq, e.id])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'c'],
      [4, 'e'],
    ]);
    expect(j.tailCache()).toMatchObject({ events: 4, hits: 2, misses: 0 });
  });

  it('reads from SQLite after a restart, then from the cache once caught up', () => {
    let j = journal('j');
    j.setSinks(['out']);
    j.append('k', { events: [ev('a'), ev('b', 'audit'), ev('c')], cursor: '1' });
    const first = j.read('out', 100, 1 << 20);
    expect(j.tailCache().hits).toBe(1);
    j.close();

    j = journal('j');
    expect(j.tailCache()).toEqual({ events: 0, bytes: 0, hits: 0, misses: 0, slabs_reused: 0 });
    const again = j.read('out', 100, 1 << 20);
    expect(view(again)).toEqual(view(first));
    expect(j.tailCache().misses).toBe(1);

    j.append('k', { events: [ev('d'), ev('e')], cursor: '2' });
    // Offset 0 is older than anything cached: SQLite serves it, in two reads.
    const older = j.read('out', 4, 1 << 20);
    expect(ids(older)).toEqual(['a', 'b', 'c', 'd']);
    expect(j.tailCache().misses).toBe(2);
    j.ack('out', 3);
    const newer = j.read('out', 4, 1 << 20);
    expect(ids(newer)).toEqual(['d', 'e']);
    expect(newer.lastSeq).toBe(5);
    expect(j.tailCache()).toMatchObject({ hits: 1, misses: 2 });
    expect(Object.isFrozen(newer.events[0])).toBe(true);
  });

  it('holds no more json bytes than tailCacheBytes and stays correct past it', () => {
    const bound = 4000;
    const j = journal('j', { tailCacheBytes: bound });
    j.setSinks(['out']);
    const sized = (id: string, n: number): NormalizedEvent => ev(id, 'siem', { doc: { p: 'x'.repeat(n) } });
    const size = Buffer.byteLength(JSON.stringify(sized('0', 992).doc)); // 1000 bytes each
    expect(size).toBe(1000);
    for (let i = 0; i < 10; i++) {
      j.append('k', { events: [sized(String(i), 992)], cursor: String(i) });
      expect(j.tailCache().bytes).toBeLessThanOrEqual(bound);
    }
    expect(j.tailCache()).toMatchObject({ events: 4, bytes: 4000 });
    // The sink is at 0, far behind the cached seqs 7..10: SQLite, with the same limits.
    const r = j.read('out', 100, 2500);
    expect(ids(r)).toEqual(['0', '1']);
    expect(j.tailCache().misses).toBe(1);
    j.ack('out', 6);
    const tail = j.read('out', 100, 1 << 20);
    expect(ids(tail)).toEqual(['6', '7', '8', '9']);
    expect(j.tailCache().hits).toBe(1);

    // One event larger than the whole bound is never cached; reads still find it.
    j.append('k', { events: [sized('big', 5000)], cursor: 'b' });
    expect(j.tailCache()).toMatchObject({ events: 0, bytes: 0 });
    j.ack('out', 10);
    expect(ids(j.read('out', 100, 1 << 20))).toEqual(['big']);
    j.ack('out', 11);
    // Acked rows leave the cache with the journal's rows.
    j.append('k', { events: [sized('x', 10), sized('y', 10)], cursor: 'c' });
    expect(j.tailCache().events).toBe(2);
    j.ack('out', 12);
    expect(j.tailCache().events).toBe(1);
  });

  it('caches the very bytes SQLite stores, even for text that is not well-formed (lone surrogates)', () => {
    const j = journal('j');
    const p = journal('p', { tailCacheBytes: 0 });
    for (const x of [j, p]) {
      x.setSinks(['out']);
      x.append('k', { events: [ev('a'), ev('b', 'siem', { json: '{"x":"\uD800"}' }), ev('c')], cursor: '1' });
    }
    expect(j.tailCache().events).toBe(3);
    const cached = j.read('out', 100, 1 << 20);
    expect(view(cached)).toEqual(view(p.read('out', 100, 1 << 20)));
    expect(cached.events[1]?.json).toBe('{"x":"\uFFFD"}'); // stored as valid UTF-8, the same in both places
    j.ack('out', 2);
    p.ack('out', 2);
    expect(view(j.read('out', 100, 1 << 20))).toEqual(view(p.read('out', 100, 1 << 20)));
    expect(j.tailCache()).toMatchObject({ hits: 2, misses: 0 });
  });

  it('rejects a negative tailCacheBytes', () => {
    expect(() => journal('j', { tailCacheBytes: -1 })).toThrow(/tailCacheBytes/);
  });
});

describe('Journal tail cache buffers', () => {
  /**
   * The cache copies documents into a few buffers it fills again once no entry points into them. A sink may use
   * the bytes of what it read until it acknowledges them: a buffer must not be refilled before every sink has
   * passed its newest document, however far the cache has moved on.
   */
  it('never refills a buffer a sink may still be reading, and does refill once every sink has passed it', () => {
    for (const seed of [11, 12, 13]) {
      const rand = rng(seed);
      const j = journal(`seed-${seed}`, { tailCacheBytes: 64 * 1024 });
      j.setSinks(['fast', 'slow', 'routed']);
      const routes = new Map<string, readonly StreamName[] | undefined>([['routed', ['audit']]]);
      let n = 0;
      const appendSome = (step: number): void => {
        const events: NormalizedEvent[] = [];
        const count = 1 + Math.floor(rand() * 10);
        // Documents of a few KB: the cache's 256 KiB buffers fill every few appends.
        for (let i = 0; i < count; i++, n++) {
          events.push(ev(String(n), rand() < 0.3 ? 'audit' : 'siem', { doc: { n, pad: String.fromCharCode(97 + (n % 26)).repeat(2000 + Math.floor(rand() * 6000)) } }));
        }
        j.append('k', { events, cursor: String(step) });
        // These two keep up and acknowledge at once.
        for (const sink of ['fast', 'routed']) j.ack(sink, j.read(sink, 1 + Math.floor(rand() * 200), 1 << 20, routes.get(sink)).lastSeq);
      };
      let step = 0;
      for (let round = 0; round < 30; round++) {
        appendSome(step++);
        // The slow sink catches up (from SQLite, then the cache) and sits on its last read, from the cache, while
        // several times the cache's size is appended: the buffers those events were copied into fall out of use.
        let r = j.read('slow', 1 + Math.floor(rand() * 100), 1 << 20);
        while (j.headSeq() > r.lastSeq) {
          j.ack('slow', r.lastSeq);
          r = j.read('slow', 1 + Math.floor(rand() * 100), 1 << 20);
        }
        const texts = r.events.map((e) => e.json);
        const hold = 20 + Math.floor(rand() * 20);
        for (let k = 0; k < hold; k++) {
          appendSome(step++);
          r.events.forEach((e, i) => {
            if (e.json !== texts[i]) expect.fail(`seed ${seed} round ${round}: the slow sink's unacknowledged event ${e.id} changed under it`);
          });
        }
        j.ack('slow', r.lastSeq);
      }
      // The guard must not simply stop reuse: buffers came back into service many times.
      expect(j.tailCache().slabs_reused, `seed ${seed}`).toBeGreaterThan(20);
      expect(j.tailCache().hits).toBeGreaterThan(1000);
    }
  });

  it('never refills a buffer a removed sink may still be writing from', () => {
    const j = journal('j', { tailCacheBytes: 64 * 1024 });
    j.setSinks(['a', 'b']);
    const big = (id: number): NormalizedEvent => ev(String(id), 'siem', { doc: { id, pad: 'z'.repeat(4000) } });
    let id = 0;
    j.append('k', { events: Array.from({ length: 10 }, () => big(id++)), cursor: '0' });
    const r = j.read('b', 20, 1 << 20);
    expect(j.tailCache().hits).toBe(1);
    const texts = r.events.map((e) => e.json);
    // b is removed mid-delivery (a config reload): its drain may still be writing what it read.
    j.setSinks(['a']);
    for (let step = 1; step < 200; step++) {
      j.append('k', { events: Array.from({ length: 10 }, () => big(id++)), cursor: String(step) });
      const x = j.read('a', 100, 1 << 20);
      j.ack('a', x.lastSeq);
    }
    expect(r.events.map((e) => e.json)).toEqual(texts);
    expect(j.tailCache().slabs_reused).toBeGreaterThan(20);
  });
});
