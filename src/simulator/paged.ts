// The paged 1.0-style log functions (TTP URL/attachment/impersonation, audit, DLP, held release, archive search).
import type { IncomingMessage } from 'node:http';
import { json, parseRequestDate, parseV1Body, readBody, v1Fail, validationFail, type HttpReply } from './http.js';
import type { LogStreamName } from './logstore.js';
import { logRecord, type Rec } from './logrecords.js';
import type { SimContext } from './core/context.js';
import type { RouteTable } from './core/routes.js';
import { intAt } from './tokens.js';

type PagedStream = Exclude<LogStreamName, 'siem_v1' | 'threat_intel'>;

interface PagedSpec {
  path: string;
  stream: PagedStream;
  /** Records sit in `data[0][wrap]`; undefined = directly in `data[]` (audit). */
  wrap: string | undefined;
  fromKeys: readonly string[];
  toKeys: readonly string[];
  resultCount?: boolean;
  /** Window required and limited to this many days back (audit). */
  historyDays?: number;
}

const SPECS: readonly PagedSpec[] = [
  { path: '/api/ttp/url/get-logs', stream: 'ttp_url', wrap: 'clickLogs', fromKeys: ['from', 'start'], toKeys: ['to', 'end'] },
  { path: '/api/ttp/attachment/get-logs', stream: 'ttp_attachment', wrap: 'attachmentLogs', fromKeys: ['from', 'start'], toKeys: ['to', 'end'] },
  { path: '/api/ttp/impersonation/get-logs', stream: 'ttp_impersonation', wrap: 'impersonationLogs', fromKeys: ['from', 'start'], toKeys: ['to', 'end'], resultCount: true },
  { path: '/api/audit/get-audit-events', stream: 'audit', wrap: undefined, fromKeys: ['startDateTime', 'from', 'start'], toKeys: ['endDateTime', 'to', 'end'], historyDays: 60 },
  { path: '/api/dlp/get-logs', stream: 'dlp', wrap: 'dlpLogs', fromKeys: ['from', 'start'], toKeys: ['to', 'end'] },
  { path: '/api/gateway/get-held-release-logs', stream: 'held_release', wrap: 'heldReleaseLogs', fromKeys: ['start', 'from'], toKeys: ['end', 'to'] },
  { path: '/api/archive/get-archive-search-logs', stream: 'archive_search', wrap: 'logs', fromKeys: ['start', 'from'], toKeys: ['end', 'to'] },
];

export const PAGED_PATHS: Readonly<Record<PagedStream, string>> = Object.fromEntries(SPECS.map((s) => [s.stream, s.path])) as Record<PagedStream, string>;

export function registerPaged(routes: RouteTable): void {
  routes.add(
    ...SPECS.map((spec) => ({
      method: 'POST' as const,
      path: spec.path,
      counter: 'api' as const,
      v1: true,
      handler: (sim: SimContext, req: IncomingMessage): Promise<HttpReply> => paged(sim, req, spec),
    })),
  );
}

interface Cursor {
  lo: number;
  hi: number;
  oldestFirst: boolean;
  pos: number;
}

const DAY_MS = 86_400_000;

function firstKey(item: Record<string, unknown> | undefined, keys: readonly string[]): [string, unknown] | undefined {
  if (item === undefined) return undefined;
  for (const k of keys) if (item[k] !== undefined && item[k] !== null && item[k] !== '') return [k, item[k]];
  return undefined;
}

async function paged(sim: SimContext, req: IncomingMessage, spec: PagedSpec): Promise<HttpReply> {
  const auth = sim.auth.api(req, spec.path, [spec.stream]);
  if (!auth.ok) return auth.reply;
  const h = auth.headers;
  const raw = await readBody(req, 256 * 1024);
  const body = raw === undefined ? undefined : parseV1Body(raw);
  if (body === undefined) return v1Fail(400, 'err_request_malformed', 'The request body is not valid JSON', { httpStatus: 400, headers: h });
  const item = body.item;
  const key = item ?? {};
  if (sim.faults.roll(sim.faults.current().apiFail200)) {
    sim.faults.count('apiFail200');
    return v1Fail(500, 'err_internal_server_error', 'An internal error occurred processing the request (simulated)', { httpStatus: 200, key, retryable: true, headers: h });
  }
  const max = sim.opts.maxApiPageSize;
  let pageSize = Math.min(100, max);
  if (body.pageSize !== undefined) {
    const n = typeof body.pageSize === 'string' && /^\d+$/.test(body.pageSize) ? Number(body.pageSize) : body.pageSize;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > max) {
      return validationFail('err_validation_invalid_value', `pageSize must be between 1 and ${max}`, { key, field: 'pageSize', headers: h });
    }
    pageSize = n;
  }
  const store = sim.account.stores[spec.stream];
  const now = Date.now();
  let cur: Cursor;
  if (typeof body.pageToken === 'string' && body.pageToken !== '') {
    const v = sim.signer.parse(`pg:${spec.stream}`, body.pageToken);
    const lo = v === undefined ? undefined : intAt(v, 0);
    const hi = v === undefined ? undefined : intAt(v, 1);
    const of = v === undefined ? undefined : intAt(v, 2);
    const pos = v === undefined ? undefined : intAt(v, 3);
    if (lo === undefined || hi === undefined || of === undefined || pos === undefined || hi < lo || hi > store.count) {
      return validationFail('err_pagination_invalid_token', 'The page token is invalid', { key, field: 'pageToken', headers: h });
    }
    cur = { lo, hi, oldestFirst: of === 1, pos };
  } else {
    const fromRaw = firstKey(item, spec.fromKeys);
    const toRaw = firstKey(item, spec.toKeys);
    if (spec.historyDays !== undefined && (fromRaw === undefined || toRaw === undefined)) {
      const field = fromRaw === undefined ? (spec.fromKeys[0] as string) : (spec.toKeys[0] as string);
      return validationFail('err_validation_null', `${field} is required`, { key, field, headers: h });
    }
    const parse = (kv: [string, unknown] | undefined, dflt: number): number | string => {
      if (kv === undefined) return dflt;
      const ms = typeof kv[1] === 'string' ? parseRequestDate(kv[1]) : undefined;
      return ms ?? kv[0];
    };
    const from = parse(fromRaw, Math.floor(now / DAY_MS) * DAY_MS);
    const to = parse(toRaw, now);
    if (typeof from === 'string' || typeof to === 'string') {
      const field = typeof from === 'string' ? from : (to as string);
      return validationFail('err_validation_invalid_date', `${field} must be a date like 2011-12-03T10:15:30+0000`, { key, field, headers: h });
    }
    if (to < from) return validationFail('err_validation_invalid_value', 'the end of the window is before its start', { key, headers: h });
    if (spec.historyDays !== undefined && from < now - spec.historyDays * DAY_MS) {
      return validationFail('err_validation_date_range', `Historical lookup is restricted to last ${spec.historyDays} days`, { key, field: spec.fromKeys[0] as string, headers: h });
    }
    const of = item?.['oldestFirst'];
    cur = { lo: store.lowerBound(from), hi: store.lowerBound(to + 1), oldestFirst: of === true || of === 'true', pos: 0 };
  }
  const total = cur.hi - cur.lo;
  const at = (pos: number): number => (cur.oldestFirst ? cur.lo + pos : cur.hi - 1 - pos);
  const visible = (i: number): boolean => store.visibleAt(i) <= now;
  const recs: Rec[] = [];
  let pos = cur.pos;
  for (; pos < total && recs.length < pageSize; pos++) {
    const i = at(pos);
    if (visible(i)) recs.push(store.writtenAt(i) ?? logRecord(spec.stream, store.seedOf(i), store.timeOf(i)));
  }
  while (pos < total && !visible(at(pos))) pos++;
  const token = (p: number): string => sim.signer.sign(`pg:${spec.stream}`, [cur.lo, cur.hi, cur.oldestFirst ? 1 : 0, p]);
  const pagination: Record<string, unknown> = { pageSize, totalCount: total };
  if (pos < total) pagination['next'] = token(pos);
  else if (sim.opts.emptyLastPage) pagination['next'] = token(total);
  if (cur.pos > 0) pagination['previous'] = token(Math.max(0, cur.pos - pageSize));
  let data: unknown[];
  if (spec.wrap === undefined) data = recs;
  else {
    const d: Record<string, unknown> = { [spec.wrap]: recs };
    if (spec.resultCount === true) d['resultCount'] = recs.length;
    data = [d];
  }
  return json(200, { meta: { status: 200, pagination }, data, fail: [] }, h);
}
