// Tests for the API 1.0 client and region discovery against scripted node:http hosts that verify the HMAC signature.
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../core/errors.js';
import type { RetryPolicy } from '../core/retry.js';
import { discoverRegion } from './discover.js';
import type { ReplyReader } from './api.js';
import { CredentialLimiter } from './limiter.js';
import { failItems } from './responses.js';
import { MimecastV1Client, type MimecastV1ClientOptions } from './v1client.js';

const FAST: RetryPolicy = { retries: 3, minDelayMs: 5, maxDelayMs: 20, factor: 2 };
const CREDS = {
  appId: 'app-0001',
  appKey: 'appkey-secret-1',
  accessKey: 'AKEY12345678abcdef',
  secretKey: Buffer.from('the-real-secret-bytes').toString('base64'),
};
const SIEM = '/api/audit/get-siem-logs';

interface Seen {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Whether the HMAC matched the configured credentials. */
  signed: boolean;
  at: number;
}

type Handler = (req: Seen, res: http.ServerResponse, n: number) => void;

interface Host {
  url: string;
  seen: Seen[];
  close: () => Promise<void>;
}

function verify(req: http.IncomingMessage, path: string): boolean {
  const date = req.headers['x-mc-date'];
  const id = req.headers['x-mc-req-id'];
  const auth = req.headers.authorization;
  if (typeof date !== 'string' || typeof id !== 'string' || typeof auth !== 'string') return false;
  const sig = createHmac('sha1', Buffer.from(CREDS.secretKey, 'base64')).update(`${date}:${id}:${path}:${CREDS.appKey}`).digest('base64');
  return auth === `MC ${CREDS.accessKey}:${sig}` && req.headers['x-mc-app-id'] === CREDS.appId;
}

async function host(handler: Handler): Promise<Host> {
  const h: Host = { url: '', seen: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const seen: Seen = { path, headers: req.headers, body, signed: verify(req, path), at: performance.now() };
      h.seen.push(seen);
      handler(seen, res, h.seen.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return h;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function fail(code: string, message: string, retryable = false): unknown {
  return { meta: { status: 200 }, data: [], fail: [{ key: {}, errors: [{ code, message, retryable }] }] };
}

/** Rejects bad signatures the way the 1.0 API does, then hands signed requests to the script. */
function authed(next: Handler): Handler {
  return (req, res, n) => {
    if (!req.signed) {
      json(res, 401, { meta: { status: 401 }, data: [], fail: [{ errors: [{ code: 'err_xdk_authentication_failed', message: 'Authentication failed', retryable: false }] }] });
      return;
    }
    next(req, res, n);
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

async function setup(handler: Handler, extra: Partial<MimecastV1ClientOptions> = {}): Promise<{ h: Host; client: MimecastV1Client }> {
  const h = await host(authed(handler));
  const client = new MimecastV1Client({ baseUrl: h.url, ...CREDS, retry: FAST, ...extra });
  cleanups.push(() => h.close(), () => client.close());
  return { h, client };
}

const caughtUp = { meta: { status: 200, isLastToken: true }, data: [], fail: [] };

async function readAll(body: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

describe('MimecastV1Client.postJson', () => {
  it('signs every request freshly and sends JSON with the 1.0 headers', async () => {
    const { h, client } = await setup((_req, res) => json(res, 200, { meta: { status: 200 }, data: [{ a: 1 }], fail: [] }));
    await expect(client.postJson('/api/ttp/url/get-logs', { data: [{ from: 'x' }] })).resolves.toEqual({ meta: { status: 200 }, data: [{ a: 1 }], fail: [] });
    await client.postJson('/api/ttp/url/get-logs', { data: [] });
    expect(h.seen).toHaveLength(2);
    expect(h.seen.every((s) => s.signed)).toBe(true);
    expect(h.seen[0]?.headers['content-type']).toBe('application/json');
    expect(h.seen[0]?.headers.accept).toBe('application/json');
    expect(JSON.parse(h.seen[0]?.body ?? '')).toEqual({ data: [{ from: 'x' }] });
    expect(h.seen[0]?.headers['x-mc-req-id']).not.toBe(h.seen[1]?.headers['x-mc-req-id']);
    expect(h.seen[0]?.headers['x-mc-date']).toMatch(/ UTC$/);
  });

  it('a wrongly signed request is API_AUTH_FAILED, not retried, and shows no secret', async () => {
    const { h, client } = await setup(() => {}, { secretKey: Buffer.from('wrong').toString('base64') });
    const err = await client.postJson(SIEM, { data: [] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'API_AUTH_FAILED', retryable: false, status: 401, apiCode: 'err_xdk_authentication_failed' });
    const msg = (err as Error).message;
    expect(msg).not.toContain(CREDS.accessKey.slice(0, 6));
    expect(msg).toContain('the configured access_key');
    expect(msg).toContain('app-0001');
    expect(msg).not.toContain(CREDS.accessKey);
    expect(msg).not.toContain(CREDS.appKey);
    expect(h.seen).toHaveLength(1);
  });

  it.each([
    ['HTTP 418', (res: http.ServerResponse) => json(res, 418, fail('err_xdk_binding_expired', 'Binding expired'))],
    ['HTTP 418 without a body', (res: http.ServerResponse) => res.writeHead(418).end()],
    ['HTTP 200 with err_xdk_binding_expired', (res: http.ServerResponse) => json(res, 200, fail('err_xdk_binding_expired', 'AccessKey expired'))],
  ])('expired keys (%s) are a fatal, clearly worded API_AUTH_FAILED', async (_name, reply) => {
    const { h, client } = await setup((_req, res) => reply(res));
    const err = await client.postJson(SIEM, { data: [] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_AUTH_FAILED', retryable: false });
    const msg = (err as Error).message;
    expect(msg).toMatch(/Mimecast API 1\.0 access\/secret keys \(the configured access_key and secret_key used with application id \S+\) have expired \(binding expired\)/);
    expect(msg).not.toContain('AKEY12');
    expect(msg).toContain("set its Authentication Profile TTL to 'Never expires'");
    expect(msg).not.toContain(CREDS.accessKey);
    expect(msg).not.toContain(CREDS.secretKey);
    expect(h.seen).toHaveLength(1);
  });

  it('err_developer_key names the app id', async () => {
    const { client } = await setup((_req, res) => json(res, 200, fail('err_developer_key', 'Invalid developer key')));
    const err = await client.postJson(SIEM, { data: [] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_AUTH_FAILED', apiCode: 'err_developer_key' });
    expect((err as Error).message).toContain('application id app-0001');
  });

  it('a wrong region lists the regional hosts when no discovery address is configured', async () => {
    const { client } = await setup((_req, res) => json(res, 200, fail('err_audit_log_incorrect_region', 'Wrong region')));
    const err = await client.postJson(SIEM, { data: [] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_BAD_REQUEST', apiCode: 'err_audit_log_incorrect_region', retryable: false });
    expect((err as Error).message).toContain('https://eu-api.mimecast.com');
    expect((err as Error).message).toContain('https://usb-api.mimecast.com');
  });

  it('a wrong region names the right host found by discover-authentication', async () => {
    const disc = await host((req, res) => json(res, 200, { meta: { status: 200 }, data: [{ region: { api: 'https://de-api.mimecast.com' }, emailAddress: 'x' }], fail: [] }));
    cleanups.push(() => disc.close());
    const { client } = await setup((_req, res) => json(res, 200, fail('err_audit_log_incorrect_region', 'Wrong region')), {
      discoveryEmail: 'svc@corp.example',
      discoveryBaseUrl: disc.url,
    });
    const err = await client.postJson(SIEM, { data: [] }).catch((e: unknown) => e);
    expect((err as Error).message).toContain("this account's API 1.0 host is https://de-api.mimecast.com");
    // Second error: discovery is not repeated.
    await client.postJson(SIEM, { data: [] }).catch(() => undefined);
    expect(disc.seen).toHaveLength(1);
  });

  it('fail[] with HTTP 200 is API_FAIL, retried only when the item says retryable', async () => {
    const { h, client } = await setup((_req, res, n) => (n === 1 ? json(res, 200, fail('err_transient', 'try again', true)) : json(res, 200, fail('err_validation_null', 'from is null'))));
    const err = await client.postJson('/api/ttp/url/get-logs', { data: [] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_FAIL', apiCode: 'err_validation_null', retryable: false, status: 200 });
    expect((err as Error).message).toContain('from is null');
    expect(h.seen).toHaveLength(2);
  });

  it('429 pauses the shared limiter for X-RateLimit-Reset ms', async () => {
    const limiter = new CredentialLimiter({ maxConcurrent: 1 });
    const { h, client } = await setup(
      (_req, res, n) =>
        n === 1 ? json(res, 429, { fail: [{ errors: [{ code: 'throttled', message: 'Quota exceeded' }] }] }, { 'X-RateLimit-Reset': '300' }) : json(res, 200, caughtUp),
      { limiter },
    );
    await Promise.all([client.postJson(SIEM, {}), client.postJson(SIEM, {})]);
    expect(h.seen).toHaveLength(3);
    const first = h.seen[0]?.at ?? 0;
    for (const later of h.seen.slice(1)) expect(later.at - first).toBeGreaterThanOrEqual(290);
    expect(limiter.stats().pauses).toBe(1);
    // Retried requests are re-signed, not replayed.
    expect(new Set(h.seen.map((s) => s.headers['x-mc-req-id'])).size).toBe(3);
  });

  it('5xx is retried with a fresh signature; forever-5xx fails after the bounded retries', async () => {
    const { h, client } = await setup((_req, res, n) => (n <= 2 ? json(res, 503, { fail: [{ errors: [{ code: 'busy', message: 'busy' }] }] }) : json(res, 200, caughtUp)));
    await expect(client.postJson(SIEM, {})).resolves.toEqual(caughtUp);
    expect(h.seen).toHaveLength(3);
    expect(h.seen.every((s) => s.signed)).toBe(true);

    const bad = await setup((_req, res) => json(res, 500, { fail: [{ errors: [{ code: 'boom', message: 'boom' }] }] }));
    const err = await bad.client.postJson(SIEM, {}).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_SERVER_ERROR', retryable: true, status: 500 });
    expect(bad.h.seen).toHaveLength(FAST.retries + 1);
  });

  it('a connection reset is retried', async () => {
    const { h, client } = await setup((_req, res, n) => {
      if (n === 1) res.socket?.destroy();
      else json(res, 200, caughtUp);
    });
    await expect(client.postJson(SIEM, {})).resolves.toEqual(caughtUp);
    expect(h.seen).toHaveLength(2);
  });

  it('postJsonWith: a fail[] the reader finds is the ApiError postJson throws (1.0 wording, retries)', async () => {
    const reader: ReplyReader<unknown> = {
      read: (bytes) => {
        const value: unknown = JSON.parse(bytes.toString('utf8'));
        const items = failItems(value);
        return Promise.resolve(items === undefined ? { value } : { fail: items });
      },
    };
    const { h, client } = await setup((req, res, n) =>
      req.path === '/dev' ? json(res, 200, fail('err_developer_key', 'Invalid developer key')) : n === 3 ? json(res, 200, fail('err_transient', 'try again', true)) : json(res, 200, { meta: { status: 200 }, data: [{ a: 1 }], fail: [] }),
    );
    const viaJson = (await client.postJson('/dev', {}).catch((e: unknown) => e)) as ApiError;
    const viaReader = (await client.postJsonWith('/dev', {}, undefined, reader).catch((e: unknown) => e)) as ApiError;
    expect(viaReader).toMatchObject({ code: 'API_AUTH_FAILED', apiCode: 'err_developer_key', retryable: false, message: viaJson.message });
    expect(viaReader.message).toContain('application id app-0001');
    expect(h.seen).toHaveLength(2);
    await expect(client.postJsonWith('/api/ttp/url/get-logs', {}, undefined, reader)).resolves.toMatchObject({ data: [{ a: 1 }] });
    expect(h.seen).toHaveLength(4);
  });

  it('getJson needs API 2.0', async () => {
    const { h, client } = await setup(() => {});
    await expect(client.getJson('/siem/v1/batch/events/cg', {})).rejects.toMatchObject({ code: 'API_BAD_REQUEST', message: expect.stringContaining('needs API 2.0') });
    expect(h.seen).toHaveLength(0);
  });
});

describe('MimecastV1Client.postRaw', () => {
  it('returns a file reply unread with lower-cased headers', async () => {
    const { client } = await setup((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'MC-SIEM-Token': 'tok-2', 'Content-Disposition': 'attachment; filename="receipt_20240301101500123.log"' });
      res.end('datetime=2024-03-01T10:00:00+0100|acc=C1\n');
    });
    const raw = await client.postRaw(SIEM, { data: [{ type: 'MTA' }] });
    expect(raw.status).toBe(200);
    expect(raw.headers['mc-siem-token']).toBe('tok-2');
    expect(raw.headers['content-disposition']).toContain('receipt_');
    expect(await readAll(raw.body)).toBe('datetime=2024-03-01T10:00:00+0100|acc=C1\n');
  });

  it('returns a JSON reply without failures (isLastToken) as a readable body', async () => {
    const { client } = await setup((_req, res) => json(res, 200, caughtUp));
    const raw = await client.postRaw(SIEM, {});
    expect(raw.headers['content-type']).toBe('application/json');
    expect(JSON.parse(await readAll(raw.body))).toEqual(caughtUp);
  });

  it('maps JSON fail entries to errors', async () => {
    const { client } = await setup((_req, res) => json(res, 200, fail('err_audit_siem_invalid_token', 'The SIEM token is invalid')));
    await expect(client.postRaw(SIEM, {})).rejects.toMatchObject({ code: 'API_FAIL', apiCode: 'err_audit_siem_invalid_token' });
  });
});

describe('discoverRegion', () => {
  it('posts the address unsigned and returns data[0].region.api', async () => {
    const disc = await host((_req, res) => json(res, 200, { meta: { status: 200 }, data: [{ region: { api: 'eu-api.mimecast.com/' } }], fail: [] }));
    cleanups.push(() => disc.close());
    await expect(discoverRegion('amy@corp.example', { baseUrl: disc.url, appId: 'app-9' })).resolves.toBe('https://eu-api.mimecast.com');
    const seen = disc.seen[0];
    expect(seen?.path).toBe('/api/login/discover-authentication');
    expect(seen?.headers.authorization).toBeUndefined();
    expect(seen?.headers['x-mc-app-id']).toBe('app-9');
    expect(seen?.headers['x-mc-req-id']).toBeTruthy();
    expect(seen?.headers['x-mc-date']).toMatch(/ UTC$/);
    expect(JSON.parse(seen?.body ?? '')).toEqual({ data: [{ emailAddress: 'amy@corp.example' }] });
  });

  it('a reply without a region is API_BAD_RESPONSE', async () => {
    const disc = await host((_req, res) => json(res, 200, { meta: { status: 200 }, data: [], fail: [] }));
    cleanups.push(() => disc.close());
    await expect(discoverRegion('amy@corp.example', { baseUrl: disc.url, appId: 'a', retry: FAST })).rejects.toMatchObject({ code: 'API_BAD_RESPONSE' });
  });
});
