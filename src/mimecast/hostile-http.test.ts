// Both API clients against real local servers that misbehave on purpose: byte-a-tick drips, absurd waits, redirects.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable, type Readable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../core/errors.js';
import type { RetryPolicy } from '../core/retry.js';
import type { Logger } from '../telemetry/logger.js';
import { HttpStats } from './http.js';
import { MimecastV1Client } from './v1client.js';
import { MimecastV2Client } from './v2client.js';
import { MAX_SERVER_WAIT_MS } from './waits.js';

const ONE_RETRY: RetryPolicy = { retries: 1, minDelayMs: 5, maxDelayMs: 20, factor: 2 };
const V1_CREDS = { appId: 'app-0001', appKey: 'k', accessKey: 'AKEY12345678', secretKey: Buffer.from('s').toString('base64') };

interface Seen {
  path: string;
  auth: string | undefined;
  at: number;
}
type Handler = (req: http.IncomingMessage, res: http.ServerResponse, path: string) => void;

interface Server {
  url: string;
  seen: Seen[];
  close: () => Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** A server answering /oauth/token normally and everything else through `handler`; its drips end with it. */
async function serve(handler: Handler): Promise<Server> {
  const s: Server = { url: '', seen: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/oauth/token') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 'tok', expires_in: 1799 }));
        return;
      }
      s.seen.push({ path, auth: req.headers.authorization, at: performance.now() });
      handler(req, res, path);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  cleanups.push(() => s.close());
  return s;
}

/** Headers at once, then one byte every 100 ms until the client goes away: never silent long enough for a timeout. */
function drip(res: http.ServerResponse, contentType: string, first: string): void {
  res.writeHead(200, { 'content-type': contentType });
  res.write(first);
  const t = setInterval(() => res.write(' '), 100);
  res.on('close', () => clearInterval(t));
}

function captureLogger(): { logger: Logger; lines: () => { level: number; msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString());
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  return { logger, lines: () => out.flatMap((t) => t.split('\n')).filter((l) => l !== '').map((l) => JSON.parse(l) as { level: number; msg: string }) };
}

async function drain(body: Readable): Promise<unknown> {
  try {
    for await (const _ of body) {
      // read to the end or the error
    }
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Fails the test instead of hanging when the client never gives up (what the old code did). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: still running after ${ms} ms`)), ms).unref())]);
}

const DEADLINES = { callDeadlineMs: 500, downloadDeadlineMs: 500 };
const WARN = 40;

function v2(url: string, logger: Logger, stats: HttpStats, extra: Partial<ConstructorParameters<typeof MimecastV2Client>[0]> = {}): MimecastV2Client {
  const c = new MimecastV2Client({ baseUrl: url, clientId: 'id', clientSecret: 'sec', retry: ONE_RETRY, logger, stats, ...DEADLINES, ...extra });
  cleanups.push(() => c.close());
  return c;
}

function v1(url: string, logger: Logger, stats: HttpStats, extra: Partial<ConstructorParameters<typeof MimecastV1Client>[0]> = {}): MimecastV1Client {
  const c = new MimecastV1Client({ baseUrl: url, ...V1_CREDS, retry: ONE_RETRY, logger, stats, ...DEADLINES, ...extra });
  cleanups.push(() => c.close());
  return c;
}

describe('a server that sends one byte every 100 ms (request_timeout never fires)', () => {
  const jsonDrip: Handler = (_req, res) => drip(res, 'application/json', '{"value": [');

  it('v2 getJson and postJson end with a retryable API_TIMEOUT at call_deadline, retried once, logged and counted', async () => {
    const srv = await serve(jsonDrip);
    const { logger, lines } = captureLogger();
    const stats = new HttpStats();
    const client = v2(srv.url, logger, stats);
    for (const run of [() => client.getJson('/siem/v1/events', { type: 'receipt' }), () => client.postJson('/api/audit/get-audit-events', {})]) {
      const started = performance.now();
      const err = await within(run().catch((e: unknown) => e), 4_000, 'v2 call');
      const took = performance.now() - started;
      expect(err).toBeInstanceOf(ApiError);
      expect(err).toMatchObject({ code: 'API_TIMEOUT', retryable: true });
      expect((err as Error).message).toMatch(/did not finish within 500ms \(call_deadline\)/);
      // Two attempts of 500 ms each (ONE_RETRY), never the minutes a drip could last.
      expect(took).toBeGreaterThanOrEqual(900);
      expect(took).toBeLessThan(3_000);
    }
    expect(srv.seen).toHaveLength(4);
    expect(stats.snapshot().deadlines_hit).toBe(4);
    const warned = lines().filter((l) => l.level === WARN && /deadline/.test(l.msg));
    expect(warned).toHaveLength(4);
    expect(warned[0]).toMatchObject({ call: 'GET /siem/v1/events type=receipt', deadlineMs: 500 });
  });

  it('v2 openDownload: the stream fails with API_TIMEOUT at download_deadline', async () => {
    const srv = await serve((_req, res) => drip(res, 'application/gzip', 'x'));
    const { logger, lines } = captureLogger();
    const stats = new HttpStats();
    const client = v2(srv.url, logger, stats);
    const started = performance.now();
    const { body } = await within(client.openDownload(`${srv.url}/blob.gz?X-Amz-Signature=secret`), 2_000, 'open');
    const err = await within(drain(body), 3_000, 'download');
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 'API_TIMEOUT', retryable: true });
    expect((err as Error).message).toContain('download_deadline');
    expect((err as Error).message).not.toContain('secret');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(stats.snapshot().deadlines_hit).toBe(1);
    expect(lines().filter((l) => l.level === WARN && /deadline/.test(l.msg))).toHaveLength(1);
  });

  it('the caller stopping a dripping download is ABORTED, not a deadline', async () => {
    const srv = await serve((_req, res) => drip(res, 'application/gzip', 'x'));
    const stats = new HttpStats();
    const client = v2(srv.url, captureLogger().logger, stats, { downloadDeadlineMs: 5_000 });
    const ac = new AbortController();
    const { body } = await client.openDownload(`${srv.url}/blob.gz`, ac.signal);
    setTimeout(() => ac.abort(), 200);
    const err = await within(drain(body), 2_000, 'abort');
    expect(err).toMatchObject({ code: 'ABORTED' });
    expect(stats.snapshot().deadlines_hit).toBe(0);
  });

  it('v1 postJson ends with API_TIMEOUT at call_deadline', async () => {
    const srv = await serve(jsonDrip);
    const stats = new HttpStats();
    const client = v1(srv.url, captureLogger().logger, stats);
    const err = await within(client.postJson('/api/audit/get-audit-events', {}).catch((e: unknown) => e), 4_000, 'v1 call');
    expect(err).toMatchObject({ code: 'API_TIMEOUT', retryable: true });
    expect(srv.seen).toHaveLength(2);
    expect(stats.snapshot().deadlines_hit).toBe(2);
  });

  it('v1 get-siem-logs file reply (postRaw) and openDownload: the stream fails at download_deadline', async () => {
    const srv = await serve((_req, res) => drip(res, 'application/octet-stream', 'PK'));
    const stats = new HttpStats();
    const client = v1(srv.url, captureLogger().logger, stats, { callDeadlineMs: 300, downloadDeadlineMs: 800 });
    const started = performance.now();
    const raw = await within(client.postRaw('/api/audit/get-siem-logs', { data: [{}] }), 2_000, 'postRaw');
    const err = await within(drain(raw.body), 3_000, 'siem file');
    // The file had the download deadline, not the (shorter) call deadline.
    expect(performance.now() - started).toBeGreaterThanOrEqual(700);
    expect(err).toMatchObject({ code: 'API_TIMEOUT', retryable: true });
    expect((err as Error).message).toContain('download_deadline');
    const { body } = await client.openDownload(`${srv.url}/file`);
    expect(await within(drain(body), 3_000, 'v1 download')).toMatchObject({ code: 'API_TIMEOUT' });
    expect(stats.snapshot().deadlines_hit).toBe(2);
  });
});

describe('server-given waits', () => {
  /** Requests seen in `windowMs` while one call runs, then the call is stopped. */
  async function countDuring(
    client: MimecastV1Client | MimecastV2Client,
    srv: Server,
    windowMs: number,
  ): Promise<{ requests: number; outcome: unknown }> {
    const ac = new AbortController();
    const call = client.postJson('/api/audit/get-audit-events', {}, ac.signal).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, windowMs));
    const requests = srv.seen.length;
    ac.abort();
    return { requests, outcome: await within(call, 2_000, 'abort') };
  }

  const fast: RetryPolicy = { retries: 5, minDelayMs: 5, maxDelayMs: 20, factor: 2 };

  for (const [gen, make] of [
    ['v2', v2],
    ['v1', v1],
  ] as const) {
    it(`${gen}: 503 with Retry-After: 999999999 waits (clamped to 5 min) instead of retrying at once, and says why`, async () => {
      const srv = await serve((_req, res) => res.writeHead(503, { 'retry-after': '999999999' }).end('busy'));
      const { logger, lines } = captureLogger();
      const stats = new HttpStats();
      const client = make(srv.url, logger, stats, { retry: fast });
      const { requests, outcome } = await countDuring(client, srv, 400);
      // Before: the wait overflowed Node's timer to 1 ms and every retry went out at once.
      expect(requests).toBe(1);
      expect(outcome).toMatchObject({ code: 'ABORTED' });
      const limiter = client.limiter.stats();
      expect(limiter.lastReason).toBe(`HTTP 503 Retry-After=999999999 (clamped to ${MAX_SERVER_WAIT_MS} ms)`);
      expect(stats.snapshot().waits_clamped).toBe(1);
      const warn = lines().find((l) => l.level === WARN && /out of bounds/.test(l.msg));
      expect(warn).toMatchObject({ raw: '999999999', usedMs: MAX_SERVER_WAIT_MS, header: 'Retry-After', status: 503 });
    });

    it(`${gen}: 429 with Retry-After: 999999999 and no X-RateLimit-Reset pauses the credential for the clamped maximum`, async () => {
      const srv = await serve((_req, res) => res.writeHead(429, { 'retry-after': '999999999', 'content-type': 'application/json' }).end('{}'));
      const stats = new HttpStats();
      const client = make(srv.url, captureLogger().logger, stats, { retry: fast });
      const { requests } = await countDuring(client, srv, 300);
      expect(requests).toBe(1);
      const limiter = client.limiter.stats();
      expect(limiter.paused).toBe(true);
      expect(limiter.pausedForMs).toBeGreaterThan(MAX_SERVER_WAIT_MS - 5_000);
      expect(limiter.reason).toContain('HTTP 429 Retry-After=999999999');
    });
  }

  it('a 429 with an absurd X-RateLimit-Reset is clamped with a warning (it was silent)', async () => {
    const srv = await serve((_req, res) => res.writeHead(429, { 'x-ratelimit-reset': '999999999999', 'content-type': 'application/json' }).end('{}'));
    const { logger, lines } = captureLogger();
    const stats = new HttpStats();
    const client = v2(srv.url, logger, stats);
    await countDuring(client, srv, 100);
    expect(client.limiter.stats().reason).toBe(`HTTP 429 X-RateLimit-Reset=999999999999 (clamped to ${MAX_SERVER_WAIT_MS} ms)`);
    expect(lines().filter((l) => l.level === WARN && /out of bounds/.test(l.msg))).toHaveLength(1);
    expect(stats.snapshot().waits_clamped).toBe(1);
  });
});

describe('redirects from storage', () => {
  it('a 302 to another port is followed, without Authorization, and counted', async () => {
    const store = await serve((_req, res) => res.writeHead(200, { 'content-length': '5' }).end('hello'));
    const front = await serve((_req, res) => res.writeHead(302, { location: `${store.url}/real/object?X-Amz-Signature=abc` }).end());
    const stats = new HttpStats();
    const client = v2(front.url, captureLogger().logger, stats);
    const { body } = await client.openDownload(`${front.url}/blob.gz?sig=1`);
    let text = '';
    for await (const part of body) text += (part as Buffer).toString();
    expect(text).toBe('hello');
    expect(store.seen).toEqual([expect.objectContaining({ path: '/real/object', auth: undefined })]);
    expect(stats.snapshot().redirects_followed).toBe(1);
  });

  it('relative Locations and every redirect status (301, 303, 307, 308) are followed', async () => {
    const srv = await serve((_req, res, path) => {
      const hop = { '/a': [301, '/b'], '/b': [303, 'c'], '/c': [307, '/d?x=1'], '/d': [308, '/file'] } as Record<string, [number, string] | undefined>;
      const next = hop[path];
      if (next !== undefined) res.writeHead(next[0], { location: next[1] }).end('moved');
      else res.writeHead(200).end('data');
    });
    const client = v1(srv.url, captureLogger().logger, new HttpStats());
    const { body } = await client.openDownload(`${srv.url}/a`);
    let text = '';
    for await (const part of body) text += (part as Buffer).toString();
    expect(text).toBe('data');
    expect(srv.seen.map((s) => s.path)).toEqual(['/a', '/b', '/c', '/d', '/file']);
  });

  it('a redirect loop stops after 5 hops with an error naming the call', async () => {
    const srv = await serve((_req, res) => res.writeHead(302, { location: '/loop' }).end());
    const client = v2(srv.url, captureLogger().logger, new HttpStats(), { retry: { retries: 0, minDelayMs: 1, maxDelayMs: 1, factor: 1 } });
    const err = await client.openDownload(`${srv.url}/loop?sig=secret`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'API_BAD_RESPONSE', retryable: true });
    expect((err as Error).message).toContain('more than 5 redirects');
    expect((err as Error).message).not.toContain('secret');
    expect(srv.seen).toHaveLength(6);
  });

  it('a redirect without a Location, or to a non-HTTP scheme, is an error', async () => {
    const srv = await serve((_req, res, path) => {
      if (path === '/none') res.writeHead(302).end();
      else res.writeHead(302, { location: 'ftp://127.0.0.1/file' }).end();
    });
    const client = v2(srv.url, captureLogger().logger, new HttpStats(), { retry: { retries: 0, minDelayMs: 1, maxDelayMs: 1, factor: 1 } });
    await expect(client.openDownload(`${srv.url}/none`)).rejects.toMatchObject({ code: 'API_BAD_RESPONSE' });
    await expect(client.openDownload(`${srv.url}/ftp`)).rejects.toMatchObject({ code: 'API_BAD_RESPONSE' });
  });
});
