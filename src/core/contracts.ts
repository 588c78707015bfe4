// The shapes every component agrees on: stream names, events, batches, sources and sinks.

export const STREAM_NAMES = [
  'siem',
  'ttp_url',
  'ttp_attachment',
  'ttp_impersonation',
  'audit',
  'dlp',
  'held_release',
  'archive_search',
  'threat_intel',
] as const;
export type StreamName = (typeof STREAM_NAMES)[number];

/** SIEM log types as written in config and in `mimecast.log_type`. */
export const SIEM_TYPES = [
  'receipt',
  'process',
  'delivery',
  'av',
  'spam',
  'journal',
  'internal_email_protect',
  'impersonation_protect',
  'url_protect',
  'attachment_protect',
] as const;
export type SiemType = (typeof SIEM_TYPES)[number];

/** The value the API 2.0 SIEM endpoints use for each type (`type=` parameter and the record's `type`). */
export const SIEM_API_TYPE: Readonly<Record<SiemType, string>> = {
  receipt: 'receipt',
  process: 'process',
  delivery: 'delivery',
  av: 'av',
  spam: 'spam',
  journal: 'journal',
  internal_email_protect: 'internal email protect',
  impersonation_protect: 'impersonation protect',
  url_protect: 'url protect',
  attachment_protect: 'attachment protect',
};

export function siemTypeFromApi(apiType: string): SiemType | undefined {
  const t = apiType.trim().toLowerCase().replace(/[\s-]+/g, '_');
  return (SIEM_TYPES as readonly string[]).includes(t) ? (t as SiemType) : undefined;
}

/**
 * Cloud Integrated SIEM log types (API 2.0 batch endpoint `/siem/v1/batch/events/ci`, same mechanics as `cg`).
 * Only accounts with Mimecast's Cloud Integrated product have them: collected when listed in `siem.types`, never
 * by default. The API spells them as written here (`type=` parameter and the record's `type`).
 */
export const CI_TYPES = ['entities', 'mailflow', 'urlclick'] as const;
export type CiType = (typeof CI_TYPES)[number];
/** Every value `siem.types` accepts: the ten Cloud Gateway types and the Cloud Integrated ones. */
export type SiemLogType = SiemType | CiType;

export function isCiType(t: string): t is CiType {
  return (CI_TYPES as readonly string[]).includes(t);
}

/** Threat-intel feeds: `streams.threat_intel.feeds` and the `mimecast.log_type` of their events. */
export const THREAT_FEEDS = ['malware_customer', 'malware_grid'] as const;

/**
 * Every `mimecast.log_type` the collector writes (what a sink's `log_types:` may name): the SIEM types, the Cloud
 * Integrated types, each other stream's own name, the threat-intel feeds, and `unknown` for a SIEM record of no
 * recognisable type.
 */
export const LOG_TYPES: readonly string[] = [
  ...SIEM_TYPES,
  ...CI_TYPES,
  ...STREAM_NAMES.filter((s) => s !== 'siem'),
  ...THREAT_FEEDS,
  'unknown',
];

/** An output document (ECS-shaped JSON object). */
export type EcsDocument = Record<string, unknown>;

/** One normalized event as a source produces it. */
export interface NormalizedEvent {
  /** `event.id`: stable and unique for the record. */
  id: string;
  stream: StreamName;
  account: string;
  /** `@timestamp`, ISO 8601 UTC. */
  time: string;
  doc: EcsDocument;
  /** `doc` already serialised, when the normalizer could build the text more cheaply than JSON.stringify(doc).
   *  Must parse to a value deep-equal to `doc`. */
  json?: string;
  /** The same text as UTF-8, when it already exists as bytes (events from the parse worker): stored and
   *  delivered as is, so it is never turned back into a string on the way. */
  bytes?: Buffer | undefined;
  /**
   * The record carried no usable time of its own: `time` is when it was collected (tag `mimecast_time_missing`).
   * Such a time differs on every read, so the journal deduplicates these events by id alone, and lag, stream
   * positions and time filters do not trust it.
   */
  timeMissing?: boolean | undefined;
  /** `mimecast.log_type` (e.g. `receipt`, `url_protect`, `audit`): kept beside the document so sinks can route on it
   *  without parsing the document. */
  logType?: string | undefined;
  /**
   * Severity 0–10 (the CEF/LEEF scale; normalize/severity.ts) from the event's verdict, computed when it is
   * normalized and journaled beside the document, so a sink that needs it (syslog's PRI) does not parse documents.
   */
  severity?: number | undefined;
}

/** An event held as its serialised document (text, or UTF-8 bytes from the parse worker): the document object is
 *  built only if someone asks for it. */
export class SerializedEvent implements NormalizedEvent {
  constructor(
    readonly id: string,
    readonly stream: StreamName,
    readonly account: string,
    readonly time: string,
    private readonly body: string | Buffer,
    readonly timeMissing?: boolean,
    readonly logType?: string,
    readonly severity?: number,
  ) {}
  get json(): string {
    return typeof this.body === 'string' ? this.body : this.body.toString('utf8');
  }
  get bytes(): Buffer | undefined {
    return typeof this.body === 'string' ? undefined : this.body;
  }
  get doc(): EcsDocument {
    return JSON.parse(this.json) as EcsDocument;
  }
}

/** Characters of raw input kept with a quarantined record. */
export const MAX_RAW = 4096;

/** The raw text kept with a record that could not be used: its JSON (else its string form), cut to MAX_RAW. */
export function rawOfRecord(record: unknown): string {
  let raw: string;
  try {
    raw = JSON.stringify(record) ?? String(record);
  } catch {
    raw = String(record);
  }
  return raw.slice(0, MAX_RAW);
}

/** A record that could not be used; kept in the journal's quarantine table. */
export interface Quarantined {
  /** Short machine-readable reason: `bad_json`, `bad_record`, `truncated_gzip`, `blob_missing`... */
  reason: string;
  /** Human-readable detail (parser message). */
  detail: string;
  /** Where it came from: `page=...,blob=2,line=1043`. */
  location: string;
  /** The raw input, cut to a bounded size. */
  raw: string;
  /**
   * For input the source can fetch again (a file given up whole or in part): its own description of how, read back
   * by its `refetch` when an operator asks (`quarantine retry`). Opaque to everyone else.
   */
  refetch?: string;
}

/** A source's opaque position, serialised by the source itself. */
export type Cursor = string;

/** What a source yields: events of one page / file chunk plus the cursor just after them. */
export interface Batch {
  events: NormalizedEvent[];
  cursor: Cursor;
  quarantined?: Quarantined[];
  /** Counters the source wants reported (e.g. `blob_expired: 1`). */
  counters?: Record<string, number>;
  /**
   * The source wants to be resumed only after this long (it is about to fetch a failing file again). The pipeline
   * waits after journaling the batch, holding none of the slots sources share, so other streams go on meanwhile.
   */
  pauseMs?: number;
}

/**
 * A source drains one stream unit of one account from its cursor until caught up, yielding
 * batches. It owns the cursor's meaning and neither schedules itself nor writes anywhere.
 *
 * A batch is the consumer's only until it asks for the next one: the events' `bytes` may live in buffers the
 * source fills again after that (the SIEM batch source reuses its parse worker's buffers). Journal, copy or
 * write them out first; keep only what is not bytes (ids, times) past that point.
 */
export interface Source {
  /** `account/stream[/subkey]`, the journal's cursor key. */
  readonly key: string;
  readonly account: string;
  readonly stream: StreamName;
  pull(cursor: Cursor | undefined, signal: AbortSignal): AsyncIterable<Batch>;
  /**
   * Optional: reads one quarantined input again, from the `refetch` text the source stored with it, and yields its
   * events (and anything still unusable in it) without touching the cursor. Throws when it still cannot be read.
   */
  refetch?(refetch: string, signal: AbortSignal): AsyncIterable<Pick<Batch, 'events' | 'quarantined'>>;
  /**
   * Optional (`checkpoints set`): the cursor from which this source collects everything from `timeMs` on. Absent
   * when the API cannot start from a time (API 1.0 SIEM files are handed out by token only).
   */
  cursorFrom?(timeMs: number): CursorFrom;
}

/** A cursor made for a time, and what it means in the API's terms. */
export interface CursorFrom {
  cursor: Cursor;
  /** Where collection really starts (a SIEM batch cursor starts at its day's beginning, a window source its overlap earlier). */
  from: number;
  /** The oldest time the API serves now: anything older is skipped (and said so in the log) when the source runs. */
  oldest: number;
}

/** An event as read back from the journal for delivery: the document is already serialised. */
export interface OutEvent {
  readonly seq: number;
  readonly id: string;
  readonly stream: StreamName;
  readonly account: string;
  readonly time: string;
  /** `mimecast.log_type`; '' for events journaled before it was kept beside the document. */
  readonly logType: string;
  /** The event's severity 0–10 (NormalizedEvent.severity); undefined for events journaled before it was kept. */
  readonly severity?: number | undefined;
  /** The document's length in UTF-8 bytes. */
  readonly size: number;
  /**
   * Writes the document as UTF-8 into `target` at `offset` (it must have `size` bytes of room) and returns `size`.
   * The way for a sink to build a request body: no buffer of the event's own is made on the way.
   */
  writeTo(target: Buffer, offset: number): number;
  /** The document as UTF-8 JSON (no trailing newline); an event that holds text makes it on each call. */
  readonly bytes: Buffer;
  /** The same document as text. */
  readonly json: string;
}

/**
 * The journal's OutEvent: holds the document's bytes (or its text); the other form is made only when asked for.
 * The bytes may be a range of a larger buffer (a journal block, a tail-cache slab): `bytes` makes a view of it only
 * when asked, so a sink that builds its request with `writeTo` costs no object per event for them (a batch in
 * flight keeps its events alive long enough for each such object to reach V8's old generation).
 */
export class StoredEvent implements OutEvent {
  readonly size: number;
  private readonly off: number;
  constructor(
    readonly seq: number,
    readonly id: string,
    readonly stream: StreamName,
    readonly account: string,
    readonly time: string,
    private readonly body: Buffer | string,
    readonly logType: string = '',
    readonly severity?: number,
    /** With a Buffer body: where the document starts in it, and its length (default: the whole buffer). */
    off?: number,
    len?: number,
  ) {
    this.off = off ?? 0;
    this.size = typeof body === 'string' ? Buffer.byteLength(body, 'utf8') : (len ?? body.length - this.off);
  }
  get bytes(): Buffer {
    if (typeof this.body === 'string') return Buffer.from(this.body, 'utf8');
    return this.off === 0 && this.size === this.body.length ? this.body : this.body.subarray(this.off, this.off + this.size);
  }
  get json(): string {
    return typeof this.body === 'string' ? this.body : this.body.toString('utf8', this.off, this.off + this.size);
  }
  writeTo(target: Buffer, offset: number): number {
    return typeof this.body === 'string' ? target.write(this.body, offset, 'utf8') : this.body.copy(target, offset, this.off, this.off + this.size);
  }
}

/** One event of a send the receiver did not take: its position in the events given to `send`, and why. */
export interface EventVerdict {
  readonly index: number;
  /** The receiver's own words where it gave some (`mapper_parsing_exception: failed to parse field [x]`, `HEC code 6`). */
  readonly reason: string;
}

/**
 * What a receiver said about a send, event by event. Every event not listed was delivered (an empty or absent
 * result: all of them). An event is listed at most once.
 */
export interface SendResult {
  /** Events to send again (the receiver was busy for them: an Elasticsearch item 429, a Kafka retriable error). */
  readonly retry?: readonly EventVerdict[];
  /** Events the receiver will never take as they are (data errors): they go to the dead-letter table. */
  readonly rejected?: readonly EventVerdict[];
  /** The receiver asked for this pause before the events in `retry` are sent again. */
  readonly retryAfterMs?: number;
}

/**
 * A sink delivers events to one receiver. The sink runner (core/sink-runner.ts), not the sink, batches, keeps
 * batches in flight, retries with the one retry policy, dead-letters and moves the sink's offset; a sink never
 * retries or waits by itself.
 *
 * `send` resolves once the receiver has confirmed what it says it confirmed (fsync, an HTTP 2xx, an indexer
 * acknowledgement), with a verdict for the events it did not take (SendResult). It throws a `SinkError` when the
 * send failed as a whole: `SINK_RETRYABLE` (the same events are sent again after a backoff, honouring
 * `retryAfterMs`), `SINK_TOO_LARGE` (the receiver refused the request's size: the runner splits the events in
 * halves, and an event alone too large is dead-lettered), `SINK_PERMANENT` (these events will never be taken:
 * dead-lettered) or `SINK_CONFIG` (the sink cannot work as configured: bad credentials, an unknown index, a
 * certificate that does not verify — the sink stops, loudly, and its backlog is kept for after the fix).
 *
 * The events' `bytes` belong to the journal and the runner: they stay valid until the `send` they were given to
 * settles (the journal's tail cache fills its buffers again once every sink's offset has passed them, and a sent
 * event's seq is passed only after its send settled; the runner reads the next batches into the buffer of a batch
 * that settled). Copy what must live longer — a buffer kept for a later resend, a request body still being written
 * after `send` returned.
 *
 * Several sends may be in flight at once (`concurrency`), each with its own events; a sink that cannot take that
 * serialises them itself.
 */
export interface Sink {
  readonly name: string;
  send(events: readonly OutEvent[], signal: AbortSignal): Promise<SendResult | void>;
  /**
   * Optional, at start-up and for `check`: whether the receiver is there and takes this sink's credentials. Throws
   * a SinkError (`SINK_CONFIG` for a problem only the operator can fix). Never sends events.
   */
  check?(signal: AbortSignal): Promise<void>;
  /**
   * Optional, cheap: true when the receiver looks able to take data again (the directory is writable, the endpoint
   * answers). While a failed delivery waits to be retried, the runner probes every few seconds and retries at once
   * when this says yes, so delivery resumes within seconds of a fix however long the backoff has grown. Never throws.
   */
  probe?(signal: AbortSignal): Promise<boolean>;
  close(): Promise<void>;
}
