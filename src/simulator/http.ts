// Reply values and body helpers shared by every simulator endpoint module (1.0 and 2.0 error shapes included).
import type { IncomingMessage } from 'node:http';

export type Headers = Record<string, string | number>;

export const JSON_TYPE = 'application/json; charset=utf-8';
export const XML_TYPE = 'application/xml';

export class HttpReply {
  constructor(
    readonly status: number,
    readonly body: string | Buffer,
    readonly headers: Headers = {},
  ) {}
}

export function json(status: number, body: unknown, headers: Headers = {}): HttpReply {
  return new HttpReply(status, JSON.stringify(body), { 'Content-Type': JSON_TYPE, ...headers });
}

/** The API 2.0 gateway error: a flat `fail[]` of `{code, message}`. */
export function failReply(status: number, code: string, message: string, headers: Headers = {}): HttpReply {
  return json(status, { fail: [{ code, message }] }, headers);
}

/** The SIEM (/siem/v1/...) error body. */
export function siemError(status: number, code: string, message: string): HttpReply {
  return json(status, { error: { code, message } });
}

/** The API 1.0 function-level error: meta/data/fail with nested `errors[]`; `key` echoes the request item if any. */
export function v1Fail(
  status: number,
  code: string,
  message: string,
  opts: { httpStatus?: number; key?: unknown; retryable?: boolean; field?: string; headers?: Headers } = {},
): HttpReply {
  const error: Record<string, unknown> = { code, message, retryable: opts.retryable ?? false };
  if (opts.field !== undefined) error['field'] = opts.field;
  const item: Record<string, unknown> = opts.key === undefined ? {} : { key: opts.key };
  item['errors'] = [error];
  return json(opts.httpStatus ?? status, { meta: { status }, data: [], fail: [item] }, opts.headers ?? {});
}

/** A function-level validation failure: HTTP 200 (the function ran), `meta.status` 400 and the 1.0 `fail[]`. */
export function validationFail(
  code: string,
  message: string,
  opts: { key?: unknown; field?: string; headers?: Headers } = {},
): HttpReply {
  return v1Fail(400, code, message, { ...opts, httpStatus: 200 });
}

export function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A 1.0 request body: `{meta?: {pagination?: {pageSize, pageToken}}, data?: [{...}]}`. */
export interface V1Request {
  item: Record<string, unknown> | undefined;
  pageSize: unknown;
  pageToken: unknown;
}

export function parseV1Body(raw: string): V1Request | undefined {
  let v: unknown;
  try {
    v = raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (!isObject(v)) return undefined;
  const data = v['data'];
  const first: unknown = Array.isArray(data) ? data[0] : undefined;
  const meta = v['meta'];
  const pagination = isObject(meta) ? meta['pagination'] : undefined;
  return {
    item: isObject(first) ? first : undefined,
    pageSize: isObject(pagination) ? pagination['pageSize'] : undefined,
    pageToken: isObject(pagination) ? pagination['pageToken'] : undefined,
  };
}

/** `2024-03-01T10:12:00+0000` — the 1.0 response time format (UTC, offset without colon, no millis). */
export function fmtUtc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + '+0000';
}

/** The same instant written in a local offset like `+0100` / `-0400`. */
export function fmtOffset(ms: number, offsetMinutes: number): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 19);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const a = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}${String(a % 60).padStart(2, '0')}`;
}

/** `+0100` / `-04:00` / `Z` → minutes east of UTC; undefined if malformed. */
export function parseOffset(s: string): number | undefined {
  if (s === 'Z') return 0;
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(s);
  if (m === null) return undefined;
  const v = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -v : v;
}

const REQ_DATE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/;

/** A 1.0 request date: `2011-12-03T10:15:30+0000`, also `...Z`, `...+00:00`, with optional fraction. */
export function parseRequestDate(s: string): number | undefined {
  const m = REQ_DATE.exec(s);
  if (m === null) return undefined;
  const off = parseOffset(m[8] as string);
  if (off === undefined) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  if (Number.isNaN(ms) || Number(m[2]) > 12 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return undefined;
  const frac = m[7] === undefined ? 0 : Math.floor(Number(m[7]) * 1000);
  return ms + frac - off * 60_000;
}
