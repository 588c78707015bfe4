// Waits a server asks for (Retry-After, X-RateLimit-Reset): one parser, every value clamped to documented bounds.
import type { Logger } from '../telemetry/logger.js';
import type { HttpStats } from './http.js';
import { headerString, type HeaderValue } from './responses.js';

/** Shortest server-given wait we honour: "retry now" (0, negative, a date in the past) must not become a hot loop. */
export const MIN_SERVER_WAIT_MS = 100;
/** Longest server-given wait we honour (5 min): a typo or a hostile value must not park a credential for days. */
export const MAX_SERVER_WAIT_MS = 5 * 60_000;
/** Pause after a 429 that names no usable wait. */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 1_000;

export interface WaitBounds {
  minMs: number;
  maxMs: number;
  /** Used for a 429 without a usable header, and for a header we cannot read. */
  fallbackMs: number;
}

export const DEFAULT_WAIT_BOUNDS: WaitBounds = Object.freeze({
  minMs: MIN_SERVER_WAIT_MS,
  maxMs: MAX_SERVER_WAIT_MS,
  fallbackMs: DEFAULT_RATE_LIMIT_WAIT_MS,
});

export type WaitHeader = 'Retry-After' | 'X-RateLimit-Reset';

/** The wait we use, and where it came from. */
export interface ServerWait {
  ms: number;
  /** The header it was read from; absent when a 429 named none (the fallback). */
  header?: WaitHeader;
  /** The header as sent. */
  raw?: string;
  /** Set when the server's value was not used as is. */
  clamped?: 'above_max' | 'below_min' | 'unparseable';
}

const NUMBER = /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i;

function clampTo(ms: number, header: WaitHeader, raw: string, b: WaitBounds): ServerWait {
  if (ms > b.maxMs) return { ms: b.maxMs, header, raw, clamped: 'above_max' };
  if (ms < b.minMs) return { ms: b.minMs, header, raw, clamped: 'below_min' };
  return { ms: Math.ceil(ms), header, raw };
}

/**
 * One wait header: `Retry-After` as delta-seconds or an HTTP date, `X-RateLimit-Reset` as milliseconds (Mimecast).
 * Undefined when absent; otherwise always within [minMs, maxMs] (an unreadable value gives `fallbackMs`).
 */
export function parseWaitHeader(header: WaitHeader, value: HeaderValue, b: WaitBounds, nowMs: number = Date.now()): ServerWait | undefined {
  const raw = headerString(value)?.trim();
  if (raw === undefined || raw === '') return undefined;
  const unreadable: ServerWait = { ms: b.fallbackMs, header, raw, clamped: 'unparseable' };
  if (raw === 'Infinity' || raw === '+Infinity') return clampTo(Number.POSITIVE_INFINITY, header, raw, b);
  if (NUMBER.test(raw)) {
    const n = Number(raw);
    if (Number.isNaN(n)) return unreadable;
    return clampTo(header === 'Retry-After' ? n * 1000 : n, header, raw, b);
  }
  // Only Retry-After has a date form; insisting on a letter keeps Date.parse from reading "12-3" as a year.
  if (header === 'Retry-After' && /[a-z]/i.test(raw)) {
    const at = Date.parse(raw);
    if (!Number.isNaN(at)) return clampTo(at - nowMs, header, raw, b);
  }
  return unreadable;
}

/**
 * The wait a reply asks for. 429: X-RateLimit-Reset, else Retry-After, else `fallbackMs` (a 429 is always a pause).
 * 5xx: Retry-After when sent, else undefined (the retry policy's backoff applies). Other statuses: undefined.
 */
export function serverWait(status: number, headers: Record<string, HeaderValue>, b: WaitBounds, nowMs: number = Date.now()): ServerWait | undefined {
  if (status === 429) {
    const reset = parseWaitHeader('X-RateLimit-Reset', headers['x-ratelimit-reset'], b, nowMs);
    if (reset !== undefined && reset.clamped !== 'unparseable') return reset;
    const after = parseWaitHeader('Retry-After', headers['retry-after'], b, nowMs);
    if (after !== undefined && after.clamped !== 'unparseable') return after;
    return reset ?? after ?? { ms: b.fallbackMs };
  }
  if (status >= 500) return parseWaitHeader('Retry-After', headers['retry-after'], b, nowMs);
  return undefined;
}

/** `HTTP 429 X-RateLimit-Reset=1200`, `HTTP 503 Retry-After=999999999 (clamped to 300000 ms)`: a pause's reason. */
export function describeWait(status: number, w: ServerWait): string {
  if (w.header === undefined) return `HTTP ${status} without a wait header (${w.ms} ms default)`;
  const head = `HTTP ${status} ${w.header}=${w.raw ?? ''}`;
  if (w.clamped === undefined) return head;
  return w.clamped === 'unparseable' ? `${head} (unreadable; used ${w.ms} ms)` : `${head} (clamped to ${w.ms} ms)`;
}

/** Logs (warn) and counts a wait the server asked for that we did not take as is. */
export function noteWait(logger: Logger, stats: HttpStats | undefined, call: string, status: number, w: ServerWait | undefined): void {
  if (w?.clamped === undefined) return;
  if (stats !== undefined) stats.waitsClamped++;
  logger.warn(
    { call, status, header: w.header, raw: w.raw, usedMs: w.ms, clamped: w.clamped },
    `the server asked for a wait out of bounds: ${describeWait(status, w)}`,
  );
}

/**
 * The wait a reply asks for (either client): clamped, logged when out of bounds, counted, and applied to the
 * credential's limiter so every stream of the account waits it out. Undefined when the reply asks for none.
 */
export function applyServerWait(
  status: number,
  headers: Record<string, HeaderValue>,
  call: string,
  o: { bounds: WaitBounds; logger: Logger; stats: HttpStats | undefined; limiter: { pause(ms: number, reason?: string): void } },
): ServerWait | undefined {
  const wait = serverWait(status, headers, o.bounds);
  if (wait === undefined) return undefined;
  noteWait(o.logger, o.stats, call, status, wait);
  o.limiter.pause(wait.ms, describeWait(status, wait));
  return wait;
}
