// API 1.0 HMAC-SHA1 request signing as the simulator verifies it (and its tests sign with).
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { v1Fail, type HttpReply } from './http.js';

export interface V1Credentials {
  appId: string;
  appKey: string;
  accessKey: string;
  secretKey: string;
}

/**
 * The 1.0 signature: base64(HMAC-SHA1(base64decode(secretKey), `${date}:${reqId}:${path}:${appKey}`)).
 * Kept inside the simulator so it verifies independently of the client's implementation.
 */
export function signV1(secretKey: string, date: string, reqId: string, path: string, appKey: string): string {
  return createHmac('sha1', Buffer.from(secretKey, 'base64')).update(`${date}:${reqId}:${path}:${appKey}`, 'utf8').digest('base64');
}

/** The headers a 1.0 client sends (used by the simulator's tests and handy for ad-hoc calls). */
export function v1Headers(c: V1Credentials, path: string, date = new Date().toUTCString().replace('GMT', 'UTC'), reqId = randomUUID()): Record<string, string> {
  return {
    Authorization: `MC ${c.accessKey}:${signV1(c.secretKey, date, reqId, path, c.appKey)}`,
    'x-mc-date': date,
    'x-mc-req-id': reqId,
    'x-mc-app-id': c.appId,
    'Content-Type': 'application/json',
    Accept: 'application/json',
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export type V1AuthResult = { ok: true; owner: string } | { ok: false; reply: HttpReply };

/** Checks an `Authorization: MC ...` request; the caller has already seen the `MC ` prefix. */
export function verifyV1(req: IncomingMessage, path: string, creds: V1Credentials, opts: { bindingExpired: boolean }): V1AuthResult {
  const auth = header(req, 'authorization') ?? '';
  const date = header(req, 'x-mc-date');
  const reqId = header(req, 'x-mc-req-id');
  const appId = header(req, 'x-mc-app-id');
  const missing = [date === undefined ? 'x-mc-date' : '', reqId === undefined ? 'x-mc-req-id' : '', appId === undefined ? 'x-mc-app-id' : ''].filter((h) => h !== '');
  if (missing.length > 0) {
    return { ok: false, reply: v1Fail(401, 'err_xdk_missing_headers', `Required header(s) missing: ${missing.join(', ')}`) };
  }
  const m = /^MC ([^:\s]+):(\S+)$/.exec(auth.trim());
  if (m === null) {
    return { ok: false, reply: v1Fail(401, 'err_xdk_authorization_header_invalid', 'The Authorization header is not in the form MC accessKey:signature') };
  }
  const accessKey = m[1] as string;
  const signature = m[2] as string;
  if (!sameText(appId as string, creds.appId)) {
    return { ok: false, reply: v1Fail(401, 'err_developer_key', 'The application id or key is not valid') };
  }
  if (!sameText(accessKey, creds.accessKey)) {
    return { ok: false, reply: v1Fail(401, 'err_xdk_access_key_not_found', 'The access key is not known') };
  }
  const want = signV1(creds.secretKey, date as string, reqId as string, path, creds.appKey);
  if (!sameText(signature, want)) {
    return { ok: false, reply: v1Fail(401, 'err_xdk_invalid_signature', '0004 Invalid Signature') };
  }
  if (opts.bindingExpired) {
    return { ok: false, reply: v1Fail(418, 'err_xdk_binding_expired', 'The binding has expired; the access key and secret key must be regenerated') };
  }
  return { ok: true, owner: `v1:${accessKey}` };
}
