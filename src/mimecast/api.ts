// What every source needs from a Mimecast client, whichever API generation (1.0 HMAC or 2.0 OAuth) serves the account.
import type { Readable } from 'node:stream';

/** A reply handed over unread: status, lower-cased headers, and the body to stream. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Readable;
}

/**
 * What a caller made of a 2xx JSON reply's bytes: its value; or the body's non-empty `fail[]` (the client throws it
 * as postJson would); or the body is not JSON (`snippet`: its start, responses.bodySnippet; `reason`: the parser's).
 */
export type ReplyReading<T> = { value: T } | { fail: unknown[] } | { notJson: { snippet: string; reason: string } };

/** Reads a 2xx JSON reply from its bytes instead of the client parsing it (a paged source parses on a worker). */
export interface ReplyReader<T> {
  /** Where the body's bytes are gathered (e.g. a buffer that can be moved to a worker); a new buffer when absent. */
  alloc?: (size: number) => Buffer;
  /** The bytes are the reader's from now on. An error thrown here is passed through, not retried. */
  read(body: Buffer, status: number): Promise<ReplyReading<T>>;
}

/** What sources need from a Mimecast client, v1 (HMAC) or v2 (OAuth). */
export interface MimecastApi {
  readonly generation: 'v1' | 'v2';
  /** POST a 1.0-style function (`/api/ttp/url/get-logs`...) with the meta/data envelope; returns the parsed JSON
   *  body; a non-empty `fail[]` → ApiError API_FAIL (err_xdk_binding_expired → API_AUTH_FAILED, fatal wording). */
  postJson(path: string, body: unknown, signal: AbortSignal): Promise<unknown>;
  /** postJson whose 2xx body goes to `reader` as bytes, unparsed; status checks, deadlines, retries, rate limits and
   *  token refresh as postJson, and a `fail[]` the reader reports is thrown (and retried) as postJson throws it. */
  postJsonWith<T>(path: string, body: unknown, signal: AbortSignal, reader: ReplyReader<T>): Promise<T>;
  /** POST whose reply may be a file (get-siem-logs, threat-intel get-feed): status 200 replies are returned raw
   *  (headers lower-cased) for the caller to stream; JSON error replies are mapped to ApiError like postJson. */
  postRaw(path: string, body: unknown, signal: AbortSignal): Promise<RawResponse>;
  /** GET a JSON endpoint (v2 only: /siem/v1/...); v1 throws API_BAD_REQUEST "needs API 2.0". */
  getJson(path: string, query: Record<string, string | number | undefined>, signal: AbortSignal): Promise<unknown>;
  openDownload(url: string, signal: AbortSignal): Promise<{ body: Readable; size?: number }>;
  close(): Promise<void>;
}
