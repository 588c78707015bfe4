// API 1.0 request signing (mimecast-api.md §1.3): HMAC-SHA1 over date, request id, path and app key.
import { createHmac, randomUUID } from 'node:crypto';

export interface SignInput {
  accessKey: string;
  /** Base64 as Mimecast issues it; the HMAC key is the decoded bytes. */
  secretKey: string;
  appId: string;
  appKey: string;
  /** Request path without host or query, e.g. `/api/audit/get-siem-logs`. */
  path: string;
  /** A Date (formatted here) or an already formatted `x-mc-date` value; default now. */
  date?: Date | string;
  /** Default: a fresh UUID. */
  requestId?: string;
}

export interface SignedHeaders {
  Authorization: string;
  'x-mc-date': string;
  'x-mc-req-id': string;
  'x-mc-app-id': string;
}

/** `Tue, 24 Nov 2015 12:50:11 UTC`: RFC 1123 in UTC, with the zone spelled as Mimecast's own page spells it. */
export function formatMcDate(date: Date): string {
  return date.toUTCString().replace(/GMT$/, 'UTC');
}

/** base64(HMAC-SHA1(base64decode(secretKey), UTF-8 text)). */
export function hmacSha1Base64(secretKeyB64: string, text: string): string {
  return createHmac('sha1', Buffer.from(secretKeyB64, 'base64')).update(text, 'utf8').digest('base64');
}

/** The headers that authenticate one API 1.0 request; call it again for every attempt (fresh date and id). */
export function signRequest(input: SignInput): SignedHeaders {
  if (input.secretKey.length === 0 || input.accessKey.length === 0 || input.appKey.length === 0) {
    throw new TypeError('API 1.0 signing needs a non-empty access key, secret key and app key');
  }
  const date = typeof input.date === 'string' ? input.date : formatMcDate(input.date ?? new Date());
  const requestId = input.requestId ?? randomUUID();
  const signature = hmacSha1Base64(input.secretKey, `${date}:${requestId}:${input.path}:${input.appKey}`);
  return {
    Authorization: `MC ${input.accessKey}:${signature}`,
    'x-mc-date': date,
    'x-mc-req-id': requestId,
    'x-mc-app-id': input.appId,
  };
}
