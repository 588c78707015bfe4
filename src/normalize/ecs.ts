// Small helpers every normalizer shares: stable ids, canonical JSON, value coercion and ECS building.
import { hash } from 'node:crypto';
import { isIP } from 'node:net';
import type { EcsDocument } from '../core/contracts.js';
import { isRecord } from '../core/util.js';

/** Reads a dotted path ("email.from.address") from a document. */
export function pick(doc: EcsDocument, path: string): unknown {
  let cur: unknown = doc;
  for (const part of path.split('.')) {
    if (!isRecord(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** A scalar or a list of scalars as one string ("a, b"); undefined for empty or structured values. */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.length > 0 ? v : undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) {
    const parts = v.map((x) => text(x)).filter((x): x is string => x !== undefined);
    return parts.length > 0 ? parts.join(', ') : undefined;
  }
  return undefined;
}

/**
 * JSON with object keys sorted at every depth, so two records that differ only in key order
 * serialise identically. Follows JSON.stringify for everything else (undefined members dropped,
 * non-finite numbers become null, toJSON honoured); circular structures throw.
 */
export function canonicalJson(value: unknown): string {
  // API records usually arrive with keys already sorted; then the native serialiser gives the
  // same text several times faster than building it by hand.
  if (inCanonicalOrder(value, 0)) return JSON.stringify(value) ?? 'null';
  return canon(value, new Set<object>()) ?? 'null';
}

/** True when every object in `v` lists its keys in sorted order and nothing needs special care. */
function inCanonicalOrder(v: unknown, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return typeof v !== 'bigint';
  // Deep or cyclic structures and toJSON holders take the careful path.
  if (depth > 64 || typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(v)) {
    for (const item of v) if (!inCanonicalOrder(item, depth + 1)) return false;
    return true;
  }
  const obj = v as Record<string, unknown>;
  let prev: string | undefined;
  for (const k in obj) {
    if (!Object.hasOwn(obj, k)) return false;
    if (prev !== undefined && !(prev < k)) return false;
    prev = k;
    if (!inCanonicalOrder(obj[k], depth + 1)) return false;
  }
  return true;
}

function canon(v: unknown, seen: Set<object>): string | undefined {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      throw new TypeError('canonicalJson: BigInt is not JSON');
    case 'object':
      break;
    default:
      return undefined;
  }
  if (v === null) return 'null';
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return canon((toJSON as () => unknown).call(v), seen);
  if (seen.has(v)) throw new TypeError('canonicalJson: circular structure');
  seen.add(v);
  let out: string;
  if (Array.isArray(v)) {
    out = '[';
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out += ',';
      out += canon(v[i], seen) ?? 'null';
    }
    out += ']';
  } else {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).sort();
    out = '{';
    let first = true;
    for (const k of keys) {
      const s = canon(obj[k], seen);
      if (s === undefined) continue;
      if (!first) out += ',';
      first = false;
      out += JSON.stringify(k) + ':' + s;
    }
    out += '}';
  }
  seen.delete(v);
  return out;
}

function sha256Hex32(text: string): string {
  // One-shot hash: about twice as fast as createHash() for record-sized inputs.
  return hash('sha256', text, 'hex').slice(0, 32);
}

/**
 * `event.id`: 32 hex characters, safe as an Elasticsearch `_id` and a Kafka key. With the API's
 * own id it hashes (account, stream, nativeId); otherwise it hashes (account, stream, the whole
 * record's canonical JSON), so identical records share an id and any difference changes it.
 * The JSON-quoted parts and the leading tag keep the two forms and their fields from colliding.
 */
export function eventId(account: string, stream: string, record: unknown, nativeId?: string): string {
  if (nativeId !== undefined && nativeId !== '') {
    return sha256Hex32(`n${JSON.stringify(account)}${JSON.stringify(stream)}${JSON.stringify(nativeId)}`);
  }
  return idFromCanonical(account, stream, canonicalJson(record));
}

/** `eventId` for a record whose canonical JSON the caller already has (so it is built once). */
export function idFromCanonical(account: string, stream: string, canonical: string): string {
  return sha256Hex32(`r${JSON.stringify(account)}${JSON.stringify(stream)}${canonical}`);
}

export function isIp(s: string): boolean {
  return isIP(s) !== 0;
}

/** The unspecified addresses: a placeholder, not the address of anything. */
const UNSPECIFIED = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0']);

/**
 * A valid IPv4/IPv6 address, or undefined for placeholders such as "Internal IP", "", null and the unspecified
 * address 0.0.0.0 / :: (it stays in `mimecast.*` as sent, but is nobody's source, destination or related IP).
 */
export function asIp(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  let s = v.trim();
  if (s.length > 1 && s.charCodeAt(0) === 91 /* [ */ && s.charCodeAt(s.length - 1) === 93 /* ] */) s = s.slice(1, -1);
  return s.length > 0 && isIP(s) !== 0 && !UNSPECIFIED.has(s) ? s : undefined;
}

/** A non-blank string (trimmed); numbers and booleans become their text; anything else undefined. */
export function asString(v: unknown): string | undefined {
  if (typeof v === 'string') {
    const s = v.trim();
    return s.length > 0 ? s : undefined;
  }
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : undefined;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return undefined;
}

const INTEGER = /^-?\d+$/;

/** An integer from a number or a numeric string ("4170"); undefined otherwise. */
export function asInt(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (!INTEGER.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** true / false from booleans and the API's "true"/"false", "Yes"/"No", "1"/"0"; undefined otherwise. */
export function asBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : undefined;
  if (typeof v !== 'string') return undefined;
  switch (v.trim().toLowerCase()) {
    case 'true':
    case 'yes':
    case 'y':
    case '1':
      return true;
    case 'false':
    case 'no':
    case 'n':
    case '0':
      return false;
    default:
      return undefined;
  }
}

export function lowerOrUndefined(v: unknown): string | undefined {
  const s = asString(v);
  return s === undefined ? undefined : s.toLowerCase();
}

/**
 * Address list from "a@x, b@y; c@z" or an array of such strings: trimmed, non-empty, display
 * names dropped ("Amy <amy@x>" → "amy@x"), separators inside quotes or <> ignored, the null
 * sender "<>" skipped.
 */
export function splitAddresses(v: unknown): string[] {
  const out: string[] = [];
  if (typeof v === 'string') splitInto(v, out);
  else if (Array.isArray(v)) for (const item of v) if (typeof item === 'string') splitInto(item, out);
  return out;
}

function splitInto(s: string, out: string[]): void {
  // Fast path: one plain address, the common case per record.
  if (s.indexOf(',') < 0 && s.indexOf(';') < 0) {
    pushAddress(s, out);
    return;
  }
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 34 /* " */) quoted = !quoted;
    else if (c === 60 /* < */ && !quoted) angle = true;
    else if (c === 62 /* > */ && !quoted) angle = false;
    else if ((c === 44 /* , */ || c === 59) /* ; */ && !quoted && !angle) {
      pushAddress(s.slice(start, i), out);
      start = i + 1;
    }
  }
  pushAddress(s.slice(start), out);
}

function pushAddress(part: string, out: string[]): void {
  let s = part.trim();
  const lt = s.lastIndexOf('<');
  if (lt >= 0 && s.endsWith('>')) s = s.slice(lt + 1, -1).trim();
  if (s.length > 0) out.push(s);
}

/** Order-preserving de-duplication. */
export function uniq<T>(items: readonly T[]): T[] {
  return items.length < 2 ? [...items] : [...new Set(items)];
}

function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0);
}

/** `obj[key] = v` unless v is undefined, null, "" or []. */
export function put(obj: Record<string, unknown>, key: string, v: unknown): void {
  if (!isEmpty(v)) obj[key] = v;
}

/**
 * Sets `doc.a.b.c = v`, creating objects on the way; skips undefined, null, "" and []. An
 * existing non-object on the way is replaced, since a dotted path names an object there.
 */
export function setPath(doc: Record<string, unknown>, path: string, v: unknown): void {
  if (isEmpty(v)) return;
  const parts = path.split('.');
  let cur = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const k = parts[i] as string;
    const next = cur[k];
    if (typeof next === 'object' && next !== null && !Array.isArray(next)) {
      cur = next as Record<string, unknown>;
    } else {
      const created: Record<string, unknown> = {};
      cur[k] = created;
      cur = created;
    }
  }
  cur[parts[parts.length - 1] as string] = v;
}

/** True when `v` is an object with at least one own key (used to skip empty ECS sections). */
export function hasKeys(v: Record<string, unknown>): boolean {
  for (const _ in v) return true;
  return false;
}

/** Collects `related.*` values while a document is built; each list de-duplicated, insertion order kept. */
export class Related {
  private readonly ip = new Set<string>();
  private readonly user = new Set<string>();
  private readonly hash = new Set<string>();
  private readonly hosts = new Set<string>();

  /** Adds valid IP addresses; placeholders are ignored. */
  addIp(v: unknown): this {
    const ip = asIp(v);
    if (ip !== undefined) this.ip.add(ip);
    return this;
  }

  /** Adds user names / email addresses; arrays allowed. */
  addUser(v: unknown): this {
    addStrings(this.user, v);
    return this;
  }

  addHash(v: unknown): this {
    addStrings(this.hash, v);
    return this;
  }

  addHost(v: unknown): this {
    addStrings(this.hosts, v);
    return this;
  }

  /** The `related` object, or undefined when nothing was collected. */
  toEcs(): Record<string, string[]> | undefined {
    const out: Record<string, string[]> = {};
    if (this.ip.size > 0) out['ip'] = [...this.ip];
    if (this.user.size > 0) out['user'] = [...this.user];
    if (this.hash.size > 0) out['hash'] = [...this.hash];
    if (this.hosts.size > 0) out['hosts'] = [...this.hosts];
    return hasKeys(out) ? out : undefined;
  }
}

function addStrings(set: Set<string>, v: unknown): void {
  if (Array.isArray(v)) {
    for (const item of v) addStrings(set, item);
    return;
  }
  if (typeof v !== 'string') return;
  const s = v.trim();
  if (s.length > 0) set.add(s);
}
