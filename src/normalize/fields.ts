// Building blocks the per-stream normalizers share beyond ecs.ts: URL/file/hash fields, JSON-in-string, the envelope.
import { SerializedEvent, type EcsDocument, type NormalizedEvent, type StreamName } from '../core/contracts.js';
import { CollectorError } from '../core/errors.js';
import { isRecord } from '../core/util.js';
import { asString, hasKeys, put } from './ecs.js';
import { severityOfParts } from './severity.js';
import { TAG_TIME_MISSING } from './tags.js';
import { toIso } from './time.js';

/** The NORMALIZE_FAILED error every normalizer throws for a record it cannot use. */
export function normalizeFailed(stream: StreamName, message: string, logType?: string): CollectorError {
  return new CollectorError('NORMALIZE_FAILED', message, { details: logType === undefined ? { stream } : { stream, logType } });
}

/** Throws NORMALIZE_FAILED unless `record` is a plain object with at least one key (`{}` carries no record). */
export function requireObject(stream: StreamName, record: unknown, what: string): Record<string, unknown> {
  if (isRecord(record)) {
    for (const _key in record) return record;
    throw normalizeFailed(stream, `${what} is an empty JSON object`);
  }
  const got = record === null ? 'null' : Array.isArray(record) ? 'an array' : typeof record;
  throw normalizeFailed(stream, `${what} is not a JSON object (got ${got})`);
}

/** Lower-case extension of a file name ("a.PDF" → "pdf"), undefined without one. */
export function fileExtension(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const dot = name.lastIndexOf('.');
  if (dot <= 0 || dot >= name.length - 1) return undefined;
  const ext = name.slice(dot + 1).toLowerCase();
  return /^[a-z0-9]{1,10}$/.test(ext) ? ext : undefined;
}

const HEX = /^[0-9a-fA-F]+$/;

/** ECS hash key for a hex digest by its length (md5/sha1/sha256/sha512), undefined when it is not one. */
export function hashKind(v: string): 'md5' | 'sha1' | 'sha256' | 'sha512' | undefined {
  if (!HEX.test(v)) return undefined;
  switch (v.length) {
    case 32:
      return 'md5';
    case 40:
      return 'sha1';
    case 64:
      return 'sha256';
    case 128:
      return 'sha512';
    default:
      return undefined;
  }
}

const HAS_SPACE = /\s/;

/**
 * ECS `url.*` from a URL string: `original` and `full` always, and scheme/domain/port/path/query/fragment
 * when it parses. A scheme-less "www.x.example/p" is read as http for the parts only.
 */
export function urlFields(v: unknown): Record<string, unknown> | undefined {
  const original = asString(v);
  if (original === undefined) return undefined;
  // `full` too: what Elastic's integration and other collectors fill, the URL as it was seen.
  const url: Record<string, unknown> = { original, full: original };
  const hasScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(original);
  const candidate = hasScheme ? original : HAS_SPACE.test(original) || original.includes(':') ? undefined : `http://${original}`;
  if (candidate === undefined) return url;
  let parsed: URL;
  try {
    parsed = new URL(candidate);
  } catch {
    // Not parseable: url.original alone still says what was seen.
    return url;
  }
  if (hasScheme) put(url, 'scheme', parsed.protocol.replace(/:$/, ''));
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
  put(url, 'domain', host);
  if (parsed.port !== '') url['port'] = Number(parsed.port);
  const afterScheme = hasScheme ? original.slice(original.indexOf('://') + 3) : original;
  if (/[/?#]/.test(afterScheme)) put(url, 'path', parsed.pathname);
  put(url, 'query', parsed.search.length > 1 ? parsed.search.slice(1) : undefined);
  put(url, 'fragment', parsed.hash.length > 1 ? parsed.hash.slice(1) : undefined);
  const lastSegment = parsed.pathname.slice(parsed.pathname.lastIndexOf('/') + 1);
  put(url, 'extension', fileExtension(lastSegment));
  return url;
}

/**
 * The object or array a field holds, whether the API sent it as JSON or as a JSON-encoded
 * string (`"{\"spf\":...}"`); undefined for anything else, including unparsable text.
 */
export function jsonObjectOf(v: unknown): Record<string, unknown> | unknown[] | undefined {
  if (typeof v === 'object' && v !== null) return v as Record<string, unknown> | unknown[];
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  const first = s.charCodeAt(0);
  if (first !== 123 /* { */ && first !== 91 /* [ */) return undefined;
  try {
    const parsed: unknown = JSON.parse(s);
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown> | unknown[]) : undefined;
  } catch {
    return undefined;
  }
}

/** ECS `file` object with hashes; undefined when it would be empty. */
export function fileFields(f: {
  name?: string | undefined;
  extension?: string | undefined;
  mimeType?: string | undefined;
  size?: number | undefined;
  hashes?: readonly (string | undefined)[];
}): Record<string, unknown> | undefined {
  const file: Record<string, unknown> = {};
  put(file, 'name', f.name);
  put(file, 'extension', f.extension?.toLowerCase() ?? fileExtension(f.name));
  put(file, 'mime_type', f.mimeType);
  put(file, 'size', f.size);
  const hash: Record<string, unknown> = {};
  for (const h of f.hashes ?? []) {
    if (h === undefined) continue;
    const kind = hashKind(h);
    if (kind !== undefined && hash[kind] === undefined) hash[kind] = h.toLowerCase();
  }
  if (hasKeys(hash)) file['hash'] = hash;
  return hasKeys(file) ? file : undefined;
}

/** Every hash value of an ECS file object, for `related.hash`. */
export function hashesOf(file: Record<string, unknown> | undefined): string[] {
  const hash = file?.['hash'];
  return isRecord(hash) ? Object.values(hash).filter((h): h is string => typeof h === 'string') : [];
}

const DIRECTIONS: ReadonlySet<string> = new Set(['inbound', 'outbound', 'internal', 'external']);

/** `email.direction` from Mimecast's route/direction words; "Office365"-style routes are not directions. */
export function directionOf(v: unknown): string | undefined {
  const s = asString(v)?.toLowerCase();
  return s !== undefined && DIRECTIONS.has(s) ? s : undefined;
}

/** snake_case of free text ("User Logged On" → "user_logged_on"); undefined when nothing is left. */
export function snakeCase(v: unknown): string | undefined {
  const s = asString(v);
  if (s === undefined) return undefined;
  const out = s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return out.length > 0 ? out : undefined;
}

/** Metadata keys written after the record's own keys under `mimecast.*`, so a record can never overwrite them. */
export interface EnvelopeMeta {
  stream: StreamName;
  account: string;
  logType: string;
  /**
   * Parsed forms of JSON-encoded (or nested) values, written to `mimecast.parsed.<name>`; the
   * original key keeps the value exactly as the API sent it.
   */
  parsed?: Record<string, unknown>;
  /** The record had no time of its own: `@timestamp` is the collection time (see stampOf, markTimeMissing). */
  timeMissing?: boolean;
  /**
   * The record's canonical JSON, when the normalizer built it for the event id: `mimecast.*` is then written from
   * this text instead of serialising the record a second time (see serializeWithRecord).
   */
  canonical?: string;
}

/**
 * `@timestamp` for a record: its own time, or — when none of its time keys holds a date — the time it is read now,
 * with `missing` set. A record the API served is never dropped for a missing field: the caller marks the event
 * (markTimeMissing / EnvelopeMeta.timeMissing) so users can find such events.
 */
export function stampOf(at: Date | undefined): { time: string; missing: boolean } {
  return at === undefined ? { time: new Date().toISOString(), missing: true } : { time: toIso(at), missing: false };
}

/** Marks a document whose `@timestamp` is the collection time: `event.created` (same time) and the tag. */
function markTimeMissing(doc: EcsDocument): void {
  const event = isRecord(doc['event']) ? doc['event'] : {};
  event['created'] = doc['@timestamp'];
  doc['event'] = event;
  const tags = Array.isArray(doc['tags']) ? (doc['tags'] as unknown[]) : [];
  if (!tags.includes(TAG_TIME_MISSING)) tags.push(TAG_TIME_MISSING);
  doc['tags'] = tags;
}

/**
 * Finishes a document: adds `mimecast.*` (record, then account/stream/log_type, then `parsed`)
 * and returns the NormalizedEvent. `doc` must already hold `@timestamp` and `event` with its id.
 */
export function finishEvent(record: Record<string, unknown>, doc: EcsDocument, id: string, time: string, meta: EnvelopeMeta): NormalizedEvent {
  const missing = meta.timeMissing === true;
  if (missing) markTimeMissing(doc);
  const parsed = meta.parsed !== undefined && hasKeys(meta.parsed) ? meta.parsed : undefined;
  // `mimecast.*` is the record plus keys the rule does not read, so the record stands in for it.
  const severity = severityOfParts(doc['event'], record);
  if (meta.canonical !== undefined) {
    const json = serializeWithRecord(doc, meta.canonical, record, meta, parsed);
    // With the text built, the document object is not kept: holding every parsed record until its batch is
    // journaled was most of the garbage collector's work. Whoever needs the document parses the text.
    if (json !== undefined) return new SerializedEvent(id, meta.stream, meta.account, time, json, missing, meta.logType, severity);
  }
  const mc: Record<string, unknown> = { ...record, account: meta.account, stream: meta.stream, log_type: meta.logType };
  if (parsed !== undefined) mc['parsed'] = parsed;
  doc['mimecast'] = mc;
  const ev: NormalizedEvent = { id, stream: meta.stream, account: meta.account, time, doc, logType: meta.logType, severity };
  if (missing) ev.timeMissing = true;
  return ev;
}

/**
 * The output text without serialising the record a second time: the ECS part, then `"mimecast":` with the record's
 * canonical JSON (built once, for its id) plus the metadata keys. Undefined (the caller builds the document object)
 * when the record itself has a metadata key, which the spread in the document would have overridden.
 */
function serializeWithRecord(ecs: EcsDocument, canonical: string, r: Record<string, unknown>, meta: EnvelopeMeta, parsed: Record<string, unknown> | undefined): string | undefined {
  if ('account' in r || 'stream' in r || 'log_type' in r || 'parsed' in r || 'mimecast' in ecs) return undefined;
  let tail = `"account":${JSON.stringify(meta.account)},"stream":"${meta.stream}","log_type":${JSON.stringify(meta.logType)}`;
  if (parsed !== undefined) tail += `,"parsed":${JSON.stringify(parsed)}`;
  const mimecast = canonical === '{}' ? `{${tail}}` : `${canonical.slice(0, -1)},${tail}}`;
  return `${JSON.stringify(ecs).slice(0, -1)},"mimecast":${mimecast}}`;
}
