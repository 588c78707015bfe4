// The journal's budgets measured on disk: a sink outage with many sources, admission of batches, the dedup store's cap.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Batch, NormalizedEvent, OutEvent, Sink, Source } from '../core/contracts.js';
import { parseConfigText } from '../config/load.js';
import { SinkError } from '../core/errors.js';
import { Pipeline } from '../core/pipeline.js';
import { silentLogger } from '../telemetry/logger.js';
import { Journal, type JournalOptions } from './journal.js';

let dir: string;
const opened: Journal[] = [];

function journal(opts: Partial<JournalOptions> = {}): Journal {
  const j = Journal.open({ dir, checkpointWorker: false, ...opts });
  opened.push(j);
  return j;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'journal-budget-'));
});

afterEach(() => {
  for (const j of opened.splice(0)) j.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A SIEM-like event: a 32-hex id, an ISO time, a document of `docBytes` bytes. */
function event(account: string, n: number, timeMs: number, docBytes: number): NormalizedEvent {
  const id = createHash('sha256').update(`${account}/${n}`).digest('hex').slice(0, 32);
  const head = `{"@timestamp":"${new Date(timeMs).toISOString()}","event":{"id":"${id}"},"message":"`;
  const json = `${head}${'x'.repeat(Math.max(0, docBytes - head.length - 2))}"}`;
  return { id, stream: 'siem', account, time: new Date(timeMs).toISOString(), doc: {}, json };
}

/** What the file really holds for a table (and its indexes): every page it occupies. */
function pagesOf(names: readonly string[]): number {
  const db = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
  try {
    const marks = names.map(() => '?').join(', ');
    return Number(db.prepare(`SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name IN (${marks})`).pluck().get(...names));
  } finally {
    db.close();
  }
}

class DownSink implements Sink {
  readonly name = 'down';
  sends = 0;
  send(_events: readonly OutEvent[]): Promise<void> {
    this.sends++;
    return Promise.reject(new SinkError('SINK_RETRYABLE', 'connection refused (test: the sink is down)', this.name));
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('journal budget during a sink outage', () => {
  let pipeline: Pipeline | undefined;
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
  });

  // SIEM-like documents, small audit-like ones (row overhead dominates) and documents larger than a page (overflow).
  it.each([
    { min: 300, max: 900, perBatch: 100 },
    { min: 60, max: 200, perBatch: 200 },
    { min: 20_000, max: 60_000, perBatch: 3 },
  ])('keeps the events table on disk within max_bytes + 10 % while 12 sources keep pulling ($min-$max B documents)', async ({ min, max, perBatch }) => {
    const MAX_BYTES = 2 * 1024 * 1024;
    const j = journal({ maxBytes: MAX_BYTES, maxEvents: 10_000_000 });
    const rand = rng(12);
    const sources: Source[] = [];
    const t0 = Date.now() - 3600_000;
    for (let s = 0; s < 12; s++) {
      const account = `tenant${s}`;
      sources.push({
        key: `${account}/siem/receipt`,
        account,
        stream: 'siem',
        async *pull(cursor): AsyncGenerator<Batch> {
          let n = Number(cursor ?? '0');
          for (;;) {
            // A download/parse of a chunk takes a little while; meanwhile the other sources append.
            await new Promise((r) => setTimeout(r, 1 + Math.floor(rand() * 4)));
            const events: NormalizedEvent[] = [];
            for (let i = 0; i < perBatch; i++, n++) events.push(event(account, n, t0 + n * 10, min + Math.floor(rand() * (max - min))));
            yield { events, cursor: String(n) };
          }
        },
      });
    }
    const sink = new DownSink();
    pipeline = new Pipeline({
      journal: j,
      sources: sources.map((source) => ({ source, pollIntervalMs: 10 })),
      sinks: [{ sink, batch: { max_events: 1000, max_bytes: 1 << 20, max_wait: 0 } }],
      logger: silentLogger(),
    });
    pipeline.start();
    const deadline = Date.now() + 20_000;
    const allPaused = (): boolean => pipeline?.sources().every((s) => s.state === 'paused') === true;
    while (!allPaused() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(allPaused()).toBe(true);
    // Still paused a while later: nothing keeps trickling in.
    const head = j.headSeq();
    await new Promise((r) => setTimeout(r, 200));
    expect(j.headSeq()).toBe(head);
    expect(sink.sends).toBeGreaterThan(0);

    const onDisk = pagesOf(['events', 'blocks']);
    expect(j.usage().bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(onDisk).toBeLessThanOrEqual(MAX_BYTES * 1.1);
    // Full enough that the budget, not something else, stopped the sources.
    expect(onDisk).toBeGreaterThan(MAX_BYTES * 0.8);
  });
});

/** Events `from`..`from + count - 1` of `account`, one second apart from `timeMs` (the dedup store orders by whole seconds). */
function batch(account: string, from: number, count: number, docBytes: number, cursor: string, timeMs = Date.now() - 600_000): Batch {
  const events: NormalizedEvent[] = [];
  for (let n = from; n < from + count; n++) events.push(event(account, n, timeMs + n * 1000, docBytes));
  return { events, cursor };
}

describe('journal budget with a slow sink', () => {
  let pipeline: Pipeline | undefined;
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = undefined;
  });

  it('does not make sources fetch batches it then refuses, batch after batch, while the sink is the bottleneck', async () => {
    const j = journal({ maxBytes: 512 * 1024, maxEvents: 10_000_000 });
    let yielded = 0;
    const sources: Source[] = [];
    for (let s = 0; s < 6; s++) {
      const account = `tenant${s}`;
      sources.push({
        key: `${account}/siem/receipt`,
        account,
        stream: 'siem',
        async *pull(cursor): AsyncGenerator<Batch> {
          let n = Number(cursor ?? '0');
          for (;;) {
            await new Promise((r) => setTimeout(r, 1));
            yielded++;
            yield batch(account, n, 50, 600, String(n + 50), Date.now() - 3600_000);
            n += 50;
          }
        },
      });
    }
    // Delivers, slowly: 100 events every 5 ms at most.
    const sink: Sink = {
      name: 'slow',
      send: () => new Promise((r) => setTimeout(r, 5)),
      close: () => Promise.resolve(),
    };
    pipeline = new Pipeline({
      journal: j,
      sources: sources.map((source) => ({ source, pollIntervalMs: 10 })),
      sinks: [{ sink, batch: { max_events: 100, max_bytes: 1 << 20, max_wait: 0 } }],
      logger: silentLogger(),
    });
    pipeline.start();
    await new Promise((r) => setTimeout(r, 1500));
    await pipeline.stop();
    const appended = j.headSeq() / 50;
    expect(appended).toBeGreaterThan(20);
    // A refused batch costs a second fetch of the same data; a handful per source is the price of the budget.
    expect(yielded - appended).toBeLessThanOrEqual(sources.length * 3);
  });
});

describe('journal admission (tryAppend)', () => {
  it('writes nothing of a batch that does not fit, and admits it once acks made room', () => {
    const j = journal({ maxBytes: 64 * 1024 });
    j.setSinks(['out']);
    expect(j.tryAppend('a', batch('a', 0, 40, 1000, 'a1'))).toMatchObject({ inserted: 40 });
    const before = j.usage();
    expect(before.bytes).toBeLessThanOrEqual(64 * 1024);
    // 40 more rows of ~1.1 KB do not fit in what is left.
    const next = batch('a', 40, 40, 1000, 'a2');
    expect(j.tryAppend('a', next)).toBeUndefined();
    expect(j.usage()).toMatchObject({ events: before.events, bytes: before.bytes, waiting: 1 });
    expect(j.getCursor('a')).toBe('a1');
    expect(j.overBudget()).toBe(true);
    expect(j.hasRoom('a')).toBe(false);
    j.ack('out', 20);
    expect(j.hasRoom('a')).toBe(false);
    j.ack('out', 40);
    expect(j.hasRoom('a')).toBe(true);
    // Its ids were not remembered by the refused attempt: every event goes in now.
    expect(j.tryAppend('a', next)).toMatchObject({ inserted: 40, duplicates: 0 });
    expect(j.getCursor('a')).toBe('a2');
    // Another 40 like them would not fit either: the source queues for its next batch instead of fetching it.
    expect(j.usage().waiting).toBe(1);
    expect(j.hasRoom('a')).toBe(false);
    j.ack('out', 80);
    expect(j.hasRoom('a')).toBe(true);
    expect(j.tryAppend('a', batch('a', 80, 10, 1000, 'a3'))).toMatchObject({ inserted: 10 });
    expect(j.usage().waiting).toBe(0);
    expect(j.overBudget()).toBe(false);
  });

  it('admits a batch larger than the whole budget into an empty journal, and only then', () => {
    const j = journal({ maxBytes: 32 * 1024 });
    j.setSinks(['out']);
    j.append('small', batch('small', 0, 1, 500, 's1'));
    const big = batch('big', 0, 100, 1000, 'b1');
    expect(j.tryAppend('big', big)).toBeUndefined();
    expect(j.hasRoom('big')).toBe(false);
    j.ack('out', 1);
    expect(j.hasRoom('big')).toBe(true);
    expect(j.tryAppend('big', big)).toMatchObject({ inserted: 100 });
    expect(j.usage().bytes).toBeGreaterThan(32 * 1024);
    expect(j.overBudget()).toBe(true);
    // Nothing else goes in until the sink has taken it.
    expect(j.hasRoom('small')).toBe(false);
    expect(j.tryAppend('small', batch('small', 1, 1, 500, 's2'))).toBeUndefined();
  });

  it('serves waiting sources first in line, so small batches cannot starve a large one', () => {
    const j = journal({ maxBytes: 64 * 1024 });
    j.setSinks(['out']);
    j.append('filler', batch('filler', 0, 30, 1000, 'f1'));
    // Larger than the whole budget: it can only go into an empty journal.
    const large = batch('large', 0, 80, 1000, 'l1');
    expect(j.tryAppend('large', large)).toBeUndefined();
    // A small batch would fit in what is left, but the room is promised to the source ahead of it.
    expect(j.tryAppend('small', batch('small', 0, 2, 500, 's1'))).toBeUndefined();
    expect(j.hasRoom('small')).toBe(false);
    j.ack('out', 30);
    // Empty now: the source first in line goes, the one behind still waits for it.
    expect(j.hasRoom('small')).toBe(false);
    expect(j.tryAppend('small', batch('small', 0, 2, 500, 's1'))).toBeUndefined();
    expect(j.hasRoom('large')).toBe(true);
    expect(j.tryAppend('large', large)).toMatchObject({ inserted: 80 });
    expect(j.hasRoom('small')).toBe(false);
    j.ack('out', j.headSeq());
    expect(j.hasRoom('small')).toBe(true);
    expect(j.tryAppend('small', batch('small', 0, 2, 500, 's1'))).toMatchObject({ inserted: 2 });
  });

  it('lets a later batch in beside a waiting one when there is room for both', () => {
    const j = journal({ maxBytes: 64 * 1024 });
    j.setSinks(['out']);
    j.append('filler', batch('filler', 0, 30, 1000, 'f1'));
    expect(j.tryAppend('large', batch('large', 0, 40, 1000, 'l1'))).toBeUndefined();
    j.ack('out', 30);
    expect(j.tryAppend('small', batch('small', 0, 2, 500, 's1'))).toMatchObject({ inserted: 2 });
    expect(j.hasRoom('large')).toBe(true);
  });

  it('lets the line move on when a waiting source withdraws (caught up, failed or stopped)', () => {
    const j = journal({ maxBytes: 64 * 1024 });
    j.setSinks(['out']);
    j.append('filler', batch('filler', 0, 30, 1000, 'f1'));
    expect(j.tryAppend('gone', batch('gone', 0, 60, 1000, 'g1'))).toBeUndefined();
    expect(j.hasRoom('other')).toBe(false);
    j.withdraw('gone');
    expect(j.hasRoom('other')).toBe(true);
    expect(j.overBudget()).toBe(false);
  });
});

describe('journal dedup store', () => {
  function dedupRows(): number {
    const db = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
    try {
      return Number(db.prepare('SELECT (SELECT count(*) FROM dedup) + (SELECT count(*) FROM dedup_odd)').pluck().get());
    } finally {
      db.close();
    }
  }

  it('stays within dedup_max_ids by forgetting the oldest ids, which can only repeat an event, never lose one', () => {
    const warnings: unknown[] = [];
    const logger = silentLogger();
    logger.warn = ((obj: unknown, msg?: string) => {
      warnings.push([obj, msg]);
    }) as typeof logger.warn;
    const j = journal({ dedupMaxIds: 1000, logger });
    j.setSinks(['out']);
    const t0 = Date.now() - 3600_000;
    for (let b = 0; b < 50; b++) {
      j.append('a', batch('a', b * 100, 100, 200, `c${b}`, t0));
      j.ack('out', j.headSeq());
    }
    const u = j.usage();
    expect(u.dedup.ids).toBe(dedupRows());
    expect(u.dedup.ids).toBeLessThanOrEqual(1000);
    expect(u.dedup.ids).toBeGreaterThanOrEqual(900);
    expect(u.dedup.trimmed).toBe(5000 - u.dedup.ids);
    expect(u.dedup.max_ids).toBe(1000);
    expect(warnings).toHaveLength(1);
    expect(String((warnings[0] as unknown[])[1])).toContain('journal.dedup_max_ids');
    // The newest ids are still recognised; the oldest were forgotten, so a replay of them is journaled again.
    expect(j.append('a', batch('a', 4900, 100, 200, 'r1', t0))).toMatchObject({ inserted: 0, duplicates: 100 });
    expect(j.append('a', batch('a', 0, 100, 200, 'r2', t0))).toMatchObject({ inserted: 100, duplicates: 0 });
  });

  it('keeps its count exact through pruning, a reopen and the upgrade of a journal written before the count', () => {
    let clock = Date.now();
    const j = journal({ now: () => clock, dedupWindowMs: 3600_000 });
    j.setSinks(['out']);
    j.append('a', batch('a', 0, 300, 100, 'c1', clock - 60_000));
    j.append('a', { events: [{ ...event('a', 999, 0, 100), time: 'not a time' }], cursor: 'c2' });
    expect(j.usage().dedup.ids).toBe(301);
    clock += 2 * 3600_000;
    j.append('a', batch('a', 1000, 50, 100, 'c3', clock - 60_000));
    expect(j.pruneDedup()).toBe(301);
    expect(j.usage().dedup.ids).toBe(50);
    expect(dedupRows()).toBe(50);
    j.close();
    expect(journal({ now: () => clock }).usage().dedup.ids).toBe(50);
    opened.splice(0).forEach((x) => x.close());

    // The same file as version 1 wrote it: no dedup_ids column (nor the quarantine's retry columns of version 3, nor
    // the events' log_type of version 4, nor the dead letters' columns of version 5, nor the blocks of version 6, nor
    // the severity columns of version 7).
    const db = new Database(path.join(dir, 'journal.sqlite'));
    db.exec('ALTER TABLE events DROP COLUMN severity; ALTER TABLE dead_letter DROP COLUMN severity');
    db.exec('DROP INDEX dead_letter_sink; DROP INDEX dead_letter_retry');
    db.exec('ALTER TABLE dead_letter DROP COLUMN log_type; ALTER TABLE dead_letter DROP COLUMN retry; ALTER TABLE dead_letter DROP COLUMN retry_note');
    db.exec('ALTER TABLE totals DROP COLUMN dedup_ids');
    db.exec('ALTER TABLE events DROP COLUMN log_type; ALTER TABLE events DROP COLUMN block; ALTER TABLE events DROP COLUMN off; ALTER TABLE events DROP COLUMN len');
    db.exec('DROP TABLE blocks');
    db.exec('DROP INDEX quarantine_retry; ALTER TABLE quarantine DROP COLUMN refetch; ALTER TABLE quarantine DROP COLUMN retry; ALTER TABLE quarantine DROP COLUMN retry_note');
    db.pragma('user_version = 1');
    db.close();
    expect(journal({ now: () => clock }).usage().dedup.ids).toBe(50);
  });
});

describe('journal budget config', () => {
  const yaml = (journalBlock: string): string => `
accounts:
  - { name: corp, client_id: abc, client_secret: x, streams: { siem: {} } }
sinks:
  - { name: out, type: stdout }
${journalBlock}`;

  it('defaults dedup_max_ids to 10,000,000 and names the key when it is out of range', () => {
    expect(parseConfigText(yaml(''), {}).config?.journal.dedup_max_ids).toBe(10_000_000);
    expect(parseConfigText(yaml('journal: { dedup_max_ids: 50000 }'), {}).config?.journal.dedup_max_ids).toBe(50_000);
    const { config, issues } = parseConfigText(yaml('journal: { dedup_max_ids: 5 }'), {});
    expect(config).toBeUndefined();
    expect(issues.map((i) => i.path)).toEqual(['journal.dedup_max_ids']);
  });
});
