// API 2.0 SIEM batch: OAuth token, the batch listing of pre-signed blob URLs, and the blob downloads themselves.
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { gunzipSync, gzipSync } from 'node:zlib';
import { siemTypeFromApi } from '../core/contracts.js';
import type { BlobDesc, Catalog } from './catalog.js';
import { HttpReply, XML_TYPE, failReply, json, readBody, siemError, type Headers } from './http.js';
import type { SimContext } from './core/context.js';
import type { RouteTable } from './core/routes.js';
import { intAt } from './tokens.js';

const DAY_MS = 86_400_000;
const MAX_LOOKBACK_DAYS = 7;
const BLOB_PATH = /^\/blobs\/([^/]+)\/([a-z_]+)_(\d+)_(\d+)\.json\.gz$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MAX_FORM_BYTES = 64 * 1024;

function parseDay(s: string): number | undefined {
  const match = DATE_RE.exec(s);
  if (match === null) return undefined;
  const y = Number(match[1]);
  const mo = Number(match[2]);
  const d = Number(match[3]);
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return undefined;
  return ms;
}

export function s3Error(code: string, message: string, extra: Record<string, string> = {}): string {
  const fields = Object.entries(extra)
    .map(([k, v]) => `<${k}>${v}</${k}>`)
    .join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${code}</Code><Message>${message}</Message>${fields}` +
    `<RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`
  );
}

interface PageCursor {
  t: number;
  pos: number;
  /** Exclusive upper time bound from dateRangeEndsAt, 0 when open-ended. */
  endLimit: number;
}

export async function tokenEndpoint(sim: SimContext, req: IncomingMessage): Promise<HttpReply> {
  const raw = await readBody(req, MAX_FORM_BYTES);
  if (raw === undefined) return failReply(413, 'request_too_large', 'request body too large');
  let fields: Record<string, string> = {};
  const ctype = req.headers['content-type'] ?? '';
  if (ctype.includes('application/json')) {
    try {
      const parsed: unknown = JSON.parse(raw);
      if (parsed !== null && typeof parsed === 'object') {
        for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') fields[k] = v;
      }
    } catch {
      return failReply(400, 'invalid_request', 'body is not valid JSON');
    }
  } else {
    fields = Object.fromEntries(new URLSearchParams(raw));
  }
  const clientId = fields['client_id'] ?? '';
  const clientSecret = fields['client_secret'] ?? '';
  const grantType = fields['grant_type'] ?? '';
  const gate = sim.quota.gate(clientId === '' ? '(anonymous)' : clientId);
  if (gate.reply !== undefined) return gate.reply;
  const missing = [
    clientId === '' ? 'client_id' : '',
    clientSecret === '' ? 'client_secret' : '',
    grantType === '' ? 'grant_type' : '',
  ].filter((f) => f !== '');
  if (missing.length > 0) {
    return failReply(400, 'invalid_request', `missing required field(s): ${missing.join(', ')}`, gate.headers);
  }
  if (grantType !== 'client_credentials') {
    return failReply(400, 'unsupported_grant_type', `grant_type must be client_credentials`, gate.headers);
  }
  if (clientId !== sim.opts.clientId || clientSecret !== sim.opts.clientSecret) {
    return failReply(401, 'invalid_client', 'Client authentication failed: unknown client_id or wrong client_secret', gate.headers);
  }
  const now = Date.now();
  let expiresAt = now + sim.opts.tokenTtlSeconds * 1000;
  if (sim.faults.roll(sim.faults.current().earlyTokenExpiry)) {
    sim.faults.count('earlyTokenExpiry');
    expiresAt = now + 1000 + sim.faults.rng.int(2001);
  }
  const accessToken = sim.auth.issueToken(clientId, expiresAt);
  return json(
    200,
    { access_token: accessToken, token_type: 'Bearer', expires_in: sim.opts.tokenTtlSeconds, scope: '' },
    { ...gate.headers, 'Cache-Control': 'no-store' },
  );
}

/** The two batch endpoints: Cloud Gateway (`cg`) and Cloud Integrated (`ci`), each over its own catalog. */
export type BatchKind = 'cg' | 'ci';

/** Page tokens name their endpoint, so one endpoint's token is refused by the other. */
function signPage(sim: SimContext, kind: BatchKind, c: PageCursor): string {
  return sim.signer.sign(kind === 'cg' ? 'page' : 'page-ci', [1, c.t, c.pos, c.endLimit]);
}

function parsePage(sim: SimContext, kind: BatchKind, catalog: Catalog, token: string): PageCursor | undefined {
  const v = sim.signer.parse(kind === 'cg' ? 'page' : 'page-ci', token);
  if (v === undefined || v.length !== 4 || v[0] !== 1) return undefined;
  const t = intAt(v, 1);
  const pos = intAt(v, 2);
  const endLimit = intAt(v, 3);
  if (t === undefined || pos === undefined || endLimit === undefined || t >= catalog.typeCount) return undefined;
  return { t, pos, endLimit };
}

/** The type index a `type=` value names on this endpoint, or undefined. Only the API's own spellings are accepted. */
function typeOf(kind: BatchKind, catalog: Catalog, typeParam: string): number | undefined {
  let name: string | undefined = typeParam;
  if (kind === 'cg') {
    // Cloud Gateway types are written with spaces ("url protect"), as the real endpoint wants them.
    name = typeParam === typeParam.trim().toLowerCase() && !typeParam.includes('_') ? siemTypeFromApi(typeParam) : undefined;
  }
  const t = name === undefined ? -1 : catalog.typeIndex(name);
  return t < 0 ? undefined : t;
}

export function batchEndpoint(sim: SimContext, req: IncomingMessage, url: URL): Promise<HttpReply> {
  return batchPage(sim, 'cg', req, url);
}

export function ciBatchEndpoint(sim: SimContext, req: IncomingMessage, url: URL): Promise<HttpReply> {
  return batchPage(sim, 'ci', req, url);
}

async function batchPage(sim: SimContext, kind: BatchKind, req: IncomingMessage, url: URL): Promise<HttpReply> {
  // An account without Cloud Integrated has `cloud_integrated` among its unlicensed products (see resolveOptions).
  const auth = sim.auth.bearer(req, kind === 'cg' ? 'siem' : 'cloud_integrated');
  if (!auth.ok) return auth.reply;
  const gate = auth;
  const catalog = kind === 'cg' ? sim.account.catalog : sim.account.ciCatalog;
  if (catalog === undefined) return siemError(403, 'not_licensed', 'the account is not licensed for cloud_integrated');

  const q = url.searchParams;
  const typeParam = q.get('type');
  let t: number | undefined;
  if (typeParam !== null) {
    t = typeOf(kind, catalog, typeParam);
    if (t === undefined) return siemError(400, 'invalid_type', `type '${typeParam}' is not one of the supported log types`);
  }
  const maxPageSize = sim.opts.maxPageSize;
  let pageSize = Math.min(100, maxPageSize);
  const ps = q.get('pageSize');
  if (ps !== null) {
    if (!/^\d+$/.test(ps) || Number(ps) < 1 || Number(ps) > maxPageSize) {
      return siemError(400, 'invalid_page_size', `pageSize must be an integer between 1 and ${maxPageSize}`);
    }
    pageSize = Number(ps);
  }
  let cursor: PageCursor;
  const next = q.get('nextPage');
  if (next !== null && next !== '') {
    const parsed = parsePage(sim, kind, catalog, next);
    if (parsed === undefined) return siemError(400, 'invalid_next_page', 'nextPage is not a valid page token');
    if (t !== undefined && t !== parsed.t) {
      return siemError(400, 'invalid_next_page', 'nextPage belongs to a different type');
    }
    cursor = parsed;
  } else {
    if (t === undefined) return siemError(400, 'missing_type', 'type is required');
    const startRaw = q.get('dateRangeStartsAt');
    const endRaw = q.get('dateRangeEndsAt');
    if (startRaw === null || endRaw === null) {
      return siemError(400, 'missing_date_range', 'either nextPage or both dateRangeStartsAt and dateRangeEndsAt are required');
    }
    const start = parseDay(startRaw);
    const end = parseDay(endRaw);
    if (start === undefined || end === undefined) {
      return siemError(400, 'invalid_date', 'dateRangeStartsAt and dateRangeEndsAt must be dates in the form YYYY-MM-DD');
    }
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    if (start < today - MAX_LOOKBACK_DAYS * DAY_MS) {
      return siemError(400, 'invalid_date_range', `dateRangeStartsAt must not be more than ${MAX_LOOKBACK_DAYS} days in the past`);
    }
    if (end < start) return siemError(400, 'invalid_date_range', 'dateRangeEndsAt is before dateRangeStartsAt');
    cursor = { t, pos: catalog.firstIndexFrom(t, start), endLimit: end < today ? end + DAY_MS : 0 };
  }

  const list = catalog.blobs[cursor.t] as BlobDesc[];
  const page: BlobDesc[] = [];
  let pos = Math.min(cursor.pos, list.length);
  let ended = false;
  while (page.length < pageSize && pos < list.length) {
    const desc = list[pos] as BlobDesc;
    if (cursor.endLimit > 0 && desc.tMin >= cursor.endLimit) {
      ended = true;
      break;
    }
    page.push(desc);
    pos++;
  }
  if (!ended && cursor.endLimit > 0 && pos < list.length && (list[pos] as BlobDesc).tMin >= cursor.endLimit) ended = true;
  const caughtUp = ended || pos >= list.length;
  // Sizes need the rendered bytes; a few at a time keeps memory bounded and the loop responsive.
  for (let i = 0; i < page.length; i += 4) {
    await Promise.all(page.slice(i, i + 4).map((d) => (d.size >= 0 ? undefined : catalog.bytes(d))));
  }
  const now = Date.now();
  const base = sim.baseUrl(req);
  const value = page.map((d) => {
    let expiresAt = now + sim.opts.blobTtlMs;
    if (sim.faults.roll(sim.faults.current().expiredBlob)) {
      sim.faults.count('expiredBlob');
      expiresAt = now - 1000 - sim.faults.rng.int(60_000);
    }
    return { url: base + blobPath(sim, catalog, d, expiresAt), size: d.size, expiry: new Date(expiresAt).toISOString() };
  });
  return json(200, { value, '@nextPage': signPage(sim, kind, { t: cursor.t, pos, endLimit: cursor.endLimit }), isCaughtUp: caughtUp }, gate.headers);
}

function blobSignature(sim: SimContext, path: string, expiresAt: number): string {
  return createHmac('sha256', sim.signKey).update(`blob:${path}\n${expiresAt}`).digest('hex');
}

function blobPath(sim: SimContext, catalog: Catalog, d: BlobDesc, expiresAt: number): string {
  const path = `/blobs/${encodeURIComponent(sim.opts.accountCode)}/${catalog.fileName(d)}`;
  return `${path}?X-Sim-Expires=${expiresAt}&X-Sim-Signature=${blobSignature(sim, path, expiresAt)}`;
}

export async function blobEndpoint(sim: SimContext, url: URL): Promise<HttpReply> {
  const xml = (status: number, code: string, message: string, extra?: Record<string, string>): HttpReply =>
    new HttpReply(status, s3Error(code, message, extra), { 'Content-Type': XML_TYPE });
  const match = BLOB_PATH.exec(url.pathname);
  const account = match?.[1];
  const typeName = match?.[2];
  const index = Number(match?.[3]);
  const offset = Number(match?.[4]);
  // Type names differ between the two catalogs, so the name says which one holds the blob.
  const catalog = typeName !== undefined && sim.account.catalog.typeIndex(typeName) < 0 ? sim.account.ciCatalog : sim.account.catalog;
  const t = typeName === undefined || catalog === undefined ? -1 : catalog.typeIndex(typeName);
  const desc = t < 0 ? undefined : catalog?.get(t, index);
  if (catalog === undefined || account !== encodeURIComponent(sim.opts.accountCode) || desc === undefined || desc.firstOffset !== offset) {
    return xml(404, 'NoSuchKey', 'The specified key does not exist.', { Key: url.pathname.slice(1) });
  }
  const expiresRaw = url.searchParams.get('X-Sim-Expires');
  const sig = url.searchParams.get('X-Sim-Signature');
  if (expiresRaw === null || sig === null || !/^\d+$/.test(expiresRaw)) {
    return xml(403, 'AccessDenied', 'Query-string authentication requires the Signature and Expires parameters');
  }
  const expiresAt = Number(expiresRaw);
  if (sig !== blobSignature(sim, url.pathname, expiresAt)) {
    return xml(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
  }
  const now = Date.now();
  if (now >= expiresAt) {
    return xml(403, 'AccessDenied', 'Request has expired', {
      Expires: new Date(expiresAt).toISOString(),
      ServerTime: new Date(now).toISOString(),
    });
  }
  // Storage sending the client elsewhere (S3 does, to a regional endpoint): one hop, then the file.
  if (url.searchParams.get('X-Sim-Hop') === null && sim.faults.roll(sim.faults.current().redirectBlob)) {
    sim.faults.count('redirectBlob');
    const to = new URL(url.toString());
    to.searchParams.set('X-Sim-Hop', '1');
    return new HttpReply(307, '', { Location: `${to.pathname}${to.search}` });
  }
  const bytes = await catalog.bytes(desc);
  const headers: Headers = {
    'Content-Type': 'application/gzip',
    ETag: `"${createHmac('md5', sim.signKey).update(url.pathname).digest('hex')}"`,
  };
  const oversized = sim.faults.current().oversizedLineBytes ?? 0;
  if (oversized > 0) {
    sim.faults.count('oversizedLine');
    return new HttpReply(200, withOversizedLine(bytes, oversized), headers);
  }
  if (sim.faults.roll(sim.faults.current().truncatedGzip) && bytes.length > 1) {
    sim.faults.count('truncatedGzip');
    const cut = Math.min(bytes.length - 1, Math.max(1, Math.floor(bytes.length * (0.2 + 0.6 * sim.faults.rng.next()))));
    return new HttpReply(200, bytes.subarray(0, cut), headers);
  }
  return new HttpReply(200, bytes, headers);
}

/** The gzip member of one oversized line of `size` bytes, built once per size (a repeated byte compresses ~1000:1). */
const oversizedMembers = new Map<number, Buffer>();

/**
 * The file with a junk line of `size` bytes after its first line: gzip members concatenated (gunzip reads them as
 * one stream), so the big line is compressed once, not per download.
 */
function withOversizedLine(gz: Buffer, size: number): Buffer {
  let member = oversizedMembers.get(size);
  if (member === undefined) {
    // Shaped like a record (a timestamp, a type, a huge subject), so a reader that accepted it would normalize it.
    const head = '{"timestamp":1714557600000,"type":"receipt","subject":"';
    const tail = '"}\n';
    member = gzipSync(Buffer.concat([Buffer.from(head), Buffer.alloc(Math.max(0, size - head.length - tail.length), 0x78), Buffer.from(tail)]));
    oversizedMembers.set(size, member);
  }
  const text = gunzipSync(gz);
  const nl = text.indexOf(0x0a);
  const cut = nl < 0 ? text.length : nl + 1;
  return Buffer.concat([gzipSync(text.subarray(0, cut)), member, gzipSync(text.subarray(cut))]);
}

export function registerV2Siem(routes: RouteTable): void {
  routes.add(
    { method: 'POST', path: '/oauth/token', counter: 'token', handler: (ctx, req) => tokenEndpoint(ctx, req) },
    { method: 'GET', path: '/siem/v1/batch/events/cg', counter: 'batch', handler: batchEndpoint },
    { method: 'GET', path: '/siem/v1/batch/events/ci', counter: 'batchCi', handler: ciBatchEndpoint },
  );
  // Pre-signed downloads answer like the storage service behind them, not like the API.
  routes.addPrefix({
    prefix: '/blobs/',
    counter: 'blob',
    handler: (ctx, req, url) =>
      req.method !== 'GET' && req.method !== 'HEAD'
        ? new HttpReply(405, s3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.'), { 'Content-Type': XML_TYPE })
        : blobEndpoint(ctx, url),
  });
}
