// SIEM via API 2.0 batch mode: pages of pre-signed gzip NDJSON files, streamed, committed chunk by chunk.
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { SIEM_API_TYPE, isCiType, type Batch, type NormalizedEvent, type Quarantined, type SiemLogType, type Source } from '../../core/contracts.js';
import { ApiError, CollectorError, describeError, isAbort } from '../../core/errors.js';
import { ParsePool } from '../../core/parse-pool.js';
import type { ParsedLines } from '../../core/parse-lines.js';
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
  /** How often an expired or cut file is fetched again (with fresh URLs) before it is quarantined. */
  maxFileAttempts?: number;
  now?: () => number;
}

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

  constructor(options: SiemBatchOptions) {
    this.o = options;
    const type = options.type;
    this.ci = isCiType(type);
    this.apiType = isCiType(type) ? type : SIEM_API_TYPE[type];
    this.path = this.ci ? CI_PATH : CG_PATH;
    this.pool = options.pool ?? new ParsePool({ workers: 0 });
    this.account = options.account;
    this.key = `${options.account}/siem/${options.type}`;
    this.log = options.logger.child({ source: this.key });
  }

  /** The first day to ask for, never further back than the API retains. */
  startDay(): string {
    const now = (this.o.now ?? Date.now)();
    const back = Math.min(this.o.startFromMs, RETENTION_MS - 3_600_000);
    return formatDay(new Date(now - back));
  }

  private async fetchPage(req: string | undefined, start: string, signal: AbortSignal): Promise<PageReply> {
    const now = (this.o.now ?? Date.now)();
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

  async *pull(cursorText: string | undefined, signal: AbortSignal): AsyncGenerator<Batch> {
    const parsed = parseCursor(cursorText);
    if (cursorText !== undefined && parsed === undefined) {
      this.log.warn({ cursor: cursorText.slice(0, 200) }, 'stored cursor is unreadable; starting from start_from');
    }
    let cur: SiemBatchCursor = parsed ?? { v: 1, start: this.startDay() };
    const start = cur.start ?? this.startDay();
    const maxAttempts = this.o.maxFileAttempts ?? 4;

    for (;;) {
      const req = cur.page !== undefined ? cur.page.req : cur.next;
      let page = await this.fetchPage(req, start, signal);
      let blob = cur.page?.blob ?? 0;
      let line = cur.page?.line ?? 0;
      const counters: Record<string, number> = { pages: 1 };
      const position = (b: number, l: number): string =>
        JSON.stringify({ v: 1, ...(cur.next !== undefined ? { next: cur.next } : {}), start, page: { ...(req !== undefined ? { req } : {}), blob: b, line: l } } satisfies SiemBatchCursor);

      while (blob < page.blobs.length) {
        let attempts = 0;
        for (;;) {
          const entry = page.blobs[blob];
          if (entry === undefined) break;
          let failure: unknown;
          try {
            for await (const chunk of this.readFile(entry.url, blob, line, signal)) {
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
          attempts += 1;
          const code = failure instanceof CollectorError ? failure.code : 'BLOB_CORRUPT';
          const counter = code === 'BLOB_EXPIRED' ? 'blob_expired' : code === 'BLOB_MISSING' ? 'blob_missing' : 'blob_retry';
          counters[counter] = (counters[counter] ?? 0) + 1;
          if (attempts >= maxAttempts) {
            // Never stall on one file: record exactly what was lost and where, then move on.
            this.log.error({ code, blob, line, attempts, err: describeError(failure) }, 'SIEM file unusable after repeated attempts; quarantined, moving on');
            const q: Quarantined = {
              reason: code === 'BLOB_EXPIRED' ? 'blob_expired' : code === 'BLOB_MISSING' ? 'blob_missing' : 'blob_corrupt',
              detail: `${describeError(failure)} (after ${attempts} attempts, from line ${line + 1})`,
              location: `type=${this.o.type},page=${req ?? `start:${start}`},blob=${blob},line=${line + 1}`,
              raw: entry.url.replace(/\?.*$/, ''),
            };
            yield { events: [], cursor: position(blob + 1, 0), quarantined: [q], counters: { ...counters } };
            for (const k of Object.keys(counters)) counters[k] = 0;
            break;
          }
          this.log.warn({ code, blob, line, attempt: attempts, err: describeError(failure) }, 'SIEM file failed; re-requesting the page for fresh URLs');
          page = await this.fetchPage(req, start, signal);
          if (blob >= page.blobs.length) break;
        }
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

  /** Streams one file: gunzip → lines → parse → normalize, in chunks, skipping `skipLines` already committed. */
  private async *readFile(
    url: string,
    blobIndex: number,
    skipLines: number,
    signal: AbortSignal,
  ): AsyncGenerator<Chunk> {
    const { body } = await this.o.api.openDownload(url, signal);
    const gunzip = createGunzip();
    body.on('error', (err) => gunzip.destroy(err));
    body.pipe(gunzip);
    const pool = this.pool;
    const where = `type=${this.o.type},blob=${blobIndex}`;
    const chunkEvents = this.o.chunkEvents;
    const groupLines = Math.min(PARSE_GROUP_LINES, chunkEvents);
    // Lines go to the parse pool in groups, as bytes (cut at '\n', which never occurs inside a UTF-8 sequence):
    // decoding and splitting happen on the parse thread. Results are taken in order, a few groups ahead.
    const queue: { result: Promise<ParsedLines>; endLine: number }[] = [];
    let parts: Buffer[] = [];
    let groupCount = 0;
    let groupFirst = 0;
    let lineNo = 0;
    let doneLine = skipLines;
    let events: NormalizedEvent[] = [];
    let quarantined: Quarantined[] = [];
    let blocks: ArrayBuffer[] = [];

    const sendGroup = (): void => {
      if (groupCount === 0) return;
      // One copy into a buffer the pool hands out, moved to the worker (not copied again) and back with the reply
      // to be filled with a later group: this thread lets go of the bytes at once and allocates nothing per group.
      let size = 0;
      for (const p of parts) size += p.length;
      const text = pool.textBuffer(size);
      let off = 0;
      for (const p of parts) off += p.copy(text, off);
      const result = pool.run({ stream: 'siem', variant: 'v2', account: this.o.account, text, firstLine: groupFirst, where }, true);
      result.catch(() => undefined); // observed when taken; this only keeps an early failure from being "unhandled"
      queue.push({ result, endLine: lineNo });
      parts = [];
      groupCount = 0;
    };
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
      if (events.length >= chunkEvents) full.push(take());
      return full;
    };
    const take = (): Chunk => {
      const out = { events, quarantined, endLine: doneLine, blocks };
      events = [];
      quarantined = [];
      blocks = [];
      return out;
    };

    try {
      try {
        // The bytes of a line that has not ended yet (it continues in the next buffer).
        let carry: Buffer[] = [];
        for await (const chunk of gunzip as AsyncIterable<Buffer>) {
          let pos = 0;
          let runStart = 0; // where this buffer's part of the current group begins
          for (;;) {
            const nl = chunk.indexOf(0x0a, pos);
            if (nl < 0) break;
            lineNo += 1;
            if (lineNo <= skipLines) {
              carry = [];
              pos = runStart = nl + 1;
              continue;
            }
            if (groupCount === 0) groupFirst = lineNo;
            if (carry.length > 0) {
              for (const c of carry) parts.push(c);
              carry = [];
            }
            groupCount += 1;
            pos = nl + 1;
            if (groupCount >= groupLines) {
              parts.push(chunk.subarray(runStart, pos));
              runStart = pos;
              sendGroup();
            }
          }
          if (runStart < pos) parts.push(chunk.subarray(runStart, pos));
          if (pos < chunk.length) carry.push(chunk.subarray(pos));
          while (queue.length > PARSE_GROUPS_AHEAD || (queue.length > 0 && pool.saturated)) yield* await takeOne();
        }
        if (carry.length > 0) {
          // The last line has no newline.
          lineNo += 1;
          if (lineNo > skipLines) {
            if (groupCount === 0) groupFirst = lineNo;
            for (const c of carry) parts.push(c);
            groupCount += 1;
          }
        }
        sendGroup();
      } catch (err) {
        if (isAbort(err, signal)) throw err;
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
    if (events.length > 0 || quarantined.length > 0 || lineNo > skipLines) yield take();
  }
}
