// Mutual TLS: a receiver that demands a client certificate from its own CA takes the sink's tls.cert_file /
// key_file, and a sink without one (or with one it does not trust) is stopped with a message that says so.
import { createServer as createHttps, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StoredEvent, type OutEvent, type Sink } from '../../core/contracts.js';
import { silentLogger } from '../../telemetry/logger.js';
import { testCa, type TestCa } from '../../testkit/tls.js';
import { httpSinkSchema } from './config.js';
import { httpSink } from './index.js';
import { sinkFailure } from '../../testkit/sink-failure.js';

const signal = new AbortController().signal;
let servers: Server[] = [];
let sinks: Sink[] = [];

afterEach(async () => {
  await Promise.all(sinks.map((s) => s.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
  sinks = [];
});

function sink(cfg: Record<string, unknown>): Sink {
  const parsed = httpSinkSchema.parse({ name: 'out', type: 'http', preset: 'ndjson', compression: 'none', ...cfg });
  const s = httpSink.create(parsed, { logger: silentLogger() });
  sinks.push(s);
  return s;
}

function events(n: number): OutEvent[] {
  return Array.from({ length: n }, (_, i) => new StoredEvent(i + 1, `e${i + 1}`, 'audit', 'corp', '2026-12-01T00:00:00.000Z', Buffer.from(JSON.stringify({ event: { id: `e${i + 1}` } })), 'audit'));
}

const failure = sinkFailure;

/** An https receiver (certificate from `serverCa`) that takes only clients with a certificate signed by `clientCa`. */
async function mtlsReceiver(serverCa: TestCa, clientCa: TestCa, maxVersion?: 'TLSv1.2'): Promise<{ url: string; bodies: string[]; clients: string[] }> {
  const bodies: string[] = [];
  const clients: string[] = [];
  const cert = serverCa.issue('localhost', 'server');
  const server = createHttps({ cert: cert.cert, key: cert.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: true, ...(maxVersion === undefined ? {} : { maxVersion }) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate();
      clients.push(String(peer.subject.CN));
      res.writeHead(200).end('{}');
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `https://localhost:${(server.address() as AddressInfo).port}/in`, bodies, clients };
}

describe('http sink, mutual TLS', () => {
  const serverCa = testCa('server CA');
  const clientCa = testCa('client CA');
  const client = clientCa.issue('collector', 'client');
  const stranger = testCa('some other CA').issue('collector', 'client');

  it('with tls.cert_file / key_file / ca_file the receiver takes the events and sees the client certificate', async () => {
    const rx = await mtlsReceiver(serverCa, clientCa);
    await expect(sink({ url: rx.url, tls: { ca_file: serverCa.certFile, cert_file: client.certFile, key_file: client.keyFile } }).send(events(2), signal)).resolves.toBeUndefined();
    expect(rx.bodies).toEqual(['{"event":{"id":"e1"}}\n{"event":{"id":"e2"}}\n']);
    expect(rx.clients).toEqual(['collector']);
  });

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`${version}: without a client certificate the receiver refuses the connection: SINK_CONFIG naming tls.cert_file`, async () => {
      const rx = await mtlsReceiver(serverCa, clientCa, version === 'TLSv1.2' ? 'TLSv1.2' : undefined);
      const e = await failure(sink({ url: rx.url, tls: { ca_file: serverCa.certFile } }).send(events(1), signal));
      expect(e.code).toBe('SINK_CONFIG');
      expect(e.message).toMatch(/the receiver refused the client certificate.*tls\.cert_file/);
      expect(rx.bodies).toEqual([]);
    });

    // node:https checks a client certificate after OpenSSL's handshake and just closes the connection, with no TLS
    // alert (OpenSSL- and Java-based receivers send unknown_ca / bad_certificate, which the sink names as a refusal):
    // a close is not told apart from a receiver dropping connections, so retried, with the likely cause named.
    it(`${version}: a client certificate from a CA the receiver does not trust: retried, the message names tls.cert_file`, async () => {
      const rx = await mtlsReceiver(serverCa, clientCa, version === 'TLSv1.2' ? 'TLSv1.2' : undefined);
      const e = await failure(sink({ url: rx.url, tls: { ca_file: serverCa.certFile, cert_file: stranger.certFile, key_file: stranger.keyFile } }).send(events(1), signal));
      expect(e.code).toBe('SINK_RETRYABLE');
      expect(e.message).toMatch(/the receiver closed the TLS connection before any reply: if it demands client certificates, it may not accept the one in tls\.cert_file\)$/);
      expect(rx.bodies).toEqual([]);
    });
  }
});
