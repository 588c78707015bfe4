// The dead-letter table against real SQLite files: the version 5 upgrade, per-sink summaries, retry requests made
// over a second connection and how the runner settles them, purging.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoredEvent, type OutEvent } from '../core/contracts.js';
import { CollectorError } from '../core/errors.js';
import { Journal, purgeDeadLetters, readDeadLetters, requestDeadLetterRetry } from './journal.js';

const T0 = Date.parse('2026-03-01T12:00:00Z');

let dir: string;
let clock: number;
const open: Journal[] = [];

function journal(maxQuarantine?: number): Journal {
  const j = Journal.open({ dir, now: () => clock, checkpointWorker: false, ...(maxQuarantine === undefined ? {} : { maxQuarantine }) });
  open.push(j);
  return j;
}

function out(n: number, logType = 'receipt'): OutEvent {
  return new StoredEvent(n, `e${n}`, 'siem', 'acme', new Date(T0 + n).toISOString(), Buffer.from(JSON.stringify({ event: { id: `e${n}` }, n })), logType);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dead-letters-'));
  clock = T0;
});

afterEach(() => {
  for (const j of open.splice(0)) j.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('dead letters in the journal', () => {
  it('keeps the log type beside the document and lists newest first with ids', () => {
    const j = journal();
    j.deadLetterEach('hec', [
      { event: out(1), reason: 'HEC code 6: invalid data format' },
      { event: out(2, 'audit'), reason: 'HEC code 6: invalid data format' },
    ]);
    const rows = j.deadLetters();
    expect(rows.map((r) => [r.id, r.sink, r.event.id, r.event.logType])).toEqual([
      [2, 'hec', 'e2', 'audit'],
      [1, 'hec', 'e1', 'receipt'],
    ]);
    expect(JSON.parse(rows[1]?.event.json ?? '')).toEqual({ event: { id: 'e1' }, n: 1 });
    expect(rows[0]?.retry).toBeUndefined();
  });

  it('summarises per sink: the count and the newest distinct reasons with how often each occurs', () => {
    const j = journal();
    j.deadLetterEach('hec', [1, 2, 3].map((n) => ({ event: out(n), reason: 'field [x] too long' })));
    clock += 1000;
    j.deadLetterEach('hec', [{ event: out(4), reason: 'invalid index name' }]);
    clock += 1000;
    j.deadLetterEach('hec', [{ event: out(5), reason: 'field [x] too long' }]);
    j.deadLetterEach('es', [{ event: out(6), reason: 'mapper_parsing_exception' }]);
    expect(j.deadLetterSummary()).toEqual([
      { sink: 'es', count: 1, reasons: [{ reason: 'mapper_parsing_exception', count: 1, last_at: T0 + 2000 }] },
      {
        sink: 'hec',
        count: 5,
        reasons: [
          { reason: 'field [x] too long', count: 4, last_at: T0 + 2000 },
          { reason: 'invalid index name', count: 1, last_at: T0 + 1000 },
        ],
      },
    ]);
    expect(j.deadLetterSummary(1)[1]?.reasons).toHaveLength(1);
    expect(j.deadLetterCount()).toBe(6);
  });

  it('marks rows requested from a second connection; the runner reads them per sink and settles them', () => {
    const j = journal();
    j.deadLetterEach('hec', [1, 2, 3].map((n) => ({ event: out(n), reason: n === 3 ? 'invalid index name' : 'field too long' })));
    j.deadLetterEach('old', [{ event: out(4), reason: 'field too long' }]);
    j.deadLetterEach('es', [{ event: out(5), reason: 'field too long' }]);

    // By reason (any case) across sinks: the row of a sink no longer configured is left alone and reported.
    const r = requestDeadLetterRetry(dir, { reason: 'FIELD TOO' }, ['hec', 'es']);
    expect(r).toEqual({ requested: [1, 2, 5], alreadyRequested: [], unconfigured: [{ sink: 'old', ids: [4] }], unknown: [] });
    // Asked again, with an id that does not exist and one that exists but not for this sink.
    expect(requestDeadLetterRetry(dir, { ids: [1, 5, 99], sink: 'hec' }, ['hec', 'es'])).toEqual({
      requested: [],
      alreadyRequested: [1],
      unconfigured: [],
      unknown: [5, 99],
    });

    expect(j.deadLetterRetries('hec', 10).map((d) => [d.id, d.event.id, d.event.logType, d.retry])).toEqual([
      [1, 'e1', 'receipt', 'requested'],
      [2, 'e2', 'receipt', 'requested'],
    ]);
    expect(j.deadLetterRetries('hec', 1).map((d) => d.id)).toEqual([1]);
    expect(j.deadLetterRetries('es', 10).map((d) => d.id)).toEqual([5]);

    clock += 60_000;
    j.settleDeadLetterRetries([1], [{ id: 2, reason: 'field [y] too long' }]);
    expect(j.deadLetterRetries('hec', 10)).toEqual([]);
    const hec = readDeadLetters(dir, { sink: 'hec' }, 10);
    expect(hec.total).toBe(2);
    expect(hec.rows.map((d) => [d.id, d.reason, d.retry, d.retryNote])).toEqual([
      [3, 'invalid index name', undefined, undefined],
      [2, 'field [y] too long', undefined, `sent again ${new Date(T0 + 60_000).toISOString()}: rejected again`],
    ]);
    // The delivered row is gone; nothing went back into the events table.
    expect(readDeadLetters(dir, { ids: [1, 2] }, 10)).toMatchObject({ total: 1, unknown: [1] });
    expect(j.headSeq()).toBe(0);
  });

  it('purges by filter from a second connection, saying which ids it did not find', () => {
    const j = journal();
    j.deadLetterEach('hec', [1, 2, 3].map((n) => ({ event: out(n), reason: n === 2 ? 'invalid index' : 'too long' })));
    j.deadLetterEach('es', [{ event: out(4), reason: 'too long' }]);
    expect(purgeDeadLetters(dir, { sink: 'hec', reason: 'too long' })).toEqual({ removed: [1, 3], unknown: [] });
    expect(purgeDeadLetters(dir, { ids: [2, 3] })).toEqual({ removed: [2], unknown: [3] });
    expect(j.deadLetters().map((d) => d.id)).toEqual([4]);
    expect(purgeDeadLetters(dir, {})).toEqual({ removed: [4], unknown: [] });
    expect(j.deadLetterCount()).toBe(0);
  });

  it('upgrades a version 4 journal: its dead letters stay, listable before the upgrade, retry asks for the upgrade first', () => {
    const j = journal();
    j.deadLetterEach('hec', [{ event: out(1), reason: 'HEC code 6' }]);
    j.close();
    const db = new Database(path.join(dir, 'journal.sqlite'));
    db.exec('ALTER TABLE events DROP COLUMN severity; ALTER TABLE dead_letter DROP COLUMN severity');
    db.exec('DROP INDEX dead_letter_sink; DROP INDEX dead_letter_retry');
    db.exec('ALTER TABLE dead_letter DROP COLUMN log_type; ALTER TABLE dead_letter DROP COLUMN retry; ALTER TABLE dead_letter DROP COLUMN retry_note');
    db.exec('ALTER TABLE events DROP COLUMN block; ALTER TABLE events DROP COLUMN off; ALTER TABLE events DROP COLUMN len; DROP TABLE blocks');
    db.pragma('user_version = 4');
    db.close();

    expect(readDeadLetters(dir, {}, 10).rows.map((d) => [d.id, d.event.id, d.event.logType, d.reason])).toEqual([[1, 'e1', '', 'HEC code 6']]);
    let err: unknown;
    try {
      requestDeadLetterRetry(dir, {}, ['hec']);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as CollectorError).message).toMatch(/schema version 4: start this version of the collector once/);

    const again = journal();
    expect(again.deadLetters().map((d) => [d.id, d.event.id, d.reason])).toEqual([[1, 'e1', 'HEC code 6']]);
    const check = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(7);
      const plan = check.prepare("EXPLAIN QUERY PLAN SELECT sink, count(*) FROM dead_letter GROUP BY sink").raw().all().map((r) => String((r as unknown[])[3]));
      expect(plan.join(' ')).toMatch(/USING COVERING INDEX dead_letter_sink/);
    } finally {
      check.close();
    }
    expect(requestDeadLetterRetry(dir, {}, ['hec']).requested).toEqual([1]);
    expect(again.deadLetterRetries('hec', 10).map((d) => d.id)).toEqual([1]);
  });

  it('stays bounded by maxQuarantine, requested rows included', () => {
    const j = journal(3);
    for (let n = 1; n <= 5; n++) j.deadLetterEach('hec', [{ event: out(n), reason: 'r' }]);
    expect(j.deadLetters().map((d) => d.id)).toEqual([5, 4, 3]);
  });
});
