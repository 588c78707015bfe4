// One source for every time-window API function: UTC windows with an overlap re-read, page tokens committed one page at a time.
import type { Batch, CursorFrom, Source } from '../../core/contracts.js';
import { ApiError, CollectorError, describeError, isAbort } from '../../core/errors.js';
import { parseLines, type ParseJob, type ParsedLines } from '../parse/parse-lines.js';
import type { ParsePool } from '../parse/parse-pool.js';
import type { MimecastApi, ReplyReader } from '../../mimecast/api.js';
import { formatMimecastDate, parseTime } from '../../normalize/time.js';
import type { Logger } from '../../telemetry/logger.js';
import type { PagedReplyInfo } from './reply.js';
import { disabledError, isUnavailable, type RecordNormalizer } from './shared.js';
import type { PagedSpec, PagedStream } from './specs.js';

export interface PagedSourceOptions {
  account: string;
  spec: PagedSpec;
  api: Pick<MimecastApi, 'postJsonWith'>;
  logger: Logger;
  /** First run only: how far back to start (ms); clamped to the stream's history limit. */
  startFromMs: number;
  /** Re-read of the last minutes each cycle, for records the API indexes late. Default 10 min. */
  overlapMs?: number;
  /** A window ends this long before now, so records still being indexed are not asked for yet. Default 1 min. */
  settleMs?: number;
  /** Longest window per request chain; a backlog is read as consecutive windows. Default 1 day. */
  maxWindowMs?: number;
  /** Defaults to the spec's page size. */
  pageSize?: number;
  /** A normalizer of the caller's own (tests), used on this thread. Default: the registry's, run on `pool`. */
  normalize?: RecordNormalizer;
  /** Where records are normalized; on this thread when absent. */
  pool?: ParsePool;
  now?: () => number;
}

/**
 * The cursor. Between cycles `{v, from}`: everything before `from` has been read once (the next cycle starts at
 * `from − overlap`). Inside a window `{v, from, to, pageToken?}`: the window exactly as requested, and the token of
 * the next page to read (absent: the window restarts from its first page).
 */
export interface PagedCursor {
  v: 1;
  from: string;
  to?: string;
  pageToken?: string;
}

export const DEFAULT_OVERLAP_MS = 10 * 60_000;
export const DEFAULT_SETTLE_MS = 60_000;
export const DEFAULT_MAX_WINDOW_MS = 86_400_000;
/** Start this far inside the history limit so the API's clock and ours need not agree to the second. */
const HISTORY_MARGIN_MS = 10 * 60_000;
/** Guard against an API that keeps handing out fresh tokens for empty or repeated pages forever. */
const MAX_PAGES_PER_WINDOW = 100_000;

export function parsePagedCursor(text: string | undefined): PagedCursor | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const c = v as Record<string, unknown>;
  if (c['v'] !== 1 || typeof c['from'] !== 'string' || parseTime(c['from']) === undefined) return undefined;
  const out: PagedCursor = { v: 1, from: c['from'] };
  if (typeof c['to'] === 'string' && parseTime(c['to']) !== undefined) {
    out.to = c['to'];
    if (typeof c['pageToken'] === 'string' && c['pageToken'] !== '') out.pageToken = c['pageToken'];
  }
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function floorSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** A reply to a request that carried a page token, refusing the token (expired, unknown): restart the window. */
function isTokenRejection(err: unknown): boolean {
  return err instanceof CollectorError && !err.retryable && (err.code === 'API_FAIL' || err.code === 'API_BAD_REQUEST');
}

export class PagedSource implements Source {
  readonly key: string;
  readonly account: string;
  readonly stream: PagedStream;
  readonly spec: PagedSpec;
  private readonly o: PagedSourceOptions;
  private readonly log: Logger;

  constructor(options: PagedSourceOptions) {
    this.o = options;
    this.spec = options.spec;
    this.account = options.account;
    this.stream = options.spec.stream;
    this.key = `${options.account}/${options.spec.stream}`;
    this.log = options.logger.child({ source: this.key });
  }

  /**
   * Reads one reply from its bytes: parsed once, on the parse worker (or on this thread with a normalizer of the
   * caller's own, or without a pool), its records normalized there. Runs inside the client's call, so a `fail[]`
   * or a body that is not JSON becomes the client's own error (and is retried by it) as with postJson.
   */
  private readPage(from: number, to: number, pageNo: number, onHead: (head: PagedReplyInfo) => void): ReplyReader<ParsedLines> {
    const custom = this.o.normalize;
    const pool = custom === undefined ? this.o.pool : undefined;
    const windowText = `${iso(from)}..${iso(to)}`;
    const reply = { timeField: this.spec.timeField, from, to, ...(this.spec.recordsKey === undefined ? {} : { recordsKey: this.spec.recordsKey }) };
    const reader: ReplyReader<ParsedLines> = {
      read: async (bytes) => {
        const job: ParseJob = { stream: this.stream, account: this.account, text: bytes, firstLine: 1, where: `stream=${this.stream},window=${windowText},page=${pageNo}`, reply };
        // A reply too large for a worker's heap is parsed here: a worker that runs out of heap aborts the whole process.
        const parsed = pool !== undefined && bytes.length <= pool.maxJobBytes ? await pool.run(job, true, onHead) : parseLines(job, custom);
        const info = parsed.reply;
        if (info?.kind === 'fail') return { fail: info.fail };
        if (info?.kind === 'not_json') return { notJson: { snippet: info.snippet, reason: info.reason } };
        return { value: parsed };
      },
    };
    if (pool !== undefined) reader.alloc = (n) => (n <= pool.maxJobBytes ? pool.textBuffer(n) : Buffer.allocUnsafeSlow(n));
    return reader;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  private request(from: number, to: number, token: string | undefined): unknown {
    const pagination: Record<string, unknown> = { pageSize: this.o.pageSize ?? this.spec.pageSize };
    if (token !== undefined) pagination['pageToken'] = token;
    // The window is resent with the token: the 2.0 gateway expects it, and 1.0 ignores it when a token is given.
    const item: Record<string, unknown> = {
      ...this.spec.extra,
      [this.spec.window.from]: formatMimecastDate(new Date(from)),
      [this.spec.window.to]: formatMimecastDate(new Date(to)),
    };
    return { meta: { pagination }, data: [item] };
  }

  cursorFrom(timeMs: number): CursorFrom {
    const from = floorSecond(timeMs);
    // A stored cursor is read again from `from − overlap`, so the window really starts that much earlier.
    const cursor: PagedCursor = { v: 1, from: iso(from) };
    return { cursor: JSON.stringify(cursor), from: from - (this.o.overlapMs ?? DEFAULT_OVERLAP_MS), oldest: this.now() - this.spec.historyMs + HISTORY_MARGIN_MS };
  }

  async *pull(cursorText: string | undefined, signal: AbortSignal): AsyncGenerator<Batch> {
    // The next page is asked for as soon as its token is known (the worker tells it once it has parsed the current
    // reply, before normalizing its records), while this page is normalized and journaled: at most one page ahead.
    // Its token is committed only with the page after it, so a stop in between loses nothing.
    interface Ahead {
      token: string;
      reply: Promise<ParsedLines>;
      abort: AbortController;
      /** The head of the page read ahead, kept until that page is the current one. */
      head?: PagedReplyInfo;
      onHead?: (head: PagedReplyInfo) => void;
    }
    let ahead: Ahead | undefined;
    const dropAhead = (): void => {
      ahead?.abort.abort();
      ahead = undefined;
    };
    const post = (from: number, to: number, token: string | undefined, pageNo: number, s: AbortSignal, onHead: (head: PagedReplyInfo) => void): Promise<ParsedLines> =>
      this.o.api.postJsonWith(this.spec.path, this.request(from, to, token), s, this.readPage(from, to, pageNo, onHead));
    try {
      yield* this.pages(cursorText, signal, {
        call: (from, to, token, pageNo, onHead) => {
          if (ahead !== undefined && token !== undefined && ahead.token === token) {
            const { reply, head } = ahead;
            if (head === undefined) ahead.onHead = onHead;
            ahead = undefined;
            if (head !== undefined) onHead(head);
            return reply;
          }
          dropAhead();
          return post(from, to, token, pageNo, signal, onHead);
        },
        prefetch: (from, to, token, pageNo) => {
          if (ahead?.token === token) return;
          dropAhead();
          const abort = new AbortController();
          const entry: Ahead = {
            token,
            abort,
            reply: post(from, to, token, pageNo, AbortSignal.any([signal, abort.signal]), (head) => {
              // Acted on only once this page is the current one: one page ahead, never two.
              if (entry.onHead !== undefined) entry.onHead(head);
              else entry.head = head;
            }),
          };
          // Awaited (and its failure handled) when its turn comes; a reply never used must not go unhandled.
          entry.reply.catch(() => undefined);
          ahead = entry;
        },
      });
    } finally {
      dropAhead();
    }
  }

  private async *pages(
    cursorText: string | undefined,
    signal: AbortSignal,
    api: {
      /** `onHead`: the page's token and record count, when known before its events (see pull). */
      call: (from: number, to: number, token: string | undefined, pageNo: number, onHead: (head: PagedReplyInfo) => void) => Promise<ParsedLines>;
      prefetch: (from: number, to: number, token: string, pageNo: number) => void;
    },
  ): AsyncGenerator<Batch> {
    const now = this.now();
    const overlap = this.o.overlapMs ?? DEFAULT_OVERLAP_MS;
    const maxWindow = Math.max(60_000, this.o.maxWindowMs ?? DEFAULT_MAX_WINDOW_MS);
    const limit = floorSecond(now - this.spec.historyMs + HISTORY_MARGIN_MS);
    const target = floorSecond(now - (this.o.settleMs ?? DEFAULT_SETTLE_MS));
    const counters: Record<string, number> = {};
    const bump = (k: string, n = 1): void => {
      counters[k] = (counters[k] ?? 0) + n;
    };
    const takeCounters = (): Record<string, number> => {
      const out = { ...counters };
      for (const k of Object.keys(counters)) delete counters[k];
      return out;
    };

    const cursor = parsePagedCursor(cursorText);
    if (cursorText !== undefined && cursor === undefined) {
      this.log.warn({ cursor: cursorText.slice(0, 200) }, 'stored cursor is unreadable; starting from start_from');
    }

    let windowStart: number;
    let windowEnd: number | undefined;
    let token: string | undefined;
    if (cursor?.to !== undefined) {
      // Resuming a window a previous run did not finish.
      windowStart = floorSecond(Date.parse(cursor.from));
      windowEnd = floorSecond(Date.parse(cursor.to));
      token = cursor.pageToken;
    } else {
      const read = cursor === undefined ? floorSecond(now - this.o.startFromMs) : floorSecond(Date.parse(cursor.from));
      windowStart = cursor === undefined ? read : read - overlap;
    }
    if (windowStart < limit) {
      const days = Math.round(this.spec.historyMs / 86_400_000);
      if (cursor === undefined) {
        this.log.info({ start_from: iso(windowStart), clamped_to: iso(limit) }, `start_from is further back than the ${days}-day history of ${this.stream}; starting at the limit`);
      } else {
        this.log.warn(
          { from: iso(windowStart), to: iso(limit) },
          `events between ${iso(windowStart)} and ${iso(limit)} were not collected: ${this.stream} only looks back ${days} days`,
        );
        bump('history_clamped');
      }
      windowStart = limit;
      token = undefined;
      if (windowEnd !== undefined && windowEnd <= windowStart) windowEnd = undefined;
    }

    for (;;) {
      if (windowEnd === undefined) {
        if (windowStart >= target) return;
        windowEnd = Math.min(windowStart + maxWindow, target);
      }
      const from = windowStart;
      const to = windowEnd;
      const call = `POST ${this.spec.path}`;
      const windowText = `${iso(from)}..${iso(to)}`;
      const seen = new Set<string>();
      let restarted = false;
      let pageNo = 0;
      bump('windows');

      for (;;) {
        let parsed: ParsedLines;
        // Decides from a page's head whether a next page follows (see `last` below) and asks for it early.
        const readAhead = (head: PagedReplyInfo): void => {
          if (head.kind !== 'page' || head.next === undefined || head.records === 0) return;
          if (seen.has(head.next) || head.next === token || pageNo + 1 >= MAX_PAGES_PER_WINDOW) return;
          api.prefetch(from, to, head.next, pageNo + 2);
        };
        try {
          parsed = await api.call(from, to, token, pageNo + 1, readAhead);
        } catch (err) {
          if (isAbort(err, signal)) throw err;
          if (isUnavailable(err)) throw disabledError(this.stream, this.account, err, this.spec.permission);
          if (token !== undefined && !restarted && isTokenRejection(err)) {
            // The journal's dedup absorbs whatever of this window was already committed.
            this.log.warn({ window: windowText, err: describeError(err) }, 'the API refused the page token; reading the window again from its start');
            restarted = true;
            token = undefined;
            seen.clear();
            bump('token_restarts');
            continue;
          }
          throw err;
        }
        const page = parsed.reply;
        if (page?.kind !== 'page') {
          throw new ApiError('API_BAD_RESPONSE', `${call}: ${page?.kind === 'bad' ? page.message : 'the reply was not read as a page'}`, call, { retryable: true });
        }
        pageNo += 1;
        bump('pages');
        if (page.outsideWindow > 0) bump('records_outside_window', page.outsideWindow);

        let last = page.next === undefined || page.records === 0;
        if (page.next !== undefined && page.records === 0) bump('empty_page_with_next');
        if (!last && page.next !== undefined && (seen.has(page.next) || page.next === token || pageNo >= MAX_PAGES_PER_WINDOW)) {
          this.log.warn({ window: windowText, page: pageNo }, 'the API repeated a page token; ending this window here');
          bump('repeated_token');
          last = true;
        }
        if (!last && page.next !== undefined) api.prefetch(from, to, page.next, pageNo + 1);
        const { events, quarantined } = parsed;
        const next: PagedCursor = last ? { v: 1, from: iso(to) } : { v: 1, from: iso(from), to: iso(to), ...(page.next === undefined ? {} : { pageToken: page.next }) };
        const batch: Batch = { events, cursor: JSON.stringify(next), counters: takeCounters() };
        if (quarantined.length > 0) batch.quarantined = quarantined;
        yield batch;
        // Resumed: the page is journaled, so the buffer its documents were packed in can be filled again.
        if (parsed.block !== undefined) this.o.pool?.recycle([parsed.block]);
        if (last || page.next === undefined) break;
        seen.add(page.next);
        token = page.next;
      }

      if (to >= target) return;
      windowStart = to;
      windowEnd = undefined;
      token = undefined;
    }
  }
}
