// Threat-intel feed (STIX files chained by X-Mc-Threat-Feed-Next-Token): one record per STIX object, streamed.
import type { Readable } from 'node:stream';
import type { Batch, CursorFrom, NormalizedEvent, Quarantined, Source } from '../../core/contracts.js';
import { describeError, isAbort } from '../../core/errors.js';
import type { MimecastApi, RawResponse } from '../../mimecast/api.js';
import { formatMimecastDate } from '../../normalize/time.js';
import type { Logger } from '../../telemetry/logger.js';
import { disabledError, isUnavailable, MAX_RAW, normalizeOrQuarantine, type RecordNormalizer } from '../paged/shared.js';
import { scanBundle, type BundleSummary } from './bundle.js';
import { normalizeThreatIntel } from './normalize.js';

export type ThreatFeedType = 'malware_customer' | 'malware_grid';

export interface ThreatIntelOptions {
  account: string;
  feedType: ThreatFeedType;
  api: Pick<MimecastApi, 'postRaw'>;
  logger: Logger;
  /** First run only: how far back to start (ms); clamped to the feed's look-back. */
  startFromMs: number;
  /** Objects per yielded batch. Default 1000. */
  chunkObjects?: number;
  /** A single STIX object larger than this (characters) is quarantined unread. Default 4 MiB. */
  maxObjectChars?: number;
  /** A normalizer of the caller's own (tests); default the stream's own, normalizeThreatIntel. */
  normalize?: RecordNormalizer;
  now?: () => number;
}

/**
 * Between cycles `{v, start}`: the next request asks for the feed from `start`. Inside a chain `{v, start, end,
 * token}`: the file `token` names is the next one to read (its objects are re-read whole after a crash; the
 * journal's dedup absorbs the part already committed).
 */
export interface ThreatIntelCursor {
  v: 1;
  start: string;
  end?: string;
  token?: string;
}

const PATH = '/api/ttp/threat-intel/get-feed';
const NEXT_HEADER = 'x-mc-threat-feed-next-token';
/** Reads of one feed file before a file that keeps arriving cut is quarantined. */
const FILE_ATTEMPTS = 3;
/** The feed's documented default range is the last 7 days; we do not ask for more. */
export const FEED_LOOKBACK_MS = 7 * 86_400_000 - 10 * 60_000;

function validIso(v: unknown): string | undefined {
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : undefined;
}

export function parseThreatIntelCursor(text: string | undefined): ThreatIntelCursor | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const c = v as Record<string, unknown>;
  const start = validIso(c['start']);
  if (c['v'] !== 1 || start === undefined) return undefined;
  const out: ThreatIntelCursor = { v: 1, start };
  const end = validIso(c['end']);
  if (end !== undefined && typeof c['token'] === 'string' && c['token'] !== '') {
    out.end = end;
    out.token = c['token'];
  }
  return out;
}

export class ThreatIntelSource implements Source {
  readonly key: string;
  readonly account: string;
  readonly stream = 'threat_intel' as const;
  private readonly o: ThreatIntelOptions;
  private readonly log: Logger;
  private readonly normalizer: RecordNormalizer;

  constructor(options: ThreatIntelOptions) {
    this.o = options;
    this.account = options.account;
    this.key = `${options.account}/threat_intel/${options.feedType}`;
    this.log = options.logger.child({ source: this.key });
    this.normalizer = options.normalize ?? normalizeThreatIntel;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  cursorFrom(timeMs: number): CursorFrom {
    const cursor: ThreatIntelCursor = { v: 1, start: new Date(timeMs).toISOString() };
    return { cursor: JSON.stringify(cursor), from: timeMs, oldest: this.now() - FEED_LOOKBACK_MS };
  }

  async *pull(cursorText: string | undefined, signal: AbortSignal): AsyncGenerator<Batch> {
    const now = this.now();
    const limit = now - FEED_LOOKBACK_MS;
    const stored = parseThreatIntelCursor(cursorText);
    if (cursorText !== undefined && stored === undefined) {
      this.log.warn({ cursor: cursorText.slice(0, 200) }, 'stored cursor is unreadable; starting from start_from');
    }
    let start = stored === undefined ? now - this.o.startFromMs : Date.parse(stored.start);
    let end = stored?.end === undefined ? now : Date.parse(stored.end);
    let token = stored?.token;
    if (start < limit) {
      if (stored !== undefined) {
        this.log.warn(
          { from: new Date(start).toISOString(), to: new Date(limit).toISOString() },
          `feed files between ${new Date(start).toISOString()} and ${new Date(limit).toISOString()} were not collected: the feed is only asked for its last 7 days`,
        );
      }
      start = limit;
      if (end <= start) {
        end = now;
        token = undefined;
      }
    }

    for (;;) {
      const item: Record<string, unknown> = {
        feedType: this.o.feedType,
        fileType: 'stix',
        compress: false,
        start: formatMimecastDate(new Date(start)),
        end: formatMimecastDate(new Date(end)),
      };
      if (token !== undefined) item['token'] = token;
      const here: ThreatIntelCursor = { v: 1, start: new Date(start).toISOString(), ...(token === undefined ? {} : { end: new Date(end).toISOString(), token }) };
      const label = `feed=${this.o.feedType},token=${token ?? 'first'}`;
      let nextToken: string | undefined;
      // A file cut in transit is asked for again (the same token gives the same file; the journal absorbs the
      // objects already delivered); only one that stays cut is quarantined, so the chain never stalls on it.
      for (let attempt = 1; ; attempt++) {
        let res: RawResponse;
        try {
          res = await this.o.api.postRaw(PATH, { data: [item] }, signal);
        } catch (err) {
          if (isAbort(err, signal)) throw err;
          if (isUnavailable(err)) throw disabledError('threat_intel', this.account, err, 'Monitoring | Threat Intel | Read');
          throw err;
        }
        const next = res.headers[NEXT_HEADER];
        nextToken = next !== undefined && next.trim() !== '' ? next.trim() : undefined;
        const last = attempt >= FILE_ATTEMPTS;
        const cut = yield* this.readFile(res.body, label, JSON.stringify(here), signal, last);
        if (cut === undefined || last) break;
        this.log.warn({ file: label, detail: cut, attempt }, `threat-intel feed file is cut; fetching it again (attempt ${attempt + 1} of ${FILE_ATTEMPTS})`);
        yield { events: [], cursor: JSON.stringify(here), counters: { file_retry: 1 } };
      }

      const after: ThreatIntelCursor =
        nextToken === undefined ? { v: 1, start: new Date(end).toISOString() } : { v: 1, start: new Date(start).toISOString(), end: new Date(end).toISOString(), token: nextToken };
      yield { events: [], cursor: JSON.stringify(after), counters: { files: 1 } };
      if (nextToken === undefined || nextToken === token) return;
      token = nextToken;
    }
  }

  /**
   * One feed file: objects in bounded chunks, each chunk committed with the cursor that re-reads this file.
   * Returns why the file is cut, if it is; only on the `last` attempt is that (and any other file-level problem)
   * quarantined.
   */
  private async *readFile(body: Readable, label: string, cursor: string, signal: AbortSignal, last: boolean): AsyncGenerator<Batch, string | undefined> {
    const normalize = this.normalizer;
    const chunk = Math.max(1, this.o.chunkObjects ?? 1000);
    const summary: BundleSummary = { truncated: false, nonObjects: 0 };
    let events: NormalizedEvent[] = [];
    let quarantined: Quarantined[] = [];
    let index = 0;
    let failure: unknown;
    try {
      for await (const item of scanBundle(body, this.o.maxObjectChars ?? 4 * 1024 * 1024, summary)) {
        index += 1;
        const location = `${label},object=${index}`;
        if (item.kind === 'too_large') {
          quarantined.push({ reason: 'object_too_large', detail: `STIX object of ${item.bytes} characters is above the limit`, location, raw: item.head });
        } else {
          let record: unknown;
          try {
            record = JSON.parse(item.text);
          } catch (err) {
            quarantined.push({ reason: 'bad_json', detail: describeError(err), location, raw: item.text.slice(0, MAX_RAW) });
            continue;
          }
          normalizeOrQuarantine(normalize, record, this.account, location, events, quarantined);
        }
        if (events.length + quarantined.length >= chunk) {
          yield { events, cursor, ...(quarantined.length > 0 ? { quarantined } : {}) };
          events = [];
          quarantined = [];
        }
      }
    } catch (err) {
      if (isAbort(err, signal)) throw err;
      failure = err;
    } finally {
      body.destroy();
    }
    const cut =
      failure !== undefined ? `download failed after ${index} objects: ${describeError(failure)}` : summary.truncated ? `file ends inside a value after ${index} objects` : undefined;
    if (cut !== undefined && !last) {
      if (events.length > 0 || quarantined.length > 0) yield { events, cursor, ...(quarantined.length > 0 ? { quarantined } : {}) };
      return cut;
    }
    if (cut !== undefined) {
      this.log.warn({ file: label, detail: cut, attempts: FILE_ATTEMPTS }, 'threat-intel feed file stays cut; kept what was complete, moving on');
      quarantined.push({ reason: 'truncated_file', detail: `${cut} (after ${FILE_ATTEMPTS} attempts)`, location: label, raw: '' });
    }
    if (summary.notJson !== undefined) {
      quarantined.push({ reason: 'not_stix', detail: 'feed file is not a JSON STIX bundle', location: label, raw: summary.notJson.slice(0, MAX_RAW) });
    }
    if (summary.nonObjects > 0) {
      quarantined.push({ reason: 'bad_record', detail: `${summary.nonObjects} elements of "objects" are not JSON objects`, location: label, raw: '' });
    }
    if (events.length > 0 || quarantined.length > 0) yield { events, cursor, ...(quarantined.length > 0 ? { quarantined } : {}) };
    return cut;
  }
}
