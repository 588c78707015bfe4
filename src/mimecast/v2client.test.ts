// Tests for the API 2.0 client against scripted node:http gateways that fail on cue.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError, CollectorError } from '../core/errors.js';
import type { RetryPolicy } from '../core/retry.js';
import type { ReplyReader } from './api.js';
import { CredentialLimiter } from './limiter.js';
import { bodySnippet, failItems } from './responses.js';
import { MimecastV2Client, describeCall, type MimecastV2ClientOptions } from './v2client.js';

const FAST: RetryPolicy = { retries: 3, minDelayMs: 5, maxDelayMs: 20, factor: 2 };

interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  rawUrl: string;
  auth: string | undefined;
  body: string;
  contentType: string | undefined;
  at: number;
}

type ApiHandler = (req: Seen, res: http.ServerResponse, n: number) => void | Promise<void>;

interface Gateway {
  url: string;
  api: Seen[];
  tokenCalls: number;
  close: () => Promise<void>;
}

/** A fake gateway: /oauth/token hands out tok-1, tok-2...; every other path goes to the script. */
async function gateway(handler: ApiHandler, opts: { tokenDelayMs?: number } = {}): Promise<Gateway> {
  const gw: Gateway = { url: '', api: [], tokenCalls: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.pathname === '/oauth/token') {
        gw.tokenCalls++;
        const n = gw.tokenCalls;
        setTimeout(() => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ access_token: `tok-${n}`, token_type: 'Bearer', expires_in: 1799 }));
        }, opts.tokenDelayMs ?? 0);
        return;
      }
      const seen: Seen = {
        method: req.method ?? '',
        path: u.pathname,
        query: u.searchParams,
        rawUrl: req.url ?? '',
        auth: req.headers.authorization,
        body,
        contentType: req.headers['content-type'],
        at: performance.now(),
      };
      gw.api.push(seen);
      void handler(seen, res, gw.api.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  gw.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  gw.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return gw;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(
  handler: ApiHandler,
  extra: Partial<MimecastV2ClientOptions> = {},
  gwOpts: { tokenDelayMs?: number } = {},
): Promise<{ gw: Gateway; client: MimecastV2Client }> {
  const gw = await gateway(handler, gwOpts);
  const client = new MimecastV2Client({ baseUrl: gw.url, clientId: 'abc', clientSecret: 'shh', retry: FAST, ...extra });
  cleanups.push(() => gw.close(), () => client.close());
  return { gw, client };
}

const BATCH = '/siem/v1/batch/events/cg';
const ok = (res: http.ServerResponse): void => json(res, 200, { value: [], '@nextPage': 'n1', isCaughtUp: true });

describe('MimecastV2Client.getJson', () => {
  it('sends Bearer auth, encodes the query, and reuses one cached token', async () => {
    const { gw, client } = await setup((_req, res) => ok(res));
    for (let i = 0; i < 3; i++) {
      const body = await client.getJson(BATCH, { type: 'url protect', pageSize: 100, nextPage: undefined });
      expect(body).toEqual({ value: [], '@nextPage': 'n1', isCaughtUp: true });
    }
    expect(gw.tokenCalls).toBe(1);
    expect(gw.api.map((r) => r.auth)).toEqual(['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1']);
    expect(gw.api[0]?.rawUrl).toBe(`${BATCH}?type=url%20protect&pageSize=100`);
    expect(gw.api[0]?.query.has('nextPage')).toBe(false);
  });

  it('20 concurrent callers cause exactly one token request', async () => {
    const { gw, client } = await setup((_req, res) => ok(res), {}, { tokenDelayMs: 50 });
    await Promise.all(Array.from({ length: 20 }, () => client.getJson(BATCH, { type: 'receipt' })));
    expect(gw.tokenCalls).toBe(1);
    expect(gw.api).toHaveLength(20);
  });

  it('on 401 token_expired fetches a new token once and repeats the call', async () => {
    const { gw, client } = await setup((req, res) => {
      if (req.auth === 'Bearer tok-1') json(res, 401, { fail: [{ code: 'token_expired', message: 'Token expired' }] });
      else ok(res);
    });
    await expect(client.getJson(BATCH, { type: 'receipt' })).resolves.toMatchObject({ isCaughtUp: true });
    expect(gw.tokenCalls).toBe(2);
    expect(gw.api.map((r) => r.auth)).toEqual(['Bearer tok-1', 'Bearer tok-2']);
  });

  it('a second 401 is API_AUTH_FAILED and is not retried', async () => {
    const { gw, client } = await setup((_req, res) => json(res, 401, { fail: [{ code: 'token_expired', message: 'Token expired' }] }));
    const err = await client.getJson(BATCH, { type: 'receipt' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'API_AUTH_FAILED', retryable: false, status: 401, apiCode: 'token_expired' });
    expect((err as Error).message).toContain('client_id abc');
    expect((err as Error).message).not.toContain('shh');
    expect(gw.api).toHaveLength(2);
    expect(gw.tokenCalls).toBe(2);
  });

  it('429 pauses the credential for X-RateLimit-Reset ms before the next request', async () => {
    const limiter = new CredentialLimiter({ maxConcurrent: 1 });
    const { gw, client } = await setup(
      (_req, res, n) => {
        if (n === 1) json(res, 429, { fail: [{ code: 'throttled', message: 'Quota exceeded' }] }, { 'X-RateLimit-Reset': '300' });
        else ok(res);
      },
      { limiter },
    );
    // Two callers on one credential: the second is queued behind the first, then held by the pause.
    await Promise.all([client.getJson(BATCH, { type: 'receipt' }), client.getJson(BATCH, { type: 'delivery' })]);
    expect(gw.api).toHaveLength(3);
    const first = gw.api[0]?.at ?? 0;
    for (const later of gw.api.slice(1)) expect(later.at - first).toBeGreaterThanOrEqual(290);
    expect(limiter.stats().pauses).toBe(1);
  });

  it('other callers that start during the pause wait too; garbage reset headers fall back', async () => {
    const { gw, client } = await setup(
      (_req, res, n) => {
        if (n === 1) json(res, 429, { fail: [{ code: 'throttled', message: 'slow down' }] }, { 'X-RateLimit-Reset': 'soon-ish' });
        else ok(res);
      },
      { rateLimitFallbackMs: 300 },
    );
    const a = client.getJson(BATCH, { type: 'receipt' });
    while (client.limiter.stats().pauses === 0) await new Promise((r) => setTimeout(r, 5));
    const b = client.getJson(BATCH, { type: 'process' });
    await Promise.all([a, b]);
    const first = gw.api[0]?.at ?? 0;
    expect(gw.api).toHaveLength(3);
    for (const later of gw.api.slice(1)) expect(later.at - first).toBeGreaterThanOrEqual(290);
  });

  it('429s use their own bounded budget, then surface as a retryable API_RATE_LIMITED', async () => {
    const { gw, client } = await setup(
      (_req, res) => json(res, 429, { fail: [{ code: 'throttled', message: 'no' }] }, { 'X-RateLimit-Reset': '1' }),
      { rateLimitRetries: 2, retry: { ...FAST, retries: 1 } },
    );
    const err = await client.getJson(BATCH, { type: 'receipt' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_RATE_LIMITED', retryable: true, status: 429 });
    // (2 absorbed + 1) per attempt, 2 attempts.
    expect(gw.api).toHaveLength(6);
  });

  it('500 twice then 200 succeeds', async () => {
    const { gw, client } = await setup((_req, res, n) => (n <= 2 ? json(res, 500, { error: { code: 'internal', message: 'boom' } }) : ok(res)));
    await expect(client.getJson(BATCH, { type: 'receipt' })).resolves.toMatchObject({ '@nextPage': 'n1' });
    expect(gw.api).toHaveLength(3);
  });

  it('500 forever fails after the bounded retries, naming the call', async () => {
    const { gw, client } = await setup((_req, res) => json(res, 502, { error: { code: 'bad_gateway', message: 'upstream down' } }));
    const err = await client.getJson(BATCH, { type: 'receipt' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_SERVER_ERROR', retryable: true, status: 502 });
    expect((err as Error).message).toContain(`GET ${BATCH} type=receipt`);
    expect(gw.api).toHaveLength(FAST.retries + 1);
  });

  it('a connection reset mid-response is retried', async () => {
    const { gw, client } = await setup((req, res, n) => {
      if (n === 1) {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '5000' });
        res.write('{"value":[{"url":"http://x/');
        setTimeout(() => res.socket?.destroy(), 20);
        return;
      }
      ok(res);
      void req;
    });
    await expect(client.getJson(BATCH, { type: 'receipt' })).resolves.toMatchObject({ isCaughtUp: true });
    expect(gw.api).toHaveLength(2);
  });

  it('a header timeout is retried', async () => {
    const { gw, client } = await setup(
      (_req, res, n) => {
        if (n === 1) return; // never answer
        ok(res);
      },
      { http: { headersTimeoutMs: 200 } },
    );
    await expect(client.getJson(BATCH, { type: 'receipt' })).resolves.toMatchObject({ isCaughtUp: true });
    expect(gw.api).toHaveLength(2);
  });

  it('fail[] in a 200 is API_FAIL; retried only when the item says retryable', async () => {
    const { gw, client } = await setup((req, res) => {
      const retryable = req.path === '/api/retry';
      json(res, 200, { meta: { status: 200 }, data: [], fail: [{ key: {}, errors: [{ code: 'err_validation_blank', message: 'from is blank', retryable }] }] });
    });
    const err = await client.postJson('/api/audit/get-audit-events', { data: [{}] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_FAIL', retryable: false, apiCode: 'err_validation_blank', status: 200 });
    expect((err as Error).message).toContain('POST /api/audit/get-audit-events');
    expect((err as Error).message).toContain('from is blank');
    expect(gw.api).toHaveLength(1);
    await expect(client.postJson('/api/retry', {})).rejects.toMatchObject({ code: 'API_FAIL', retryable: true });
    expect(gw.api).toHaveLength(1 + FAST.retries + 1);
  });

  it('400 names the call and the server text; 403 and 404 map to their codes; none is retried', async () => {
    const { gw, client } = await setup((req, res) => {
      if (req.path === '/forbidden') json(res, 403, { fail: [{ code: 'forbidden', message: 'Role lacks SIEM read' }] });
      else if (req.path === '/missing') json(res, 404, { error: { code: 'not_found', message: 'no such route' } });
      else json(res, 400, { error: { code: 'invalid_date', message: 'dateRangeStartsAt must be within 7 days' } });
    });
    const err = await client.getJson(BATCH, { type: 'receipt', dateRangeStartsAt: '2020-01-01' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_BAD_REQUEST', retryable: false, status: 400, apiCode: 'invalid_date', call: `GET ${BATCH} type=receipt dateRangeStartsAt=2020-01-01` });
    expect((err as Error).message).toContain(`GET ${BATCH} type=receipt`);
    expect((err as Error).message).toContain('dateRangeStartsAt must be within 7 days');
    await expect(client.getJson('/forbidden', {})).rejects.toMatchObject({ code: 'API_PERMISSION_DENIED', retryable: false, apiCode: 'forbidden' });
    await expect(client.getJson('/missing', {})).rejects.toMatchObject({ code: 'API_NOT_FOUND', retryable: false });
    expect(gw.api).toHaveLength(3);
  });

  it('a non-JSON 200 is API_BAD_RESPONSE; an oversized reply is refused', async () => {
    const { client } = await setup((req, res) => {
      if (req.path === '/html') res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>');
      else json(res, 200, { value: 'x'.repeat(5_000) });
    }, { retry: { ...FAST, retries: 0 }, maxResponseBytes: 1_000 });
    const err = await client.getJson('/html', {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_BAD_RESPONSE' });
    expect((err as Error).message).toContain('maintenance');
    await expect(client.getJson('/big', {})).rejects.toMatchObject({ code: 'API_BAD_RESPONSE', retryable: false });
  });

  it('postJson sends a JSON body with the bearer token', async () => {
    const { gw, client } = await setup((_req, res) => json(res, 200, { meta: { status: 200 }, data: [{ id: 1 }], fail: [] }));
    await expect(client.postJson('/api/audit/get-audit-events', { data: [{ startDateTime: 'a' }] })).resolves.toMatchObject({ data: [{ id: 1 }] });
    expect(gw.api[0]).toMatchObject({ method: 'POST', contentType: 'application/json', auth: 'Bearer tok-1' });
    expect(JSON.parse(gw.api[0]?.body ?? '')).toEqual({ data: [{ startDateTime: 'a' }] });
  });

  it('abort stops a rate-limit wait and a hanging request promptly', async () => {
    const { client } = await setup((req, res) => {
      if (req.path === '/hang') return;
      json(res, 429, {}, { 'X-RateLimit-Reset': '20000' });
    });
    const ac = new AbortController();
    const started = performance.now();
    const waiting = client.getJson(BATCH, { type: 'receipt' }, ac.signal).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 50).unref();
    const err = await waiting;
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as CollectorError).code).toBe('ABORTED');
    expect(performance.now() - started).toBeLessThan(5_000);

    const ac2 = new AbortController();
    const hanging = client.getJson('/hang', {}, ac2.signal).catch((e: unknown) => e);
    setTimeout(() => ac2.abort(), 50).unref();
    expect(await hanging).toMatchObject({ code: 'ABORTED' });
  });
});

describe('MimecastV2Client.openDownload', () => {
  it('streams a large body without buffering it, without auth and outside the limiter', async () => {
    const total = 32 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const { gw, client } = await setup(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/gzip', 'content-length': String(total) });
      res.write(chunk);
      // Nothing more is sent until the test has its stream: a buffering client would never resolve.
      await gate;
      for (let sent = chunk.length; sent < total; sent += chunk.length) {
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    });
    client.limiter.pause(60_000);
    const opened = client.openDownload(`${gw.url}/blobs/a.json.gz?X-Amz-Signature=secret`);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('openDownload buffered the body')), 5_000).unref());
    const { body, size } = await Promise.race([opened, timeout]);
    expect(size).toBe(total);
    release();
    let received = 0;
    for await (const part of body) received += (part as Buffer).length;
    expect(received).toBe(total);
    expect(gw.api[0]?.auth).toBeUndefined();
    expect(gw.tokenCalls).toBe(0);
  });

  it('maps 403 to BLOB_EXPIRED and 404 to BLOB_MISSING without retrying; retries 5xx', async () => {
    const { gw, client } = await setup((req, res, n) => {
      if (req.path === '/expired') res.writeHead(403).end('<Error><Code>AccessDenied</Code></Error>');
      else if (req.path === '/gone') res.writeHead(404).end('NoSuchKey');
      else if (n === 3) res.writeHead(503).end('slow down');
      else res.writeHead(200, { 'content-length': '5' }).end('hello');
    });
    const expired = await client.openDownload(`${gw.url}/expired?sig=topsecret`).catch((e: unknown) => e);
    expect(expired).toMatchObject({ code: 'BLOB_EXPIRED', retryable: false, status: 403 });
    expect((expired as Error).message).toContain(`GET ${gw.url}/expired`);
    expect((expired as Error).message).not.toContain('topsecret');
    await expect(client.openDownload(`${gw.url}/gone`)).rejects.toMatchObject({ code: 'BLOB_MISSING', retryable: false });
    expect(gw.api).toHaveLength(2);
    const { body } = await client.openDownload(`${gw.url}/ok`);
    let text = '';
    for await (const part of body) text += (part as Buffer).toString();
    expect(text).toBe('hello');
    expect(gw.api).toHaveLength(4);
  });

  it('a reset mid-stream surfaces as a retryable ApiError on the stream', async () => {
    const { gw, client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const { body } = await client.openDownload(`${gw.url}/blob`);
    const err = await (async () => {
      for await (const _part of body) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'API_NETWORK', retryable: true });
  });
});

describe('describeCall', () => {
  it('names the call with its query and shortens long cursors', () => {
    expect(describeCall('GET', BATCH, { type: 'receipt', nextPage: undefined })).toBe(`GET ${BATCH} type=receipt`);
    expect(describeCall('GET', BATCH, { nextPage: 'x'.repeat(100) })).toBe(`GET ${BATCH} nextPage=${'x'.repeat(40)}…`);
  });
});

describe('MimecastV2Client.postRaw', () => {
  async function text(body: NodeJS.ReadableStream): Promise<string> {
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
    return Buffer.concat(chunks).toString('utf8');
  }

  it('is a v2 MimecastApi; a file reply comes back unread with lower-cased headers', async () => {
    const { gw, client } = await setup((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'X-Mc-Threat-Feed-Next-Token': 'nx' });
      res.end('a,b\n1,2\n');
    });
    expect(client.generation).toBe('v2');
    const raw = await client.postRaw('/api/ttp/threat-intel/get-feed', { data: [{ feedType: 'malware_customer' }] });
    expect(raw.status).toBe(200);
    expect(raw.headers['x-mc-threat-feed-next-token']).toBe('nx');
    expect(await text(raw.body)).toBe('a,b\n1,2\n');
    expect(gw.api[0]?.auth).toBe('Bearer tok-1');
    expect(gw.api[0]?.contentType).toBe('application/json');
  });

  it('a JSON reply without failures is returned readable; with fail[] it is an ApiError', async () => {
    const { client } = await setup((_req, res, n) =>
      n === 1 ? json(res, 200, { meta: { status: 200, isLastToken: true }, data: [], fail: [] }) : json(res, 200, { fail: [{ errors: [{ code: 'err_x', message: 'no' }] }] }),
    );
    const raw = await client.postRaw('/api/audit/get-siem-logs', {});
    expect(JSON.parse(await text(raw.body))).toMatchObject({ meta: { isLastToken: true } });
    await expect(client.postRaw('/api/audit/get-siem-logs', {})).rejects.toMatchObject({ code: 'API_FAIL', apiCode: 'err_x' });
  });
});

describe('MimecastV2Client.postJsonWith', () => {
  /** What postJson does with the bytes, done by a caller's reader: the reference the reader path must match. */
  const parseHere: ReplyReader<unknown> = {
    read: (bytes) => {
      const text = bytes.toString('utf8');
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        return Promise.resolve({ notJson: { snippet: bodySnippet(text), reason: String(err) } });
      }
      const fail = failItems(value);
      return Promise.resolve(fail === undefined ? { value } : { fail });
    },
  };
  const failBody = (retryable: boolean): unknown => ({ meta: { status: 200 }, data: [], fail: [{ key: {}, errors: [{ code: 'err_page_token_invalid', message: 'The page token is invalid', retryable }] }] });

  it('hands the body bytes of a 2xx reply to the reader, gathered where it asks', async () => {
    const { client } = await setup((_req, res) => json(res, 200, { meta: { status: 200 }, data: [{ id: 1 }], fail: [] }));
    const sizes: number[] = [];
    const got = await client.postJsonWith('/api/audit/get-audit-events', { data: [{}] }, undefined, {
      alloc: (n) => {
        sizes.push(n);
        return Buffer.alloc(n);
      },
      read: (bytes) => Promise.resolve({ value: bytes.toString('utf8') }),
    });
    expect(JSON.parse(got)).toEqual({ meta: { status: 200 }, data: [{ id: 1 }], fail: [] });
    expect(sizes).toEqual([Buffer.byteLength(got)]);
  });

  it('a fail[] the reader finds in a 200 is the ApiError postJson throws, retried only when the item says retryable', async () => {
    const { gw, client } = await setup((req, res) => json(res, 200, failBody(req.path === '/api/retry')));
    const path = '/api/ttp/url/get-logs';
    const viaJson = await client.postJson(path, {}).catch((e: unknown) => e);
    const viaReader = await client.postJsonWith(path, {}, undefined, parseHere).catch((e: unknown) => e);
    expect(viaReader).toBeInstanceOf(ApiError);
    expect(viaReader).toMatchObject({ code: 'API_FAIL', apiCode: 'err_page_token_invalid', retryable: false, status: 200 });
    const pick = (e: unknown): unknown => {
      const a = e as ApiError;
      return { code: a.code, message: a.message, apiCode: a.apiCode, retryable: a.retryable, status: a.status, call: a.call, details: a.details };
    };
    expect(pick(viaReader)).toEqual(pick(viaJson));
    expect(gw.api).toHaveLength(2);
    await expect(client.postJsonWith('/api/retry', {}, undefined, parseHere)).rejects.toMatchObject({ code: 'API_FAIL', retryable: true });
    expect(gw.api).toHaveLength(2 + FAST.retries + 1);
  });

  it('a non-JSON 200 the reader reports is API_BAD_RESPONSE and retried; an error of the reader own is not retried', async () => {
    const { gw, client } = await setup((req, res, n) => {
      if (req.path === '/html' && n === 1) res.writeHead(200, { 'content-type': 'text/html' }).end('<html>  maintenance </html>');
      else json(res, 200, { meta: { status: 200 }, data: [], fail: [] });
    });
    await expect(client.postJsonWith('/html', {}, undefined, parseHere)).resolves.toMatchObject({ data: [] });
    expect(gw.api).toHaveLength(2);
    const { client: once } = await setup((_req, res) => void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>  maintenance </html>'), { retry: { ...FAST, retries: 0 } });
    const err = await once.postJsonWith('/html', {}, undefined, parseHere).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_BAD_RESPONSE', retryable: true, status: 200 });
    expect((err as Error).message).toBe('POST /html returned HTTP 200 with a body that is not JSON: <html> maintenance </html>');

    const own = new CollectorError('NORMALIZE_FAILED', 'parse worker failed', { retryable: true });
    const before = gw.api.length;
    const thrown = await client.postJsonWith('/ok', {}, undefined, { read: () => Promise.reject(own) }).catch((e: unknown) => e);
    expect(thrown).toBe(own);
    expect(gw.api.length - before).toBe(1);
  });
});
