// Test helpers for the window, stream and feed sources: a scripted node:http Mimecast, a real client, a log catcher.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Batch, NormalizedEvent, Source, StreamName } from '../../core/contracts.js';
import { CollectorError } from '../../core/errors.js';
import { MimecastV2Client } from '../../mimecast/v2client.js';
import type { Logger } from '../../telemetry/logger.js';
import type { RecordNormalizer } from './shared.js';

export interface FakeRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
}

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  /** An object is sent as JSON. */
  body?: unknown;
  /** Raw body pieces written one by one (to cut JSON at awkward places). */
  chunks?: (string | Buffer)[];
  /** End the response after the chunks without completing it (a cut connection). */
  destroyAfterChunks?: boolean;
}

export interface FakeServer {
  url: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

/** A fake Mimecast: `/oauth/token` answers, everything else goes to `handler`. */
export async function startFake(handler: (req: FakeRequest) => FakeReply | Promise<FakeReply>): Promise<FakeServer> {
  const requests: FakeRequest[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        if (url.pathname === '/oauth/token') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ access_token: 'test-token', token_type: 'Bearer', expires_in: 1799, scope: '' }));
          return;
        }
        const text = Buffer.concat(parts).toString('utf8');
        let body: unknown;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = text;
        }
        const fr: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), body };
        requests.push(fr);
        const reply = await handler(fr);
        const headers: Record<string, string> = { 'content-type': 'application/json', ...reply.headers };
        res.writeHead(reply.status ?? 200, headers);
        if (reply.chunks !== undefined) {
          for (const c of reply.chunks) {
            res.write(c);
            await new Promise((r) => setImmediate(r));
          }
          if (reply.destroyAfterChunks === true) res.destroy();
          else res.end();
          return;
        }
        res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {}));
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The real 2.0 client pointed at a fake, with retries short enough for tests. */
export function clientFor(fake: FakeServer): MimecastV2Client {
  return new MimecastV2Client({
    baseUrl: fake.url,
    clientId: 'id',
    clientSecret: 'secret',
    retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5, factor: 2 },
  });
}

/** A logger whose lines the test can read. */
export function captureLogger(): { logger: Logger; lines: () => { level: number; msg: string; [k: string]: unknown }[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, sink);
  return {
    logger,
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as { level: number; msg: string }),
  };
}

/** A normalizer for tests: the record's `n` is its id, its `t` (epoch ms) its time. */
export function testNormalizer(stream: StreamName): RecordNormalizer {
  return (record, ctx): NormalizedEvent => {
    const r = record as Record<string, unknown> | null;
    if (r === null || typeof r !== 'object' || typeof r['n'] !== 'number') throw new CollectorError('NORMALIZE_FAILED', 'record has no n');
    const t = typeof r['t'] === 'number' ? r['t'] : 0;
    return { id: `n${r['n']}`, stream, account: ctx.account, time: new Date(t).toISOString(), doc: r };
  };
}

/** Drains a source from a cursor, optionally stopping ("crashing") after `maxBatches`. */
export async function drain(src: Source, cursor: string | undefined, maxBatches = Infinity): Promise<{ batches: Batch[]; cursor: string | undefined }> {
  const batches: Batch[] = [];
  let cur = cursor;
  for await (const b of src.pull(cur, new AbortController().signal)) {
    batches.push(b);
    cur = b.cursor;
    if (batches.length >= maxBatches) break;
  }
  return { batches, cursor: cur };
}

export function ids(batches: readonly Batch[]): string[] {
  return batches.flatMap((b) => b.events.map((e) => e.id));
}
