// The SQLite journal: events, dedup ids and source cursors in one transaction; per-sink offsets, budget, quarantine.
import { hash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { STREAM_NAMES, StoredEvent, type Batch, type NormalizedEvent, type OutEvent, type Quarantined, type StreamName } from '../core/contracts.js';
import { CollectorError } from '../core/errors.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import { AUTOCHECKPOINT_PAGES, Checkpointer } from './checkpointer.js';

/*
 * Schema (version 7, tracked in PRAGMA user_version):
 *
 *   events(seq INTEGER PRIMARY KEY, cum, stream, account, id, time, json, log_type, block, off, len, severity)
 *     seq is assigned here, contiguously, from totals.head_seq (never reused, even after every row is
 *     deleted, so sink offsets stay meaningful). Rows are only ever deleted as a prefix (seq <= the lowest
 *     active sink offset), so live rows are exactly (del_seq, head_seq]: counts are subtractions.
 *     cum = what the rows up to and including this one occupy in the file (rowCost: the document, the other
 *     columns and the row's share of its page; rows before version 2 counted the document only), so the bytes
 *     freed by a range delete are one primary-key lookup instead of a sum over the range.
 *     json holds the document as UTF-8 bytes (BLOB values; the column's TEXT affinity leaves them as they are);
 *     rows written by earlier versions hold TEXT and are read the same way. log_type (version 4) is the
 *     event's `mimecast.log_type`, so sinks route on it without parsing documents; NULL in older rows.
 *     block, off, len (version 6): rows appended since then keep their document in `blocks` (json is an empty
 *     BLOB): `len` bytes at `off` in the block whose key is `block`. Rows written before hold it in json.
 *     severity (version 7): the event's severity 0–10 (NormalizedEvent.severity), so the syslog sink's PRI needs
 *     no parsed document; NULL in older rows (the sink then reads it from the document).
 *   blocks(first INTEGER PRIMARY KEY, last, data)
 *     the documents of consecutive event rows (seqs first..last, one append), concatenated, up to BLOCK_BYTES
 *     each. Why: deleting delivered rows that hold ~1.5 KB documents made SQLite rebalance their pages and write
 *     every one of them to the WAL (as many bytes as the documents, again at each checkpoint): about as costly as
 *     reading them. A block is a few large BLOBs on overflow pages, which are freed without being written, and
 *     the event rows left are small; reading a range fetches a few blocks instead of a buffer per row. A block
 *     is deleted once every event in it is (last <= the lowest offset), so the file may hold up to one block
 *     beyond what the budget counts.
 *   dedup(t, h, PRIMARY KEY (t, h)) WITHOUT ROWID
 *     h = first 16 bytes of sha256(account + "\n" + event.id): ids are scoped per account because two
 *     tenants may legitimately reuse an id. t = the event's own time in whole seconds. A replay of a record
 *     carries the same time, so (t, h) finds it; and because batches arrive roughly in time order, inserts
 *     land on a few adjacent pages instead of one random page per event (keyed by h alone, a table of
 *     millions of ids dirtied ~4 KiB of WAL per event and appends ran 4x slower). Pruning is then a range
 *     delete on the key prefix: an id is remembered until its event time is older than the window, which
 *     is what matters since the API only replays records within its retention.
 *     INSERT OR IGNORE + changes() is the existence test, so a new event costs no SELECT.
 *   dedup_odd(h PRIMARY KEY, seen) WITHOUT ROWID, index on seen
 *     events whose time is unparsable, already outside the window or more than a day ahead, or only the time
 *     they were collected (NormalizedEvent.timeMissing, different at each read): keyed by h
 *     alone and remembered for the window from when first seen. Rare, so random keys are affordable here.
 *   cursors(key PRIMARY KEY, cursor, updated_at)       the source position, written with its events
 *   sink_offsets(sink PRIMARY KEY, seq)                highest seq each configured sink has acked
 *   quarantine(id, key, reason, detail, location, raw, at, refetch, retry, retry_note)
 *     unusable input, newest maxQuarantine kept. refetch (version 3): for a file given up whole or in part, the
 *     source's own description of how to read it again; retry: NULL, 'requested' (by `quarantine retry`), 'done'
 *     or 'failed', with retry_note saying what happened.
 *   dead_letter(id, sink, seq, event_id, stream, account, time, json, reason, at, log_type, retry, retry_note, severity)
 *     events a sink's receiver rejected for good, same bound. json is the journaled document (rendered again when
 *     sent again). log_type, retry, retry_note (version 5): retry is NULL or 'requested' (by `dead-letters retry`);
 *     the sink's runner sends requested rows again, deletes those delivered, and sets a row rejected again back to
 *     NULL with its new reason and a note. Indexed by sink (counts for /status, the runner's requests).
 *   totals(one = 1, head_seq, head_cum, del_seq, del_cum, dedup_ids)   running usage, updated in the same tx
 *     dedup_ids = rows in dedup + dedup_odd (version 2), so the dedup store's size is known without a count(*).
 *
 * Budgets. Events: a batch is admitted by tryAppend only if the rows it adds fit under max_events/max_bytes
 * (counted as rowCost, i.e. what the file really holds, not just the documents), or if the journal is empty and
 * no source is ahead of it in line (a batch larger than the whole budget must still be able to go, or that stream
 * would be stuck). A batch that does not fit is not written; its source waits in line (waiters, oldest first,
 * reserve room ahead of later arrivals, so a large batch is not starved by small ones) and pulls it again. A
 * source whose batch was written joins the line too when one more like it would not fit (no fetch to be refused).
 * Dedup ids: not part of max_bytes (they outlive the events by the dedup window); capped at dedup_max_ids rows.
 * Past the cap the ids with the oldest event times are forgotten early: that only shortens the window in which
 * a replay is recognised (a forgotten id's record, if the API sends it again, is delivered again with the same
 * event.id), it never drops an event.
 *
 * Durability: WAL with synchronous=NORMAL. A killed process loses nothing committed; a power cut may roll
 * back the last transactions, but cursor and events always roll back together, so the API is simply
 * asked again for the same page. Checkpoints (the syncs and the copy into the database file) run on a
 * thread of their own with a second connection when the compiled worker is there (checkpointer.ts).
 *
 * One process owns the journal: head/offset/total values are cached in memory and written through.
 *
 * Tail cache: sinks are usually caught up and read rows appended moments ago, so the newest events are also
 * kept in memory (the very buffers the append stored) and such reads skip SQLite. The cache always holds
 * a contiguous run of seqs ending at head_seq (or nothing): it is filled only after an append committed,
 * loses its oldest entries past its byte/count bound, and drops rows as soon as they are deleted. A read is
 * served from it only when it holds offset+1; anything older (after a restart, a sink far behind) is read
 * from SQLite with the same semantics.
 */

const SCHEMA_VERSION = 7;
/** Document bytes per block row (see the schema note); a single larger document gets a block of its own. */
const BLOCK_BYTES = 256 * 1024;
/**
 * Blocks kept in memory between reads: the one the last read ended in, where the next read starts. A block kept
 * longer outlives V8's young generation (see `read`'s `into`): 8 of them cost ~15 full collections per 300k events
 * in bench:sinks. Two sinks reading the same stretch each fetch its blocks.
 */
const BLOCK_CACHE_ENTRIES = 1;
/** Distinct account names and log types interned by reads before the table starts over. */
const MAX_INTERNED = 4096;
const EMPTY = Buffer.alloc(0);
const FILE_NAME = 'journal.sqlite';
const DEFAULT_MAX_EVENTS = 1_000_000;
const DEFAULT_MAX_BYTES = 1024 ** 3;
const DEFAULT_DEDUP_WINDOW_MS = 8 * 24 * 3600 * 1000;
const DEFAULT_DEDUP_MAX_IDS = 10_000_000;
/**
 * What an event row occupies beyond its document and text columns: the seq and cum integers, record and cell
 * headers, the cell pointer and the unfilled end of its page. Measured with dbstat (budget.test.ts: ~100 B per
 * SIEM row beyond the document, of which ~67 are the id, time, account and stream).
 */
const ROW_BYTES = 40;
/**
 * What one dedup id occupies, roughly: the 16-byte hash, its time, headers and cell pointer. Measured with dbstat
 * at 29-30 B for 200,000 ids from 20 interleaved streams, in time order or not. For /status, not a limit.
 */
const DEDUP_ID_BYTES = 32;
/** Past the cap, trim this fraction of dedup_max_ids at once, so the trim runs once per 1 % of new ids, not per append. */
const DEDUP_TRIM_FRACTION = 0.01;
const DEFAULT_MAX_QUARANTINE = 100_000;
/** /status groups the reasons of a sink's newest this many dead letters, so the page costs the same at any table size. */
const DEAD_REASON_WINDOW = 1000;
/** Quarantined files that can be fetched again are kept this long (Mimecast keeps SIEM files 7 days; API 1.0 tokens as long). */
const REFETCHABLE_KEPT_MS = 30 * 86_400_000;
/** Rows a filtered read may look at before returning, so a sink routed to a rare stream never scans the whole journal in one call. */
const SCAN_LIMIT = 50_000;
/** Dedup ids deleted per transaction when pruning, so a prune after a long pause does not build one huge WAL. */
const PRUNE_CHUNK = 50_000;
const MAX_RAW_CHARS = 64 * 1024;
/** Event times further ahead than this (clock skew beyond reason, parse slips) go to dedup_odd. */
const FUTURE_SLACK_S = 24 * 3600;
const DEFAULT_TAIL_CACHE_BYTES = 4 * 1024 * 1024;
/** Entries the tail cache holds at most, so tiny events cannot pile up object overhead under the byte bound. */
const TAIL_CACHE_MAX_EVENTS = 100_000;
/** WAL bytes (estimated) between two checkpoints: about what SQLite's automatic trigger of 512 pages meant. */
const CHECKPOINT_EVERY_BYTES = 16 * 1024 * 1024;
/** What one small write transaction (an ack, a cursor) adds to the WAL, roughly: a page or two. */
const SMALL_TX_BYTES = 64 * 1024;
/** Per appended event beyond its document: its index entries and dedup key (for the WAL estimate). */
const EVENT_OVERHEAD_BYTES = 128;

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    cum INTEGER NOT NULL,
    stream TEXT NOT NULL,
    account TEXT NOT NULL,
    id TEXT NOT NULL,
    time TEXT NOT NULL,
    json TEXT NOT NULL
  );
  CREATE TABLE dedup (t INTEGER NOT NULL, h BLOB NOT NULL, PRIMARY KEY (t, h)) WITHOUT ROWID;
  CREATE TABLE dedup_odd (h BLOB PRIMARY KEY, seen INTEGER NOT NULL) WITHOUT ROWID;
  CREATE INDEX dedup_odd_seen ON dedup_odd (seen);
  CREATE TABLE cursors (key TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at INTEGER NOT NULL);
  CREATE TABLE sink_offsets (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL);
  CREATE TABLE quarantine (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    location TEXT NOT NULL, raw TEXT NOT NULL, at INTEGER NOT NULL
  );
  CREATE TABLE dead_letter (
    id INTEGER PRIMARY KEY, sink TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL,
    stream TEXT NOT NULL, account TEXT NOT NULL, time TEXT NOT NULL, json TEXT NOT NULL,
    reason TEXT NOT NULL, at INTEGER NOT NULL
  );
  CREATE TABLE totals (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    head_seq INTEGER NOT NULL, head_cum INTEGER NOT NULL,
    del_seq INTEGER NOT NULL, del_cum INTEGER NOT NULL
  );
  INSERT INTO totals VALUES (1, 0, 0, 0, 0);
  `,
  `
  ALTER TABLE totals ADD COLUMN dedup_ids INTEGER NOT NULL DEFAULT 0;
  UPDATE totals SET dedup_ids = (SELECT count(*) FROM dedup) + (SELECT count(*) FROM dedup_odd);
  `,
  `
  ALTER TABLE quarantine ADD COLUMN refetch TEXT;
  ALTER TABLE quarantine ADD COLUMN retry TEXT;
  ALTER TABLE quarantine ADD COLUMN retry_note TEXT;
  CREATE INDEX quarantine_retry ON quarantine (key, retry) WHERE retry IS NOT NULL;
  `,
  `
  ALTER TABLE events ADD COLUMN log_type TEXT;
  `,
  `
  ALTER TABLE dead_letter ADD COLUMN log_type TEXT;
  ALTER TABLE dead_letter ADD COLUMN retry TEXT;
  ALTER TABLE dead_letter ADD COLUMN retry_note TEXT;
  CREATE INDEX dead_letter_sink ON dead_letter (sink);
  CREATE INDEX dead_letter_retry ON dead_letter (sink, retry) WHERE retry IS NOT NULL;
  `,
  `
  ALTER TABLE events ADD COLUMN block INTEGER;
  ALTER TABLE events ADD COLUMN off INTEGER;
  ALTER TABLE events ADD COLUMN len INTEGER;
  CREATE TABLE blocks (first INTEGER PRIMARY KEY, last INTEGER NOT NULL, data BLOB NOT NULL);
  `,
  `
  ALTER TABLE events ADD COLUMN severity INTEGER;
  ALTER TABLE dead_letter ADD COLUMN severity INTEGER;
  `,
];

export interface JournalOptions {
  /** data_dir; the file `journal.sqlite` lives inside; created (recursively) if missing. */
  dir: string;
  /** Budget: tryAppend admits a batch only while the journal then holds at most this many events. */
  maxEvents?: number;
  /** Budget on the bytes event rows occupy in the file (documents plus per-row overhead, see rowCost). */
  maxBytes?: number;
  /** How long an event.id is remembered. */
  dedupWindowMs?: number;
  /** Dedup ids kept at most; past it the oldest (by event time) are forgotten early. Default 10,000,000. */
  dedupMaxIds?: number;
  /** Quarantine and dead-letter rows kept (each); the oldest are dropped beyond it. */
  maxQuarantine?: number;
  /** JSON bytes of the newest events kept in memory for caught-up readers; 0 disables. Default 8 MiB. */
  tailCacheBytes?: number;
  /**
   * The compiled checkpoint thread script (tests); by default the one beside this module. When it does not
   * exist (running from sources) or is `false`, SQLite checkpoints on the calling thread.
   */
  checkpointWorker?: string | false;
  /** WAL bytes (estimated) between checkpoints on that thread; default 16 MiB (tests use less). */
  checkpointEveryBytes?: number;
  logger?: Logger;
  now?: () => number;
}

export interface AppendResult {
  inserted: number;
  duplicates: number;
  quarantined: number;
}

/** Room a batch asks for: events and bytes as rowCost counts them. */
export interface Need {
  events: number;
  bytes: number;
}

/** What the journal holds against its budgets (the `journal` block of /status). */
export interface Usage {
  events: number;
  /** Bytes the event rows occupy in the file (documents plus per-row overhead). */
  bytes: number;
  max_events: number;
  max_bytes: number;
  /** Sources waiting for room for a batch that did not fit. */
  waiting: number;
  dedup: {
    ids: number;
    /** Estimated from the row count (DEDUP_ID_BYTES each); not part of max_bytes. */
    bytes: number;
    max_ids: number;
    /** Ids forgotten before the dedup window ended because the store was at max_ids (since start). */
    trimmed: number;
  };
}

export interface QuarantineRow {
  key: string;
  reason: string;
  detail: string;
  location: string;
  raw: string;
  at: number;
  id: number;
  /** The source stored how to read this input again: `quarantine retry` can ask for it. */
  refetchable: boolean;
  retry?: RetryState;
  retryNote?: string;
}

/** Where a `quarantine retry` request stands. */
export type RetryState = 'requested' | 'done' | 'failed';

export interface DeadLetterRow {
  id: number;
  sink: string;
  reason: string;
  at: number;
  /** The journaled event (its document as journaled, not as rendered for the sink). */
  event: OutEvent;
  /** 'requested': `dead-letters retry` asked for it and the sink's runner has not sent it yet. */
  retry?: 'requested';
  /** What the last retry did (rejected again, with when). */
  retryNote?: string;
}

/** Dead letters of one sink for /status: how many are kept and the newest distinct reasons. */
export interface DeadLetterSummary {
  sink: string;
  count: number;
  /** Newest first, among the sink's newest DEAD_REASON_WINDOW rows. */
  reasons: { reason: string; count: number; last_at: number }[];
}

/** Which dead letters a command acts on: ids (none: every row), narrowed by sink and a piece of the reason. */
export interface DeadLetterFilter {
  ids?: readonly number[];
  sink?: string;
  /** Substring of the reason, any case (the operator's search). */
  reason?: string;
}

export interface Backlog {
  /** Events journaled after the sink's offset (all streams, whatever the sink's routing). */
  events: number;
  oldestSeq?: number;
  /** `time` of the oldest of them. */
  oldestTime?: string;
}

const STREAM_SET: ReadonlySet<string> = new Set(STREAM_NAMES);

type Stmt = Database.Statement<unknown[], unknown>;

interface Totals {
  headSeq: number;
  headCum: number;
  delSeq: number;
  delCum: number;
  dedupIds: number;
}

function num(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new TypeError(`journal row: ${what} is not a number`);
}

function str(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  throw new TypeError(`journal row: ${what} is not text`);
}

/** Each stream name as one string, so events read share it instead of keeping the copy their row read made. */
const STREAM_BY_NAME: ReadonlyMap<string, StreamName> = new Map(STREAM_NAMES.map((s) => [s, s]));

function stream(v: unknown): StreamName {
  const s = typeof v === 'string' ? STREAM_BY_NAME.get(v) : undefined;
  if (s !== undefined) return s;
  throw new TypeError(`journal row: unknown stream ${String(v)}`);
}

/** Columns deadLetterRow reads, in order. */
const DEAD_COLUMNS = 'id, sink, seq, event_id, stream, account, time, json, reason, at, log_type, retry, retry_note, severity';

/** DEAD_COLUMNS for a journal at `version` (read by a plain connection, maybe not upgraded yet). */
function deadColumns(version: number): string {
  if (version >= 7) return DEAD_COLUMNS;
  if (version >= 5) return 'id, sink, seq, event_id, stream, account, time, json, reason, at, log_type, retry, retry_note, NULL';
  return 'id, sink, seq, event_id, stream, account, time, json, reason, at, NULL, NULL, NULL, NULL';
}

/** A severity column's value (NULL in rows written before it was kept). */
function severityOfColumn(v: unknown): number | undefined {
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

function deadLetterRow(r: unknown): DeadLetterRow {
  const a = row(r);
  return {
    id: num(a[0], 'id'),
    sink: str(a[1], 'sink'),
    event: new StoredEvent(
      num(a[2], 'seq'),
      str(a[3], 'event_id'),
      stream(a[4]),
      str(a[5], 'account'),
      str(a[6], 'time'),
      docBytes(a[7]),
      typeof a[10] === 'string' ? a[10] : '',
      severityOfColumn(a[13]),
    ),
    reason: str(a[8], 'reason'),
    at: num(a[9], 'at'),
    ...(a[11] === 'requested' ? { retry: 'requested' as const } : {}),
    ...(typeof a[12] === 'string' ? { retryNote: a[12] } : {}),
  };
}

/** Every cursor, by key; read as cursorRow reads it. */
const LIST_CURSORS = 'SELECT key, cursor, updated_at FROM cursors ORDER BY key';

function cursorRow(r: unknown): { key: string; cursor: string; updatedAt: number } {
  const a = row(r);
  return { key: str(a[0], 'key'), cursor: str(a[1], 'cursor'), updatedAt: num(a[2], 'updated_at') };
}

/** Dead letters per sink, by sink; read as sinkCountRow reads it. */
const COUNT_DEAD_BY_SINK = 'SELECT sink, count(*) FROM dead_letter GROUP BY sink ORDER BY sink';

function sinkCountRow(r: unknown): { sink: string; count: number } {
  const a = row(r);
  return { sink: str(a[0], 'sink'), count: num(a[1], 'count') };
}

const QUARANTINE_COLUMNS = 'key, reason, detail, location, raw, at, id, refetch IS NOT NULL, retry, retry_note';

/** A quarantine row selected as QUARANTINE_COLUMNS. */
function quarantineRow(r: unknown): QuarantineRow {
  const a = row(r);
  return {
    key: str(a[0], 'key'),
    reason: str(a[1], 'reason'),
    detail: str(a[2], 'detail'),
    location: str(a[3], 'location'),
    raw: str(a[4], 'raw'),
    at: num(a[5], 'at'),
    id: num(a[6], 'id'),
    refetchable: num(a[7], 'refetchable') === 1,
    ...(typeof a[8] === 'string' ? { retry: a[8] as RetryState } : {}),
    ...(typeof a[9] === 'string' ? { retryNote: a[9] } : {}),
  };
}

function row(v: unknown): unknown[] {
  if (Array.isArray(v)) return v as unknown[];
  throw new TypeError('journal row: unexpected shape');
}

function dedupHash(account: string, id: string): Buffer {
  return hash('sha256', `${account}\n${id}`, 'buffer').subarray(0, 16);
}

/** What read() selects: seq, id, stream, account, time, block, off, len, json (rows before schema 6 only), log_type, severity. */
const READ_COLUMNS = 'seq, id, stream, account, time, block, off, len, CASE WHEN block IS NULL THEN json END, log_type, severity';

/** Thrown inside an append transaction to roll it back when the batch does not fit the budget. */
class Refused extends Error {}

/** The event's document as the UTF-8 bytes the journal stores. */
function serialised(ev: NormalizedEvent): Buffer {
  const json: unknown = ev.json ?? JSON.stringify(ev.doc);
  if (typeof json !== 'string') throw new TypeError(`event ${ev.id}: document does not serialise to JSON`);
  return Buffer.from(json, 'utf8');
}

/** A stored document: a BLOB, or TEXT in rows written before documents were stored as bytes. */
function docBytes(v: unknown): Buffer {
  if (Buffer.isBuffer(v)) return v;
  return Buffer.from(str(v, 'json'), 'utf8');
}

/** Size of the buffers the tail cache copies documents into; larger documents get a buffer of their own. */
const SLAB_BYTES = 256 * 1024;
const SLAB_MAX_DOC = SLAB_BYTES / 8;
/** Emptied slabs waiting for a slow sink to pass them, at most; beyond that they are left to the collector. */
const MAX_RETIRED_SLABS = 16;

/**
 * A buffer the tail cache copies documents into, end to end. Reused (filled again from the start) only when no
 * cache entry points into it any more AND every sink has acknowledged its newest seq: a sink may use an
 * event's bytes until it acknowledges it (the Sink contract), never after.
 */
interface Slab {
  readonly buf: Buffer;
  used: number;
  /** Cache entries pointing into it. */
  live: number;
  /** Seq of the newest document copied into it. */
  lastSeq: number;
  /** False once a sink that may have read from it is gone (its acknowledgement will never come). */
  reusable: boolean;
}

/**
 * The newest journaled events in seq order, contiguous, ending at the journal's head. A deque over parallel
 * arrays: entries leave from the front (advancing `head`), and the dead prefix is cut off once it is at least
 * half the array, so both ends are amortised O(1) and lookups by seq are an index.
 *
 * It keeps its own copies of the documents, in a few fixed buffers that are reused: the buffers the events
 * arrived in go back to the parse worker right after the append, and nothing here churns memory the garbage
 * collector would free late (V8 frees an ArrayBuffer only at a collection, and the allocator keeps what it freed).
 */
class TailCache {
  private evs: OutEvent[] = [];
  private sizes: number[] = [];
  private slabOf: (Slab | undefined)[] = [];
  private head = 0;
  private total = 0;
  private current: Slab | undefined;
  private readonly spare: Slab[] = [];
  private retired: Slab[] = [];
  private readonly maxSpare: number;
  /** Slabs filled again after every sink had passed them (for status and tests). */
  reusedSlabs = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxEvents: number,
    /** The lowest seq every sink has acknowledged. */
    private readonly ackedThrough: () => number,
  ) {
    this.maxSpare = Math.ceil(maxBytes / SLAB_BYTES) + 2;
  }

  get count(): number {
    return this.evs.length - this.head;
  }

  get bytes(): number {
    return this.total;
  }

  /** Seq of the oldest entry, or undefined when empty. */
  firstSeq(): number | undefined {
    return this.evs[this.head]?.seq;
  }

  /**
   * Appends copies of just-committed events (seqs `firstSeq`, `firstSeq + 1`, … continuing the run), then evicts
   * the oldest past either bound.
   */
  push(firstSeq: number, evs: readonly NormalizedEvent[], bodies: readonly Buffer[]): void {
    for (let i = 0; i < evs.length; i++) {
      const ev = evs[i];
      const body = bodies[i];
      if (ev === undefined || body === undefined) continue;
      const seq = firstSeq + i;
      const slab = body.length > SLAB_MAX_DOC ? undefined : this.slabFor(body.length);
      let bytes: Buffer;
      let off = 0;
      if (slab === undefined) {
        bytes = Buffer.from(body);
      } else {
        body.copy(slab.buf, slab.used);
        bytes = slab.buf;
        off = slab.used;
        slab.used += body.length;
        slab.live++;
        slab.lastSeq = seq;
      }
      // Frozen: every caught-up sink is handed this same object.
      this.evs.push(Object.freeze(new StoredEvent(seq, ev.id, ev.stream, ev.account, ev.time, bytes, ev.logType ?? '', ev.severity, off, body.length)));
      this.sizes.push(body.length);
      this.slabOf.push(slab);
      this.total += body.length;
    }
    while (this.count > 0 && (this.total > this.maxBytes || this.count > this.maxEvents)) this.dropFirst();
    this.compact();
  }

  /** Forgets entries with seq <= `seq` (rows deleted from the journal), and reuses slabs sinks are done with. */
  dropThrough(seq: number): void {
    while ((this.evs[this.head]?.seq ?? Infinity) <= seq) this.dropFirst();
    this.compact();
    this.reclaim();
  }

  /**
   * A sink went away without acknowledging what it read: no slab it may have read from is ever reused (the
   * collector frees them); slabs filled from now on are reused as before.
   */
  forgetReaders(): void {
    for (let i = this.head; i < this.slabOf.length; i++) {
      const s = this.slabOf[i];
      if (s !== undefined) s.reusable = false;
    }
    if (this.current !== undefined) this.current.reusable = false;
    this.current = undefined;
    this.retired = [];
  }

  clear(): void {
    this.dropEntries();
    this.current = undefined;
    this.spare.length = 0;
    this.retired = [];
  }

  /** Position of `seq` for at()/sizeAt(); only meaningful for firstSeq() <= seq <= the newest seq. */
  indexOf(seq: number, first: number): number {
    return this.head + (seq - first);
  }

  at(i: number): OutEvent | undefined {
    return this.evs[i];
  }

  sizeAt(i: number): number {
    return this.sizes[i] ?? 0;
  }

  /** The slab with room for `n` more bytes: the current one, else a spare or a new one. */
  private slabFor(n: number): Slab {
    const cur = this.current;
    if (cur !== undefined && cur.used + n <= cur.buf.length) return cur;
    let next = this.spare.pop();
    if (next !== undefined) this.reusedSlabs++;
    else next = { buf: Buffer.allocUnsafeSlow(SLAB_BYTES), used: 0, live: 0, lastSeq: 0, reusable: true };
    this.current = next;
    if (cur !== undefined && cur.live === 0) this.retire(cur);
    return next;
  }

  private dropFirst(): void {
    const slab = this.slabOf[this.head];
    this.total -= this.sizes[this.head] ?? 0;
    this.head++;
    if (slab !== undefined && --slab.live === 0 && slab !== this.current) this.retire(slab);
  }

  /** A slab no entry points into: reused at once if every sink has passed it, else once they have. */
  private retire(slab: Slab): void {
    if (!slab.reusable) return;
    if (slab.lastSeq <= this.ackedThrough()) {
      this.reuse(slab);
      return;
    }
    this.retired.push(slab);
    if (this.retired.length > MAX_RETIRED_SLABS) this.retired.shift();
  }

  private reclaim(): void {
    if (this.retired.length === 0) return;
    const acked = this.ackedThrough();
    const waiting: Slab[] = [];
    for (const s of this.retired) {
      if (s.lastSeq <= acked) this.reuse(s);
      else waiting.push(s);
    }
    this.retired = waiting;
  }

  private reuse(slab: Slab): void {
    slab.used = 0;
    slab.live = 0;
    if (this.spare.length < this.maxSpare) this.spare.push(slab);
  }

  /** Forgets every entry (their slabs' bookkeeping was settled by dropFirst, or is dropped with clear()). */
  private dropEntries(): void {
    this.evs = [];
    this.sizes = [];
    this.slabOf = [];
    this.head = 0;
    this.total = 0;
  }

  private compact(): void {
    if (this.head === this.evs.length) {
      this.dropEntries();
    } else if (this.head >= 1024 && this.head * 2 >= this.evs.length) {
      this.evs.splice(0, this.head);
      this.sizes.splice(0, this.head);
      this.slabOf.splice(0, this.head);
      this.head = 0;
    }
  }
}

function positive(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isFinite(v) || v <= 0) throw new CollectorError('JOURNAL_FAILED', `journal option ${name} must be a positive number, got ${v}`);
  return v;
}

export class Journal {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly maxEvents: number;
  private readonly maxBytes: number;
  private readonly dedupWindowMs: number;
  private readonly dedupMaxIds: number;
  private readonly maxQuarantine: number;
  private readonly pageSize: number;
  private totals: Totals;
  /** Sources whose batch did not fit, oldest first, with the room it asked for (Map keeps insertion order). */
  private readonly waiters = new Map<string, Need>();
  private dedupTrimmed = 0;
  private readonly offsets = new Map<string, number>();
  private readonly filtered = new Map<string, Stmt>();
  /** Recently read blocks by key, oldest first. */
  private readonly blocks = new Map<number, Buffer>();
  /** See interned(). */
  private readonly names = new Map<string, string>();
  /** Where an append joins a block's documents (see joinBlock); grown to the largest block, kept. */
  private blockScratch: Buffer = Buffer.alloc(0);
  /** The documents' mean size in the last read: how many rows a read asks SQLite for. */
  private docBytesGuess = 1024;
  private readonly tail: TailCache | undefined;
  private tailHits = 0;
  private tailMisses = 0;
  private closed = false;
  private checkpointer: Checkpointer | undefined;

  private readonly s: {
    insDedup: Stmt;
    insDedupOdd: Stmt;
    pruneDedupOdd: Stmt;
    insEvent: Stmt;
    insBlock: Stmt;
    getBlock: Stmt;
    delBlocks: Stmt;
    insQuarantine: Stmt;
    retryRequests: Stmt;
    settleRetry: Stmt;
    trimQuarantine: Stmt;
    trimRefetchable: Stmt;
    upsertCursor: Stmt;
    delCursor: Stmt;
    getCursor: Stmt;
    listCursors: Stmt;
    setTotals: Stmt;
    upsertOffset: Stmt;
    delOffset: Stmt;
    readAll: Stmt;
    cumAtOrBelow: Stmt;
    timeOf: Stmt;
    delEvents: Stmt;
    insDead: Stmt;
    trimDead: Stmt;
    listDead: Stmt;
    countDead: Stmt;
    countDeadBySink: Stmt;
    deadReasons: Stmt;
    deadRetries: Stmt;
    delDead: Stmt;
    rejectDeadAgain: Stmt;
    listQuarantine: Stmt;
    countQuarantine: Stmt;
    pruneDedup: Stmt;
    trimDedup: Stmt;
    trimDedupOdd: Stmt;
    minDedupTime: Stmt;
  };

  private constructor(file: string, db: Database.Database, opts: JournalOptions) {
    this.file = file;
    this.db = db;
    this.log = opts.logger ?? silentLogger();
    this.now = opts.now ?? Date.now;
    this.maxEvents = positive(opts.maxEvents, DEFAULT_MAX_EVENTS, 'maxEvents');
    this.maxBytes = positive(opts.maxBytes, DEFAULT_MAX_BYTES, 'maxBytes');
    this.dedupWindowMs = positive(opts.dedupWindowMs, DEFAULT_DEDUP_WINDOW_MS, 'dedupWindowMs');
    this.dedupMaxIds = Math.floor(positive(opts.dedupMaxIds, DEFAULT_DEDUP_MAX_IDS, 'dedupMaxIds'));
    this.pageSize = num(db.pragma('page_size', { simple: true }), 'page_size');
    this.maxQuarantine = Math.floor(positive(opts.maxQuarantine, DEFAULT_MAX_QUARANTINE, 'maxQuarantine'));
    const tailBytes = opts.tailCacheBytes ?? DEFAULT_TAIL_CACHE_BYTES;
    if (!(tailBytes >= 0)) throw new CollectorError('JOURNAL_FAILED', `journal option tailCacheBytes must be 0 or more, got ${tailBytes}`);
    this.tail = tailBytes > 0 ? new TailCache(tailBytes, TAIL_CACHE_MAX_EVENTS, () => this.ackedThrough()) : undefined;

    const p = (sql: string): Stmt => db.prepare<unknown[], unknown>(sql);
    this.s = {
      insDedup: p('INSERT OR IGNORE INTO dedup (t, h) VALUES (?, ?)'),
      insDedupOdd: p('INSERT OR IGNORE INTO dedup_odd (h, seen) VALUES (?, ?)'),
      insEvent: p('INSERT INTO events (seq, cum, stream, account, id, time, json, log_type, block, off, len, severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
      insBlock: p('INSERT INTO blocks (first, last, data) VALUES (?, ?, ?)'),
      getBlock: p('SELECT data FROM blocks WHERE first = ?').pluck(),
      // Blocks are deleted in key order, so the ones with first <= floor are the deletable ones and at most one more.
      delBlocks: p('DELETE FROM blocks WHERE first <= ? AND last <= ?'),
      insQuarantine: p('INSERT INTO quarantine (key, reason, detail, location, raw, at, refetch) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      retryRequests: p("SELECT id, refetch FROM quarantine WHERE key = ? AND retry = 'requested' AND refetch IS NOT NULL ORDER BY id").raw(),
      settleRetry: p('UPDATE quarantine SET retry = ?, retry_note = ? WHERE id = ?'),
      // Entries that only describe a bad record go first: a file with 100k bad lines must not push out the entries
      // that say how to fetch a given-up file again. Those go once they are older than the API keeps anything.
      trimQuarantine: p('DELETE FROM quarantine WHERE id <= (SELECT max(id) FROM quarantine) - ? AND refetch IS NULL'),
      trimRefetchable: p('DELETE FROM quarantine WHERE refetch IS NOT NULL AND at < ?'),
      upsertCursor: p(
        'INSERT INTO cursors (key, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at',
      ),
      delCursor: p('DELETE FROM cursors WHERE key = ?'),
      getCursor: p('SELECT cursor FROM cursors WHERE key = ?').pluck(),
      listCursors: p(LIST_CURSORS).raw(),
      setTotals: p('UPDATE totals SET head_seq = ?, head_cum = ?, del_seq = ?, del_cum = ?, dedup_ids = ? WHERE one = 1'),
      upsertOffset: p('INSERT INTO sink_offsets (sink, seq) VALUES (?, ?) ON CONFLICT (sink) DO UPDATE SET seq = excluded.seq'),
      delOffset: p('DELETE FROM sink_offsets WHERE sink = ?'),
      readAll: p(`SELECT ${READ_COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`).raw(),
      cumAtOrBelow: p('SELECT cum FROM events WHERE seq <= ? ORDER BY seq DESC LIMIT 1').pluck(),
      timeOf: p('SELECT time FROM events WHERE seq = ?').pluck(),
      delEvents: p('DELETE FROM events WHERE seq <= ?'),
      insDead: p(
        'INSERT INTO dead_letter (sink, seq, event_id, stream, account, time, json, reason, at, log_type, severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      trimDead: p('DELETE FROM dead_letter WHERE id <= (SELECT max(id) FROM dead_letter) - ?'),
      listDead: p(`SELECT ${DEAD_COLUMNS} FROM dead_letter ORDER BY id DESC LIMIT ?`).raw(),
      countDead: p('SELECT count(*) FROM dead_letter').pluck(),
      countDeadBySink: p(COUNT_DEAD_BY_SINK).raw(),
      deadReasons: p(
        'SELECT reason, count(*), max(at) FROM (SELECT id, reason, at FROM dead_letter WHERE sink = ? ORDER BY id DESC LIMIT ?) GROUP BY reason ORDER BY max(id) DESC LIMIT ?',
      ).raw(),
      deadRetries: p(`SELECT ${DEAD_COLUMNS} FROM dead_letter WHERE sink = ? AND retry = 'requested' ORDER BY id LIMIT ?`).raw(),
      delDead: p('DELETE FROM dead_letter WHERE id = ?'),
      rejectDeadAgain: p('UPDATE dead_letter SET reason = ?, retry = NULL, retry_note = ? WHERE id = ?'),
      listQuarantine: p(`SELECT ${QUARANTINE_COLUMNS} FROM quarantine ORDER BY id DESC LIMIT ?`).raw(),
      countQuarantine: p('SELECT count(*) FROM quarantine').pluck(),
      pruneDedup: p('DELETE FROM dedup WHERE (t, h) IN (SELECT t, h FROM dedup WHERE t < ? ORDER BY t LIMIT ?)'),
      pruneDedupOdd: p('DELETE FROM dedup_odd WHERE h IN (SELECT h FROM dedup_odd WHERE seen < ? ORDER BY seen LIMIT ?)'),
      trimDedup: p('DELETE FROM dedup WHERE (t, h) IN (SELECT t, h FROM dedup ORDER BY t, h LIMIT ?)'),
      trimDedupOdd: p('DELETE FROM dedup_odd WHERE h IN (SELECT h FROM dedup_odd ORDER BY seen LIMIT ?)'),
      minDedupTime: p('SELECT min(t) FROM dedup').pluck(),
    };

    const t = row(db.prepare('SELECT head_seq, head_cum, del_seq, del_cum, dedup_ids FROM totals WHERE one = 1').raw().get());
    this.totals = {
      headSeq: num(t[0], 'head_seq'),
      headCum: num(t[1], 'head_cum'),
      delSeq: num(t[2], 'del_seq'),
      delCum: num(t[3], 'del_cum'),
      dedupIds: num(t[4], 'dedup_ids'),
    };
    for (const r of db.prepare('SELECT sink, seq FROM sink_offsets').raw().all()) {
      const a = row(r);
      this.offsets.set(str(a[0], 'sink'), num(a[1], 'seq'));
    }
  }

  /** Opens (creating if needed) `<dir>/journal.sqlite` and brings its schema up to date. */
  static open(opts: JournalOptions): Journal {
    const dir = path.resolve(opts.dir);
    try {
      fs.mkdirSync(dir, { recursive: true });
      fs.accessSync(dir, fs.constants.W_OK);
    } catch (err) {
      throw new CollectorError('JOURNAL_FAILED', `data_dir ${dir} cannot be created or is not writable: ${(err as Error).message}`, {
        cause: err,
        details: { path: dir },
      });
    }
    const file = path.join(dir, FILE_NAME);
    let db: Database.Database | undefined;
    try {
      db = new Database(file);
      db.pragma('busy_timeout = 5000');
      // Large pages: a ~1.5 KB event row costs far less B-tree and WAL bookkeeping per byte (about 40 % less
      // CPU per append than 4 KiB pages). Takes effect only while the file is empty, i.e. for a new journal.
      db.pragma('page_size = 32768');
      const mode: unknown = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal') throw new Error(`could not switch to WAL mode (got ${String(mode)})`);
      db.pragma('synchronous = NORMAL');
      // Bounded page cache (KiB when negative) keeps RSS flat whatever the journal size. 2 MiB was as fast as
      // 8 MiB in the 2M-record benchmark (appends touch the newest pages; the dedup index is mostly appended to).
      db.pragma('cache_size = -2048');
      // After a checkpoint, shrink a WAL that grew during a burst instead of keeping it at its peak.
      db.pragma('journal_size_limit = 67108864');
      // Checkpoint about every 16 MiB of WAL (SQLite counts pages; the default of 1000 would be 32 MiB here). This
      // holds until the checkpoint thread is ready, and whenever no such thread runs.
      db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
      migrate(db, file);
      const journal = new Journal(file, db, opts);
      if (opts.checkpointWorker !== false) {
        journal.checkpointer = Checkpointer.start(file, db, {
          everyBytes: opts.checkpointEveryBytes ?? CHECKPOINT_EVERY_BYTES,
          logger: journal.log,
          ...(opts.checkpointWorker !== undefined ? { workerFile: opts.checkpointWorker } : {}),
        });
      }
      journal.log.info({ file, usage: journal.usage(), headSeq: journal.headSeq() }, 'journal opened');
      return journal;
    } catch (err) {
      try {
        db?.close();
      } catch {
        // Already failing; the original error is the one worth reporting.
      }
      if (err instanceof CollectorError) throw err;
      throw new CollectorError('JOURNAL_FAILED', `cannot open journal ${file}: ${(err as Error).message}`, {
        cause: err,
        details: { path: file },
      });
    }
  }

  /**
   * ONE transaction: remember each event's id; append the new ones; store quarantined rows; set the
   * cursor of `key`. On any failure nothing of the batch is kept and the cursor is unchanged. Written whatever
   * the budget (tests, tools); sources go through tryAppend.
   */
  append(key: string, batch: Batch): AppendResult {
    return this.guard('append', () => this.write(key, batch, undefined) ?? { inserted: 0, duplicates: 0, quarantined: 0 });
  }

  /**
   * append() if the rows the batch adds fit the budget, else nothing is written and undefined is returned: `key`
   * then waits in line (hasRoom tells when to pull the batch again; withdraw leaves the line). The journal
   * being empty admits any batch of the source first in line, so a batch larger than the budget is not stuck.
   * After a batch is written, `key` also joins the line if one more batch like it would not fit: its next batch
   * is then not fetched only to be refused (with a slow sink that was every other fetch).
   */
  tryAppend(key: string, batch: Batch): AppendResult | undefined {
    return this.guard('tryAppend', () => {
      const before = this.totals.headCum;
      const res = this.write(key, batch, this.room(key));
      if (res !== undefined) {
        this.waiters.delete(key);
        // A batch without events (a cursor step, quarantine rows, counters) says nothing about the next one's size.
        if (batch.events.length === 0) return res;
        const next = { events: batch.events.length, bytes: Math.max(1, this.totals.headCum - before) };
        const room = this.room(key);
        if (next.events > room.events || next.bytes > room.bytes) this.waiters.set(key, next);
        return res;
      }
      // Room for the whole batch as if every event were new (an upper bound: duplicates take none).
      let bytes = 0;
      for (const ev of batch.events) bytes += this.rowCost(ev, (ev.bytes ?? serialised(ev)).length);
      const need = { events: batch.events.length, bytes };
      if (!this.waiters.has(key)) this.log.debug({ key, need, usage: this.usage() }, 'batch does not fit the journal budget; waiting for room');
      this.waiters.set(key, need);
      return undefined;
    });
  }

  /** True when the batch `key` waits with (or, not waiting, any batch at all) would be admitted now. */
  hasRoom(key: string): boolean {
    const need = this.waiters.get(key) ?? { events: 1, bytes: 1 };
    const room = this.room(key);
    return need.events <= room.events && need.bytes <= room.bytes;
  }

  /** `key` no longer waits for room (its pull ended without a refused batch: caught up, failed or stopped). */
  withdraw(key: string): void {
    this.waiters.delete(key);
  }

  /**
   * What one event occupies in the file: its row (the text columns plus ROW_BYTES) and its document in a block,
   * whose overflow pages carry pageSize - 4 bytes each.
   */
  private rowCost(ev: NormalizedEvent, docBytes: number): number {
    const text = ev.id.length + ev.account.length + ev.time.length + ev.stream.length + (ev.logType?.length ?? 0);
    return text + ROW_BYTES + Math.ceil((docBytes * this.pageSize) / (this.pageSize - 4));
  }

  /**
   * The room `key` may use: the budget less what is stored and less what the sources ahead of it in line asked
   * for. Unlimited when the journal holds no event and nobody is ahead.
   */
  private room(key: string): Need {
    let events = 0;
    let bytes = 0;
    for (const [k, need] of this.waiters) {
      if (k === key) break;
      events += need.events;
      bytes += need.bytes;
    }
    const u = this.usage();
    if (u.events === 0 && events === 0) return { events: Infinity, bytes: Infinity };
    return { events: this.maxEvents - u.events - events, bytes: this.maxBytes - u.bytes - bytes };
  }

  /** The append transaction; with `room`, rolled back (undefined) as soon as the new rows would exceed it. */
  private write(key: string, batch: Batch, room: Need | undefined, keepCursor = false): AppendResult | undefined {
    const t = this.totals;
    let headSeq = t.headSeq;
    let headCum = t.headCum;
    let inserted = 0;
    let duplicates = 0;
    const at = this.now();
    const nowS = Math.floor(at / 1000);
    const oldestS = Math.floor((at - this.dedupWindowMs) / 1000);
    const newestS = nowS + FUTURE_SLACK_S;
    const maxEvents = room?.events ?? Infinity;
    const maxCum = t.headCum + (room?.bytes ?? Infinity);
    let docBytes = 0;
    let dedupIds = t.dedupIds;
    let trimmed = 0;
    // What the tail cache gains once (and only if) the transaction commits.
    const cache = this.tail !== undefined;
    const fresh: NormalizedEvent[] = [];
    const freshBodies: Buffer[] = [];
    // The block being filled: its first seq and its documents so far.
    let blockFirst = 0;
    let blockLast = 0;
    let blockBytes = 0;
    const parts: Buffer[] = [];
    const closeBlock = (): void => {
      if (parts.length === 0) return;
      this.s.insBlock.run(blockFirst, blockLast, parts.length === 1 ? parts[0] : this.joinBlock(parts, blockBytes));
      parts.length = 0;
      blockBytes = 0;
    };
    const run = this.db.transaction(() => {
      for (const ev of batch.events) {
        if (!STREAM_SET.has(ev.stream)) throw new TypeError(`event ${ev.id}: unknown stream ${String(ev.stream)}`);
        const h = dedupHash(ev.account, ev.id);
        const timeS = Math.floor(Date.parse(ev.time) / 1000);
        // An event stamped with its collection time gets another time at every read: only its id can find it again.
        const isNew =
          ev.timeMissing !== true && timeS >= oldestS && timeS <= newestS ? this.s.insDedup.run(timeS, h).changes : this.s.insDedupOdd.run(h, nowS).changes;
        if (isNew === 0) {
          duplicates++;
          continue;
        }
        // Stored as UTF-8 bytes (a BLOB), exactly what sinks write: no text conversion on the way out, and the
        // cached copy is byte-identical to the row even for text SQLite would have had to mend.
        const body = ev.bytes ?? serialised(ev);
        headSeq++;
        headCum += this.rowCost(ev, body.length);
        docBytes += body.length;
        if (inserted >= maxEvents || headCum > maxCum) throw new Refused();
        if (parts.length > 0 && blockBytes + body.length > BLOCK_BYTES) closeBlock();
        if (parts.length === 0) blockFirst = headSeq;
        this.s.insEvent.run(headSeq, headCum, ev.stream, ev.account, ev.id, ev.time, EMPTY, ev.logType ?? null, blockFirst, blockBytes, body.length, ev.severity ?? null);
        parts.push(body);
        blockBytes += body.length;
        blockLast = headSeq;
        inserted++;
        if (!cache) continue;
        fresh.push(ev);
        freshBodies.push(body);
      }
      closeBlock();
      const q = batch.quarantined ?? [];
      for (const item of q) {
        const raw = item.raw.length > MAX_RAW_CHARS ? item.raw.slice(0, MAX_RAW_CHARS) : item.raw;
        this.s.insQuarantine.run(key, item.reason, item.detail, item.location, raw, at, item.refetch ?? null);
      }
      if (q.length > 0) this.s.trimQuarantine.run(this.maxQuarantine);
      if (q.some((item) => item.refetch !== undefined)) this.s.trimRefetchable.run(at - REFETCHABLE_KEPT_MS);
      // A file read again from the quarantine (retryQuarantined) adds events without moving the source's cursor.
      if (!keepCursor) this.s.upsertCursor.run(key, batch.cursor, at);
      if (inserted > 0) {
        dedupIds += inserted;
        if (dedupIds > this.dedupMaxIds) {
          trimmed = this.trimDedup(dedupIds - Math.floor(this.dedupMaxIds * (1 - DEDUP_TRIM_FRACTION)));
          dedupIds -= trimmed;
        }
        this.s.setTotals.run(headSeq, headCum, t.delSeq, t.delCum, dedupIds);
      }
    });
    try {
      run.immediate();
    } catch (err) {
      if (err instanceof Refused) return undefined;
      throw err;
    }
    this.totals = { ...t, headSeq, headCum, dedupIds };
    if (trimmed > 0) this.noteTrimmed(trimmed);
    this.checkpointer?.noteWritten(docBytes + inserted * EVENT_OVERHEAD_BYTES + SMALL_TX_BYTES);
    this.tail?.push(t.headSeq + 1, fresh, freshBodies);
    return { inserted, duplicates, quarantined: batch.quarantined?.length ?? 0 };
  }

  /** Forgets up to `n` ids, oldest event time first (odd ones, by first sighting, only once no other is left). */
  private trimDedup(n: number): number {
    const main = this.s.trimDedup.run(Math.min(n, PRUNE_CHUNK)).changes;
    const rest = Math.min(n, PRUNE_CHUNK) - main;
    return main + (rest > 0 ? this.s.trimDedupOdd.run(rest).changes : 0);
  }

  /** Counts ids the cap made the journal forget; says so once per process, with the window that is left. */
  private noteTrimmed(n: number): void {
    const first = this.dedupTrimmed === 0;
    this.dedupTrimmed += n;
    if (!first) return;
    const oldest: unknown = this.s.minDedupTime.get();
    const keptSince = typeof oldest === 'number' || typeof oldest === 'bigint' ? new Date(Number(oldest) * 1000).toISOString() : undefined;
    this.log.warn(
      { dedup_ids: this.totals.dedupIds, max_ids: this.dedupMaxIds, kept_since: keptSince },
      'dedup store at journal.dedup_max_ids: forgetting the oldest ids early (a replay of older records would be delivered again, never lost)',
    );
  }

  getCursor(key: string): string | undefined {
    return this.guard('getCursor', () => {
      const v: unknown = this.s.getCursor.get(key);
      return v === undefined ? undefined : str(v, 'cursor');
    });
  }

  /** `undefined` deletes the cursor, so the source starts over from its configured beginning. */
  setCursor(key: string, cursor: string | undefined): void {
    this.guard('setCursor', () => {
      if (cursor === undefined) this.s.delCursor.run(key);
      else this.s.upsertCursor.run(key, cursor, this.now());
    });
  }

  /** Several cursors moved (or deleted, `undefined`) in one transaction: `checkpoints import` is all or nothing. */
  setCursors(changes: readonly { key: string; cursor: string | undefined }[]): void {
    this.guard('setCursors', () => {
      this.db
        .transaction(() => {
          for (const c of changes) {
            if (c.cursor === undefined) this.s.delCursor.run(c.key);
            else this.s.upsertCursor.run(c.key, c.cursor, this.now());
          }
        })
        .immediate();
    });
  }

  listCursors(): { key: string; cursor: string; updatedAt: number }[] {
    return this.guard('listCursors', () =>
      this.s.listCursors.all().map(cursorRow),
    );
  }

  /**
   * Declares the configured sinks. New names start at offset 0 (everything still journaled); names no
   * longer present are forgotten so they stop holding back deletion. Returns the dropped names.
   */
  setSinks(names: readonly string[]): string[] {
    return this.guard('setSinks', () => {
      const wanted = new Set(names);
      const dropped = [...this.offsets.keys()].filter((n) => !wanted.has(n));
      const added = [...wanted].filter((n) => !this.offsets.has(n));
      const offsets = new Map(this.offsets);
      for (const n of dropped) offsets.delete(n);
      for (const n of added) offsets.set(n, 0);
      const totals = this.db.transaction(() => {
        for (const n of dropped) this.s.delOffset.run(n);
        for (const n of added) this.s.upsertOffset.run(n, 0);
        return this.deleteDelivered(offsets);
      }).immediate();
      this.replaceOffsets(offsets);
      this.totals = totals;
      // A removed sink's drain may still be writing its last batch: what it read is never overwritten.
      if (dropped.length > 0) this.tail?.forgetReaders();
      this.tail?.dropThrough(totals.delSeq);
      if (dropped.length > 0 || added.length > 0) this.log.info({ added, dropped }, 'journal sinks changed');
      return dropped;
    });
  }

  /**
   * Events after the sink's offset in seq order: at most `maxEvents`, about `maxBytes` (at least one
   * event if any), only `streams` when given, from `after` when it is past the offset. `lastSeq` is the highest seq looked at, so a sink routed to
   * few streams still moves past rows that are not its own; it equals the offset when nothing is new.
   *
   * `into`: a buffer of the caller's that documents read from SQLite are copied into, as far as it has room (the
   * events then hold ranges of it, and the caller must not reuse it while they are in use); the rest hold ranges of
   * the journal's blocks. Without it every event of a batch in flight keeps its 256 KiB block alive: a batch outlives
   * V8's young generation, so the blocks were promoted and freed only by full collections, which their memory
   * brought on every few reads (bench:sinks: ~50 full collections per 300k events, against ~10 with `into`).
   * Documents served from the tail cache are not copied (its slabs are reused, never freed).
   */
  read(sink: string, maxEvents: number, maxBytes: number, streams?: readonly StreamName[], after?: number, into?: Buffer): { events: OutEvent[]; lastSeq: number } {
    return this.guard('read', () => {
      // A sink with sends in flight reads past its offset (`after`, the last seq it has read).
      const from = this.liveOffset(Math.max(this.requireSink(sink), after ?? 0));
      const events: OutEvent[] = [];
      let lastSeq = from;
      if (maxEvents <= 0) return { events, lastSeq };
      const cached = this.readTail(from, maxEvents, maxBytes, streams);
      if (cached !== undefined) {
        this.tailHits++;
        return cached;
      }
      if (this.tail !== undefined) this.tailMisses++;
      let bytes = 0;
      /** Where the next document copied into `into` goes. */
      let at = 0;
      // Documents consecutive in one block are copied as one run (one copy per block instead of one per event).
      let runFrom: Buffer | undefined;
      let runStart = 0;
      let runEnd = 0;
      let runAt = 0;
      const flush = (): void => {
        if (runFrom !== undefined && into !== undefined) runFrom.copy(into, runAt, runStart, runEnd);
        runFrom = undefined;
      };
      /** Takes one row (READ_COLUMNS); false once the read is complete (the row may then be left out). */
      const take = (r: unknown): boolean => {
        const a = row(r);
        const seq = num(a[0], 'seq');
        // READ_COLUMNS: the document's block, offset and length, or (rows before schema 6) the document itself;
        // both NULL for a row a filtered read skips.
        const block = a[5];
        const json = a[8];
        if (block !== null || json !== null) {
          // Ranges of a block (or a buffer per old row), not text: measured in bench:sinks, reading the documents
          // as strings cost ~30 % more CPU per event (a batch of strings outlives the young generation and is promoted).
          let body: Buffer;
          let off = 0;
          let size: number;
          if (block !== null) {
            off = num(a[6], 'off');
            size = num(a[7], 'len');
            body = this.blockData(num(block, 'block'), off, size);
          } else {
            body = docBytes(json);
            size = body.length;
          }
          if (events.length > 0 && bytes + size > maxBytes) return false;
          bytes += size;
          if (into !== undefined && block !== null && at + size <= into.length) {
            if (runFrom === body && runEnd === off) runEnd += size;
            else {
              flush();
              runFrom = body;
              runStart = off;
              runEnd = off + size;
              runAt = at;
            }
            body = into;
            off = at;
            at += size;
          }
          const logType = typeof a[9] === 'string' ? this.interned(a[9]) : '';
          events.push(new StoredEvent(seq, str(a[1], 'id'), stream(a[2]), this.interned(str(a[3], 'account')), str(a[4], 'time'), body, logType, severityOfColumn(a[10]), off, size));
        }
        lastSeq = seq;
        return events.length < maxEvents && bytes < maxBytes;
      };
      if (streams !== undefined) {
        for (const r of this.filteredRead(streams).iterate(from, SCAN_LIMIT + Math.floor(maxEvents))) if (!take(r)) break;
      } else {
        // Whole rows at once (all() costs less per row than iterate()), about as many as the byte limit lets in:
        // rows past where the read stops are left out, and a short guess is followed by another call.
        const cap = Math.floor(maxEvents);
        let more = true;
        while (more && events.length < cap) {
          const want = Math.max(1, Math.min(cap - events.length, Math.ceil((maxBytes - bytes) / this.docBytesGuess) + 8, SCAN_LIMIT));
          const rows = this.s.readAll.all(lastSeq, want);
          for (const r of rows) if (!(more = take(r))) break;
          if (rows.length < want) more = false;
        }
        if (events.length > 0) this.docBytesGuess = Math.max(64, Math.round(bytes / events.length));
      }
      flush();
      return { events, lastSeq };
    });
  }

  /**
   * One string for each account name and log type read (a handful of values): the events of a batch in flight share
   * it, and the copy each row read made dies young.
   */
  private interned(s: string): string {
    const known = this.names.get(s);
    if (known !== undefined) return known;
    if (this.names.size >= MAX_INTERNED) this.names.clear();
    this.names.set(s, s);
    return s;
  }

  /**
   * A block's documents joined in one reused buffer, valid until the next call: SQLite copies a bound blob
   * (better-sqlite3 binds with SQLITE_TRANSIENT), so it is free again once the insert returned. Buffer.concat made a
   * new one per block: ~55 MB/s of 256 KiB allocations in the 1M-record benchmark, left to the garbage collector.
   */
  private joinBlock(parts: readonly Buffer[], bytes: number): Buffer {
    if (this.blockScratch.length < bytes) this.blockScratch = Buffer.allocUnsafeSlow(Math.max(bytes, BLOCK_BYTES));
    let at = 0;
    for (const part of parts) at += part.copy(this.blockScratch, at);
    return this.blockScratch.subarray(0, bytes);
  }

  /** Block `first`, which must hold `len` bytes at `off` (blocks are kept in a small cache: reads go forward). */
  private blockData(first: number, off: number, len: number): Buffer {
    let data = this.blocks.get(first);
    if (data === undefined) {
      const v: unknown = this.s.getBlock.get(first);
      if (!Buffer.isBuffer(v)) throw new Error(`block ${first} is missing`);
      data = v;
      if (this.blocks.size >= BLOCK_CACHE_ENTRIES) {
        const oldest = this.blocks.keys().next();
        if (oldest.done !== true) this.blocks.delete(oldest.value);
      }
      this.blocks.set(first, data);
    }
    if (off + len > data.length) throw new Error(`block ${first} holds ${data.length} bytes, a row wants ${off}+${len}`);
    return data;
  }

  /** Moves the sink's offset to `uptoSeq` (never backwards), then deletes rows every active sink has passed. */
  ack(sink: string, uptoSeq: number): void {
    this.guard('ack', () => {
      const current = this.offsets.get(sink);
      if (current === undefined) {
        // A drain that was just removed by setSinks may still finish its last batch; that is not an error.
        this.log.debug({ sink, uptoSeq }, 'ack for a sink that is not configured; ignored');
        return;
      }
      const next = Math.min(Math.floor(uptoSeq), this.totals.headSeq);
      if (next <= current) return;
      const offsets = new Map(this.offsets).set(sink, next);
      const totals = this.db.transaction(() => {
        this.s.upsertOffset.run(sink, next);
        return this.deleteDelivered(offsets);
      }).immediate();
      this.offsets.set(sink, next);
      this.totals = totals;
      this.checkpointer?.noteWritten(SMALL_TX_BYTES);
      this.tail?.dropThrough(totals.delSeq);
    });
  }

  offset(sink: string): number {
    return this.offsets.get(sink) ?? 0;
  }

  /** Events journaled after the sink's offset, for status and lag. O(1) because live seqs are contiguous. */
  backlog(sink: string): Backlog {
    return this.guard('backlog', () => {
      const from = this.liveOffset(this.offsets.get(sink) ?? 0);
      const events = this.totals.headSeq - from;
      if (events <= 0) return { events: 0 };
      const oldestSeq = from + 1;
      const time: unknown = this.s.timeOf.get(oldestSeq);
      return typeof time === 'string' ? { events, oldestSeq, oldestTime: time } : { events, oldestSeq };
    });
  }

  usage(): Usage {
    const t = this.totals;
    return {
      events: t.headSeq - t.delSeq,
      bytes: t.headCum - t.delCum,
      max_events: this.maxEvents,
      max_bytes: this.maxBytes,
      waiting: this.waiters.size,
      dedup: { ids: t.dedupIds, bytes: t.dedupIds * DEDUP_ID_BYTES, max_ids: this.dedupMaxIds, trimmed: this.dedupTrimmed },
    };
  }

  /**
   * True while a source waits for room for its batch, or the journal holds more than its budget (only a batch
   * admitted into an empty journal can take it there): sources are paused by the budget.
   */
  overBudget(): boolean {
    const t = this.totals;
    return this.waiters.size > 0 || t.headSeq - t.delSeq > this.maxEvents || t.headCum - t.delCum > this.maxBytes;
  }

  /**
   * The in-memory tail cache: what it holds now, how many reads it served (hits) or left to SQLite (misses), and
   * how often it refilled a buffer of copies every sink had passed (slabs_reused).
   */
  tailCache(): { events: number; bytes: number; hits: number; misses: number; slabs_reused: number } {
    return { events: this.tail?.count ?? 0, bytes: this.tail?.bytes ?? 0, hits: this.tailHits, misses: this.tailMisses, slabs_reused: this.tail?.reusedSlabs ?? 0 };
  }

  /**
   * Checkpoints: whether a thread of their own runs them (else SQLite does, inside appends), the rounds it
   * completed, and how often the writer then copied the last pages itself.
   */
  checkpoints(): { threaded: boolean; thread_rounds: number; writer_finishes: number } {
    const c = this.checkpointer;
    return { threaded: c?.threaded ?? false, thread_rounds: c?.stats.thread ?? 0, writer_finishes: c?.stats.writer ?? 0 };
  }

  /** The highest seq ever assigned (0 for a new journal). */
  headSeq(): number {
    return this.totals.headSeq;
  }

  /** Keeps events a sink rejected permanently (per-event data errors), with the reason. */
  deadLetter(sink: string, events: readonly OutEvent[], reason: string): void {
    this.deadLetterEach(sink, events.map((event) => ({ event, reason })));
  }

  /** Keeps events a sink rejected permanently, each with its own reason, in one transaction. */
  deadLetterEach(sink: string, items: readonly { event: OutEvent; reason: string }[]): void {
    if (items.length === 0) return;
    this.guard('deadLetter', () => {
      const at = this.now();
      this.db.transaction(() => {
        for (const { event: e, reason } of items) {
          this.s.insDead.run(sink, e.seq, e.id, e.stream, e.account, e.time, e.bytes, reason, at, e.logType === '' ? null : e.logType, e.severity ?? null);
        }
        this.s.trimDead.run(this.maxQuarantine);
      }).immediate();
    });
  }

  /** The newest dead-lettered events, newest first. */
  deadLetters(limit = 100): DeadLetterRow[] {
    return this.guard('deadLetters', () => this.s.listDead.all(Math.max(0, Math.floor(limit))).map(deadLetterRow));
  }

  deadLetterCount(): number {
    return this.guard('deadLetterCount', () => num(this.s.countDead.get(), 'count'));
  }

  /**
   * Per sink that has any: how many dead letters are kept, and the `reasons` newest distinct reasons (with how
   * often each occurs among the sink's newest rows). Counting walks the sink index, not the documents.
   */
  deadLetterSummary(reasons = 5): DeadLetterSummary[] {
    return this.guard('deadLetterSummary', () =>
      this.s.countDeadBySink.all().map((r) => {
        const { sink, count } = sinkCountRow(r);
        return {
          sink,
          count,
          reasons: this.s.deadReasons.all(sink, DEAD_REASON_WINDOW, Math.max(0, Math.floor(reasons))).map((x) => {
            const b = row(x);
            return { reason: str(b[0], 'reason'), count: num(b[1], 'count'), last_at: num(b[2], 'at') };
          }),
        };
      }),
    );
  }

  /** Dead letters of `sink` an operator asked to send again (`dead-letters retry`), oldest first, at most `limit`. */
  deadLetterRetries(sink: string, limit: number): DeadLetterRow[] {
    return this.guard('deadLetterRetries', () => this.s.deadRetries.all(sink, Math.max(0, Math.floor(limit))).map(deadLetterRow));
  }

  /**
   * How sending dead letters again ended, in one transaction: the delivered rows are deleted; a row rejected again
   * keeps the receiver's new reason, is no longer requested, and says so in its note.
   */
  settleDeadLetterRetries(delivered: readonly number[], rejected: readonly { id: number; reason: string }[]): void {
    if (delivered.length === 0 && rejected.length === 0) return;
    this.guard('settleDeadLetterRetries', () => {
      const note = `sent again ${new Date(this.now()).toISOString()}: rejected again`;
      this.db.transaction(() => {
        for (const id of delivered) this.s.delDead.run(id);
        for (const r of rejected) this.s.rejectDeadAgain.run(r.reason, note, r.id);
      }).immediate();
    });
  }

  /** The newest quarantined records, newest first. */
  quarantine(limit = 100): QuarantineRow[] {
    return this.guard('quarantine', () =>
      this.s.listQuarantine.all(Math.max(0, Math.floor(limit))).map(quarantineRow),
    );
  }

  /** Quarantined inputs of `key` whose reading again was requested (`quarantine retry`), oldest first. */
  retryRequests(key: string): { id: number; refetch: string }[] {
    return this.guard('retryRequests', () =>
      this.s.retryRequests.all(key).map((r) => {
        const a = row(r);
        return { id: num(a[0], 'id'), refetch: str(a[1], 'refetch') };
      }),
    );
  }

  /** Records how a requested retry ended. */
  settleRetry(id: number, state: 'done' | 'failed', note: string): void {
    this.guard('settleRetry', () => {
      this.s.settleRetry.run(state, note.slice(0, 2000), id);
    });
  }

  /**
   * Appends what reading a quarantined input again produced, as append() does (dedup, quarantine, one transaction)
   * but leaving the source's cursor where it is: the stream has long moved past that input.
   */
  appendRefetched(key: string, events: NormalizedEvent[], quarantined: readonly Quarantined[] = []): AppendResult {
    return this.guard(
      'appendRefetched',
      () => this.write(key, { events, quarantined: [...quarantined], cursor: '' }, undefined, true) ?? { inserted: 0, duplicates: 0, quarantined: 0 },
    );
  }

  quarantineCount(): number {
    return this.guard('quarantineCount', () => num(this.s.countQuarantine.get(), 'count'));
  }

  /**
   * Forgets ids whose event time (or, for odd times, first sighting) is older than the dedup window;
   * returns how many. Both deletes seek on a key, so a call with nothing to do is a couple of lookups.
   */
  pruneDedup(): number {
    return this.guard('pruneDedup', () => {
      const cutoff = Math.floor((this.now() - this.dedupWindowMs) / 1000);
      let removed = 0;
      for (const stmt of [this.s.pruneDedup, this.s.pruneDedupOdd]) {
        for (;;) {
          // Each chunk and the count it changes commit together, so dedup_ids stays exact.
          const n = this.db.transaction(() => {
            const gone = stmt.run(cutoff, PRUNE_CHUNK).changes;
            if (gone > 0) {
              const t = this.totals;
              this.s.setTotals.run(t.headSeq, t.headCum, t.delSeq, t.delCum, t.dedupIds - gone);
            }
            return gone;
          }).immediate();
          if (n > 0) this.totals = { ...this.totals, dedupIds: this.totals.dedupIds - n };
          removed += n;
          if (n < PRUNE_CHUNK) break;
        }
      }
      if (removed > 0) this.log.debug({ removed }, 'dedup ids pruned');
      return removed;
    });
  }

  /** False once close() was called: readers that may run after it (a metrics scrape) check first. */
  isOpen(): boolean {
    return !this.closed;
  }

  /** Closes the database; safe to call more than once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tail?.clear();
    this.checkpointer?.close();
    try {
      this.db.close();
    } catch (err) {
      throw this.wrap('close', err);
    }
  }

  /**
   * Deletes the prefix of rows every sink in `offsets` has acked, inside the caller's transaction, and
   * returns the totals to adopt once that transaction has committed.
   */
  private deleteDelivered(offsets: ReadonlyMap<string, number>): Totals {
    const t = this.totals;
    if (offsets.size === 0) return t;
    const floor = Math.min(Math.min(...offsets.values()), t.headSeq);
    if (floor <= t.delSeq) return t;
    const cum: unknown = this.s.cumAtOrBelow.get(floor);
    const delCum = cum === undefined ? t.delCum : num(cum, 'cum');
    this.s.delEvents.run(floor);
    this.s.delBlocks.run(floor, floor);
    for (const first of this.blocks.keys()) if (first <= floor) this.blocks.delete(first);
    this.s.setTotals.run(t.headSeq, t.headCum, floor, delCum, t.dedupIds);
    return { ...t, delSeq: floor, delCum };
  }

  /** The lowest offset of all configured sinks (Infinity with none: nothing reads). */
  private ackedThrough(): number {
    let min = Infinity;
    for (const v of this.offsets.values()) if (v < min) min = v;
    return min;
  }

  private replaceOffsets(next: ReadonlyMap<string, number>): void {
    this.offsets.clear();
    for (const [k, v] of next) this.offsets.set(k, v);
  }

  private liveOffset(offset: number): number {
    return Math.max(offset, this.totals.delSeq);
  }

  private requireSink(sink: string): number {
    const o = this.offsets.get(sink);
    if (o === undefined) throw new CollectorError('JOURNAL_FAILED', `journal ${this.file}: sink "${sink}" is not configured (call setSinks first)`);
    return o;
  }

  /**
   * The read of `read()` served from the tail cache, or undefined when the cache does not hold seq
   * from+1 (then SQLite answers). Mirrors the SQLite path step by step: the same scan limit, the same
   * byte and count checks, the same `lastSeq`; sizes are the UTF-8 lengths measured at append.
   */
  private readTail(
    from: number,
    maxEvents: number,
    maxBytes: number,
    streams: readonly StreamName[] | undefined,
  ): { events: OutEvent[]; lastSeq: number } | undefined {
    const tail = this.tail;
    if (tail === undefined) return undefined;
    const head = this.totals.headSeq;
    const events: OutEvent[] = [];
    let lastSeq = from;
    // Nothing after the offset: SQLite would find no row either.
    if (from >= head) return { events, lastSeq };
    const first = tail.firstSeq();
    if (first === undefined || first > from + 1) return undefined;
    const limit = streams === undefined ? Math.floor(maxEvents) : SCAN_LIMIT + Math.floor(maxEvents);
    // SQLite rejects a LIMIT it cannot hold as an integer; leave such calls to it.
    if (!Number.isSafeInteger(limit)) return undefined;
    const wanted = streams === undefined ? undefined : new Set<string>(streams);
    let bytes = 0;
    const end = Math.min(head, from + limit);
    for (let seq = from + 1, i = tail.indexOf(seq, first); seq <= end; seq++, i++) {
      const ev = tail.at(i);
      if (ev === undefined) throw new Error(`tail cache lost seq ${seq}`);
      if (wanted === undefined || wanted.has(ev.stream)) {
        const size = tail.sizeAt(i);
        if (events.length > 0 && bytes + size > maxBytes) break;
        bytes += size;
        events.push(ev);
      }
      lastSeq = seq;
      if (events.length >= maxEvents || bytes >= maxBytes) break;
    }
    return { events, lastSeq };
  }

  /** One statement per distinct stream set (as many as there are routed sinks), built on first use. */
  private filteredRead(streams: readonly StreamName[]): Stmt {
    const list = [...new Set(streams)].filter((x) => STREAM_SET.has(x)).sort();
    const cacheKey = list.join(',');
    let stmt = this.filtered.get(cacheKey);
    if (stmt === undefined) {
      // Stream names come from the fixed STREAM_NAMES list, so inlining them as literals is safe.
      const inList = list.map((x) => `'${x}'`).join(', ');
      const mine = list.length === 0 ? 'FALSE' : `stream IN (${inList})`;
      stmt = this.db
        .prepare<unknown[], unknown>(
          `SELECT seq, id, stream, account, time, CASE WHEN ${mine} THEN block END, off, len, CASE WHEN ${mine} AND block IS NULL THEN json END, log_type, severity FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
        )
        .raw();
      this.filtered.set(cacheKey, stmt);
    }
    return stmt;
  }

  private guard<T>(op: string, fn: () => T): T {
    if (this.closed) throw new CollectorError('JOURNAL_FAILED', `journal ${this.file} is closed (${op})`);
    try {
      return fn();
    } catch (err) {
      throw this.wrap(op, err);
    }
  }

  private wrap(op: string, err: unknown): CollectorError {
    if (err instanceof CollectorError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    return new CollectorError('JOURNAL_FAILED', `journal ${this.file}: ${op} failed: ${msg}`, {
      cause: err,
      details: { path: this.file, op },
    });
  }
}

function migrate(db: Database.Database, file: string): void {
  const version = num(db.pragma('user_version', { simple: true }), 'user_version');
  if (version > SCHEMA_VERSION) {
    throw new CollectorError(
      'JOURNAL_FAILED',
      `journal ${file} has schema version ${version}, newer than this collector understands (${SCHEMA_VERSION}); upgrade the collector`,
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    const sql = MIGRATIONS[v];
    if (sql === undefined) throw new Error(`missing migration to schema version ${v + 1}`);
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/** What `quarantine retry` did to the entries it was asked about. */
export interface RetryRequestResult {
  /** Now waiting for the collector to read them again. */
  requested: number[];
  /** The source stored no way to fetch these again (a single bad record, not a file). */
  notRefetchable: number[];
  /** No such entry (trimmed, or a typo). */
  unknown: number[];
}

/**
 * Asks the collector to read quarantined inputs again: marks them `requested`; each source picks up its own at its
 * next poll (the collector may be running: this is a plain connection that only updates those rows). `all` takes
 * every entry that can be fetched again and is not already done or waiting.
 */
export function requestQuarantineRetry(dir: string, which: readonly number[] | 'all'): RetryRequestResult {
  const file = path.join(dir, FILE_NAME);
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch (err) {
    throw new CollectorError('JOURNAL_FAILED', `cannot open journal ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  try {
    db.pragma('busy_timeout = 5000');
    const version = num(db.pragma('user_version', { simple: true }), 'user_version');
    if (version < 3) {
      throw new CollectorError('JOURNAL_FAILED', `journal ${file} is at schema version ${version}: start this version of the collector once (it upgrades the journal), then ask again`, {
        details: { path: file },
      });
    }
    const out: RetryRequestResult = { requested: [], notRefetchable: [], unknown: [] };
    db.transaction(() => {
      if (which === 'all') {
        const ids = db
          .prepare("UPDATE quarantine SET retry = 'requested', retry_note = NULL WHERE refetch IS NOT NULL AND (retry IS NULL OR retry = 'failed') RETURNING id")
          .pluck()
          .all();
        out.requested.push(...ids.map((v) => num(v, 'id')).sort((a, b) => a - b));
        return;
      }
      const get = db.prepare('SELECT refetch IS NOT NULL FROM quarantine WHERE id = ?').pluck();
      const mark = db.prepare("UPDATE quarantine SET retry = 'requested', retry_note = NULL WHERE id = ?");
      for (const id of which) {
        const can: unknown = get.get(id);
        if (can === undefined) out.unknown.push(id);
        else if (num(can, 'refetchable') !== 1) out.notRefetchable.push(id);
        else {
          mark.run(id);
          out.requested.push(id);
        }
      }
    })();
    return out;
  } finally {
    db.close();
  }
}

/** The newest quarantine entries, read with a plain read-only connection (works while the collector runs). */
export function readQuarantine(dir: string, limit: number): QuarantineRow[] {
  const file = path.join(dir, FILE_NAME);
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, readonly: true });
  } catch (err) {
    throw new CollectorError('JOURNAL_FAILED', `cannot open journal ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  try {
    db.pragma('busy_timeout = 5000');
    const version = num(db.pragma('user_version', { simple: true }), 'user_version');
    // Columns in the order quarantineRow reads them; a journal from before version 3 has no retry columns yet.
    const cols = version >= 3 ? QUARANTINE_COLUMNS : 'key, reason, detail, location, raw, at, id, 0, NULL, NULL';
    return db.prepare(`SELECT ${cols} FROM quarantine ORDER BY id DESC LIMIT ?`).raw().all(Math.max(0, Math.floor(limit))).map(quarantineRow);
  } finally {
    db.close();
  }
}

/**
 * Every stored cursor, with a plain read-only connection (works while the collector runs); empty when there is no
 * journal yet.
 */
export function readCursors(dir: string): { key: string; cursor: string; updatedAt: number }[] {
  if (!fs.existsSync(path.join(dir, FILE_NAME))) return [];
  const { db } = openPlain(dir, true);
  try {
    return db.prepare(LIST_CURSORS).raw().all().map(cursorRow);
  } finally {
    db.close();
  }
}

/** What the journal file itself says, for `status` (the running daemon's counters are not in it). */
export interface JournalSummary {
  /** Events held and the bytes their rows take (the budget counts these). */
  events: number;
  bytes: number;
  /** Per sink with an offset: events journaled after it, and the oldest of them's event time. */
  sinks: { name: string; backlog: number; oldestTime?: string }[];
  quarantined: number;
  /** Dead letters per sink, and their total. */
  deadLetters: { sink: string; count: number }[];
  cursors: { key: string; cursor: string; updatedAt: number }[];
}

/** The journal's own facts read with a plain read-only connection (works while the collector runs); undefined without a journal. */
export function readJournalSummary(dir: string): JournalSummary | undefined {
  if (!fs.existsSync(path.join(dir, FILE_NAME))) return undefined;
  const { db } = openPlain(dir, true);
  try {
    // One read transaction: totals, offsets and counts from the same moment.
    return db.transaction(() => {
      const t = row(db.prepare('SELECT head_seq, head_cum, del_seq, del_cum FROM totals WHERE one = 1').raw().get());
      const head = num(t[0], 'head_seq');
      const delSeq = num(t[2], 'del_seq');
      const timeOf = db.prepare('SELECT time FROM events WHERE seq = ?').pluck();
      const sinks = db
        .prepare('SELECT sink, seq FROM sink_offsets ORDER BY sink')
        .raw()
        .all()
        .map((r) => {
          const a = row(r);
          const from = Math.max(num(a[1], 'seq'), delSeq);
          const backlog = Math.max(0, head - from);
          const time: unknown = backlog > 0 ? timeOf.get(from + 1) : undefined;
          return { name: str(a[0], 'sink'), backlog, ...(typeof time === 'string' ? { oldestTime: time } : {}) };
        });
      return {
        events: head - delSeq,
        bytes: num(t[1], 'head_cum') - num(t[3], 'del_cum'),
        sinks,
        quarantined: num(db.prepare('SELECT count(*) FROM quarantine').pluck().get(), 'count'),
        deadLetters: db.prepare(COUNT_DEAD_BY_SINK).raw().all().map(sinkCountRow),
        cursors: db.prepare(LIST_CURSORS).raw().all().map(cursorRow),
      };
    })();
  } finally {
    db.close();
  }
}

/** Which quarantine entries `quarantine show|purge` act on: ids, a stream key, a reason (any case, contained); all given narrow. */
export interface QuarantineFilter {
  ids?: readonly number[];
  key?: string;
  reason?: string;
}

function quarantineWhere(f: QuarantineFilter): { sql: string; params: unknown[] } {
  return rowsWhere(f.ids, 'key', f.key, f.reason);
}

/** Quarantine entries matching `filter`, newest first, at most `limit`, how many match in all, and ids not found. */
export function selectQuarantine(dir: string, filter: QuarantineFilter, limit: number): { rows: QuarantineRow[]; total: number; unknown: number[] } {
  const { db, version } = openPlain(dir, true);
  try {
    const w = quarantineWhere(filter);
    const cols = version >= 3 ? QUARANTINE_COLUMNS : 'key, reason, detail, location, raw, at, id, 0, NULL, NULL';
    const rows = db.prepare(`SELECT ${cols} FROM quarantine ${w.sql} ORDER BY id DESC LIMIT ?`).raw().all(...w.params, Math.max(0, Math.floor(limit))).map(quarantineRow);
    const total = num(db.prepare(`SELECT count(*) FROM quarantine ${w.sql}`).pluck().get(...w.params), 'count');
    const found = filter.ids === undefined ? [] : db.prepare(`SELECT id FROM quarantine ${w.sql}`).pluck().all(...w.params).map((v) => num(v, 'id'));
    const seen = new Set(found);
    return { rows, total, unknown: filter.ids === undefined ? [] : [...new Set(filter.ids)].filter((id) => !seen.has(id)) };
  } finally {
    db.close();
  }
}

/** Deletes the quarantine entries matching `filter` (the collector may be running); the ids removed and those not found. */
export function purgeQuarantine(dir: string, filter: QuarantineFilter): { removed: number[]; unknown: number[] } {
  const { db } = openPlain(dir, false);
  try {
    const w = quarantineWhere(filter);
    const removed = db.transaction(() => db.prepare(`DELETE FROM quarantine ${w.sql} RETURNING id`).pluck().all(...w.params).map((v) => num(v, 'id'))).immediate();
    removed.sort((a, b) => a - b);
    const seen = new Set(removed);
    return { removed, unknown: filter.ids === undefined ? [] : [...new Set(filter.ids)].filter((id) => !seen.has(id)) };
  } finally {
    db.close();
  }
}

/** Opens the journal file of `dir` with a plain connection of its own (the collector may be running). */
function openPlain(dir: string, readonly: boolean): { db: Database.Database; file: string; version: number } {
  const file = path.join(dir, FILE_NAME);
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true, readonly });
  } catch (err) {
    throw new CollectorError('JOURNAL_FAILED', `cannot open journal ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  try {
    db.pragma('busy_timeout = 5000');
    return { db, file, version: num(db.pragma('user_version', { simple: true }), 'user_version') };
  } catch (err) {
    db.close();
    throw new CollectorError('JOURNAL_FAILED', `cannot read journal ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
}

/** The WHERE clause (and its parameters) selecting the dead letters of `f`. */
function deadWhere(f: DeadLetterFilter): { sql: string; params: unknown[] } {
  return rowsWhere(f.ids, 'sink', f.sink, f.reason);
}

/**
 * The WHERE clause of an operator's selection of quarantine or dead-letter rows: these ids, this value of `column`
 * (the stream key or the sink), a reason holding `reason` in any case; each part only when given.
 */
function rowsWhere(ids: readonly number[] | undefined, column: 'key' | 'sink', value: string | undefined, reason: string | undefined): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (ids !== undefined) {
    // One parameter however many ids, so no limit on bound variables applies.
    parts.push('id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(ids));
  }
  if (value !== undefined) {
    parts.push(`${column} = ?`);
    params.push(value);
  }
  if (reason !== undefined) {
    parts.push('instr(lower(reason), lower(?)) > 0');
    params.push(reason);
  }
  return { sql: parts.length === 0 ? '' : `WHERE ${parts.join(' AND ')}`, params };
}

/** Ids asked for that the filter did not find (trimmed, purged, a typo, or another sink's / reason's). */
function missing(f: DeadLetterFilter, found: readonly number[]): number[] {
  if (f.ids === undefined) return [];
  const seen = new Set(found);
  return [...new Set(f.ids)].filter((id) => !seen.has(id));
}

/**
 * Dead letters matching `filter`, newest first, at most `limit`, with a plain read-only connection (works while the
 * collector runs), and how many match in all.
 */
export function readDeadLetters(dir: string, filter: DeadLetterFilter, limit: number): { rows: DeadLetterRow[]; total: number; unknown: number[] } {
  const { db, version } = openPlain(dir, true);
  try {
    const w = deadWhere(filter);
    const cols = deadColumns(version);
    const rows = db.prepare(`SELECT ${cols} FROM dead_letter ${w.sql} ORDER BY id DESC LIMIT ?`).raw().all(...w.params, Math.max(0, Math.floor(limit))).map(deadLetterRow);
    const total = num(db.prepare(`SELECT count(*) FROM dead_letter ${w.sql}`).pluck().get(...w.params), 'count');
    const found = filter.ids === undefined ? [] : db.prepare(`SELECT id FROM dead_letter ${w.sql}`).pluck().all(...w.params).map((v) => num(v, 'id'));
    return { rows, total, unknown: missing(filter, found) };
  } finally {
    db.close();
  }
}

/** What `dead-letters retry` did with the entries it was asked about. */
export interface DeadLetterRetryResult {
  /** Now waiting for their sink's runner to send them again. */
  requested: number[];
  /** Already waiting (asked for before). */
  alreadyRequested: number[];
  /** Entries of sinks not in the configuration: nobody would send them. */
  unconfigured: { sink: string; ids: number[] }[];
  /** Ids not found (with the filters given). */
  unknown: number[];
}

/**
 * Asks the collector to send dead letters again, each to the sink that rejected it: marks the rows `requested`; the
 * sink's runner picks them up between batches (the collector may be running: a plain connection that only updates
 * those rows). Rows of sinks missing from `sinks` (the configured ones) are left alone and reported.
 */
export function requestDeadLetterRetry(dir: string, filter: DeadLetterFilter, sinks: readonly string[]): DeadLetterRetryResult {
  const { db, file, version } = openPlain(dir, false);
  try {
    if (version < 5) {
      throw new CollectorError('JOURNAL_FAILED', `journal ${file} is at schema version ${version}: start this version of the collector once (it upgrades the journal), then ask again`, {
        details: { path: file },
      });
    }
    const configured = new Set(sinks);
    const out: DeadLetterRetryResult = { requested: [], alreadyRequested: [], unconfigured: [], unknown: [] };
    db.transaction(() => {
      const w = deadWhere(filter);
      const mark = db.prepare("UPDATE dead_letter SET retry = 'requested', retry_note = NULL WHERE id = ?");
      const found: number[] = [];
      const other = new Map<string, number[]>();
      for (const r of db.prepare(`SELECT id, sink, retry FROM dead_letter ${w.sql} ORDER BY id`).raw().all(...w.params)) {
        const a = row(r);
        const id = num(a[0], 'id');
        const sink = str(a[1], 'sink');
        found.push(id);
        if (!configured.has(sink)) other.set(sink, [...(other.get(sink) ?? []), id]);
        else if (a[2] === 'requested') out.alreadyRequested.push(id);
        else {
          mark.run(id);
          out.requested.push(id);
        }
      }
      out.unconfigured = [...other].map(([sink, ids]) => ({ sink, ids }));
      out.unknown = missing(filter, found);
    }).immediate();
    return out;
  } finally {
    db.close();
  }
}

/**
 * Where re-sends asked for by `dead-letters retry` stand: still waiting, sent (the sink's runner deletes an entry
 * its receiver took), or rejected again (back without the request, with the receiver's new reason).
 */
export function deadLetterRetryProgress(dir: string, ids: readonly number[]): { waiting: number; sent: number; rejected: number } {
  const { db } = openPlain(dir, true);
  try {
    let waiting = 0;
    let present = 0;
    for (const r of db.prepare('SELECT retry FROM dead_letter WHERE id IN (SELECT value FROM json_each(?))').pluck().all(JSON.stringify(ids))) {
      present += 1;
      if (r === 'requested') waiting += 1;
    }
    return { waiting, sent: new Set(ids).size - present, rejected: present - waiting };
  } finally {
    db.close();
  }
}

/** Deletes the dead letters matching `filter` (the collector may be running); returns the ids removed and those not found. */
export function purgeDeadLetters(dir: string, filter: DeadLetterFilter): { removed: number[]; unknown: number[] } {
  const { db } = openPlain(dir, false);
  try {
    const w = deadWhere(filter);
    const removed = db.transaction(() => db.prepare(`DELETE FROM dead_letter ${w.sql} RETURNING id`).pluck().all(...w.params).map((v) => num(v, 'id'))).immediate();
    removed.sort((a, b) => a - b);
    return { removed, unknown: missing(filter, removed) };
  } finally {
    db.close();
  }
}
