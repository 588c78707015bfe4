// The syslog sink against scripted local receivers: delivered, a reset mid-batch (retryable, then the same events
// again on a new connection), a stalled receiver (write timeout), a closed idle connection, TLS trust, UDP.
import { createSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { StoredEvent } from '../../core/contracts.js';
import { SinkError } from '../../core/errors.js';
import { silentLogger } from '../../telemetry/logger.js';
import { startLightSyslogReceiver, FrameCounter, type LightSyslogReceiver } from '../../testkit/syslog-receiver.js';
import { selfSignedCert, testCa } from '../../testkit/tls.js';
import { syslogSinkSchema } from './config.js';
import { SyslogSink } from './sink.js';

const signal = new AbortController().signal;

function events(n: number, pad = 0, from = 0): StoredEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `e${from + i + 1}`;
    const doc = { '@timestamp': '2026-12-01T10:00:00.000Z', event: { id }, mimecast: { log_type: 'audit' }, pad: 'p'.repeat(pad) };
    return new StoredEvent(from + i + 1, id, 'audit', 'corp', '2026-12-01T10:00:00.000Z', Buffer.from(JSON.stringify(doc)), 'audit');
  });
}

const sinks: SyslogSink[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const s of sinks.splice(0)) await s.close();
  for (const c of cleanups.splice(0)) await c();
});

/** A sink on the port; settle_time 0 unless `extra` says (the settling tests do), so a send resolves when written. */
function sink(port: number, extra: Record<string, unknown> = {}, override: { write_timeout?: number; connect_timeout?: number } = {}): SyslogSink {
  const cfg = syslogSinkSchema.parse({ name: 'sys', type: 'syslog', host: '127.0.0.1', port, settle_time: '0s', ...extra });
  const s = new SyslogSink({ ...cfg, ...override }, silentLogger());
  sinks.push(s);
  return s;
}

async function failure(p: Promise<unknown>): Promise<SinkError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof SinkError) return err;
    throw err;
  }
  throw new Error('expected a SinkError');
}

async function light(opts: Parameters<typeof startLightSyslogReceiver>[0] = {}): Promise<LightSyslogReceiver> {
  const r = await startLightSyslogReceiver({ keep: true, ...opts });
  cleanups.push(() => r.close());
  return r;
}

/** A TCP server run by a script per connection (its number from 1). */
async function scripted(onConn: (sock: Socket, n: number) => void): Promise<{ port: number; server: Server }> {
  let n = 0;
  const live = new Set<Socket>();
  const server = createServer((sock) => {
    live.add(sock);
    sock.on('error', () => undefined);
    sock.on('close', () => live.delete(sock));
    onConn(sock, ++n);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of live) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as AddressInfo).port, server };
}

/** The memory each batch the sink builds from now on is written into, in order. */
function buildsOf(s: SyslogSink): ArrayBufferLike[] {
  const memory: ArrayBufferLike[] = [];
  const build = s.build.bind(s);
  s.build = (evs) => {
    const b = build(evs);
    memory.push(b.data.buffer);
    return b;
  };
  return memory;
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('syslog sink over TCP', () => {
  it('delivers a batch on one connection, octet-counted, and checks the receiver at start-up', async () => {
    const r = await light();
    const s = sink(r.port);
    await s.check(signal);
    await s.send(events(50), signal);
    await s.send(events(50, 0, 50), signal);
    await until(() => r.frames() === 100);
    expect(r.messages().map((m) => /event_id="([^"]+)"/.exec(m)?.[1])).toEqual(events(100).map((e) => e.id));
    expect(s.counters).toMatchObject({ sent: 100, connects: 1 });
  });

  it('an event whose message is over max_message_size is rejected with the reason (dead-lettered), the rest delivered', async () => {
    const r = await light();
    const s = sink(r.port, { max_message_size: '4KB' });
    const batch = [...events(2), ...events(1, 5000, 2), ...events(2, 0, 3)];
    const result = await s.send(batch, signal);
    expect(result).toEqual({ rejected: [{ index: 2, reason: expect.stringMatching(/^syslog message of \d+ bytes is over max_message_size \(4096 bytes\)/) as unknown }] });
    await until(() => r.frames() === 4);
    expect(r.messages().map((m) => /event_id="([^"]+)"/.exec(m)?.[1])).toEqual(['e1', 'e2', 'e4', 'e5']);
    expect(s.counters.oversized).toBe(1);
  });

  it('a connection the receiver resets mid-batch is SINK_RETRYABLE; the resend goes whole over a new connection', async () => {
    const second = new FrameCounter(true);
    const { port } = await scripted((sock, n) => {
      if (n === 1) {
        // Read nothing (the window stays small), then cut the connection (RST) while the sender is still writing.
        sock.pause();
        setTimeout(() => sock.resetAndDestroy(), 100);
      } else {
        sock.on('data', (b: Buffer) => second.push(b));
      }
    });
    const s = sink(port);
    const memory = buildsOf(s);
    const batch = events(400, 40_000); // ~16 MB: more than loopback's socket buffers take at once
    const err = await failure(s.send(batch, signal));
    expect(err.code).toBe('SINK_RETRYABLE');
    expect(err.message).toMatch(/sink sys: sending to tcp:\/\/127\.0\.0\.1:\d+ failed/);
    await s.send(batch, signal);
    await until(() => second.frames === 400);
    expect(second.kept.map((m) => /event_id="([^"]+)"/.exec(m)?.[1])).toEqual(batch.map((e) => e.id));
    expect(s.counters.connects).toBe(2);
    // The write cut short may still have held the first buffer: the resend was built in new memory.
    expect(memory).toHaveLength(2);
    expect(memory[1]).not.toBe(memory[0]);
  });

  it('a receiver that stops reading: the write times out (SINK_RETRYABLE naming write_timeout)', async () => {
    const { port } = await scripted((sock) => sock.pause());
    const s = sink(port, {}, { write_timeout: 300 });
    const t0 = Date.now();
    const err = await failure(s.send(events(400, 40_000), signal));
    expect(err.code).toBe('SINK_RETRYABLE');
    expect(err.message).toMatch(/write_timeout \(300 ms\)/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('a connection the receiver closed while idle is opened again for the next batch', async () => {
    const kept = new FrameCounter(true);
    const { port } = await scripted((sock, n) => {
      sock.on('data', (b: Buffer) => kept.push(b));
      if (n === 1) setTimeout(() => sock.end(), 50);
    });
    const s = sink(port);
    await s.send(events(1), signal);
    await new Promise((r) => setTimeout(r, 200));
    await s.send(events(1, 0, 1), signal);
    await until(() => kept.frames === 2);
    expect(s.counters.connects).toBe(2);
  });

  it('settle_time: a batch whose connection breaks within it is SINK_RETRYABLE (sent again); one whose connection stays up is delivered', async () => {
    const kept = new FrameCounter(true);
    // Connection 1 takes one batch and closes, as a receiver that stops would; connection 2 stays up.
    const { port } = await scripted((sock, n) => {
      sock.on('data', (b: Buffer) => {
        kept.push(b);
        if (n === 1) sock.destroy();
      });
    });
    const s = sink(port, { settle_time: '10s' });
    const err = await failure(s.send(events(3), signal));
    expect(err.code).toBe('SINK_RETRYABLE');
    expect(err.message).toMatch(/broke within settle_time \(10000 ms\) after 3 messages were written .*sending them again/);
    const quick = sink(port, { settle_time: '50ms' });
    await quick.send(events(3), signal);
    expect(quick.counters.connects).toBe(1);
  });

  it('settle_time: batches settle side by side (the next is written while one settles), and close() lets them settle', async () => {
    const kept = new FrameCounter(true);
    const { port } = await scripted((sock) => sock.on('data', (b: Buffer) => kept.push(b)));
    const s = sink(port, { settle_time: '2s' });
    const sends = [s.send(events(2), signal), s.send(events(2, 0, 2), signal), s.send(events(2, 0, 4), signal)];
    let firstSettled = false;
    void sends[0]?.then(() => (firstSettled = true));
    await until(() => kept.frames === 6);
    expect(firstSettled).toBe(false);
    const settled = await Promise.all(sends.map((p) => p.then(() => true)));
    expect(settled).toEqual([true, true, true]);
    const last = s.send(events(1, 0, 6), signal);
    await until(() => kept.frames === 7);
    await s.close();
    await expect(last).resolves.toBeUndefined();
  });

  it('settle_time: a settling batch holds none of its messages (the next batch is built in the memory it wrote from)', async () => {
    const kept = new FrameCounter(true);
    const { port } = await scripted((sock) => sock.on('data', (b: Buffer) => kept.push(b)));
    const s = sink(port, { settle_time: '5s' });
    const memory = buildsOf(s);
    let settled = 0;
    const first = s.send(events(50, 2000), signal).then(() => (settled += 1));
    await until(() => kept.frames === 50);
    const second = s.send(events(50, 2000, 50), signal).then(() => (settled += 1));
    await until(() => kept.frames === 100);
    expect(settled).toBe(0);
    expect(memory).toHaveLength(2);
    expect(memory[1]).toBe(memory[0]);
    await s.close();
    await Promise.all([first, second]);
  });

  it('nobody listening: SINK_RETRYABLE naming the target; the probe says no', async () => {
    const { port, server } = await scripted(() => undefined);
    await new Promise((r) => server.close(r));
    const s = sink(port);
    const err = await failure(s.send(events(1), signal));
    expect(err.code).toBe('SINK_RETRYABLE');
    expect(err.message).toMatch(/connecting to tcp:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
    expect(await s.probe(signal)).toBe(false);
  });
});

describe('syslog sink over TLS', () => {
  const cert = selfSignedCert('127.0.0.1');

  it('delivers to a receiver whose certificate it trusts (tls.ca_file)', async () => {
    const r = await light({ tls: cert });
    const s = sink(r.port, { transport: 'tls', tls: { ca_file: cert.certFile } });
    await s.check(signal);
    await s.send(events(20), signal);
    await until(() => r.frames() === 20);
  });

  it('a receiver certificate it does not trust is SINK_CONFIG naming the fix', async () => {
    const r = await light({ tls: cert });
    const s = sink(r.port, { transport: 'tls' });
    const err = await failure(s.check(signal));
    expect(err.code).toBe('SINK_CONFIG');
    expect(err.message).toBe(`sink sys: TLS to 127.0.0.1:${r.port} failed: the receiver presents a self-signed certificate: trust it with tls.ca_file (DEPTH_ZERO_SELF_SIGNED_CERT)`);
    expect((await failure(s.send(events(1), signal))).code).toBe('SINK_CONFIG');
  });
});

describe('syslog sink over UDP', () => {
  it('sends one datagram per event and counts them', async () => {
    const got: string[] = [];
    const udp = createSocket('udp4');
    udp.on('message', (m) => got.push(m.toString('utf8')));
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => udp.close(() => r())));
    const s = sink(udp.address().port, { transport: 'udp' });
    await s.check(signal);
    await s.send(events(10), signal);
    await until(() => got.length === 10);
    expect(got[0]).toMatch(/^<134>1 2026-12-01T10:00:00.000Z /);
    expect(s.counters.sent).toBe(10);
  });
});

describe('syslog sink with mutual TLS (TLS 1.3: the receiver refuses the client certificate after the handshake)', () => {
  const ca = testCa();
  const server = ca.issue('127.0.0.1', 'server');

  async function mtlsReceiver(): Promise<{ port: number; counter: FrameCounter }> {
    const counter = new FrameCounter();
    const srv = createTlsServer({ cert: server.cert, key: server.key, ca: ca.cert, requestCert: true, rejectUnauthorized: true }, (sock) => {
      sock.on('error', () => undefined);
      sock.on('data', (b: Buffer) => counter.push(b));
    });
    srv.on('tlsClientError', () => undefined);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
    return { port: (srv.address() as AddressInfo).port, counter };
  }

  it('no client certificate: check() is SINK_CONFIG saying one is required', async () => {
    const { port } = await mtlsReceiver();
    const s = sink(port, { transport: 'tls', tls: { ca_file: ca.certFile } });
    const err = await failure(s.check(signal));
    expect(err.code).toBe('SINK_CONFIG');
    expect(err.message).toMatch(/TLS to 127\.0\.0\.1:\d+ failed: the receiver refused the client certificate: it requires one \(mutual TLS\): set tls\.cert_file and tls\.key_file/);
  });

  it('a client certificate it trusts: delivered', async () => {
    const { port, counter } = await mtlsReceiver();
    const client = ca.issue('collector', 'client');
    const s = sink(port, { transport: 'tls', tls: { ca_file: ca.certFile, cert_file: client.certFile, key_file: client.keyFile } });
    await s.check(signal);
    await s.send(events(5), signal);
    await until(() => counter.frames === 5);
  });

  it('a client certificate from a CA it does not trust: not delivered, and never counted as delivered', async () => {
    const { port, counter } = await mtlsReceiver();
    const stranger = testCa('another CA').issue('collector', 'client');
    const s = sink(port, { transport: 'tls', tls: { ca_file: ca.certFile, cert_file: stranger.certFile, key_file: stranger.keyFile } });
    const err = await failure(s.send(events(5), signal));
    // Node's TLS server closes without an alert here: a close is not proof enough to stop the sink, so it is
    // retried, and the message says what to look at.
    expect(err.code).toBe('SINK_RETRYABLE');
    expect(err.message).toMatch(/closed the connection right after the TLS handshake \(does it refuse the client certificate, tls\.cert_file\?\)/);
    expect(counter.frames).toBe(0);
  });
});
