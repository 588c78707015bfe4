// A Splunk HTTP Event Collector written from Splunk's documentation, for the HTTP sink's tests and benchmarks.
//
// Modelled (Splunk Enterprise's HEC, JSON event protocol):
// - `POST /services/collector`, `/services/collector/event`, `/services/collector/event/1.0`: a body of JSON event
//   objects concatenated with optional whitespace between (no array, no commas). Envelope keys `event` (required),
//   `time`, `host`, `source`, `sourcetype`, `index`, `fields`. Events are validated in order and the first bad one
//   stops the request; the events before it ARE indexed (as Splunk does) and the reply names it in
//   `invalid-event-number` (0-based): code 6 "Invalid data format" (not JSON, not an object, bad `time`), 12 "Event
//   field is required" (no `event` key), 13 "Event field cannot be blank" (`event` null or an empty/blank string),
//   15 "Error in handling indexed fields" (`fields` not an object, or a value that is an object), 7 "Incorrect index"
//   (an `index` outside `allowedIndexes`). An empty body is code 5 "No data".
// - Auth: `Authorization: Splunk <token>`. None: 401 code 2 "Token is required"; another scheme: 401 code 3 "Invalid
//   authorization"; unknown token: 403 code 4 "Invalid token"; `setTokenDisabled(true)`: 403 code 1 "Token disabled".
// - `Content-Encoding: gzip` bodies; `maxBodyBytes` on the wire → 413 (Splunk's `max_content_length`).
// - Indexer acknowledgement (`ack: true`): the channel comes from `X-Splunk-Request-Channel` or `?channel=`; none is
//   400 code 10 "Data channel is missing", a channel that is not a GUID is 400 code 11 "Invalid data channel". Each
//   accepted request gets `ackId` (0, 1, 2... per channel). `POST /services/collector/ack` with `{"acks":[ids]}`
//   answers `{"acks":{"<id>":bool}}`: true only once the id's plan says "indexed"; unknown, pending, lost, expired
//   and already-reported ids are all false (Splunk forgets an id once it has answered true). A channel idle past
//   `channelIdleMs` forgets its pending ids. `/ack` with acks off: 400 code 14 "ACK is disabled".
// - `GET /services/collector/health` (no token needed): 200 code 17 "HEC is healthy", or 503 codes 18 (queues full),
//   19 (ack service unavailable), 20 (both) via `setHealth`.
// - Faults, per request, from a queue or a function: 503 code 9 "Server is busy", 500 code 8 "Internal server error",
//   413, 503 unhealthy, any reply, a delay before the normal answer, the connection dropped before the body is read
//   (nothing indexed) or after indexing (the reply is lost: a resend duplicates). `stop()`/`start()`: an outage on
//   the same port.
// - Splunk does not deduplicate: every indexed event is kept, so tests count duplicates (`countById`).
// Not modelled: `/services/collector/raw`, metrics events, query-string and Basic auth (code 16), token default
// index/sourcetype, `auto_extract_timestamp`, multiple tokens, TLS, the exact text of Splunk's 413 body (classify
// 413 by HTTP status), HEC's per-connection limits.
// Assumed, not checked against a real Splunk: a channel that is not a GUID is code 11 even when acks are off;
// `event: null` is code 13 (blank), like an empty string; gzip that does not decode is code 6.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { jsonReply, readBody, ReceiverServer, sleep, type Reply } from './receiver-server.js';

/** HEC status codes and their texts, as Splunk's troubleshooting table lists them. */
export const HEC_CODES = {
  0: { status: 200, text: 'Success' },
  1: { status: 403, text: 'Token disabled' },
  2: { status: 401, text: 'Token is required' },
  3: { status: 401, text: 'Invalid authorization' },
  4: { status: 403, text: 'Invalid token' },
  5: { status: 400, text: 'No data' },
  6: { status: 400, text: 'Invalid data format' },
  7: { status: 400, text: 'Incorrect index' },
  8: { status: 500, text: 'Internal server error' },
  9: { status: 503, text: 'Server is busy' },
  10: { status: 400, text: 'Data channel is missing' },
  11: { status: 400, text: 'Invalid data channel' },
  12: { status: 400, text: 'Event field is required' },
  13: { status: 400, text: 'Event field cannot be blank' },
  14: { status: 400, text: 'ACK is disabled' },
  15: { status: 400, text: 'Error in handling indexed fields' },
  17: { status: 200, text: 'HEC is healthy' },
  18: { status: 503, text: 'HEC is unhealthy, queues are full' },
  19: { status: 503, text: 'HEC is unhealthy, ack service unavailable' },
  20: { status: 503, text: 'HEC is unhealthy, queues are full, ack service unavailable' },
} as const;

export type HecCode = keyof typeof HEC_CODES;
export type HealthCode = 17 | 18 | 19 | 20;
export type HecEndpoint = 'event' | 'ack' | 'health' | 'other';

/** One indexed event: its envelope as parsed, plus where it came from. */
export interface HecEvent {
  event: unknown;
  time?: number | string;
  host?: string;
  source?: string;
  sourcetype?: string;
  index?: string;
  fields?: Record<string, unknown>;
  /** The request's channel (header or query), when it had one. */
  channel: string | undefined;
  /** The request's ackId when acks are on and the request succeeded. */
  ackId: number | undefined;
  /** Which request (1-based, over all endpoints) carried it. */
  requestNo: number;
}

/** When an ackId turns true. */
export type AckPlan =
  | { kind: 'immediate' }
  | { kind: 'after_ms'; ms: number }
  /** True from the `polls`-th `/ack` request that asks about this id (1: the first poll). */
  | { kind: 'after_polls'; polls: number }
  /** The events are indexed but the ack never turns true (its status was lost). */
  | { kind: 'never' }
  /** Nothing is indexed and the ack never turns true (the indexer died before indexing). */
  | { kind: 'lost' };

export interface AckPlanContext {
  channel: string;
  ackId: number;
  requestNo: number;
  events: number;
}

export type HecFault =
  | { kind: 'busy' }
  | { kind: 'internal' }
  | { kind: 'too_large' }
  | { kind: 'unhealthy'; code?: Exclude<HealthCode, 17> }
  /** Wait, then answer normally. */
  | { kind: 'delay'; ms: number }
  /** Destroy the connection: before reading the body (nothing indexed) or after indexing (the reply is lost). */
  | { kind: 'drop'; when?: 'before_read' | 'after_index' }
  | { kind: 'reply'; status: number; body: unknown };

export interface FaultContext {
  endpoint: HecEndpoint;
  requestNo: number;
  /** 1-based count of requests to this endpoint so far, this one included. */
  endpointRequestNo: number;
}

export interface HecRequestRecord {
  requestNo: number;
  endpoint: HecEndpoint;
  method: string;
  status: number;
  /** The HEC `code` of the reply, when it had one. */
  code: number | undefined;
  channel: string | undefined;
  /** Events indexed by this request. */
  indexed: number;
  wireBytes: number;
  gzip: boolean;
}

export interface HecReceiverOptions {
  /** The one valid token. Default `test-hec-token`. */
  token?: string;
  /** Indexer acknowledgement on the token. Default false. */
  ack?: boolean;
  /** When each ackId turns true. Default immediate (true at the first poll). */
  ackPlan?: AckPlan | ((ctx: AckPlanContext) => AckPlan);
  /** A channel unused this long forgets its pending ackIds. Default 600 000 ms. */
  channelIdleMs?: number;
  /** Request body limit on the wire, bytes. Default 8 MiB. */
  maxBodyBytes?: number;
  /** Indexes a token may write to; an event naming another is code 7. Default: any. */
  allowedIndexes?: readonly string[];
  /** Keep every indexed event in `events` (false: count only, for benchmarks). Default true. */
  keepEvents?: boolean;
  /**
   * Benchmarks: frame the events (each object scanned to its closing brace) and count them, without parsing or
   * checking their envelopes, so the figure measured is the sender's. Implies keepEvents false. Default false.
   */
  light?: boolean;
  /** Port to listen on; 0 (default) takes one from the OS. */
  port?: number;
  /** Clock for ack timing. Default Date.now. */
  now?: () => number;
}

export interface HecReceiver {
  readonly url: string;
  readonly port: number;
  /** Indexed events in order (empty when `keepEvents: false`). */
  readonly events: readonly HecEvent[];
  /** How many events were indexed (kept or not). */
  readonly indexedCount: number;
  readonly requests: readonly HecRequestRecord[];
  /** Requests to an endpoint, optionally with one HTTP status. */
  countRequests(endpoint: HecEndpoint, status?: number): number;
  /** Queue faults for the next requests to an endpoint (default `event`), one per request. */
  fault(...faults: HecFault[]): void;
  faultOn(endpoint: HecEndpoint, ...faults: HecFault[]): void;
  /** A function asked for every request the queue has nothing for. */
  setFaultFunction(fn: ((ctx: FaultContext) => HecFault | undefined) | undefined): void;
  setAckPlan(plan: AckPlan | ((ctx: AckPlanContext) => AckPlan)): void;
  setTokenDisabled(disabled: boolean): void;
  setHealth(code: HealthCode): void;
  /** ackIds on a channel still waiting to be reported true. */
  pendingAcks(channel: string): number[];
  /** Forget a channel's pending ackIds (they answer false from now on), as an idle channel does. */
  expireChannel(channel: string): void;
  /** Drop every kept event and request record (counters too). */
  reset(): void;
  /** Outage: stop listening and cut connections; `start()` comes back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const EVENT_PATHS = new Set(['/services/collector', '/services/collector/event', '/services/collector/event/1.0']);
const ACK_PATHS = new Set(['/services/collector/ack', '/services/collector/ack/1.0']);
const HEALTH_PATHS = new Set(['/services/collector/health', '/services/collector/health/1.0']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A fresh channel id, as a sink would make one. */
export function newChannel(): string {
  return randomUUID();
}

/** The ECS `event.id` of an indexed event (`envelope.event.event.id`), when there is one. */
export function eventIdOf(e: HecEvent): string | undefined {
  const doc = e.event;
  if (!isRecord(doc)) return undefined;
  const inner = doc['event'];
  if (!isRecord(inner)) return undefined;
  const id = inner['id'];
  return typeof id === 'string' ? id : undefined;
}

/** How many times each `event.id` was indexed; a count above 1 is a duplicate. */
export function countById(events: readonly HecEvent[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of events) {
    const id = eventIdOf(e);
    if (id !== undefined) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/** The `event.id`s indexed more than once. */
export function duplicateIds(events: readonly HecEvent[]): string[] {
  return [...countById(events)].filter(([, n]) => n > 1).map(([id]) => id);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function hecReply(code: HecCode, extra: Record<string, unknown> = {}): Reply {
  const { status, text } = HEC_CODES[code];
  return jsonReply(status, { text, code, ...extra });
}

interface PendingAck {
  plan: AckPlan;
  at: number;
  polls: number;
}

interface Channel {
  lastUsed: number;
  nextAckId: number;
  pending: Map<number, PendingAck>;
}

type Envelope = Omit<HecEvent, 'channel' | 'ackId' | 'requestNo'>;
type ParseResult = { envelopes: Envelope[]; error?: { code: HecCode; at: number } };

/** Splits concatenated JSON objects. A value is scanned to its closing brace (strings and escapes respected). */
export function parseEvents(text: string, allowedIndexes?: ReadonlySet<string>): ParseResult | 'empty' {
  if (text.trim() === '') return 'empty';
  const envelopes: Envelope[] = [];
  const n = text.length;
  let i = 0;
  for (let at = 0; ; at++) {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
    if (i >= n) return { envelopes };
    if (text.charCodeAt(i) !== 0x7b /* { */) return { envelopes, error: { code: 6, at } };
    const end = scanObject(text, i);
    if (end < 0) return { envelopes, error: { code: 6, at } };
    let value: unknown;
    try {
      value = JSON.parse(text.slice(i, end));
    } catch {
      return { envelopes, error: { code: 6, at } };
    }
    i = end;
    const checked = checkEnvelope(value, allowedIndexes);
    if (typeof checked === 'number') return { envelopes, error: { code: checked, at } };
    envelopes.push(checked);
  }
}

/**
 * The light receiver's framing: the same object boundaries as parseEvents, found on the bytes (no text decoded, no
 * JSON parsed), each event counted as `{ event: true }`. What a receiver must at least do to count events.
 */
export function frameEvents(bytes: Buffer): ParseResult | 'empty' {
  const envelopes: Envelope[] = [];
  const n = bytes.length;
  let i = 0;
  for (let at = 0; ; at++) {
    while (i < n && isSpace(bytes[i] ?? 0)) i++;
    if (i >= n) return at === 0 ? 'empty' : { envelopes };
    if (bytes[i] !== 0x7b /* { */) return { envelopes, error: { code: 6, at } };
    const end = scanObjectBytes(bytes, i);
    if (end < 0) return { envelopes, error: { code: 6, at } };
    i = end;
    envelopes.push({ event: true });
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Index just past the object starting at `start`, or -1 when the text ends first. */
function scanObject(text: string, start: number): number {
  const n = text.length;
  let depth = 0;
  for (let i = start; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      // A string, to its closing quote; a backslash escapes the next character.
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/**
 * scanObject on UTF-8 bytes (written twice rather than through an accessor, which V8 does not inline here): every
 * character it looks for is ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte character.
 */
function scanObjectBytes(bytes: Uint8Array, start: number): number {
  const n = bytes.length;
  let depth = 0;
  for (let i = start; i < n; i++) {
    const c = bytes[i];
    if (c === 0x22) {
      for (i++; i < n; i++) {
        const d = bytes[i];
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function checkEnvelope(value: unknown, allowedIndexes: ReadonlySet<string> | undefined): Envelope | HecCode {
  if (!isRecord(value)) return 6;
  if (!('event' in value)) return 12;
  const event = value['event'];
  if (event === null || (typeof event === 'string' && event.trim() === '')) return 13;
  const env: Envelope = { event };
  const time = value['time'];
  if (time !== undefined) {
    if (typeof time === 'number' && Number.isFinite(time)) env.time = time;
    else if (typeof time === 'string' && time.trim() !== '' && Number.isFinite(Number(time))) env.time = time;
    else return 6;
  }
  for (const key of ['host', 'source', 'sourcetype', 'index'] as const) {
    const v = value[key];
    if (v === undefined) continue;
    if (typeof v !== 'string') return 6;
    env[key] = v;
  }
  if (env.index !== undefined && allowedIndexes !== undefined && !allowedIndexes.has(env.index)) return 7;
  const fields = value['fields'];
  if (fields !== undefined) {
    if (!isRecord(fields)) return 15;
    for (const v of Object.values(fields)) {
      if (isRecord(v) || (Array.isArray(v) && v.some((x) => x !== null && typeof x === 'object'))) return 15;
    }
    env.fields = fields;
  }
  return env;
}

function channelOf(req: IncomingMessage, url: URL): string | undefined {
  const header = req.headers['x-splunk-request-channel'];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  const value = fromHeader ?? url.searchParams.get('channel') ?? undefined;
  return value === undefined || value === '' ? undefined : value;
}

/** Starts a HEC receiver on 127.0.0.1. */
export async function startHecReceiver(opts: HecReceiverOptions = {}): Promise<HecReceiver> {
  const token = opts.token ?? 'test-hec-token';
  const ackOn = opts.ack ?? false;
  const maxBodyBytes = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const channelIdleMs = opts.channelIdleMs ?? 600_000;
  const light = opts.light ?? false;
  const keepEvents = !light && (opts.keepEvents ?? true);
  const allowedIndexes = opts.allowedIndexes === undefined ? undefined : new Set(opts.allowedIndexes);
  const now = opts.now ?? Date.now;

  let ackPlan = opts.ackPlan ?? { kind: 'immediate' };
  let tokenDisabled = false;
  let health: HealthCode = 17;
  let faultFn: ((ctx: FaultContext) => HecFault | undefined) | undefined;
  const queues = new Map<HecEndpoint, HecFault[]>();
  const perEndpoint = new Map<HecEndpoint, number>();
  let events: HecEvent[] = [];
  let indexedCount = 0;
  let requests: HecRequestRecord[] = [];
  let requestNo = 0;
  const channels = new Map<string, Channel>();

  const nextFault = (ctx: FaultContext): HecFault | undefined => {
    const queued = queues.get(ctx.endpoint)?.shift();
    return queued ?? faultFn?.(ctx);
  };

  const touchChannel = (id: string): Channel => {
    let ch = channels.get(id);
    if (ch !== undefined && now() - ch.lastUsed > channelIdleMs) ch.pending.clear();
    if (ch === undefined) {
      ch = { lastUsed: now(), nextAckId: 0, pending: new Map() };
      channels.set(id, ch);
    }
    ch.lastUsed = now();
    return ch;
  };

  const authReply = (req: IncomingMessage): Reply | undefined => {
    const header = req.headers.authorization;
    if (header === undefined || header.trim() === '') return hecReply(2);
    const match = /^Splunk\s+(\S+)\s*$/.exec(header);
    if (match === null) return hecReply(3);
    if (match[1] !== token) return hecReply(4);
    if (tokenDisabled) return hecReply(1);
    return undefined;
  };

  /** Acks on: the channel, or the reply that refuses the request for lack of one. */
  const ackChannel = (req: IncomingMessage, url: URL): Channel | Reply => {
    const id = channelOf(req, url);
    if (id === undefined) return hecReply(10);
    if (!GUID.test(id)) return hecReply(11);
    return touchChannel(id);
  };

  const faultReply = (fault: HecFault): Reply | undefined => {
    switch (fault.kind) {
      case 'busy':
        return hecReply(9);
      case 'internal':
        return hecReply(8);
      case 'too_large':
        return jsonReply(413, { text: 'Content too large', code: 413 });
      case 'unhealthy':
        return hecReply(fault.code ?? 18);
      case 'reply':
        return jsonReply(fault.status, fault.body);
      default:
        return undefined;
    }
  };

  const handleEvent = async (req: IncomingMessage, url: URL, no: number, fault: HecFault | undefined, rec: HecRequestRecord): Promise<Reply> => {
    const body = await readBody(req, maxBodyBytes);
    rec.wireBytes = body.wireBytes;
    // A scripted fault answers for the whole server (an overloaded HEC says 503 before it looks at the token).
    const faulted = fault === undefined ? undefined : faultReply(fault);
    if (faulted !== undefined) return faulted;
    const denied = authReply(req);
    if (denied !== undefined) return denied;
    let channel: Channel | undefined;
    if (ackOn) {
      const got = ackChannel(req, url);
      if (!('pending' in got)) return got;
      channel = got;
    } else {
      const id = rec.channel;
      if (id !== undefined && !GUID.test(id)) return hecReply(11);
    }
    if (body.kind === 'too_large') return jsonReply(413, { text: 'Content too large', code: 413 });
    if (body.kind === 'bad_encoding') return hecReply(6);
    const parsed = light ? frameEvents(body.bytes) : parseEvents(body.text, allowedIndexes);
    if (parsed === 'empty') return hecReply(5);
    let ackId: number | undefined;
    let plan: AckPlan | undefined;
    if (parsed.error === undefined && channel !== undefined) {
      ackId = channel.nextAckId++;
      const ctx: AckPlanContext = { channel: rec.channel ?? '', ackId, requestNo: no, events: parsed.envelopes.length };
      plan = typeof ackPlan === 'function' ? ackPlan(ctx) : ackPlan;
      channel.pending.set(ackId, { plan, at: now(), polls: 0 });
    }
    if (plan?.kind !== 'lost') {
      for (const env of parsed.envelopes) {
        indexedCount++;
        if (keepEvents) events.push({ ...env, channel: rec.channel, ackId, requestNo: no });
      }
      rec.indexed = parsed.envelopes.length;
    }
    if (fault?.kind === 'drop') return { kind: 'drop' };
    if (parsed.error !== undefined) return hecReply(parsed.error.code, { 'invalid-event-number': parsed.error.at });
    return hecReply(0, ackId === undefined ? {} : { ackId });
  };

  const handleAck = async (req: IncomingMessage, url: URL, fault: HecFault | undefined, rec: HecRequestRecord): Promise<Reply> => {
    const body = await readBody(req, maxBodyBytes);
    rec.wireBytes = body.wireBytes;
    const faulted = fault === undefined ? undefined : faultReply(fault);
    if (faulted !== undefined) return faulted;
    const denied = authReply(req);
    if (denied !== undefined) return denied;
    if (!ackOn) return hecReply(14);
    const got = ackChannel(req, url);
    if (!('pending' in got)) return got;
    if (body.kind !== 'ok') return body.kind === 'too_large' ? jsonReply(413, { text: 'Content too large', code: 413 }) : hecReply(6);
    let asked: unknown;
    try {
      asked = JSON.parse(body.text);
    } catch {
      return hecReply(6);
    }
    const ids = isRecord(asked) ? asked['acks'] : undefined;
    if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x) && (x as number) >= 0)) return hecReply(6);
    const acks: Record<string, boolean> = {};
    for (const id of ids as number[]) acks[String(id)] = pollAck(got, id);
    if (fault?.kind === 'drop') return { kind: 'drop' };
    return jsonReply(200, { acks });
  };

  const pollAck = (channel: Channel, id: number): boolean => {
    const p = channel.pending.get(id);
    if (p === undefined) return false;
    p.polls++;
    let done: boolean;
    switch (p.plan.kind) {
      case 'immediate':
        done = true;
        break;
      case 'after_ms':
        done = now() - p.at >= p.plan.ms;
        break;
      case 'after_polls':
        done = p.polls >= p.plan.polls;
        break;
      default:
        done = false;
    }
    if (done) channel.pending.delete(id);
    return done;
  };

  const handler = async (req: IncomingMessage, url: URL): Promise<Reply> => {
    const no = ++requestNo;
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const endpoint: HecEndpoint =
      method === 'POST' && EVENT_PATHS.has(path) ? 'event'
      : method === 'POST' && ACK_PATHS.has(path) ? 'ack'
      : method === 'GET' && HEALTH_PATHS.has(path) ? 'health'
      : 'other';
    const endpointRequestNo = (perEndpoint.get(endpoint) ?? 0) + 1;
    perEndpoint.set(endpoint, endpointRequestNo);
    const rec: HecRequestRecord = {
      requestNo: no,
      endpoint,
      method,
      status: 0,
      code: undefined,
      channel: channelOf(req, url),
      indexed: 0,
      wireBytes: 0,
      gzip: (req.headers['content-encoding'] ?? '').toLowerCase() === 'gzip',
    };
    requests.push(rec);
    const fault = endpoint === 'other' ? undefined : nextFault({ endpoint, requestNo: no, endpointRequestNo });
    if (fault?.kind === 'drop' && (fault.when ?? 'before_read') === 'before_read') return { kind: 'drop' };
    if (fault?.kind === 'delay') await sleep(fault.ms);

    let reply: Reply;
    if (endpoint === 'event') reply = await handleEvent(req, url, no, fault, rec);
    else if (endpoint === 'ack') reply = await handleAck(req, url, fault, rec);
    else if (endpoint === 'health') {
      const faulted = fault === undefined ? undefined : faultReply(fault);
      reply = faulted ?? hecReply(health);
    } else {
      req.resume();
      reply = jsonReply(404, { text: 'The requested URL was not found on this server.', code: 404 });
    }
    if (reply.kind === 'reply') {
      rec.status = reply.status;
      const code: unknown = (JSON.parse(reply.body) as Record<string, unknown>)['code'];
      rec.code = typeof code === 'number' ? code : undefined;
    }
    return reply;
  };

  const server = new ReceiverServer(handler);
  await server.start(opts.port ?? 0);

  const queueFaults = (endpoint: HecEndpoint, faults: HecFault[]): void => {
    const q = queues.get(endpoint) ?? [];
    q.push(...faults);
    queues.set(endpoint, q);
  };

  return {
    get url() {
      return server.url;
    },
    get port() {
      return server.port;
    },
    get events() {
      return events;
    },
    get indexedCount() {
      return indexedCount;
    },
    get requests() {
      return requests;
    },
    countRequests(endpoint, status) {
      return requests.filter((r) => r.endpoint === endpoint && (status === undefined || r.status === status)).length;
    },
    fault(...faults) {
      queueFaults('event', faults);
    },
    faultOn(endpoint, ...faults) {
      queueFaults(endpoint, faults);
    },
    setFaultFunction(fn) {
      faultFn = fn;
    },
    setAckPlan(plan) {
      ackPlan = plan;
    },
    setTokenDisabled(disabled) {
      tokenDisabled = disabled;
    },
    setHealth(code) {
      health = code;
    },
    pendingAcks(channel) {
      return [...(channels.get(channel)?.pending.keys() ?? [])];
    },
    expireChannel(channel) {
      channels.get(channel)?.pending.clear();
    },
    reset() {
      events = [];
      requests = [];
      indexedCount = 0;
    },
    stop: () => server.stop(),
    start: () => server.start(),
    close: () => server.stop(),
  };
}
