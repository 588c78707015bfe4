// Turns what undici and the Mimecast gateway return (bodies, headers, socket errors) into ApiErrors and parsed JSON.
import type { Readable } from 'node:stream';
import { ApiError, CollectorError } from '../core/errors.js';

/** Largest JSON reply we are willing to hold in memory. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Error bodies are only read for their message; more than this is noise. */
export const ERROR_BODY_BYTES = 64 * 1024;

export type HeaderValue = string | string[] | undefined;

export function headerString(value: HeaderValue): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Mimecast's own error as found in any of its body shapes. */
export interface ApiErrorInfo {
  code?: string;
  message?: string;
  retryable?: boolean;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

function infoFrom(item: Record<string, unknown>): ApiErrorInfo {
  const info: ApiErrorInfo = {};
  const code = str(item['code']);
  const message = str(item['message']);
  if (code !== undefined) info.code = code;
  if (message !== undefined) info.message = message;
  if (typeof item['retryable'] === 'boolean') info.retryable = item['retryable'];
  return info;
}

/**
 * The first error a body carries: gateway `{"fail":[{code,message}]}`, API 1.0 `{"fail":[{"errors":[...]}]}`,
 * SIEM `{"error":{code,message}}`, OAuth `{"error":"invalid_client","error_description":...}`.
 */
export function extractApiError(body: unknown): ApiErrorInfo | undefined {
  if (!isRecord(body)) return undefined;
  const fail = body['fail'];
  if (Array.isArray(fail) && fail.length > 0) {
    const first: unknown = fail[0];
    if (isRecord(first)) {
      const nested = first['errors'];
      if (Array.isArray(nested) && nested.length > 0 && isRecord(nested[0])) return infoFrom(nested[0]);
      return infoFrom(first);
    }
    return {};
  }
  const error = body['error'];
  if (isRecord(error)) return infoFrom(error);
  if (typeof error === 'string') {
    const info: ApiErrorInfo = { code: error };
    const description = str(body['error_description']);
    if (description !== undefined) info.message = description;
    return info;
  }
  const detail = str(body['detail']) ?? str(body['message']);
  if (detail !== undefined) return { message: detail };
  return undefined;
}

/** A one-line description of an error body for messages: the API's code and text, or a snippet of raw text. */
export function describeErrorBody(text: string): { summary: string; info: ApiErrorInfo | undefined } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const info = extractApiError(parsed);
  if (info !== undefined && (info.code !== undefined || info.message !== undefined)) {
    const parts = [info.code, info.message].filter((p): p is string => p !== undefined);
    return { summary: parts.join(': '), info };
  }
  const snippet = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  return { summary: snippet.length > 0 ? snippet : '(empty body)', info };
}

/** Reads a body up to `limit` bytes; throws API_BAD_RESPONSE beyond it (and stops reading). */
export async function readBodyText(body: Readable, limit: number, call: string, status: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    total += buf.length;
    if (total > limit) {
      body.destroy();
      throw new ApiError('API_BAD_RESPONSE', `${call} returned more than ${limit} bytes; refusing to buffer it`, call, {
        status,
        retryable: false,
      });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads at most `limit` bytes for an error message and discards the rest so the socket can be reused. */
export async function readErrorText(body: Readable, limit = ERROR_BODY_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of body) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
      if (total < limit) chunks.push(buf.subarray(0, limit - total));
      total += buf.length;
      if (total > 4 * limit) {
        body.destroy();
        break;
      }
    }
  } catch {
    // A broken error body must not hide the status that already tells us what happened.
  }
  return Buffer.concat(chunks).toString('utf8');
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function errCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Maps a thrown transport error (undici, socket, TLS, abort) to a CollectorError. Our own errors pass
 * through; aborts become ABORTED; timeouts API_TIMEOUT; TLS certificate problems are permanent; the rest
 * (resets, refused, DNS hiccups, premature close) are retryable API_NETWORK.
 */
export function mapTransportError(err: unknown, call: string, signal: AbortSignal | undefined): CollectorError {
  if (err instanceof CollectorError) return err;
  const code = errCode(err);
  const name = err instanceof Error ? err.name : '';
  const text = err instanceof Error ? err.message : String(err);
  if (signal?.aborted === true || name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') {
    return new CollectorError('ABORTED', 'aborted', { cause: err });
  }
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new ApiError('API_TIMEOUT', `${call} timed out (${code}): ${text}`, call, { cause: err, retryable: true });
  }
  const tlsPermanent =
    code !== undefined &&
    (code.startsWith('ERR_TLS_') ||
      code.includes('CERT') ||
      code === 'DEPTH_ZERO_SELF_SIGNED_CERT' ||
      code === 'SELF_SIGNED_CERT_IN_CHAIN' ||
      code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  return new ApiError('API_NETWORK', `${call} failed on the network${code === undefined ? '' : ` (${code})`}: ${text}`, call, {
    cause: err,
    retryable: !tlsPermanent,
  });
}

/** `Retry-After` in seconds or as an HTTP date, in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: HeaderValue, nowMs: number = Date.now()): number | undefined {
  const raw = headerString(value)?.trim();
  if (raw === undefined || raw === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const at = Date.parse(raw);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** Wait asked by a 429: `X-RateLimit-Reset` is milliseconds sent as a string; garbage falls back, huge values are capped. */
export function parseRateLimitReset(value: HeaderValue, fallbackMs: number, maxMs: number): number {
  const raw = headerString(value)?.trim();
  const ms = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  if (!Number.isFinite(ms) || ms < 0) return fallbackMs;
  return Math.min(Math.max(Math.ceil(ms), 50), maxMs);
}
