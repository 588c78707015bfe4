// Turns what undici and the Mimecast gateway return (bodies, headers, socket errors) into ApiErrors and parsed JSON.
import { PassThrough, Readable } from 'node:stream';
import { ApiError, CollectorError } from '../core/errors.js';
import type { RawResponse, ReplyReader, ReplyReading } from './api.js';
import type { Deadline } from './http.js';
import type { ServerWait } from './waits.js';
import { isRecord } from '../core/util.js';

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
  return (await readBodyBytes(body, limit, call, status)).toString('utf8');
}

/** Reads a body up to `limit` bytes into one buffer (from `alloc` when given); throws API_BAD_RESPONSE beyond the limit. */
export async function readBodyBytes(body: Readable, limit: number, call: string, status: number, alloc?: (size: number) => Buffer): Promise<Buffer> {
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
  if (alloc === undefined) return Buffer.concat(chunks, total);
  const out = alloc(total);
  let off = 0;
  for (const c of chunks) off += c.copy(out, off);
  return out;
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

/** API 1.0 regional hosts (mimecast-api.md §1.1), named in "wrong region" errors when discovery is not possible. */
export const V1_REGION_HOSTS: readonly string[] = Object.freeze([
  'https://eu-api.mimecast.com',
  'https://de-api.mimecast.com',
  'https://us-api.mimecast.com',
  'https://usb-api.mimecast.com',
  'https://uspcom-api.mimecast-pscom-us.com',
  'https://ca-api.mimecast.com',
  'https://za-api.mimecast.com',
  'https://au-api.mimecast.com',
  'https://je-api.mimecast.com',
]);

/** What a Mimecast error can be explained with; never a secret, nor any part of one. */
export interface ApiErrorContext {
  /** API 1.0 access key; never shown (not even a prefix): its presence only says which keys are meant. */
  accessKey?: string;
  appId?: string;
  /** The regional host the account belongs to, when discovery found it. */
  regionHost?: string;
}

export const BINDING_EXPIRED = 'err_xdk_binding_expired';
export const DEVELOPER_KEY = 'err_developer_key';
export const INCORRECT_REGION = 'err_audit_log_incorrect_region';

/**
 * The error for the Mimecast codes that need their own wording whatever the HTTP status: expired 1.0 keys and a
 * wrong app id are fatal auth failures, a wrong region is a config mistake. Undefined for every other code.
 */
export function knownCodeError(
  apiCode: string | undefined,
  call: string,
  status: number,
  summary: string,
  ctx: ApiErrorContext = {},
): ApiError | undefined {
  const base = { status, retryable: false, ...(apiCode === undefined ? {} : { apiCode }) };
  if (apiCode === BINDING_EXPIRED || status === 418) {
    const who = ctx.accessKey === undefined ? '' : ` (the configured access_key and secret_key${ctx.appId === undefined ? '' : ` used with application id ${ctx.appId}`})`;
    return new ApiError(
      'API_AUTH_FAILED',
      `Mimecast API 1.0 access/secret keys${who} have expired (binding expired): create new keys for the service user or set its Authentication Profile TTL to 'Never expires' (${call}, HTTP ${status})`,
      call,
      base,
    );
  }
  if (apiCode === DEVELOPER_KEY) {
    const app = ctx.appId === undefined ? 'the application id' : `application id ${ctx.appId}`;
    return new ApiError(
      'API_AUTH_FAILED',
      `Mimecast rejected the API 1.0 application key for ${app} (${apiCode}): check app_id and app_key against the registered API 1.0 application (${call}, HTTP ${status}: ${summary})`,
      call,
      base,
    );
  }
  if (apiCode === INCORRECT_REGION) {
    const hint =
      ctx.regionHost !== undefined
        ? `this account's API 1.0 host is ${ctx.regionHost}; set the account's base_url to it`
        : `set the account's base_url to its region's host, one of ${V1_REGION_HOSTS.join(', ')} (or give a discovery email so the collector can look it up)`;
    return new ApiError('API_BAD_REQUEST', `${call} went to the wrong Mimecast region (${apiCode}): ${hint}`, call, base);
  }
  return undefined;
}

/** The non-empty `fail[]` of a parsed reply body; undefined when it has none (or an empty one). */
export function failItems(parsed: unknown): unknown[] | undefined {
  if (!isRecord(parsed)) return undefined;
  const fail = parsed['fail'];
  return Array.isArray(fail) && fail.length > 0 ? (fail as unknown[]) : undefined;
}

/**
 * The ApiError for a reply whose body carries a non-empty `fail[]` (either generation, any HTTP status the caller
 * treats as delivered): the known codes get their own wording, everything else is API_FAIL, retryable when the
 * item says so. Undefined when there is nothing in `fail`.
 */
export function failReplyError(parsed: unknown, call: string, status: number, ctx: ApiErrorContext = {}): ApiError | undefined {
  const fail = failItems(parsed);
  if (fail === undefined) return undefined;
  const info = extractApiError(parsed) ?? {};
  const reason = [info.code, info.message].filter((p): p is string => p !== undefined).join(': ') || JSON.stringify(fail[0]).slice(0, 200);
  const known = knownCodeError(info.code, call, status, reason, ctx);
  if (known !== undefined) return known;
  return new ApiError('API_FAIL', `${call} returned HTTP ${status} with a failure: ${reason}`, call, {
    status,
    retryable: info.retryable === true,
    ...(info.code === undefined ? {} : { apiCode: info.code }),
    details: { fail: fail.length },
  });
}

/**
 * Maps a non-2xx status (other than the 401/429 each client handles itself) to the ApiError callers match on;
 * `wait` is what the reply asked for (serverWait), already clamped, carried as retryAfterMs.
 */
export function statusError(
  status: number,
  call: string,
  summary: string,
  apiCode: string | undefined,
  wait: ServerWait | undefined,
  ctx: ApiErrorContext = {},
): ApiError {
  const known = knownCodeError(apiCode, call, status, summary, ctx);
  if (known !== undefined) return known;
  const base = { status, ...(apiCode === undefined ? {} : { apiCode }) };
  const what = `Mimecast API ${call} failed with HTTP ${status}: ${summary}`;
  switch (status) {
    case 400:
      return new ApiError('API_BAD_REQUEST', what, call, base);
    case 403:
      return new ApiError('API_PERMISSION_DENIED', `${what} (the API application's role lacks permission for this call)`, call, base);
    case 404:
      return new ApiError('API_NOT_FOUND', what, call, base);
    case 408:
      return new ApiError('API_TIMEOUT', what, call, { ...base, retryable: true });
    case 429:
      return new ApiError('API_RATE_LIMITED', what, call, { ...base, retryable: true, ...(wait === undefined ? {} : { retryAfterMs: wait.ms }) });
    default:
      break;
  }
  if (status >= 500) {
    return new ApiError('API_SERVER_ERROR', what, call, {
      ...base,
      retryable: status !== 501,
      ...(wait === undefined ? {} : { retryAfterMs: wait.ms }),
    });
  }
  return new ApiError('API_BAD_REQUEST', what, call, base);
}

/** Response headers as plain lower-case strings (repeated headers joined with ", "). */
export function flattenHeaders(headers: Record<string, HeaderValue>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** True for `application/json` and `+json` content types. */
export function isJsonContentType(value: HeaderValue): boolean {
  const ct = headerString(value)?.toLowerCase() ?? '';
  return /^application\/(?:[\w.+-]*\+)?json\b/.test(ct.trim());
}

/**
 * Passes a body through with backpressure, turning transport errors into ApiErrors that name the call. With a
 * `deadline`, the stream fails with its API_TIMEOUT when it passes, and the deadline is cleared when the stream closes.
 */
export function guardStream(src: Readable, call: string, signal: AbortSignal | undefined, deadline?: Deadline): Readable {
  const out = new PassThrough();
  src.on('error', (err) => out.destroy(deadline === undefined ? mapTransportError(err, call, signal) : mapTransportError(deadline.map(err), call, signal)));
  out.on('close', () => {
    deadline?.clear();
    if (!src.destroyed) src.destroy();
  });
  deadline?.onExpire((err) => out.destroy(err));
  src.pipe(out);
  return out;
}

/** A Content-Length header as a byte count; undefined when absent or not a valid number. */
export function contentLength(value: string | string[] | undefined): number | undefined {
  const raw = headerString(value);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** A successful reply's body bytes: refused above `maxBytes` (announced or actual), transport failures mapped. */
async function readBoundedBytes(
  res: { headers: Record<string, string | string[] | undefined>; body: Readable },
  maxBytes: number,
  call: string,
  status: number,
  signal: AbortSignal | undefined,
  alloc?: (size: number) => Buffer,
): Promise<Buffer> {
  try {
    const declared = contentLength(res.headers['content-length']);
    if (declared !== undefined && declared > maxBytes) {
      res.body.destroy();
      throw new ApiError('API_BAD_RESPONSE', `${call} announced ${declared} bytes, above the ${maxBytes}-byte limit`, call, { status });
    }
    return await readBodyBytes(res.body, maxBytes, call, status, alloc);
  } catch (err) {
    throw mapTransportError(err, call, signal);
  }
}

/**
 * A successful reply's JSON body: refused above `maxBytes` (announced or actual), transport failures mapped,
 * and a body that is not JSON reported with its start (usually a proxy or gateway page served with 200:
 * retryable, within the caller's bound).
 */
export async function readJsonBody(
  res: { headers: Record<string, string | string[] | undefined>; body: Readable },
  maxBytes: number,
  call: string,
  status: number,
  signal: AbortSignal | undefined,
): Promise<{ text: string; value: unknown }> {
  const text = (await readBoundedBytes(res, maxBytes, call, status, signal)).toString('utf8');
  try {
    return { text, value: JSON.parse(text) as unknown };
  } catch (err) {
    throw notJsonError(bodySnippet(text), call, status, err);
  }
}

/** The start of a body for a "not JSON" message: whitespace runs collapsed, at most 120 characters. */
export function bodySnippet(text: string): string {
  return text.replace(/\s+/g, ' ').trim().slice(0, 120);
}

/** A 2xx reply whose body is not JSON (usually a proxy or gateway page): retryable, within the caller's bound. */
export function notJsonError(snippet: string, call: string, status: number, cause: unknown): ApiError {
  return new ApiError('API_BAD_RESPONSE', `${call} returned HTTP ${status} with a body that is not JSON: ${snippet || '(empty)'}`, call, {
    status,
    retryable: true,
    cause,
  });
}

/** The bytes of a 2xx JSON reply read unparsed (ReplyReader), and its status. */
export interface ReplyBytes {
  bytes: Buffer;
  status: number;
}

/** A reader's default buffer: its own ArrayBuffer (never Node's shared pool), so it can be moved to a worker. */
export function allocBytes(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

/** An error a ReplyReader threw: carried through the client's retry loop (it is not retried) and given back as is. */
class ReaderFailure extends Error {
  constructor(readonly inner: unknown) {
    super('reply reader failed');
  }
}

/**
 * Hands a 2xx reply's bytes to the caller's reader, inside the client's retry loop. A `fail[]` the reader found is
 * thrown exactly as a JSON reply's would be (failReplyError, retried when retryable), a body that is not JSON as
 * readJsonBody throws it; an error of the reader's own is not retried (see unwrapReaderFailure).
 */
export async function readReplyWith<T>(
  reply: ReplyBytes,
  reader: ReplyReader<T>,
  call: string,
  failContext?: (parsed: unknown) => Promise<ApiErrorContext>,
): Promise<T> {
  let r: ReplyReading<T>;
  try {
    r = await reader.read(reply.bytes, reply.status);
  } catch (err) {
    throw new ReaderFailure(err);
  }
  if ('value' in r) return r.value;
  if ('notJson' in r) throw notJsonError(r.notJson.snippet, call, reply.status, new SyntaxError(r.notJson.reason));
  const parsed = { fail: r.fail };
  const failure = failReplyError(parsed, call, reply.status, failContext === undefined ? {} : await failContext(parsed));
  if (failure !== undefined) throw failure;
  throw new ReaderFailure(new CollectorError('API_BAD_RESPONSE', `${call}: the reply reader reported an empty fail[]`));
}

/** The reader's own error when `err` carries one (readReplyWith), else `err`. */
export function unwrapReaderFailure(err: unknown): unknown {
  return err instanceof ReaderFailure ? err.inner : err;
}

/**
 * The value of a 2xx reply, for both clients. A `raw` reply that is not JSON is a file: it is handed over unread with
 * the download deadline (`handedOver`: the caller's stream now owns the deadline). A JSON reply is read (bounded), a
 * `fail[]` in it thrown (`failContext` explains Mimecast's codes), and for `raw` calls given back as a fresh stream.
 */
export async function successReply(
  res: { statusCode: number; headers: Record<string, HeaderValue>; body: Readable },
  o: {
    raw: boolean;
    call: string;
    signal: AbortSignal | undefined;
    deadline: Deadline;
    downloadDeadlineMs: number;
    maxBytes: number;
    failContext?: (parsed: unknown) => Promise<ApiErrorContext>;
    /** Give the JSON body back unparsed (ReplyBytes), gathered into a buffer from `bytes`: the caller's reader parses it. */
    bytes?: (size: number) => Buffer;
  },
): Promise<{ value: unknown; handedOver: boolean }> {
  const status = res.statusCode;
  if (o.bytes !== undefined) {
    const value: ReplyBytes = { bytes: await readBoundedBytes(res, o.maxBytes, o.call, status, o.deadline.signal, o.bytes), status };
    return { value, handedOver: false };
  }
  if (o.raw && !isJsonContentType(res.headers['content-type'])) {
    // A file: it gets the download deadline, from the start of this call, and keeps it while the caller reads.
    o.deadline.extend(o.downloadDeadlineMs, 'download_deadline');
    const value: RawResponse = { status, headers: flattenHeaders(res.headers), body: guardStream(res.body, o.call, o.signal, o.deadline) };
    return { value, handedOver: true };
  }
  const { text, value: parsed } = await readJsonBody(res, o.maxBytes, o.call, status, o.deadline.signal);
  const failure = failReplyError(parsed, o.call, status, o.failContext === undefined ? {} : await o.failContext(parsed));
  if (failure !== undefined) throw failure;
  if (!o.raw) return { value: parsed, handedOver: false };
  const value: RawResponse = { status, headers: flattenHeaders(res.headers), body: Readable.from([Buffer.from(text, 'utf8')]) };
  return { value, handedOver: false };
}
