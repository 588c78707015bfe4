// SIEM via the API 2.0 stream endpoint: inline events, `@nextPage` cursor, the endpoint's 24-hour look-back.
import { SIEM_API_TYPE, type Batch, type CursorFrom, type NormalizedEvent, type Quarantined, type SiemType, type Source } from '../../core/contracts.js';
import { ApiError, CollectorError, describeError, isAbort } from '../../core/errors.js';
import type { MimecastApi } from '../../mimecast/api.js';
import type { Logger } from '../../telemetry/logger.js';
import { disabledError, normalizeOrQuarantine, type RecordNormalizer } from '../paged/shared.js';
import { normalizeSiemV2 } from './normalize.js';
import { isRecord } from '../../core/util.js';

export interface SiemStreamOptions {
  account: string;
  api: Pick<MimecastApi, 'getJson'>;
  logger: Logger;
  /** First run only: how far back to start (ms); clamped to the endpoint's 24 hours. */
  startFromMs: number;
  /** Types asked for in one request (`types=a,b`); all types when absent or empty. */
  types?: readonly SiemType[];
  /** Events per page. Default 100. */
  pageSize?: number;
  normalize?: RecordNormalizer;
  now?: () => number;
}

/**
 * `start`: where a date-range request begins when there is no usable token. `next`: the last trusted `@nextPage`.
 * `at`: when that token was handed out (a token older than the look-back is useless). `pos`: the newest event
 * time committed, which is where collection resumes if the token is lost.
 */
export interface SiemStreamCursor {
  v: 1;
  start: string;
  next?: string;
  at?: string;
  pos?: string;
}

const PATH = '/siem/v1/events/cg';
/** The endpoint refuses anything older than 24 hours; 10 minutes of margin so a request never lands on the edge. */
export const STREAM_LOOKBACK_MS = 24 * 3_600_000 - 10 * 60_000;

function validIso(v: unknown): string | undefined {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : undefined;
}

export function parseStreamCursor(text: string | undefined): SiemStreamCursor | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || v['v'] !== 1) return undefined;
  const start = validIso(v['start']);
  if (start === undefined) return undefined;
  const out: SiemStreamCursor = { v: 1, start };
  if (typeof v['next'] === 'string' && v['next'] !== '') out.next = v['next'];
  const at = validIso(v['at']);
  if (at !== undefined) out.at = at;
  const pos = validIso(v['pos']);
  if (pos !== undefined) out.pos = pos;
  return out;
}

/**
 * A `@nextPage` decodes to text like `[av=100-200, delivery=0-0]:1:token`: per-type offset ranges. When every range
 * is `0-0` the token points nowhere (a known server fault); continuing from it re-reads or skips, so it is dropped.
 */
export function isEmptyStreamToken(token: string): boolean {
  let text: string;
  try {
    text = Buffer.from(token, 'base64').toString('utf8');
  } catch {
    return false;
  }
  const m = /^\[([^\]]*)\]/.exec(text);
  if (m === null) return false;
  const ranges = (m[1] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (ranges.length === 0) return false;
  return ranges.every((r) => /^[^=]+=0+-0+$/.test(r));
}

interface StreamPage {
  events: unknown[];
  next: string | undefined;
  caughtUp: boolean;
}

function parseStreamPage(body: unknown, call: string): StreamPage {
  if (!isRecord(body)) throw new ApiError('API_BAD_RESPONSE', `${call}: expected a JSON object`, call, { retryable: true });
  const value = body['value'];
  if (!Array.isArray(value)) throw new ApiError('API_BAD_RESPONSE', `${call}: reply has no "value" array`, call, { retryable: true });
  const next = body['@nextPage'];
  return { events: value as unknown[], next: typeof next === 'string' && next !== '' ? next : undefined, caughtUp: body['isCaughtUp'] === true };
}

export class SiemStreamSource implements Source {
  readonly key: string;
  readonly account: string;
  readonly stream = 'siem' as const;
  private readonly o: SiemStreamOptions;
  private readonly log: Logger;
  private readonly types: string | undefined;
  private readonly normalize: RecordNormalizer;

  constructor(options: SiemStreamOptions) {
    this.o = options;
    this.account = options.account;
    const types = [...new Set(options.types ?? [])].sort();
    this.types = types.length === 0 ? undefined : types.map((t) => SIEM_API_TYPE[t]).join(',');
    // A different type set asks a different question: it gets its own cursor.
    this.key = `${options.account}/siem/stream${types.length === 0 ? '' : `/${types.join('+')}`}`;
    this.log = options.logger.child({ source: this.key });
    this.normalize = options.normalize ?? normalizeSiemV2;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  cursorFrom(timeMs: number): CursorFrom {
    const cursor: SiemStreamCursor = { v: 1, start: new Date(timeMs).toISOString() };
    return { cursor: JSON.stringify(cursor), from: timeMs, oldest: this.now() - STREAM_LOOKBACK_MS };
  }

  async *pull(cursorText: string | undefined, signal: AbortSignal): AsyncGenerator<Batch> {
    const now = this.now();
    const limit = now - STREAM_LOOKBACK_MS;
    const counters: Record<string, number> = {};
    const bump = (k: string): void => {
      counters[k] = (counters[k] ?? 0) + 1;
    };

    const stored = parseStreamCursor(cursorText);
    if (cursorText !== undefined && stored === undefined) {
      this.log.warn({ cursor: cursorText.slice(0, 200) }, 'stored cursor is unreadable; starting from start_from');
    }
    let start: number;
    let token: string | undefined;
    let at: number | undefined;
    let pos: number | undefined;
    if (stored === undefined) {
      start = now - this.o.startFromMs;
      if (start < limit) {
        this.log.info({ start_from: new Date(start).toISOString(), clamped_to: new Date(limit).toISOString() }, 'start_from is further back than the stream endpoint allows (24 hours); starting at the limit');
        start = limit;
      }
    } else {
      start = Date.parse(stored.start);
      token = stored.next;
      at = stored.at === undefined ? undefined : Date.parse(stored.at);
      pos = stored.pos === undefined ? undefined : Date.parse(stored.pos);
      const tokenTime = at ?? start;
      if (token !== undefined && tokenTime < limit) {
        token = undefined;
        at = undefined;
        start = Math.max(pos ?? start, start);
      }
      if (token === undefined && start < limit) {
        this.log.warn(
          { from: new Date(start).toISOString(), to: new Date(limit).toISOString() },
          `events between ${new Date(start).toISOString()} and ${new Date(limit).toISOString()} were not collected: the stream endpoint only looks back 24 hours`,
        );
        bump('lookback_lost');
        start = limit;
      }
    }

    let restarted = false;
    for (;;) {
      const pageSize = this.o.pageSize ?? 100;
      const query: Record<string, string | number | undefined> =
        token !== undefined
          ? { nextPage: token, pageSize, types: this.types }
          : { dateRangeStartsAt: new Date(start).toISOString(), dateRangeEndsAt: new Date(this.now()).toISOString(), pageSize, types: this.types };
      const call = `GET ${PATH}`;
      let body: unknown;
      try {
        body = await this.o.api.getJson(PATH, query, signal);
      } catch (err) {
        if (isAbort(err, signal)) throw err;
        // 403 only: a 404 here more likely means a wrong base URL than a missing product, and must stay loud.
        if (err instanceof CollectorError && err.code === 'API_PERMISSION_DENIED') {
          throw disabledError('siem', this.account, err, 'Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read');
        }
        if (token !== undefined && !restarted && err instanceof CollectorError && err.code === 'API_BAD_REQUEST') {
          // Usually a token past the look-back. Resume by date from the newest event we hold; dedup absorbs replays.
          const from = Math.max(pos ?? start, start, this.now() - STREAM_LOOKBACK_MS);
          this.log.warn({ err: describeError(err), from: new Date(from).toISOString() }, 'the stream endpoint refused the stored cursor; continuing by date range');
          restarted = true;
          token = undefined;
          at = undefined;
          start = from;
          bump('cursor_restarts');
          continue;
        }
        throw err;
      }
      const page = parseStreamPage(body, call);
      bump('pages');
      const events: NormalizedEvent[] = [];
      const quarantined: Quarantined[] = [];
      page.events.forEach((record, i) => {
        normalizeOrQuarantine(this.normalize, record, this.account, `stream=siem,mode=stream,page=${token ?? `start:${new Date(start).toISOString()}`},record=${i + 1}`, events, quarantined);
      });
      for (const e of events) {
        if (e.timeMissing === true) continue;
        const t = Date.parse(e.time);
        if (!Number.isNaN(t) && (pos === undefined || t > pos)) pos = t;
      }

      let trusted = page.next;
      if (trusted !== undefined && isEmptyStreamToken(trusted)) {
        this.log.warn('the stream endpoint returned a cursor with no position (every type 0-0); not keeping it');
        bump('untrusted_cursor');
        trusted = undefined;
      }
      if (trusted !== undefined) {
        token = trusted;
        at = this.now();
      } else if (token === undefined && pos !== undefined) {
        // No token to go on: the next date-range request starts at the newest event held, not at the old start.
        start = Math.max(start, pos);
      }
      const cursor: SiemStreamCursor = { v: 1, start: new Date(start).toISOString() };
      if (token !== undefined) cursor.next = token;
      if (at !== undefined) cursor.at = new Date(at).toISOString();
      if (pos !== undefined) cursor.pos = new Date(pos).toISOString();
      const batch: Batch = { events, cursor: JSON.stringify(cursor), counters: { ...counters } };
      for (const k of Object.keys(counters)) delete counters[k];
      if (quarantined.length > 0) batch.quarantined = quarantined;
      yield batch;
      if (page.caughtUp || page.events.length === 0 || trusted === undefined) return;
    }
  }
}
