// postPage/postPages: the meta/data envelope sent, data[] and pagination read back, loops and bad shapes stopped.
import { describe, expect, it } from 'vitest';
import { ApiError } from '../core/errors.js';
import type { MimecastApi } from './api.js';
import { getPages, postPage, postPages } from './pages.js';

/** A client whose postJson answers from `replies` in turn and records what it was sent. */
function fakeApi(replies: unknown[]): { api: MimecastApi; sent: unknown[] } {
  const sent: unknown[] = [];
  const reject = (): Promise<never> => Promise.reject(new Error('not used'));
  const api: MimecastApi = {
    generation: 'v2',
    postJson: (_path, body) => {
      sent.push(body);
      return Promise.resolve(replies.shift());
    },
    postJsonWith: reject,
    postRaw: reject,
    getJson: reject,
    openDownload: reject,
    close: () => Promise.resolve(),
  };
  return { api, sent };
}

const signal = new AbortController().signal;

describe('postPage', () => {
  it('sends the pagination in meta and reads data[], next and totalCount', async () => {
    const { api, sent } = fakeApi([{ meta: { status: 200, pagination: { pageSize: 1, next: 'n2', totalCount: 3 } }, data: [{ a: 1 }] }]);
    const page = await postPage(api, '/api/x/y', [{ q: 1 }], { pageSize: 1, pageToken: 't1' }, signal);
    expect(sent).toEqual([{ meta: { pagination: { pageSize: 1, pageToken: 't1' } }, data: [{ q: 1 }] }]);
    expect(page).toEqual({ data: [{ a: 1 }], next: 'n2', totalCount: 3 });
  });

  it('names the call when data is not an array', async () => {
    const { api } = fakeApi([{ data: { a: 1 } }]);
    const err = await postPage(api, '/api/x/y', [], {}, signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe('API_BAD_RESPONSE');
    expect((err as ApiError).message).toContain('POST /api/x/y');
  });
});

describe('postPages', () => {
  it('follows next to the last page', async () => {
    const { api, sent } = fakeApi([
      { meta: { pagination: { next: 'p2' } }, data: [1] },
      { meta: { pagination: { next: 'p3' } }, data: [2] },
      { meta: { pagination: {} }, data: [3] },
    ]);
    const got: unknown[] = [];
    for await (const p of postPages(api, '/api/x', [{}], 2, signal)) got.push(...p.data);
    expect(got).toEqual([1, 2, 3]);
    expect(sent.map((b) => (b as { meta: { pagination: { pageToken?: string } } }).meta.pagination.pageToken)).toEqual([undefined, 'p2', 'p3']);
  });

  it('stops when a page repeats the token it was asked with', async () => {
    const { api } = fakeApi([{ meta: { pagination: { next: 'same' } }, data: [1] }, { meta: { pagination: { next: 'same' } }, data: [2] }, { data: [3] }]);
    const got: unknown[] = [];
    for await (const p of postPages(api, '/api/x', [{}], 2, signal)) got.push(...p.data);
    expect(got).toEqual([1, 2]);
  });
});

describe('getPages', () => {
  it('follows an API 2.0 list by ?pageSize&pageToken, reading the next token under each spelling sources show, to the end', async () => {
    const asked: Record<string, unknown>[] = [];
    const replies: unknown[] = [
      { users: [{ a: 1 }], meta: { pagination: { next: 'p2', totalCount: 4 } } },
      { users: [{ a: 2 }], meta: { nextPage: 'p3' } },
      { users: [{ a: 3 }], meta: { nextPageToken: 'p4' } },
      { users: [{ a: 4 }], meta: {} },
    ];
    const reject = (): Promise<never> => Promise.reject(new Error('not used'));
    const api: MimecastApi = {
      generation: 'v2',
      postJson: reject,
      postJsonWith: reject,
      postRaw: reject,
      getJson: (_path, query) => {
        asked.push(query);
        return Promise.resolve(replies.shift());
      },
      openDownload: reject,
      close: () => Promise.resolve(),
    };
    const pages = [];
    for await (const p of getPages(api, '/user/cloud-gateway/v1/users', { q: 'x' }, 'users', 1, signal)) pages.push(p);
    expect(pages.map((p) => p.data)).toEqual([[{ a: 1 }], [{ a: 2 }], [{ a: 3 }], [{ a: 4 }]]);
    expect(pages[0]?.totalCount).toBe(4);
    expect(asked).toEqual([
      { q: 'x', pageSize: 1, pageToken: undefined },
      { q: 'x', pageSize: 1, pageToken: 'p2' },
      { q: 'x', pageSize: 1, pageToken: 'p3' },
      { q: 'x', pageSize: 1, pageToken: 'p4' },
    ]);
  });

  it('names the call when the records are not a list', async () => {
    const reject = (): Promise<never> => Promise.reject(new Error('not used'));
    const api: MimecastApi = { generation: 'v2', postJson: reject, postJsonWith: reject, postRaw: reject, getJson: () => Promise.resolve({ users: 'x' }), openDownload: reject, close: () => Promise.resolve() };
    const err = await getPages(api, '/u', {}, 'users', 10, signal).next().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_BAD_RESPONSE', message: 'GET /u answered with a "users" that is not an array' });
  });
});
