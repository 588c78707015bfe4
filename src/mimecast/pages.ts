// Any 1.0-style function (`/api/...`, both generations) as pages: POST meta/data, get back data[] and the next-page token.
import { ApiError } from '../core/errors.js';
import type { MimecastApi } from './api.js';
import { isRecord } from '../core/util.js';

/** One page of a 1.0-style reply: its `data[]` and what `meta.pagination` said. */
export interface ApiPage {
  data: unknown[];
  /** `meta.pagination.next`: the token of the following page; absent on the last one. */
  next?: string;
  /** `meta.pagination.totalCount`, when the function reports one. */
  totalCount?: number;
}

/**
 * POSTs `{meta: {pagination}, data}` to `path` through the account's client (its retries, rate limiter, token
 * refresh; a `fail[]` is thrown as postJson throws it) and reads the reply's `data[]` and pagination.
 */
export async function postPage(
  api: MimecastApi,
  path: string,
  data: readonly unknown[],
  page: { pageSize?: number; pageToken?: string },
  signal: AbortSignal,
): Promise<ApiPage> {
  const pagination = { ...(page.pageSize === undefined ? {} : { pageSize: page.pageSize }), ...(page.pageToken === undefined ? {} : { pageToken: page.pageToken }) };
  const body = { ...(Object.keys(pagination).length === 0 ? {} : { meta: { pagination } }), data };
  const reply = await api.postJson(path, body, signal);
  const call = `POST ${path}`;
  if (!isRecord(reply)) throw new ApiError('API_BAD_RESPONSE', `${call} answered with JSON that is not an object`, call, { retryable: false });
  const items = reply['data'] ?? [];
  if (!Array.isArray(items)) throw new ApiError('API_BAD_RESPONSE', `${call} answered with a "data" that is not an array`, call, { retryable: false });
  const meta = reply['meta'];
  const pag = isRecord(meta) ? meta['pagination'] : undefined;
  const next = isRecord(pag) && typeof pag['next'] === 'string' && pag['next'] !== '' ? pag['next'] : undefined;
  const total = isRecord(pag) && typeof pag['totalCount'] === 'number' ? pag['totalCount'] : undefined;
  return { data: items as unknown[], ...(next === undefined ? {} : { next }), ...(total === undefined ? {} : { totalCount: total }) };
}

/** Longest walk through one function's pages: a server that always answers with a `next` still ends. */
export const MAX_PAGES = 100_000;

/**
 * Every page of `path` in order, following `meta.pagination.next` until a page has none (or repeats the token it was
 * asked with, which would loop). Stops early when the caller stops iterating.
 */
export async function* postPages(
  api: MimecastApi,
  path: string,
  data: readonly unknown[],
  pageSize: number,
  signal: AbortSignal,
): AsyncGenerator<ApiPage> {
  let token: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const page = await postPage(api, path, data, { pageSize, ...(token === undefined ? {} : { pageToken: token }) }, signal);
    yield page;
    if (page.next === undefined || page.next === token) return;
    token = page.next;
  }
  const call = `POST ${path}`;
  throw new ApiError('API_BAD_RESPONSE', `${call} still had a next page after ${MAX_PAGES} pages; stopped`, call, { retryable: false });
}

/** The next-page token of an API 2.0 list reply: sources disagree on its key, so each known spelling is read. */
function nativeNext(reply: Record<string, unknown>): string | undefined {
  const meta = reply['meta'];
  if (!isRecord(meta)) return undefined;
  const pag = meta['pagination'];
  for (const v of [isRecord(pag) ? pag['next'] : undefined, meta['nextPage'], meta['nextPageToken']]) {
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

/**
 * Every page of an API 2.0 native list (`GET /user/cloud-gateway/v1/users`): `?pageSize&pageToken`, the records under
 * `recordsKey`, the next token in `meta` (see nativeNext). Bounded and loop-safe as postPages.
 */
export async function* getPages(
  api: MimecastApi,
  path: string,
  query: Record<string, string | number | undefined>,
  recordsKey: string,
  pageSize: number,
  signal: AbortSignal,
): AsyncGenerator<ApiPage> {
  const call = `GET ${path}`;
  let token: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const reply = await api.getJson(path, { ...query, pageSize, pageToken: token }, signal);
    if (!isRecord(reply)) throw new ApiError('API_BAD_RESPONSE', `${call} answered with JSON that is not an object`, call, { retryable: false });
    const items = reply[recordsKey] ?? [];
    if (!Array.isArray(items)) throw new ApiError('API_BAD_RESPONSE', `${call} answered with a "${recordsKey}" that is not an array`, call, { retryable: false });
    const meta = reply['meta'];
    const pag = isRecord(meta) ? meta['pagination'] : undefined;
    const total = isRecord(pag) && typeof pag['totalCount'] === 'number' ? pag['totalCount'] : undefined;
    const next = nativeNext(reply);
    yield { data: items as unknown[], ...(next === undefined ? {} : { next }), ...(total === undefined ? {} : { totalCount: total }) };
    if (next === undefined || next === token) return;
    token = next;
  }
  throw new ApiError('API_BAD_RESPONSE', `${call} still had a next page after ${MAX_PAGES} pages; stopped`, call, { retryable: false });
}
