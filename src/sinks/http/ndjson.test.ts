// The ndjson preset and the HTTP client under it, against real local HTTP(S) servers: every reply class, TLS, gzip.
import { createServer as createHttps } from 'node:https';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { StoredEvent, type OutEvent, type Sink } from '../../core/contracts.js';
import { silentLogger } from '../../telemetry/logger.js';
import { selfSignedCert } from '../../testkit/tls.js';
import { httpSinkSchema } from './config.js';
import { httpSink } from './index.js';
import { sinkFailure } from '../../testkit/sink-failure.js';

interface Got {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Answer = (res: ServerResponse, got: Got) => void;

let servers: Server[] = [];
let sinks: Sink[] = [];

afterEach(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
  sinks = [];
});

async function serve(answer: Answer, tls?: { cert: string; key: string }): Promise<{ url: string; got: Got[] }> {
  const got: Got[] = [];
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
      const g = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      got.push(g);
      answer(res, g);
    });
  };
  const server = tls === undefined ? createServer(handler) : createHttps({ cert: tls.cert, key: tls.key }, handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { url: `${tls === undefined ? 'http' : 'https'}://${tls === undefined ? '127.0.0.1' : 'localhost'}:${port}/ingest?x=1`, got };
}

function sink(cfg: Record<string, unknown>): Sink {
  const parsed = httpSinkSchema.parse({ name: 'out', type: 'http', preset: 'ndjson', ...cfg });
  const s = httpSink.create(parsed, { logger: silentLogger() });
  sinks.push(s);
  return s;
}

function events(n: number): OutEvent[] {
  return Array.from({ length: n }, (_, i) => new StoredEvent(i + 1, `e${i + 1}`, 'audit', 'corp', '2026-12-01T00:00:00.000Z', Buffer.from(JSON.stringify({ event: { id: `e${i + 1}` } })), 'audit'));
}

const signal = new AbortController().signal;

const failure = sinkFailure;

describe('http sink, ndjson preset', () => {
  it('POSTs the events as gzipped JSON lines with the configured headers; 2xx is delivered', async () => {
    const srv = await serve((res) => res.writeHead(204).end());
    const s = sink({ url: srv.url, headers: { 'X-Api-Key': 'k-123456789' } });
    await expect(s.send(events(3), signal)).resolves.toBeUndefined();
    expect(srv.got).toHaveLength(1);
    const g = srv.got[0];
    expect(g?.method).toBe('POST');
    expect(g?.url).toBe('/ingest?x=1');
    expect(g?.headers['content-encoding']).toBe('gzip');
    expect(g?.headers['content-type']).toBe('application/x-ndjson');
    expect(g?.headers['x-api-key']).toBe('k-123456789');
    expect(g?.body).toBe('{"event":{"id":"e1"}}\n{"event":{"id":"e2"}}\n{"event":{"id":"e3"}}\n');
  });

  it('body: array sends one JSON array; compression: none sends it plain; CEF lines travel as JSON strings', async () => {
    const srv = await serve((res) => res.writeHead(200).end('ok'));
    await sink({ url: srv.url, body: 'array', compression: 'none', method: 'PUT' }).send(events(2), signal);
    expect(srv.got[0]?.method).toBe('PUT');
    expect(srv.got[0]?.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(srv.got[0]?.body ?? '')).toEqual([{ event: { id: 'e1' } }, { event: { id: 'e2' } }]);
    const cef = [new StoredEvent(1, 'e1', 'audit', 'corp', 't', Buffer.from('CEF:0|Mimecast|x|1|a|b|3|k=v'), 'audit')];
    await sink({ url: srv.url, format: 'cef' }).send(cef, signal);
    expect(srv.got[1]?.body).toBe('"CEF:0|Mimecast|x|1|a|b|3|k=v"\n');
  });

  it('classifies the receiver\'s answers: 429/503 retry with Retry-After, 413 too large, 401/403 configuration, other 4xx permanent', async () => {
    const replies: [number, Record<string, string>, string][] = [
      [429, { 'retry-after': '7' }, 'slow down'],
      [503, {}, 'busy'],
      [413, {}, 'too big'],
      [401, {}, 'who are you'],
      [403, {}, 'no'],
      [400, {}, `bad ${'x'.repeat(3000)}`],
      [501, {}, 'not implemented'],
    ];
    let i = 0;
    const srv = await serve((res) => {
      const [status, headers, body] = replies[i++] ?? [500, {}, ''];
      res.writeHead(status, headers).end(body);
    });
    const s = sink({ url: srv.url });
    const codes: [string, number | undefined][] = [];
    for (let k = 0; k < replies.length; k++) {
      const e = await failure(s.send(events(1), signal));
      codes.push([e.code, e.retryAfterMs]);
      if (k === 5) {
        expect(e.message).toMatch(/^sink out: POST \/ingest answered HTTP 400: bad x+…$/);
        expect(e.message.length).toBeLessThan(1100);
      }
    }
    expect(codes).toEqual([
      ['SINK_RETRYABLE', 7000],
      ['SINK_RETRYABLE', undefined],
      ['SINK_TOO_LARGE', undefined],
      ['SINK_CONFIG', undefined],
      ['SINK_CONFIG', undefined],
      ['SINK_PERMANENT', undefined],
      ['SINK_PERMANENT', undefined],
    ]);
  });

  it('a receiver that is not there is retryable, and the probe says so', async () => {
    const srv = await serve((res) => res.end());
    const url = srv.url;
    await new Promise((r) => servers.pop()?.close(r));
    const s = sink({ url });
    const e = await failure(s.send(events(1), signal));
    expect(e.code).toBe('SINK_RETRYABLE');
    expect(e.message).toMatch(/ECONNREFUSED/);
    expect(await s.probe?.(signal)).toBe(false);
  });

  it('a reply slower than request_timeout is retried, with a message naming the timeout', async () => {
    const srv = await serve((res) => setTimeout(() => res.end(), 3_000).unref());
    const e = await failure(sink({ url: srv.url, request_timeout: '1s' }).send(events(1), signal));
    expect(e.code).toBe('SINK_RETRYABLE');
    expect(e.message).toContain('no complete reply within request_timeout');
  });

  it('TLS: a certificate it cannot verify stops the sink with the reason; trusting it with tls.ca_file works', async () => {
    const cert = selfSignedCert('localhost');
    const srv = await serve((res) => res.writeHead(200).end(), cert);
    const e = await failure(sink({ url: srv.url }).send(events(1), signal));
    expect(e.code).toBe('SINK_CONFIG');
    expect(e.message).toMatch(/TLS verification failed \(DEPTH_ZERO_SELF_SIGNED_CERT\): .*tls\.ca_file/);
    await expect(sink({ url: srv.url, tls: { ca_file: cert.certFile } }).send(events(1), signal)).resolves.toBeUndefined();
    // The certificate names localhost, not 127.0.0.1: the wrong name is named too.
    const byIp = srv.url.replace('localhost', '127.0.0.1');
    const wrongName = await failure(sink({ url: byIp, tls: { ca_file: cert.certFile } }).send(events(1), signal));
    expect(wrongName.code).toBe('SINK_CONFIG');
    expect(wrongName.message).toMatch(/ERR_TLS_CERT_ALTNAME_INVALID.*tls\.server_name/);
    await expect(sink({ url: byIp, tls: { ca_file: cert.certFile, server_name: 'localhost' } }).send(events(1), signal)).resolves.toBeUndefined();
  });
});

describe('http sink config', () => {
  it('names a mistyped preset, a missing token and a bad URL with the key', () => {
    const bad = (cfg: Record<string, unknown>): string[] => {
      const r = httpSinkSchema.safeParse({ name: 'x', type: 'http', ...cfg });
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(bad({ preset: 'splunk', url: 'https://h:8088', token: 't' })).toEqual(['preset: expected preset: splunk_hec, elasticsearch, ndjson']);
    expect(bad({ preset: 'splunk_hec', url: 'https://h:8088' })).toEqual(['token: the HEC token is required: set token_file (or token, e.g. ${HEC_TOKEN})']);
    expect(bad({ preset: 'ndjson', url: 'ftp://h' })).toEqual(['url: expected an http(s) URL']);
    expect(bad({ preset: 'elasticsearch', url: 'https://h:9200', format: 'cef' })).toEqual(['format: Elasticsearch takes JSON documents: use format ecs (default) or raw']);
    expect(bad({ preset: 'ndjson', url: 'https://h', tls: { cert_file: '/c' } })).toEqual(['tls.key_file: mutual TLS needs both cert_file and key_file']);
  });
});
