// The admin functions' request and reply envelope: `data[]` items in, `meta`/`data`/`fail[]` out (HTTP 200), pagination.
import type { IncomingMessage } from 'node:http';
import type { SimContext } from '../core/context.js';
import type { Route } from '../core/routes.js';
import { HttpReply, isObject, json, readBody, v1Fail, validationFail, type Headers } from '../http.js';
import { intAt } from '../tokens.js';
import { directoryOf, type Directory } from './directory.js';

/**
 * Codes no Mimecast source shows (duplicate user, unknown group, ...): the simulator invents them, and every message
 * carrying one starts with this mark so nobody mistakes it for the real API's wording.
 */
export const SIM_ONLY = '[simulator-only code]';

export type Item = Record<string, unknown>;

export interface AdminRequest {
  items: Item[];
  pageSize: unknown;
  pageToken: unknown;
  owner: string;
  headers: Headers;
}

export interface ItemError {
  code: string;
  message: string;
  field?: string;
}

/** Auth (either generation), quota, body; `maxItems` bounds `data[]` as the real function does. */
export async function readAdmin(ctx: SimContext, req: IncomingMessage, path: string, maxItems: number): Promise<AdminRequest | HttpReply> {
  const auth = ctx.auth.api(req, path, []);
  if (!auth.ok) return auth.reply;
  const h = auth.headers;
  const raw = await readBody(req, 256 * 1024);
  let v: unknown;
  try {
    v = raw === undefined || raw.trim() === '' ? {} : JSON.parse(raw);
  } catch {
    v = undefined;
  }
  if (!isObject(v) || (v['data'] !== undefined && !Array.isArray(v['data']))) {
    return v1Fail(400, 'err_request_malformed', 'The request body is not valid JSON', { httpStatus: 400, headers: h });
  }
  const data: unknown[] = Array.isArray(v['data']) ? v['data'] : [];
  const items = data.map((d) => (isObject(d) ? d : {}));
  if (items.length > maxItems) {
    return validationFail('err_validation_too_many_items', `${SIM_ONLY} data holds ${items.length} items; this function takes at most ${maxItems}`, { field: 'data', headers: h });
  }
  // The injected retryable failure comes before any change, so a client that retries it changes nothing twice.
  if (ctx.faults.roll(ctx.faults.current().apiFail200)) {
    ctx.faults.count('apiFail200');
    return v1Fail(500, 'err_internal_server_error', 'An internal error occurred processing the request (simulated)', { httpStatus: 200, key: items[0] ?? {}, retryable: true, headers: h });
  }
  const meta = v['meta'];
  const pagination = isObject(meta) ? meta['pagination'] : undefined;
  return {
    items,
    pageSize: isObject(pagination) ? pagination['pageSize'] : undefined,
    pageToken: isObject(pagination) ? pagination['pageToken'] : undefined,
    owner: auth.owner,
    headers: h,
  };
}

/** How the 2.0 gateway answers a function no product assigned to the application covers (NOTES: unknown paths too). */
export function appForbidden(headers?: Headers): HttpReply {
  return json(
    403,
    {
      meta: { status: 403 },
      data: [],
      fail: [{ errors: [{ code: 'app_forbidden', message: 'Resource or method requested does not exist in any product assigned to the application.', retryable: false }] }],
    },
    headers,
  );
}

export function ok(data: unknown[], fail: unknown[], headers: Headers, pagination?: Record<string, unknown>): HttpReply {
  const meta: Record<string, unknown> = { status: 200 };
  if (pagination !== undefined) meta['pagination'] = pagination;
  return json(200, { meta, data, fail }, headers);
}

export function failItem(key: Item, e: ItemError): Record<string, unknown> {
  const error: Record<string, unknown> = { code: e.code, message: e.message, retryable: false };
  if (e.field !== undefined) error['field'] = e.field;
  return { key, errors: [error] };
}

/** Runs `each` per item (Mimecast treats a batch as one call per item): results to `data[]`, errors to `fail[]`. */
export async function perItem(r: AdminRequest, each: (item: Item) => Promise<unknown> | unknown): Promise<HttpReply> {
  const data: unknown[] = [];
  const fail: unknown[] = [];
  for (const item of r.items) {
    const out = await each(item);
    if (out instanceof ItemFailure) fail.push(failItem(item, out.error));
    else data.push(out);
  }
  return ok(data, fail, r.headers);
}

export class ItemFailure {
  constructor(readonly error: ItemError) {}
}

export function failure(code: string, message: string, field?: string): ItemFailure {
  return new ItemFailure(field === undefined ? { code, message } : { code, message, field });
}

/** A required string field: missing gives `err_validation_null`, blank `err_validation_blank` (both with `field`). */
export function required(item: Item, field: string): string | ItemFailure {
  const v = item[field];
  if (v === undefined || v === null) return failure('err_validation_null', `${field} is required`, field);
  if (typeof v !== 'string') return failure('err_validation_invalid_value', `${field} must be a string`, field);
  if (v.trim() === '') return failure('err_validation_blank', `${field} must not be blank`, field);
  return v.trim();
}

export function optionalString(item: Item, field: string): string | undefined | ItemFailure {
  const v = item[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return failure('err_validation_invalid_value', `${field} must be a string`, field);
  return v;
}

export function optionalBool(item: Item, field: string): boolean | undefined | ItemFailure {
  const v = item[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') return failure('err_validation_invalid_value', `${field} must be true or false`, field);
  return v;
}

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** A required email address, lower-cased: malformed gives `err_validation_invalid_email_address` with `field`. */
export function email(item: Item, field: string): string | ItemFailure {
  const v = required(item, field);
  if (v instanceof ItemFailure) return v;
  if (!EMAIL.test(v)) return failure('err_validation_invalid_email_address', 'Email address is not valid', field);
  return v.toLowerCase();
}

export function isEmail(s: string): boolean {
  return EMAIL.test(s);
}

/** Default and largest page of the paged admin functions (a live tenant accepted 500). */
export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 500;

/**
 * One page of `list` per `meta.pagination` (pageSize, pageToken from a previous `next`/`previous`); the reply's
 * pagination carries the count returned, the total, and opaque next/previous tokens when such pages exist.
 */
export function paginate<T>(
  ctx: SimContext,
  r: AdminRequest,
  kind: string,
  list: readonly T[],
): { page: T[]; pagination: Record<string, unknown> } | ItemFailure {
  let size = DEFAULT_PAGE;
  if (r.pageSize !== undefined) {
    const n = typeof r.pageSize === 'string' && /^\d+$/.test(r.pageSize) ? Number(r.pageSize) : r.pageSize;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
      return failure('err_validation_invalid_value', `pageSize must be between 1 and ${MAX_PAGE}`, 'pageSize');
    }
    size = n;
  }
  let at = 0;
  if (typeof r.pageToken === 'string' && r.pageToken !== '') {
    const v = ctx.signer.parse(`adm:${kind}`, r.pageToken);
    const pos = v === undefined ? undefined : intAt(v, 0);
    if (pos === undefined || pos < 0) return failure('err_pagination_invalid_token', 'The page token is invalid', 'pageToken');
    at = Math.min(pos, list.length);
  }
  const page = list.slice(at, at + size);
  const pagination: Record<string, unknown> = { pageSize: page.length, totalCount: list.length };
  if (at + size < list.length) pagination['next'] = ctx.signer.sign(`adm:${kind}`, [at + size]);
  if (at > 0) pagination['previous'] = ctx.signer.sign(`adm:${kind}`, [Math.max(0, at - size)]);
  return { page, pagination };
}

/** A single-item function's failure: HTTP 200, nothing in `data`, the item in `fail[]`. */
export function failOne(r: AdminRequest, key: Item, f: ItemFailure): HttpReply {
  return ok([], [failItem(key, f.error)], r.headers);
}

/**
 * An admin function answered item by item: `POST path` on both generations, its request read (at most `maxItems`
 * items) and each item handed to `each` with the account's directory; an ItemFailure goes to `fail[]`.
 */
export function itemFunction(
  path: string,
  maxItems: number,
  each: (item: Item, dir: Directory, ctx: SimContext, r: AdminRequest) => Promise<unknown> | unknown,
): Route {
  return {
    method: 'POST',
    path,
    counter: 'api',
    v1: true,
    handler: async (ctx, req, url) => {
      const r = await readAdmin(ctx, req, url.pathname, maxItems);
      if (r instanceof HttpReply) return r;
      const dir = directoryOf(ctx);
      return perItem(r, (item) => each(item, dir, ctx, r));
    },
  };
}
