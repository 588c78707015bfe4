// SIEM via API 2.0 batch mode: pages of pre-signed gzip NDJSON files, streamed, committed chunk by chunk.
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { SIEM_API_TYPE, isCiType, type Batch, type CursorFrom, type NormalizedEvent, type Quarantined, type SiemLogType, type Source } from '../../core/contracts.js';
import { ApiError, CollectorError, describeError, isAbort } from '../../core/errors.js';
import { ParsePool } from '../parse/parse-pool.js';
import type { ParsedLines } from '../parse/parse-lines.js';
import { DEFAULT_FILE_RETRY_SPAN_MS, FileRetryBudget } from '../../core/retry.js';
import { formatDay } from '../../normalize/time.js';
import { disabledError, isUnavailable } from '../paged/shared.js';
import type { Logger } from '../../telemetry/logger.js';

/** What the source needs from the API client (MimecastV2Client provides it). */
export interface SiemBatchApi {
  getJson(path: string, query: Record<string, string | number | undefined>, signal: AbortSignal): Promise<unknown>;
  openDownload(url: string, signal: AbortSignal): Promise<{ body: Readable }>;
}

export interface SiemBatchOptions {
  account: string;
  /** A Cloud Gateway type (`cg` endpoint) or a Cloud Integrated one (`ci` endpoint). */
  type: SiemLogType;
  api: SiemBatchApi;
  /** First run only: how far back to start (ms); clamped to the API's 7-day retention. */
  startFromMs: number;
  pageSize: number;
  /** Events per yielded batch inside a file. */
  chunkEvents: number;
  logger: Logger;
  /** Where lines are parsed and normalized; inline on this thread when absent. */
  pool?: ParsePool;
  /** How long a file that fails to download or arrives cut is tried again (fresh URLs, backoff) before it is quarantined. */
  fileRetrySpanMs?: number;
  /** Longest line (one record) read, bytes: a longer one is quarantined with its first 4 KiB and skipped as it streams. */
  maxRecordBytes?: number;
  /** Decompressed bytes read from one file at most: the rest of the file is quarantined (`file_too_large`). */
  maxFileBytes?: number;
  /** A file's place is committed at least every this many decompressed bytes, events or not (default 32 MiB). */
  progressBytes?: number;
  /** A long file logs its progress every this many decompressed bytes (default 256 MiB). */
  progressLogBytes?: number;
  /** The time windows' clock (and, when `sleep` is given too, the file retry span's). */
  now?: () => number;
  /**
   * The wait between attempts at a failing file, done by the source itself (tests pass one that moves a fake clock).
   * Absent, the source yields `pauseMs` and whoever pulls it waits.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** Default `streams.siem.max_record_size`: real records are a few KB; far larger is junk or an attack. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;
/** Default `streams.siem.max_file_size` (decompressed): real files are a few MB to a few hundred. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;
const DEFAULT_PROGRESS_BYTES = 32 * 1024 * 1024;
const DEFAULT_PROGRESS_LOG_BYTES = 256 * 1024 * 1024;
/** How much of an oversized record is kept in its quarantine entry. */
const MAX_PREFIX = 4096;
/**
 * Decompressed piece size. Lines are checked against the record cap as they stream; a piece never exceeds the
 * smallest cap allowed (64 KiB), so a line that fits in one piece is never over the cap by itself.
 */
const GUNZIP_CHUNK = 64 * 1024;

/** The cursor: the page token to ask for next, and how far into the page being read we got. */
export interface SiemBatchCursor {
  v: 1;
  /** `@nextPage` of the last finished page; absent before the first page (use `start`). */
  next?: string;
  /** First day requested (YYYY-MM-DD) when there is no token yet. */
  start?: string;
  /** Progress inside the page fetched with `req` (absent `req`: the date-range request). */
  page?: { req?: string; blob: number; line: number };
}

const RETENTION_MS = 7 * 86_400_000;
const CG_PATH = '/siem/v1/batch/events/cg';
/** Cloud Integrated accounts: the same mechanics, its own types. */
const CI_PATH = '/siem/v1/batch/events/ci';
/** Lines per parse job: large enough that passing them to a worker thread costs little per line. */
const PARSE_GROUP_LINES = 250;
/** Bytes per parse job at most (a line may take it past): groups of big records stay small in the worker. */
const PARSE_GROUP_BYTES = 2 * 1024 * 1024;
/**
 * Parse jobs a file may have outstanding: enough to keep the worker busy while this thread reads the next group.
 * The pool's saturation bounds the whole process's parse backlog (ten busy SIEM types share one worker); with
 * 8 per source and 2000-event chunks, events in flight held ~80 MB more at the 1M-record benchmark's peak.
 */
const PARSE_GROUPS_AHEAD = 3;

interface PageReply {
  blobs: { url: string }[];
  next: string | undefined;
  caughtUp: boolean;
}

/** How a quarantined file is found again: the page request (token, or the start day), the file, the lines done. */
interface RefetchSpec {
  v: 1;
  req?: string;
  start: string;
  blob: number;
  line: number;
}

/** A pre-signed URL without its query (the signature is a credential), found without a regex on server-sent text. */
function withoutQuery(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function parseRefetch(text: string): RefetchSpec | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object') return undefined;
    const r = v as Record<string, unknown>;
    if (r['v'] !== 1 || typeof r['start'] !== 'string' || !Number.isSafeInteger(r['blob']) || !Number.isSafeInteger(r['line'])) return undefined;
    return { v: 1, start: r['start'], blob: r['blob'] as number, line: r['line'] as number, ...(typeof r['req'] === 'string' ? { req: r['req'] } : {}) };
  } catch {
    return undefined;
  }
}

function parseCursor(text: string | undefined): SiemBatchCursor | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    if (v === null || typeof v !== 'object' || (v as { v?: unknown }).v !== 1) return undefined;
    const c = v as Record<string, unknown>;
    const out: SiemBatchCursor = { v: 1 };
    if (typeof c['next'] === 'string') out.next = c['next'];
    if (typeof c['start'] === 'string') out.start = c['start'];
    const p = c['page'];
    if (p !== null && typeof p === 'object') {
      const pg = p as Record<string, unknown>;
      if (typeof pg['blob'] === 'number' && typeof pg['line'] === 'number') {
        out.page = { blob: pg['blob'], line: pg['line'], ...(typeof pg['req'] === 'string' ? { req: pg['req'] } : {}) };
      }
    }
    return out;
  } catch {
    return undefined;
  }
}

function parsePage(body: unknown, call: string): PageReply {
  if (body === null || typeof body !== 'object') {
    throw new ApiError('API_BAD_RESPONSE', `${call}: expected a JSON object`, call, { retryable: true });
  }
  const b = body as Record<string, unknown>;
  const value = b['value'];
  if (!Array.isArray(value)) throw new ApiError('API_BAD_RESPONSE', `${call}: reply has no "value" array`, call, { retryable: true });
  const blobs: { url: string }[] = [];
  for (const item of value) {
    const url = item !== null && typeof item === 'object' ? (item as Record<string, unknown>)['url'] : undefined;
    if (typeof url !== 'string' || url === '') throw new ApiError('API_BAD_RESPONSE', `${call}: a "value" entry has no url`, call, { retryable: true });
    blobs.push({ url });
  }
  const next = b['@nextPage'];
  return { blobs, next: typeof next === 'string' && next !== '' ? next : undefined, caughtUp: b['isCaughtUp'] === true };
}

/** Events of one file ready to be journaled, the line they reach, and the buffers their bytes live in. */
interface Chunk {
  events: NormalizedEvent[];
  quarantined: Quarantined[];
  endLine: number;
  blocks: ArrayBuffer[];
}

export class SiemBatchSource implements Source {
  readonly key: string;
  readonly account: string;
  readonly stream = 'siem' as const;
  private readonly o: SiemBatchOptions;
  private readonly log: Logger;
  private readonly pool: ParsePool;
  /** Cloud Integrated types have their own endpoint and are spelled there as in the config. */
  private readonly ci: boolean;
  private readonly apiType: string;
  private readonly path: string;
  /** The file whose retries are being counted, and their budget (see budgetFor). */
  private retrying: { file: string; budget: FileRetryBudget } | undefined;
  private readonly now: () => number;
  /**
   * The lines of a file whose parse job was running when a parse worker died (or threw): the next read sends each
   * of them as a job of its own; the line that fails again is quarantined instead of parsed the time after
   * (`strikes` 2). Kept on the source, so it holds across the reads of one file.
   */
  private crashed: { file: string; first: number; last: number; strikes: number } | undefined;

  constructor(options: SiemBatchOptions) {
    this.o = options;
    const type = options.type;
    this.ci = isCiType(type);
    this.apiType = isCiType(type) ? type : SIEM_API_TYPE[type];
    this.path = this.ci ? CI_PATH : CG_PATH;
    this.now = options.now ?? Date.now;
    this.pool = options.pool ?? new ParsePool({ workers: 0 });
    this.account = options.account;
    this.key = `${options.account}/siem/${options.type}`;
    this.log = options.logger.child({ source: this.key });
  }

  /** The first day to ask for, never further back than the API retains. */
  startDay(): string {
    const now = this.now();
    const back = Math.min(this.o.startFromMs, RETENTION_MS - 3_600_000);
    return formatDay(new Date(now - back));
  }

  private async fetchPage(req: string | undefined, start: string, signal: AbortSignal): Promise<PageReply> {
    const now = this.now();
    const { apiType, path } = this;
    const query: Record<string, string | number | undefined> =
      req !== undefined
        ? { type: apiType, pageSize: this.o.pageSize, nextPage: req }
        : { type: apiType, pageSize: this.o.pageSize, dateRangeStartsAt: start, dateRangeEndsAt: formatDay(new Date(now)) };
    let body: unknown;
    try {
      body = await this.o.api.getJson(path, query, signal);
    } catch (err) {
      // An account without Cloud Integrated answers 403/404 here: say so once and stop asking, not an error loop.
      if (this.ci && isUnavailable(err)) throw disabledError('siem', this.account, err, undefined, `SIEM type ${this.o.type} (Cloud Integrated)`);
      throw err;
    }
    return parsePage(body, `GET ${path} type=${apiType}`);
  }

  /** The listing is asked for by day, so a cursor for a time starts at the beginning of its day (UTC). */
  cursorFrom(timeMs: number): CursorFrom {
    const start = formatDay(new Date(timeMs));
    const cursor: SiemBatchCursor = { v: 1, start };
    return { cursor: JSON.stringify(cursor), from: Date.parse(`${start}T00:00:00Z`), oldest: this.now() - RETENTION_MS };
  }

  async *pull(cursorText: string | undefined, signal: AbortSignal): AsyncGenerator<Batch> {
    const parsed = parseCursor(cursorText);
    if (cursorText !== undefined && parsed === undefined) {
      this.log.warn({ cursor: cursorText.slice(0, 200) }, 'stored cursor is unreadable; starting from start_from');
    }
    let cur: SiemBatchCursor = parsed ?? { v: 1, start: this.startDay() };
    const start = cur.start ?? this.startDay();

    for (;;) {
      const req = cur.page !== undefined ? cur.page.req : cur.next;
      // Quarantine locations carry the whole token: with it, the page (and so the file) can be asked for again.
      const pageLabel = req ?? `start:${start}`;
      let page = await this.fetchPage(req, start, signal);
      let blob = cur.page?.blob ?? 0;
      let line = cur.page?.line ?? 0;
      const counters: Record<string, number> = { pages: 1 };
      const position = (b: number, l: number): string =>
        JSON.stringify({ v: 1, ...(cur.next !== undefined ? { next: cur.next } : {}), start, page: { ...(req !== undefined ? { req } : {}), blob: b, line: l } } satisfies SiemBatchCursor);

      while (blob < page.blobs.length) {
        const budget = this.budgetFor(`${pageLabel}|${blob}`);
        for (;;) {
          const entry = page.blobs[blob];
          if (entry === undefined) break;
          let failure: unknown;
          const lineBefore = line;
          try {
            for await (const chunk of this.readFile(entry.url, blob, line, pageLabel, signal)) {
              line = chunk.endLine;
              const batch: Batch = { events: chunk.events, cursor: position(blob, line), quarantined: chunk.quarantined, counters: { ...counters } };
              for (const k of Object.keys(counters)) counters[k] = 0;
              yield batch;
              // Resumed: the pipeline has journaled the batch (the journal keeps copies of the bytes) and is done
              // with it, so the buffers its documents were packed in can be filled again.
              if (chunk.blocks.length > 0) this.pool.recycle(chunk.blocks);
            }
          } catch (err) {
            if (isAbort(err, signal)) throw err;
            failure = err;
          }
          if (failure === undefined) break;
          // A file that got further than last time is not failing the same way (a download cut at a different
          // place each time, a worker that died on one group): its span starts again. Each restart needs new
          // committed lines, so this cannot go on for ever.
          if (line > lineBefore) budget.reset();
          const code = failure instanceof CollectorError ? failure.code : 'BLOB_CORRUPT';
          const counter = code === 'BLOB_EXPIRED' ? 'blob_expired' : code === 'BLOB_MISSING' ? 'blob_missing' : code === 'NORMALIZE_FAILED' ? 'parse_retry' : 'blob_retry';
          counters[counter] = (counters[counter] ?? 0) + 1;
          const pause = budget.fail(failure instanceof CollectorError ? failure.retryAfterMs : undefined);
          if (pause === undefined) {
            // Never stall on one file: record exactly what was lost and where, then move on.
            const attempts = budget.attempts;
            const spanS = Math.round(budget.elapsedMs() / 1000);
            this.log.error({ code, blob, line, attempts, span_s: spanS, err: describeError(failure) }, 'SIEM file unusable after repeated attempts; quarantined, moving on');
            const q: Quarantined = {
              reason: code === 'BLOB_EXPIRED' ? 'blob_expired' : code === 'BLOB_MISSING' ? 'blob_missing' : 'blob_corrupt',
              detail: `${describeError(failure)} (${attempts} attempts over ${spanS} s, fresh URLs each time; from line ${line + 1})`,
              location: `type=${this.o.type},page=${pageLabel},blob=${blob},line=${line + 1}`,
              raw: withoutQuery(entry.url),
              refetch: JSON.stringify({ v: 1, ...(req === undefined ? {} : { req }), start, blob, line } satisfies RefetchSpec),
            };
            yield { events: [], cursor: position(blob + 1, 0), quarantined: [q], counters: { ...counters } };
            for (const k of Object.keys(counters)) counters[k] = 0;
            break;
          }
          this.log.warn(
            { code, blob, line, attempt: budget.attempts, wait_ms: pause, err: describeError(failure) },
            code === 'NORMALIZE_FAILED'
              ? 'parse worker failed on a SIEM file; reading it again from the last committed line'
              : 'SIEM file failed; fetching it again with fresh URLs after a pause',
          );
          // The counters now, not after the wait: /status shows the retries while the source waits. The wait itself
          // is the pipeline's (pauseMs), so this source holds nothing other streams need meanwhile.
          const retry: Batch = { events: [], cursor: position(blob, line), counters: { ...counters } };
          for (const k of Object.keys(counters)) counters[k] = 0;
          if (this.o.sleep === undefined) yield { ...retry, pauseMs: pause };
          else {
            yield retry;
            await this.o.sleep(pause, signal);
          }
          page = await this.fetchPage(req, start, signal);
          if (blob >= page.blobs.length) {
            // The page no longer lists this file: say so and keep what is needed to ask for it again, never skip it silently.
            this.log.error({ blob, line, listed: page.blobs.length }, 'SIEM file no longer listed on its page; quarantined, moving on');
            yield {
              events: [],
              cursor: position(blob + 1, 0),
              quarantined: [
                {
                  reason: 'blob_missing',
                  detail: `the page now lists ${page.blobs.length} file(s); file ${blob} is gone after ${budget.attempts} failed attempt(s) (from line ${line + 1})`,
                  location: `type=${this.o.type},page=${pageLabel},blob=${blob},line=${line + 1}`,
                  raw: withoutQuery(entry.url),
                  refetch: JSON.stringify({ v: 1, ...(req === undefined ? {} : { req }), start, blob, line } satisfies RefetchSpec),
                },
              ],
            };
            break;
          }
        }
        this.retrying = undefined;
        blob += 1;
        line = 0;
      }

      const after: SiemBatchCursor = { v: 1, start };
      const nextToken = page.next ?? req;
      if (nextToken !== undefined) after.next = nextToken;
      yield { events: [], cursor: JSON.stringify(after), counters };
      if (page.caughtUp || page.next === undefined || page.blobs.length === 0) return;
      cur = after;
    }
  }

  /**
   * The retry budget of the file being read: kept on the source, so a pull that ends and starts again on the same file
   * (the journal full, a failed page request) continues its span instead of starting a new one.
   */
  private budgetFor(file: string): FileRetryBudget {
    // The span is measured on the clock the waits pass on: real time, unless a test injects both (`fetch` fixes `now`
    // for its time window, which must not stop the span from ending).
    const clock = this.o.sleep !== undefined ? this.now : Date.now;
    if (this.retrying?.file !== file) this.retrying = { file, budget: new FileRetryBudget(this.o.fileRetrySpanMs ?? DEFAULT_FILE_RETRY_SPAN_MS, clock) };
    return this.retrying.budget;
  }

  /**
   * Reads a quarantined file again (`quarantine retry`): the page it was listed on is asked for again (fresh URLs),
   * and the file is read from the line where it was given up. Throws when the page no longer lists it or it still
   * fails. A file first listed by a date-range request (no page token) is looked up with the same start day, whose
   * listing may have changed since: then another file may be read instead (its events are deduplicated).
   */
  async *refetch(text: string, signal: AbortSignal): AsyncGenerator<Pick<Batch, 'events' | 'quarantined'>> {
    const spec = parseRefetch(text);
    if (spec === undefined) throw new CollectorError('BLOB_MISSING', `cannot read the quarantine entry's refetch data: ${text.slice(0, 200)}`);
    const label = spec.req ?? `start:${spec.start}`;
    const page = await this.fetchPage(spec.req, spec.start, signal);
    const entry = page.blobs[spec.blob];
    if (entry === undefined) {
      throw new CollectorError(
        'BLOB_MISSING',
        `page ${label.slice(0, 60)} now lists ${page.blobs.length} file(s); file ${spec.blob} is no longer there (past the API's 7-day retention?)`,
      );
    }
    for await (const chunk of this.readFile(entry.url, spec.blob, spec.line, label, signal)) {
      yield { events: chunk.events, quarantined: chunk.quarantined };
      if (chunk.blocks.length > 0) this.pool.recycle(chunk.blocks);
    }
  }

  /** The lines of a group that killed a parse worker twice, quarantined one by one (never parsed again). */
  private crashedLines(text: Buffer, first: number, where: string): Quarantined[] {
    const out: Quarantined[] = [];
    const n = countLines(text);
    const detail = `parsing ${n === 1 ? `line ${first}` : `lines ${first}-${first + n - 1}`} stopped the parse worker twice (out of memory or an exception); not parsed again`;
    let pos = 0;
    for (let n = first; pos < text.length; n++) {
      const nl = text.indexOf(0x0a, pos);
      const end = nl < 0 ? text.length : nl;
      if (end > pos) {
        out.push({
          reason: 'parse_worker_crash',
          detail,
          location: `${where},line=${n}`,
          raw: text.toString('utf8', pos, Math.min(end, pos + MAX_PREFIX)),
        });
      }
      pos = end + 1;
    }
    return out;
  }

  /** Streams one file: gunzip → lines → parse → normalize, in chunks, skipping `skipLines` already committed. */
  private async *readFile(url: string, blobIndex: number, skipLines: number, pageLabel: string, signal: AbortSignal): AsyncGenerator<Chunk> {
    const { body } = await this.o.api.openDownload(url, signal);
    const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK });
    body.on('error', (err) => gunzip.destroy(err));
    body.pipe(gunzip);
    const pool = this.pool;
    const where = `type=${this.o.type},page=${pageLabel},blob=${blobIndex}`;
    const file = `${pageLabel}|${blobIndex}`;
    const chunkEvents = this.o.chunkEvents;
    const groupLines = Math.min(PARSE_GROUP_LINES, chunkEvents);
    const maxRecord = Math.max(GUNZIP_CHUNK, this.o.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES);
    const maxFile = this.o.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    const progressBytes = this.o.progressBytes ?? DEFAULT_PROGRESS_BYTES;
    const progressLogBytes = this.o.progressLogBytes ?? DEFAULT_PROGRESS_LOG_BYTES;
    // A group that killed a parse worker in this file: it is sent on its own next time (or quarantined).
    const suspect = this.crashed?.file === file ? this.crashed : undefined;
    // Lines go to the parse pool in groups, as bytes (cut at '\n', which never occurs inside a UTF-8 sequence):
    // decoding and splitting happen on the parse thread. Results are taken in order, a few groups ahead.
    const queue: { result: Promise<ParsedLines>; endLine: number; endBytes: number }[] = [];
    let parts: Buffer[] = [];
    let groupCount = 0;
    let groupBytes = 0;
    /** Whether the group has a line with something on it (a run of bare newlines is not sent to be parsed). */
    let groupText = false;
    let groupFirst = 0;
    let lineNo = 0;
    /** Decompressed bytes up to the end of line lineNo. */
    let lineEnd = 0;
    let doneLine = skipLines;
    let doneBytes = 0;
    let committedBytes = 0;
    let events: NormalizedEvent[] = [];
    let quarantined: Quarantined[] = [];
    let blocks: ArrayBuffer[] = [];

    const sendGroup = (): void => {
      if (groupCount === 0) return;
      const first = groupFirst;
      const last = lineNo;
      if (!groupText) {
        // Only empty lines (a stream of newlines): nothing to parse.
        queue.push({ result: Promise.resolve({ events: [], quarantined: [] }), endLine: last, endBytes: lineEnd });
      } else {
        // One copy into a buffer the pool hands out, moved to the worker (not copied again) and back with the reply
        // to be filled with a later group: this thread lets go of the bytes at once and allocates nothing per group.
        const text = pool.textBuffer(groupBytes);
        let off = 0;
        for (const p of parts) off += p.copy(text, off);
        let result: Promise<ParsedLines>;
        if (suspect !== undefined && suspect.strikes >= 2 && first >= suspect.first && last <= suspect.last) {
          result = Promise.resolve({ events: [], quarantined: this.crashedLines(text, first, where) });
          if (last === suspect.last) this.crashed = undefined;
        } else {
          result = pool.run({ stream: 'siem', variant: 'v2', account: this.o.account, text, firstLine: first, where }, true);
          result.catch((err: unknown) => {
            // The job that was running when its worker died (or that threw): remember it, so the retry sends it
            // alone and a second failure quarantines it. Jobs that only waited behind it are simply retried.
            if (!(err instanceof CollectorError) || err.details['culprit'] !== true) return;
            const c = this.crashed;
            const again = c !== undefined && c.file === file && first >= c.first && last <= c.last;
            this.crashed = { file, first, last, strikes: again ? c.strikes + 1 : 1 };
          });
        }
        queue.push({ result, endLine: last, endBytes: lineEnd });
      }
      parts = [];
      groupCount = 0;
      groupBytes = 0;
      groupText = false;
    };
    /** A line that is not parsed (too large): its own entry, in order, so the cursor never passes it unrecorded. */
    const pushDone = (q: Quarantined): void => {
      sendGroup();
      queue.push({ result: Promise.resolve({ events: [], quarantined: [q] }), endLine: lineNo, endBytes: lineEnd });
    };
    const tooLarge = (n: number, bytes: number, prefix: string): Quarantined => ({
      reason: 'record_too_large',
      detail: `a line of ${bytes} bytes is longer than streams.siem.max_record_size (${maxRecord} bytes); skipped, its first ${Buffer.byteLength(prefix)} bytes kept`,
      location: `${where},line=${n}`,
      raw: prefix,
    });
    /** Takes the oldest group's result; returns the chunks that became full (never more than chunkEvents each). */
    const takeOne = async (): Promise<Chunk[]> => {
      const head = queue.shift();
      if (head === undefined) return [];
      const r = await head.result;
      const full: Chunk[] = [];
      if (events.length > 0 && events.length + r.events.length > chunkEvents) full.push(take());
      for (const e of r.events) events.push(e);
      for (const q of r.quarantined) quarantined.push(q);
      if (r.block !== undefined) blocks.push(r.block);
      doneLine = head.endLine;
      doneBytes = head.endBytes;
      // A long stretch without events (blank lines, junk) still saves its place, so a restart does not redo it.
      if (events.length >= chunkEvents || doneBytes - committedBytes >= progressBytes) full.push(take());
      return full;
    };
    const take = (): Chunk => {
      const out = { events, quarantined, endLine: doneLine, blocks };
      committedBytes = doneBytes;
      events = [];
      quarantined = [];
      blocks = [];
      return out;
    };

    let cutAt: number | undefined;
    try {
      try {
        // The bytes of a line that has not ended yet (it continues in the next buffer), never more than maxRecord.
        let carry: Buffer[] = [];
        let carryBytes = 0;
        // A line over the cap, being skipped as it streams: its first bytes and its length so far.
        let skipping: { prefix: string; bytes: number } | undefined;
        let base = 0; // decompressed bytes before this buffer
        let nextLog = progressLogBytes;
        for await (const piece of gunzip as AsyncIterable<Buffer>) {
          let chunk = piece;
          if (base + chunk.length > maxFile) {
            chunk = chunk.subarray(0, maxFile - base);
            cutAt = base + chunk.length;
          }
          let pos = 0;
          let runStart = 0; // where this buffer's part of the current group begins
          for (;;) {
            const nl = chunk.indexOf(0x0a, pos);
            if (nl < 0) break;
            const len = carryBytes + nl - pos; // without the newline
            if (skipping !== undefined || len > maxRecord) {
              const q = skipping ?? { prefix: prefixOf(carry, chunk.subarray(pos, nl)), bytes: carryBytes };
              q.bytes += nl - pos;
              skipping = undefined;
              carry = [];
              carryBytes = 0;
              if (runStart < pos) {
                parts.push(chunk.subarray(runStart, pos));
              }
              if (lineNo + 1 > skipLines) sendGroup();
              lineNo += 1;
              lineEnd = base + nl + 1;
              if (lineNo > skipLines) pushDone(tooLarge(lineNo, q.bytes, q.prefix));
              pos = runStart = nl + 1;
              continue;
            }
            if (suspect !== undefined && lineNo + 1 === suspect.first && groupCount > 0) {
              // The group that killed a worker goes alone.
              if (runStart < pos) parts.push(chunk.subarray(runStart, pos));
              runStart = pos;
              sendGroup();
            }
            lineNo += 1;
            lineEnd = base + nl + 1;
            if (lineNo <= skipLines) {
              carry = [];
              carryBytes = 0;
              pos = runStart = nl + 1;
              continue;
            }
            if (groupCount === 0) groupFirst = lineNo;
            if (carry.length > 0) {
              for (const c of carry) parts.push(c);
              carry = [];
              carryBytes = 0;
            }
            groupCount += 1;
            groupBytes += len + 1;
            if (len > 0) groupText = true;
            pos = nl + 1;
            // Inside the range of a group that killed a worker, each line is a job of its own: a second failure
            // then names the one line to quarantine, not the whole group.
            const alone = suspect !== undefined && lineNo >= suspect.first && lineNo <= suspect.last;
            if (groupCount >= groupLines || groupBytes >= PARSE_GROUP_BYTES || alone) {
              parts.push(chunk.subarray(runStart, pos));
              runStart = pos;
              sendGroup();
            }
          }
          if (runStart < pos) parts.push(chunk.subarray(runStart, pos));
          if (pos < chunk.length) {
            const rest = chunk.subarray(pos);
            if (skipping !== undefined) skipping.bytes += rest.length;
            else if (carryBytes + rest.length > maxRecord) {
              // Over the cap before its end: keep a prefix, drop the bytes as they come (never concatenated).
              skipping = { prefix: prefixOf(carry, rest), bytes: carryBytes + rest.length };
              carry = [];
              carryBytes = 0;
            } else {
              carry.push(rest);
              carryBytes += rest.length;
            }
          }
          base += chunk.length;
          if (base >= nextLog) {
            this.log.info({ blob: blobIndex, line: lineNo, mb: Math.round(base / 1048576) }, 'reading a large SIEM file; its place is saved as it goes');
            while (nextLog <= base) nextLog += progressLogBytes;
          }
          if (cutAt !== undefined) break;
          while (queue.length > PARSE_GROUPS_AHEAD || (queue.length > 0 && pool.saturated)) yield* await takeOne();
        }
        if (cutAt === undefined) {
          // The last line has no newline.
          if (skipping !== undefined) {
            if (lineNo + 1 > skipLines) sendGroup();
            lineNo += 1;
            lineEnd = base;
            if (lineNo > skipLines) pushDone(tooLarge(lineNo, skipping.bytes, skipping.prefix));
          } else if (carry.length > 0) {
            lineNo += 1;
            lineEnd = base;
            if (lineNo > skipLines) {
              if (groupCount === 0) groupFirst = lineNo;
              for (const c of carry) parts.push(c);
              groupCount += 1;
              groupBytes += carryBytes;
              groupText = true;
            }
          }
        }
        sendGroup();
      } catch (err) {
        if (isAbort(err, signal)) throw err;
        if (err instanceof CollectorError && err.code === 'NORMALIZE_FAILED') throw err;
        // Every complete line read before the cut is good: finish and hand those over, then report the failure.
        sendGroup();
        while (queue.length > 0) yield* await takeOne();
        if (events.length > 0 || quarantined.length > 0) yield take();
        throw new CollectorError('BLOB_CORRUPT', `SIEM file ${blobIndex} is cut or corrupt after line ${doneLine}: ${describeError(err)}`, {
          cause: err,
          retryable: true,
        });
      }
      while (queue.length > 0) yield* await takeOne();
    } finally {
      body.destroy();
      gunzip.destroy();
    }
    doneLine = Math.max(doneLine, lineNo);
    if (cutAt !== undefined) {
      this.log.error({ blob: blobIndex, line: lineNo, bytes: cutAt }, 'SIEM file larger than streams.siem.max_file_size; the rest is quarantined, moving on');
      quarantined.push({
        reason: 'file_too_large',
        detail: `the file decompresses to more than streams.siem.max_file_size (${maxFile} bytes); lines from ${lineNo + 1} on were not read`,
        location: `${where},line=${lineNo + 1}`,
        raw: withoutQuery(url),
      });
    }
    if (events.length > 0 || quarantined.length > 0 || lineNo > skipLines) yield take();
  }
}

/** The first MAX_PREFIX bytes of a line held in `head` pieces and `tail`, as text (a cut character becomes U+FFFD). */
function prefixOf(head: readonly Buffer[], tail: Buffer): string {
  const out: Buffer[] = [];
  let n = 0;
  for (const b of [...head, tail]) {
    if (n >= MAX_PREFIX) break;
    const piece = b.subarray(0, MAX_PREFIX - n);
    out.push(piece);
    n += piece.length;
  }
  return Buffer.concat(out, n).toString('utf8');
}

function countLines(text: Buffer): number {
  let n = 0;
  for (let pos = 0; pos < text.length; n++) {
    const nl = text.indexOf(0x0a, pos);
    pos = nl < 0 ? text.length : nl + 1;
  }
  return n;
}
