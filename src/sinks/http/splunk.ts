// The `splunk_hec` preset: events as HEC envelopes to /services/collector/event, HEC reply codes turned into the
// runner's outcomes (a code-6 reply splits the batch where indexing stopped), and indexer acknowledgement.
import { randomUUID } from 'node:crypto';
import type { OutEvent, SendResult, Sink, StreamName } from '../../core/contracts.js';
import { CollectorError, SinkError, describeError } from '../../core/errors.js';
import type { Logger } from '../../telemetry/logger.js';
import { PerRoute } from '../common.js';
import { excerpt, replyError, retryAfterMs, type HttpReply, type HttpTarget } from './client.js';
import type { SplunkHecConfig } from './config.js';
import { rendersJson } from './ndjson.js';

/** The sourcetype of a stream's events when neither the log type nor the stream is named in `sourcetypes:`. */
const STREAM_SOURCETYPES: Readonly<Record<StreamName, string>> = {
  siem: 'mimecast:siem',
  ttp_url: 'mimecast:ttp:url',
  ttp_attachment: 'mimecast:ttp:attachment',
  ttp_impersonation: 'mimecast:ttp:impersonation',
  audit: 'mimecast:audit',
  dlp: 'mimecast:dlp',
  held_release: 'mimecast:held_release',
  archive_search: 'mimecast:archive_search',
  threat_intel: 'mimecast:threat_intel',
};

/** Streams whose log types carry different records (SIEM types, threat-intel feeds): one sourcetype per log type. */
const PER_LOG_TYPE: ReadonlySet<StreamName> = new Set(['siem', 'threat_intel']);

/**
 * The documented default sourcetype (docs/operations.md, "Splunk HEC"): `mimecast:siem:<log_type>` for SIEM records
 * (`mimecast:siem` for a record of no known type), `mimecast:threat_intel:<feed>`, and one per other stream.
 */
export function defaultSourcetype(stream: StreamName, logType: string): string {
  const base = STREAM_SOURCETYPES[stream];
  if (PER_LOG_TYPE.has(stream) && logType !== '' && logType !== 'unknown') return `${base}:${logType}`;
  return base;
}

/** `@timestamp` (ISO) as HEC's `time`: epoch seconds with milliseconds; undefined when it does not parse. */
export function hecTime(iso: string): string | undefined {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return undefined;
  if (ms < 0) return (ms / 1000).toFixed(3);
  const frac = ms % 1000;
  return `${(ms - frac) / 1000}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/** What HEC says in a reply body, read defensively: any field may be missing or of another type. */
export interface HecAnswer {
  code?: number;
  text?: string;
  /** `invalid-event-number`: the 0-based position of the event that stopped the request. */
  invalidEvent?: number;
  ackId?: number;
}

export function parseHecAnswer(text: string): HecAnswer {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return {};
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return {};
  const o = v as Record<string, unknown>;
  const out: HecAnswer = {};
  const int = (x: unknown): number | undefined => (typeof x === 'number' && Number.isInteger(x) ? x : typeof x === 'string' && /^\d+$/.test(x) ? Number(x) : undefined);
  const code = int(o['code']);
  if (code !== undefined) out.code = code;
  if (typeof o['text'] === 'string') out.text = o['text'];
  const at = int(o['invalid-event-number']);
  if (at !== undefined) out.invalidEvent = at;
  const ackId = int(o['ackId']);
  if (ackId !== undefined) out.ackId = ackId;
  return out;
}

/** What the operator should do about a token HEC refused (codes 1–4). Never shows the token. */
const TOKEN_HINTS: Readonly<Record<number, string>> = {
  1: 'the HEC token is disabled in Splunk: enable it (Settings > Data inputs > HTTP Event Collector) or use another token',
  2: 'HEC received no token: set token_file (or token) on this sink',
  3: 'HEC refused the Authorization header: check that token_file holds only the token (no "Splunk " prefix, no quotes)',
  4: 'HEC does not know this token: check token_file (or token) against Splunk\'s HTTP Event Collector tokens',
};

const RETRY_CODES: ReadonlySet<number> = new Set([8, 9, 18, 19, 20]);
/** Data or format problems: the events named by `invalid-event-number` (else the whole request) are refused for good. */
const DATA_CODES: ReadonlySet<number> = new Set([5, 6, 12, 13, 15, 16]);

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new CollectorError('ABORTED', 'aborted');
}

interface AckWaiter {
  resolve(): void;
  fail(err: unknown): void;
}

/**
 * The sink's one acknowledgement poller: every send waiting for an ackId registers here, and one timer asks HEC about
 * all of them (one `/ack` request per channel per round), however many sends are in flight.
 */
export class AckPoller {
  private readonly pending = new Map<string, Map<number, AckWaiter>>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private failedPolls = 0;
  private readonly stop = new AbortController();

  constructor(
    private readonly opts: {
      intervalMs: number;
      timeoutMs: number;
      /** Asks HEC about `ids` on `channel`: the ids it reports true. Throws a SinkError SINK_CONFIG when polling cannot work. */
      query: (channel: string, ids: number[], signal: AbortSignal) => Promise<ReadonlySet<number>>;
      /** The sink's name, for its errors. */
      sink: string;
      describe: (channel: string, ackId: number, events: number) => string;
      log: Logger;
    },
  ) {}

  /** ackIds waiting now (for tests and status). */
  get size(): number {
    let n = 0;
    for (const ids of this.pending.values()) n += ids.size;
    return n;
  }

  /** Resolves once HEC reports `ackId` true; rejects SINK_RETRYABLE past ack_timeout, or on `signal`. */
  wait(channel: string, ackId: number, events: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        reject(abortError(signal));
        return;
      }
      let ids = this.pending.get(channel);
      if (ids === undefined) {
        ids = new Map();
        this.pending.set(channel, ids);
      }
      const mine = ids;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (mine.get(ackId) === waiter) mine.delete(ackId);
        if (mine.size === 0 && this.pending.get(channel) === mine) this.pending.delete(channel);
      };
      const onAbort = (): void => {
        done();
        reject(abortError(signal));
      };
      const timer = setTimeout(() => {
        done();
        // Resent whole: HEC indexes everything it acknowledges, so the events may arrive twice (same event.ids).
        reject(new SinkError('SINK_RETRYABLE', `${this.opts.describe(channel, ackId, events)}: not acknowledged within ack_timeout (${this.opts.timeoutMs} ms); sending the events again`, this.opts.sink, { details: { ackId, timeout: true } }));
      }, this.opts.timeoutMs);
      const waiter: AckWaiter = {
        resolve: () => {
          done();
          resolve();
        },
        fail: (err) => {
          done();
          reject(err);
        },
      };
      mine.set(ackId, waiter);
      signal.addEventListener('abort', onAbort, { once: true });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.timer !== undefined || this.polling || this.pending.size === 0 || this.stop.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.round();
    }, this.opts.intervalMs);
  }

  private async round(): Promise<void> {
    this.polling = true;
    try {
      for (const [channel, ids] of [...this.pending]) {
        const asked = [...ids.keys()];
        if (asked.length === 0) continue;
        let acked: ReadonlySet<number>;
        try {
          acked = await this.opts.query(channel, asked, this.stop.signal);
        } catch (err) {
          if (this.stop.signal.aborted) return;
          if (err instanceof SinkError && err.code === 'SINK_CONFIG') {
            for (const w of [...this.pending.values()].flatMap((m) => [...m.values()])) w.fail(err);
            return;
          }
          // A failed poll is asked again next round; the sends' ack_timeout bounds how long.
          if (this.failedPolls++ === 0) this.opts.log.warn({ err: describeError(err) }, 'HEC acknowledgement poll failed; asking again every ack_poll_interval until ack_timeout');
          continue;
        }
        if (this.failedPolls > 0) {
          this.opts.log.info({ failed_polls: this.failedPolls }, 'HEC acknowledgement polls answer again');
          this.failedPolls = 0;
        }
        for (const id of asked) if (acked.has(id)) ids.get(id)?.resolve();
      }
    } finally {
      this.polling = false;
      this.schedule();
    }
  }

  close(): void {
    this.stop.abort();
    clearTimeout(this.timer);
    this.timer = undefined;
    const err = new SinkError('SINK_RETRYABLE', `sink ${this.opts.sink}: closed while waiting for HEC acknowledgements`, this.opts.sink);
    for (const w of [...this.pending.values()].flatMap((m) => [...m.values()])) w.fail(err);
  }
}

export class SplunkHecSink implements Sink {
  readonly name: string;
  private readonly eventPath: string;
  private readonly ackPath: string;
  private readonly healthPath: string;
  private readonly json: boolean;
  private readonly auth: string;
  /** The envelope between `time` and the document, per account/stream/log type: built once, copied per event. */
  private readonly middles = new PerRoute((e) => this.makeMiddle(e));
  private readonly acks: AckPoller | undefined;
  /** The channel every request carries with ack on; replaced when HEC refuses it. */
  private channel = randomUUID();

  constructor(
    private readonly cfg: SplunkHecConfig,
    private readonly target: HttpTarget,
    private readonly log: Logger,
  ) {
    this.name = cfg.name;
    // The URL is HEC's base (https://splunk:8088); a URL already naming the collector endpoint is taken as well.
    const prefix = new URL(cfg.url).pathname.replace(/\/+$/, '').replace(/\/services\/collector(\/event)?(\/1\.0)?$/, '');
    this.eventPath = `${prefix}/services/collector/event`;
    this.ackPath = `${prefix}/services/collector/ack`;
    this.healthPath = `${prefix}/services/collector/health`;
    this.json = rendersJson(cfg.format);
    this.auth = `Splunk ${cfg.token}`;
    if (cfg.ack) {
      this.acks = new AckPoller({
        intervalMs: cfg.ack_poll_interval,
        timeoutMs: cfg.ack_timeout,
        query: (channel, ids, signal) => this.queryAcks(channel, ids, signal),
        sink: cfg.name,
        describe: (channel, ackId, events) => `sink ${this.name}: ${events} events sent on channel ${channel} (ackId ${ackId})`,
        log,
      });
    }
  }

  /** The channel requests carry now (tests look at it). */
  get currentChannel(): string {
    return this.channel;
  }

  private sourcetype(stream: StreamName, logType: string): string {
    const over = this.cfg.sourcetypes;
    if (over !== undefined) {
      const byType = logType === '' ? undefined : over[logType];
      if (byType !== undefined) return byType;
      const byStream = over[stream];
      if (byStream !== undefined) return byStream;
    }
    return defaultSourcetype(stream, logType);
  }

  /** `,"host":…,"source":…,"sourcetype":…,"index":…,"fields":{…},"event":` for events of this kind. */
  private makeMiddle(e: Pick<OutEvent, 'account' | 'stream' | 'logType'>): Buffer {
    const { cfg } = this;
    let s = '';
    if (cfg.host !== undefined) s += `,"host":${JSON.stringify(cfg.host)}`;
    s += `,"source":${JSON.stringify(cfg.source ?? `mimecast:${e.account}`)}`;
    s += `,"sourcetype":${JSON.stringify(this.sourcetype(e.stream, e.logType))}`;
    if (cfg.index !== undefined) s += `,"index":${JSON.stringify(cfg.index)}`;
    if (cfg.indexed_fields) {
      const fields: Record<string, string> = { account: e.account, stream: e.stream };
      if (e.logType !== '') fields['log_type'] = e.logType;
      s += `,"fields":${JSON.stringify(fields)}`;
    }
    s += ',"event":';
    return Buffer.from(s, 'utf8');
  }

  /**
   * The request body: one envelope per event, concatenated, built around the event's bytes (never parsed) in one
   * buffer — a copy, so nothing of the journal's buffers is held past the send.
   */
  body(events: readonly OutEvent[]): Buffer {
    const heads: string[] = new Array<string>(events.length);
    // CEF and LEEF lines are text: the event is then a JSON string.
    const texts = this.json ? undefined : events.map((e) => JSON.stringify(e.json));
    const mids: Buffer[] = new Array<Buffer>(events.length);
    let total = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as OutEvent;
      const t = hecTime(e.time);
      // The head is ASCII (digits), so its length is its byte length.
      const head = t === undefined ? '{' : `{"time":${t}`;
      const docSize = texts === undefined ? e.size : Buffer.byteLength(texts[i] as string, 'utf8');
      const mid = this.middles.of(e);
      heads[i] = head;
      mids[i] = mid;
      total += head.length + (t === undefined ? mid.length - 1 : mid.length) + docSize + 2;
    }
    const out = this.target.bodyBuffer(total);
    let at = 0;
    for (let i = 0; i < events.length; i++) {
      const head = heads[i] as string;
      at += out.write(head, at, 'latin1');
      const mid = mids[i] as Buffer;
      // Without a time the envelope opens straight on the middle's first key: skip its leading comma.
      at += mid.copy(out, at, head.length === 1 ? 1 : 0);
      const e = events[i] as OutEvent;
      at += texts === undefined ? e.writeTo(out, at) : out.write(texts[i] as string, at, 'utf8');
      out[at++] = 0x7d; // }
      out[at++] = 0x0a; // \n
    }
    return out;
  }

  private headers(withChannel: boolean, channel: string): Record<string, string> {
    const h: Record<string, string> = { authorization: this.auth, 'content-type': 'application/json' };
    if (withChannel) h['x-splunk-request-channel'] = channel;
    return h;
  }

  async send(events: readonly OutEvent[], signal: AbortSignal): Promise<SendResult | void> {
    if (events.length === 0) return;
    const channel = this.channel;
    const reply = await this.target.call({
      path: this.eventPath,
      headers: this.headers(this.acks !== undefined, channel),
      body: this.body(events),
      gzip: this.cfg.compression === 'gzip',
      signal,
    });
    const hec = parseHecAnswer(reply.text);
    if (reply.status >= 200 && reply.status < 300) {
      if (this.acks === undefined) return;
      if (hec.ackId === undefined) {
        if (hec.code === 0) {
          throw new SinkError('SINK_CONFIG', `sink ${this.name}: ${this.describe('event')} answered without an ackId: indexer acknowledgement is off for this HEC token; turn it on for the token, or set ack: false on this sink`, this.name, { details: { status: reply.status, code: 0 } });
        }
        throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: ${this.describe('event')} answered HTTP ${reply.status} without an ackId (${excerpt(reply.text) || 'empty reply'}); sending the events again`, this.name, { details: { status: reply.status } });
      }
      await this.acks.wait(channel, hec.ackId, events.length, signal);
      return;
    }
    return this.refused(reply, hec, events.length, channel);
  }

  private describe(endpoint: 'event' | 'ack' | 'health'): string {
    const path = endpoint === 'event' ? this.eventPath : endpoint === 'ack' ? this.ackPath : this.healthPath;
    return this.target.describe(endpoint === 'health' ? 'GET' : 'POST', path);
  }

  /** A reply that is not a success, as the runner's outcome: per-event verdicts for a data error HEC located, else a SinkError. */
  private refused(reply: HttpReply, hec: HecAnswer, events: number, channel: string): SendResult {
    const code = hec.code;
    if (reply.status === 413 || code === undefined) throw this.hecError(reply, hec, 'event');
    const words = `HEC code ${code}${hec.text === undefined ? '' : `: ${hec.text}`}`;
    const at = hec.invalidEvent;
    if (DATA_CODES.has(code) && at !== undefined && at >= 0 && at < events) {
      // HEC indexed the events before `at` and stopped there: that one is refused, the rest was never looked at.
      const retry = [];
      for (let i = at + 1; i < events; i++) retry.push({ index: i, reason: `not indexed: HEC stopped at event ${at} of the request (${words})` });
      this.log.debug({ code, at, events }, 'HEC refused one event of the request');
      return { rejected: [{ index: at, reason: `${words} (event ${at} of the request)` }], retry };
    }
    if ((code === 10 || code === 11) && this.acks !== undefined && channel === this.channel) {
      // Our channel is a GUID sent on every request: HEC refusing it means it dropped it. A fresh one, then a resend.
      this.channel = randomUUID();
      this.log.warn({ code, text: hec.text }, 'HEC refused the request channel; continuing on a new channel');
    }
    throw this.hecError(reply, hec, 'event');
  }

  /** The SinkError for a HEC reply that failed as a whole (any endpoint). */
  private hecError(reply: HttpReply, hec: HecAnswer, endpoint: 'event' | 'ack' | 'health'): SinkError {
    const what = this.describe(endpoint);
    const code = hec.code;
    const words = code === undefined ? undefined : `HEC code ${code}${hec.text === undefined ? '' : `: ${hec.text}`}`;
    const fail = (kind: 'SINK_CONFIG' | 'SINK_PERMANENT' | 'SINK_RETRYABLE', hint?: string): SinkError => {
      const wait = kind === 'SINK_RETRYABLE' ? retryAfterMs(reply.headers) : undefined;
      return new SinkError(kind, `sink ${this.name}: ${what} answered HTTP ${reply.status}: ${words ?? excerpt(reply.text)}${hint === undefined ? '' : ` — ${hint}`}`, this.name, {
        details: { status: reply.status, ...(code === undefined ? {} : { code }) },
        ...(wait === undefined ? {} : { retryAfterMs: wait }),
      });
    };
    if (reply.status === 413) return new SinkError('SINK_TOO_LARGE', `sink ${this.name}: ${what} answered HTTP 413: the request is larger than HEC takes (max_content_length); lower batch.max_bytes to stop the splitting`, this.name, { details: { status: 413 } });
    if (code === undefined) {
      if (reply.status === 404) return fail('SINK_CONFIG', `no HEC endpoint at this URL: set url to the HEC base, e.g. https://splunk.example:8088`);
      return replyError(this.name, what, reply);
    }
    const tokenHint = TOKEN_HINTS[code];
    if (tokenHint !== undefined) return fail('SINK_CONFIG', tokenHint);
    if (code === 7) return fail('SINK_CONFIG', `this token may not write to index ${JSON.stringify(this.cfg.index ?? '(the token default)')}: fix index on this sink, or the token's allowed indexes`);
    if (code === 14) return fail('SINK_CONFIG', 'indexer acknowledgement is off for this HEC token: turn it on for the token, or set ack: false on this sink');
    if (code === 10 || code === 11) {
      if (this.acks === undefined) return fail('SINK_CONFIG', 'this HEC token has indexer acknowledgement on: set ack: true on this sink, or turn it off for the token');
      return fail('SINK_RETRYABLE');
    }
    if (RETRY_CODES.has(code)) return fail('SINK_RETRYABLE');
    if (DATA_CODES.has(code)) return fail('SINK_PERMANENT');
    // A code not in HEC's table: the HTTP status decides.
    return replyError(this.name, what, reply, words);
  }

  /** One `/ack` round for a channel: the ids HEC reports true. */
  private async queryAcks(channel: string, ids: number[], signal: AbortSignal): Promise<ReadonlySet<number>> {
    const reply = await this.target.call({
      path: `${this.ackPath}?channel=${encodeURIComponent(channel)}`,
      headers: this.headers(true, channel),
      body: Buffer.from(JSON.stringify({ acks: ids })),
      signal,
    });
    if (reply.status < 200 || reply.status >= 300) throw this.hecError(reply, parseHecAnswer(reply.text), 'ack');
    const acked = new Set<number>();
    let v: unknown;
    try {
      v = JSON.parse(reply.text);
    } catch {
      throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: ${this.describe('ack')} answered HTTP ${reply.status} with no JSON: ${excerpt(reply.text)}`, this.name);
    }
    const acks = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)['acks'] : undefined;
    if (acks === null || typeof acks !== 'object' || Array.isArray(acks)) {
      throw new SinkError('SINK_RETRYABLE', `sink ${this.name}: ${this.describe('ack')} answered HTTP ${reply.status} without "acks": ${excerpt(reply.text)}`, this.name);
    }
    for (const id of ids) if ((acks as Record<string, unknown>)[String(id)] === true) acked.add(id);
    return acked;
  }

  /**
   * HEC's health endpoint (17 healthy; 18–20 busy: retryable), then the token: with ack on, an `/ack` query (which
   * also proves acknowledgement is on for the token); otherwise an empty event request, which a good token gets
   * code 5 "No data" for and a bad one 401/403.
   */
  async check(signal: AbortSignal): Promise<void> {
    const health = await this.target.call({ method: 'GET', path: this.healthPath, signal });
    if (health.status < 200 || health.status >= 300) throw this.hecError(health, parseHecAnswer(health.text), 'health');
    if (this.acks !== undefined) {
      const reply = await this.target.call({
        path: `${this.ackPath}?channel=${encodeURIComponent(this.channel)}`,
        headers: this.headers(true, this.channel),
        body: Buffer.from('{"acks":[0]}'),
        signal,
      });
      if (reply.status < 200 || reply.status >= 300) throw this.hecError(reply, parseHecAnswer(reply.text), 'ack');
      return;
    }
    const reply = await this.target.call({ path: this.eventPath, headers: this.headers(false, this.channel), body: Buffer.alloc(0), signal });
    const hec = parseHecAnswer(reply.text);
    if ((reply.status >= 200 && reply.status < 300) || hec.code === 5) return;
    throw this.hecError(reply, hec, 'event');
  }

  /** HEC says it is healthy (a 503 "busy" or "unhealthy" is not ready to take data yet). */
  async probe(signal: AbortSignal): Promise<boolean> {
    try {
      const reply = await this.target.call({ method: 'GET', path: this.healthPath, signal });
      return reply.status >= 200 && reply.status < 300;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.acks?.close();
    return this.target.close();
  }
}
