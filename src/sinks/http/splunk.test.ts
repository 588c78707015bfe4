// The splunk_hec preset against the in-repo HEC receiver over real HTTP (and TLS): envelopes, every reply class,
// code-6 partial verdicts, indexer acknowledgement (immediate, late, never, lost, out of order), and the sink runner.
import { mkdtempSync } from 'node:fs';
import { createServer as createHttp, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTls } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { StoredEvent, type NormalizedEvent, type OutEvent, type Sink, type StreamName } from '../../core/contracts.js';
import { Pipeline } from '../../core/pipeline.js';
import { Journal } from '../../journal/journal.js';
import { silentLogger } from '../../telemetry/logger.js';
import { countById, eventIdOf, startHecReceiver, type HecReceiver, type HecReceiverOptions } from '../../testkit/hec-receiver.js';
import { selfSignedCert } from '../../testkit/tls.js';
import { bindSink } from '../common.js';
import { httpSinkSchema, type SplunkHecConfig } from './config.js';
import { httpSink } from './index.js';
import { SplunkHecSink } from './splunk.js';
import { sinkFailure } from '../../testkit/sink-failure.js';
import { onceSource } from '../../testkit/once-source.js';

const TOKEN = 'test-hec-token-0123456789';
const T = '2026-12-01T08:30:15.042Z';
const T_SECS = Date.parse(T) / 1000;

let receivers: HecReceiver[] = [];
let sinks: Sink[] = [];
let servers: Server[] = [];
let cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all(sinks.map((s) => s.close()));
  await Promise.all(receivers.map((r) => r.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  receivers = [];
  sinks = [];
  servers = [];
  cleanups = [];
});

async function receiver(opts: HecReceiverOptions = {}): Promise<HecReceiver> {
  const r = await startHecReceiver({ token: TOKEN, ...opts });
  receivers.push(r);
  return r;
}

/** A parsed config with the given keys; `ms` overrides durations below the schema's minimums (real sockets, short waits). */
function config(cfg: Record<string, unknown>, ms: { ack_timeout?: number; ack_poll_interval?: number } = {}): SplunkHecConfig {
  const parsed = httpSinkSchema.parse({ name: 'splunk', type: 'http', preset: 'splunk_hec', token: TOKEN, ...cfg });
  if (parsed.preset !== 'splunk_hec') throw new Error('not splunk_hec');
  return { ...parsed, ...ms };
}

function sink(cfg: Record<string, unknown>, ms: { ack_timeout?: number; ack_poll_interval?: number } = {}): SplunkHecSink {
  const s = httpSink.create(config(cfg, ms), { logger: silentLogger() });
  if (!(s instanceof SplunkHecSink)) throw new Error('not a SplunkHecSink');
  sinks.push(s);
  return s;
}

function ev(id: string, stream: StreamName = 'siem', logType = 'receipt', doc?: string, time = T, account = 'corp'): OutEvent {
  return new StoredEvent(1, id, stream, account, time, Buffer.from(doc ?? JSON.stringify({ '@timestamp': time, event: { id }, message: `m-${id}` })), logType);
}

function events(n: number, prefix = 'e'): OutEvent[] {
  return Array.from({ length: n }, (_, i) => ev(`${prefix}${i}`));
}

const signal = new AbortController().signal;

const failure = sinkFailure;

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('splunk_hec: the request', () => {
  it('builds each envelope as text around the event\'s bytes: time with ms, host, source, sourcetype, index, fields', () => {
    const s = sink({ url: 'http://127.0.0.1:1', index: 'mail', host: 'collector-1' });
    const doc = '{"@timestamp":"2026-12-01T08:30:15.042Z","event":{"id":"a"},"n":1.50}';
    expect(s.body([ev('a', 'siem', 'receipt', doc)]).toString()).toBe(
      `{"time":1796113815.042,"host":"collector-1","source":"mimecast:corp","sourcetype":"mimecast:siem:receipt","index":"mail","fields":{"account":"corp","stream":"siem","log_type":"receipt"},"event":${doc}}\n`,
    );
    // Whole seconds keep three decimals; a time that does not parse leaves `time` to HEC; no fields when turned off.
    const plain = sink({ url: 'http://127.0.0.1:1', indexed_fields: false, source: 'mc' });
    expect(plain.body([ev('b', 'audit', 'audit', '{}', '2026-12-01T00:00:00Z'), ev('c', 'audit', 'audit', '{}', 'garbage')]).toString()).toBe(
      '{"time":1796083200.000,"source":"mc","sourcetype":"mimecast:audit","event":{}}\n{"source":"mc","sourcetype":"mimecast:audit","event":{}}\n',
    );
  });

  it('POSTs gzipped envelopes with Splunk auth; HEC indexes them with the envelope fields exactly', async () => {
    const r = await receiver();
    const s = sink({ url: r.url, index: 'mail', host: 'collector-1' });
    const batch = [ev('a', 'siem', 'receipt'), ev('b', 'ttp_url', 'ttp_url'), ev('c', 'audit', 'audit', undefined, T, 'acme'), ev('d', 'siem', 'url_protect'), ev('e', 'threat_intel', 'malware_grid'), ev('f', 'siem', 'unknown')];
    await expect(s.send(batch, signal)).resolves.toBeUndefined();
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]).toMatchObject({ endpoint: 'event', status: 200, gzip: true, indexed: 6 });
    expect(r.events.map((e) => [eventIdOf(e), e.sourcetype, e.source])).toEqual([
      ['a', 'mimecast:siem:receipt', 'mimecast:corp'],
      ['b', 'mimecast:ttp:url', 'mimecast:corp'],
      ['c', 'mimecast:audit', 'mimecast:acme'],
      ['d', 'mimecast:siem:url_protect', 'mimecast:corp'],
      ['e', 'mimecast:threat_intel:malware_grid', 'mimecast:corp'],
      ['f', 'mimecast:siem', 'mimecast:corp'],
    ]);
    const first = r.events[0];
    expect(first).toMatchObject({ time: T_SECS, host: 'collector-1', index: 'mail', fields: { account: 'corp', stream: 'siem', log_type: 'receipt' } });
    expect(first?.event).toEqual({ '@timestamp': T, event: { id: 'a' }, message: 'm-a' });
    expect(r.events[2]?.fields).toEqual({ account: 'acme', stream: 'audit', log_type: 'audit' });
  });

  it('sourcetypes: overrides by log type first, then by stream; validate names a key that is neither', async () => {
    const r = await receiver();
    const s = sink({ url: r.url, compression: 'none', sourcetypes: { receipt: 'my:receipt', siem: 'my:siem', audit: 'my:audit' } });
    await s.send([ev('a', 'siem', 'receipt'), ev('b', 'siem', 'delivery'), ev('c', 'audit', 'audit'), ev('d', 'dlp', 'dlp')], signal);
    expect(r.requests[0]?.gzip).toBe(false);
    expect(r.events.map((e) => e.sourcetype)).toEqual(['my:receipt', 'my:siem', 'my:audit', 'mimecast:dlp']);
    const bad = httpSinkSchema.safeParse({ name: 'splunk', type: 'http', preset: 'splunk_hec', url: r.url, token: TOKEN, sourcetypes: { reciept: 'x' } });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]).toMatchObject({ path: ['sourcetypes', 'reciept'], message: expect.stringMatching(/^"reciept" is neither a stream nor a log type/) as string });
  });

  it('format cef: the event is the line as a JSON string', async () => {
    const r = await receiver();
    const s = sink({ url: r.url, format: 'cef' });
    const line = 'CEF:0|Mimecast|Email Security|1.0|receipt|Receipt|3|msg=say "hi" \\= there';
    await s.send([ev('a', 'siem', 'receipt', line)], signal);
    expect(r.events[0]?.event).toBe(line);
  });

  it('a URL naming the collector endpoint still posts to /services/collector/event', async () => {
    const r = await receiver();
    await sink({ url: `${r.url}/services/collector/event` }).send(events(1), signal);
    expect(r.countRequests('event', 200)).toBe(1);
  });
});

describe('splunk_hec: replies', () => {
  it('token problems (codes 1-4) stop the sink with what to fix, never the token', async () => {
    const r = await receiver({ token: 'another-token-value' });
    const s = sink({ url: r.url });
    const e = await failure(s.send(events(1), signal));
    expect(e.code).toBe('SINK_CONFIG');
    expect(e.message).toMatch(/answered HTTP 403: HEC code 4: Invalid token — HEC does not know this token: check token_file/);
    expect(e.message).not.toContain(TOKEN);
    const good = await receiver();
    good.setTokenDisabled(true);
    const d = await failure(sink({ url: good.url }).send(events(1), signal));
    expect([d.code, d.message]).toEqual(['SINK_CONFIG', expect.stringMatching(/HEC code 1: Token disabled — the HEC token is disabled in Splunk/) as string]);
  });

  it('busy, internal error and unhealthy are retried (honouring Retry-After); 413 is too large', async () => {
    const r = await receiver();
    r.fault({ kind: 'busy' }, { kind: 'internal' }, { kind: 'unhealthy', code: 20 }, { kind: 'too_large' });
    const s = sink({ url: r.url });
    const got: [string, unknown][] = [];
    for (let i = 0; i < 4; i++) {
      const e = await failure(s.send(events(2), signal));
      got.push([e.code, (e.details as { code?: number } | undefined)?.code]);
    }
    expect(got).toEqual([
      ['SINK_RETRYABLE', 9],
      ['SINK_RETRYABLE', 8],
      ['SINK_RETRYABLE', 20],
      ['SINK_TOO_LARGE', undefined],
    ]);
    // A real size limit, not a scripted one.
    const small = await receiver({ maxBodyBytes: 300 });
    const big = await failure(sink({ url: small.url, compression: 'none' }).send(events(5), signal));
    expect(big.code).toBe('SINK_TOO_LARGE');
    // Retry-After on a 503 busy.
    const srv = createHttp((_req, res) => res.writeHead(503, { 'retry-after': '7', 'content-type': 'application/json' }).end('{"text":"Server is busy","code":9}'));
    servers.push(srv);
    await new Promise<void>((ok) => srv.listen(0, '127.0.0.1', ok));
    const busy = await failure(sink({ url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` }).send(events(1), signal));
    expect([busy.code, busy.retryAfterMs]).toEqual(['SINK_RETRYABLE', 7000]);
  });

  it('code 6 with invalid-event-number: events before it delivered, it rejected with HEC\'s words, the rest retried', async () => {
    const r = await receiver();
    const batch = [ev('a'), ev('b'), ev('c', 'siem', 'receipt', '{"event":{"id":"c"},"bad":1,}'), ev('d'), ev('e')];
    const result = await sink({ url: r.url }).send(batch, signal);
    expect(result).toEqual({
      rejected: [{ index: 2, reason: 'HEC code 6: Invalid data format (event 2 of the request)' }],
      retry: [
        { index: 3, reason: 'not indexed: HEC stopped at event 2 of the request (HEC code 6: Invalid data format)' },
        { index: 4, reason: 'not indexed: HEC stopped at event 2 of the request (HEC code 6: Invalid data format)' },
      ],
    });
    expect(r.events.map(eventIdOf)).toEqual(['a', 'b']);
    // A blank event (code 13) is located the same way.
    const blank = await sink({ url: r.url }).send([ev('f'), ev('g', 'siem', 'receipt', '""')], signal);
    expect(blank).toEqual({ rejected: [{ index: 1, reason: 'HEC code 13: Event field cannot be blank (event 1 of the request)' }], retry: [] });
  });

  it('a data error HEC does not locate rejects the batch; a wrong index stops the sink; unknown shapes follow the HTTP status', async () => {
    const r = await receiver({ allowedIndexes: ['mail'] });
    r.fault(
      { kind: 'reply', status: 400, body: { text: 'Event field is required', code: 12 } },
      { kind: 'reply', status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': 99 } },
      { kind: 'reply', status: 500, body: ['not', 'hec'] },
      { kind: 'reply', status: 404, body: 'nope' },
      { kind: 'reply', status: 200, body: 'ok?' },
      { kind: 'reply', status: 400, body: { code: 42 } },
    );
    const s = sink({ url: r.url, index: 'mail' });
    const codes: string[] = [];
    for (let i = 0; i < 4; i++) codes.push((await failure(s.send(events(2), signal))).code);
    expect(codes).toEqual(['SINK_PERMANENT', 'SINK_PERMANENT', 'SINK_RETRYABLE', 'SINK_CONFIG']);
    await expect(s.send(events(2), signal)).resolves.toBeUndefined();
    const unknown = await failure(s.send(events(2), signal));
    expect([unknown.code, unknown.message]).toEqual(['SINK_PERMANENT', 'sink splunk: POST /services/collector/event answered HTTP 400: HEC code 42']);
    const wrong = await failure(sink({ url: r.url, index: 'other' }).send(events(2), signal));
    expect([wrong.code, wrong.message]).toEqual(['SINK_CONFIG', expect.stringMatching(/HEC code 7: Incorrect index — this token may not write to index "other"/) as string]);
  });

  it('a token that wants acks while ack is off (code 10) stops the sink with the fix; ack on against a token without acks too', async () => {
    const withAck = await receiver({ ack: true });
    const e = await failure(sink({ url: withAck.url }).send(events(1), signal));
    expect([e.code, e.message]).toEqual(['SINK_CONFIG', expect.stringMatching(/HEC code 10: Data channel is missing — this HEC token has indexer acknowledgement on: set ack: true/) as string]);
    const noAck = await receiver();
    const n = await failure(sink({ url: noAck.url, ack: true }).send(events(1), signal));
    expect([n.code, n.message]).toEqual(['SINK_CONFIG', expect.stringMatching(/without an ackId: indexer acknowledgement is off for this HEC token/) as string]);
  });

  it('ack on and HEC refusing the channel (code 11): retried on a new channel', async () => {
    const r = await receiver({ ack: true });
    r.fault({ kind: 'reply', status: 400, body: { text: 'Invalid data channel', code: 11 } });
    const s = sink({ url: r.url, ack: true }, { ack_poll_interval: 50 });
    const before = s.currentChannel;
    expect((await failure(s.send(events(1), signal))).code).toBe('SINK_RETRYABLE');
    expect(s.currentChannel).not.toBe(before);
    await s.send(events(1), signal);
    expect(r.events[0]?.channel).toBe(s.currentChannel);
  });
});

describe('splunk_hec: indexer acknowledgement', () => {
  it('immediate: the send resolves once /ack says true, on the sink\'s channel', async () => {
    const r = await receiver({ ack: true });
    const s = sink({ url: r.url, ack: true }, { ack_poll_interval: 50 });
    await s.send(events(3), signal);
    expect(r.countRequests('ack', 200)).toBe(1);
    expect(r.events.map((e) => e.channel)).toEqual([s.currentChannel, s.currentChannel, s.currentChannel]);
    expect(r.pendingAcks(s.currentChannel)).toEqual([]);
  });

  it('late: the send waits through the polls until the ack turns true; a busy poll is asked again', async () => {
    const r = await receiver({ ack: true, ackPlan: { kind: 'after_polls', polls: 3 } });
    r.faultOn('ack', { kind: 'busy' });
    const s = sink({ url: r.url, ack: true }, { ack_poll_interval: 50 });
    let settled = false;
    const p = s.send(events(2), signal).then(() => (settled = true));
    await until(() => r.countRequests('ack') >= 3);
    expect(settled).toBe(false);
    await p;
    // One busy poll, then three polls asking about the id.
    expect([r.countRequests('ack', 503), r.countRequests('ack', 200)]).toEqual([1, 3]);
  });

  it('never: past ack_timeout the send is retryable; the resend carries the same event.ids and is acknowledged', async () => {
    const r = await receiver({ ack: true, ackPlan: { kind: 'never' } });
    const s = sink({ url: r.url, ack: true }, { ack_poll_interval: 50, ack_timeout: 400 });
    const batch = events(3);
    const e = await failure(s.send(batch, signal));
    expect(e.code).toBe('SINK_RETRYABLE');
    expect(e.message).toMatch(/3 events sent on channel .* \(ackId 0\): not acknowledged within ack_timeout \(400 ms\)/);
    r.setAckPlan({ kind: 'immediate' });
    await s.send(batch, signal);
    // Indexed twice (the first ack was never reported): at-least-once, same ids.
    expect([...countById(r.events)]).toEqual([['e0', 2], ['e1', 2], ['e2', 2]]);
  });

  it('lost: nothing indexed, never acknowledged; the resend after the timeout delivers every event once', async () => {
    const r = await receiver({ ack: true, ackPlan: (c) => (c.ackId === 0 ? { kind: 'lost' } : { kind: 'immediate' }) });
    const s = sink({ url: r.url, ack: true }, { ack_poll_interval: 50, ack_timeout: 300 });
    const batch = events(4);
    expect((await failure(s.send(batch, signal))).code).toBe('SINK_RETRYABLE');
    await s.send(batch, signal);
    expect([...countById(r.events).values()]).toEqual([1, 1, 1, 1]);
  });

  it('out of order across concurrent sends: each resolves on its own ack, one poller asks about both at once', async () => {
    const r = await receiver({ ack: true, ackPlan: (c) => (c.ackId === 0 ? { kind: 'after_polls', polls: 3 } : { kind: 'immediate' }) });
    const s = sink({ url: r.url, ack: true, concurrency: 4 }, { ack_poll_interval: 150 });
    const order: string[] = [];
    const first = s.send(events(2, 'a'), signal).then(() => order.push('first'));
    await until(() => r.countRequests('event', 200) === 1);
    const second = s.send(events(2, 'b'), signal).then(() => order.push('second'));
    await Promise.all([first, second]);
    expect(order).toEqual(['second', 'first']);
    // Both ids in one /ack request per round: three rounds in all, not four.
    expect(r.countRequests('ack')).toBe(3);
    expect(r.events.map(eventIdOf)).toEqual(['a0', 'a1', 'b0', 'b1']);
  });

  it('the send stops waiting at once when its signal aborts (shutdown)', async () => {
    const r = await receiver({ ack: true, ackPlan: { kind: 'never' } });
    const s = sink({ url: r.url, ack: true }, { ack_poll_interval: 50, ack_timeout: 60_000 });
    const ac = new AbortController();
    const p = s.send(events(1), ac.signal);
    await until(() => r.countRequests('ack') >= 1);
    const t0 = Date.now();
    ac.abort();
    await expect(p).rejects.toBeDefined();
    expect(Date.now() - t0).toBeLessThan(1000);
    const polls = r.countRequests('ack');
    await new Promise((ok) => setTimeout(ok, 200));
    expect(r.countRequests('ack')).toBe(polls);
  });
});

describe('splunk_hec: check and probe', () => {
  it('check: health, then the token (an empty request answered "No data"); probe: health answers', async () => {
    const r = await receiver();
    const s = sink({ url: r.url });
    await expect(s.check(signal)).resolves.toBeUndefined();
    expect(r.requests.map((q) => [q.endpoint, q.code])).toEqual([
      ['health', 17],
      ['event', 5],
    ]);
    expect(r.indexedCount).toBe(0);
    expect(await s.probe(signal)).toBe(true);
    r.setHealth(19);
    expect((await failure(s.check(signal))).code).toBe('SINK_RETRYABLE');
    expect(await s.probe(signal)).toBe(false);
    r.setHealth(17);
    const bad = await failure(sink({ url: r.url, token: 'not-the-token' }).check(signal));
    expect([bad.code, bad.message]).toEqual(['SINK_CONFIG', expect.stringMatching(/HEC code 4: Invalid token/) as string]);
    await r.stop();
    expect(await s.probe(signal)).toBe(false);
  });

  it('check with ack on asks /ack, so a token without acknowledgement (code 14) is caught before any event is sent', async () => {
    const noAck = await receiver();
    const e = await failure(sink({ url: noAck.url, ack: true }).check(signal));
    expect([e.code, e.message]).toEqual(['SINK_CONFIG', expect.stringMatching(/HEC code 14: ACK is disabled — indexer acknowledgement is off for this HEC token/) as string]);
    const withAck = await receiver({ ack: true });
    await expect(sink({ url: withAck.url, ack: true }).check(signal)).resolves.toBeUndefined();
    expect(withAck.requests.map((q) => [q.endpoint, q.status])).toEqual([
      ['health', 200],
      ['ack', 200],
    ]);
  });
});

describe('splunk_hec over TLS', () => {
  it('delivers to an HTTPS HEC trusted with tls.ca_file; without it the sink stops with the fix', async () => {
    const r = await receiver();
    const cert = selfSignedCert('localhost');
    // HEC behind TLS: a TLS front that hands each connection to the receiver.
    const front = createTls({ cert: cert.cert, key: cert.key }, (socket) => {
      const back = connect(r.port, '127.0.0.1');
      socket.pipe(back).pipe(socket);
      socket.on('error', () => back.destroy());
      back.on('error', () => socket.destroy());
    });
    await new Promise<void>((ok) => front.listen(0, '127.0.0.1', ok));
    cleanups.push(() => new Promise<void>((ok) => front.close(() => ok())));
    const url = `https://localhost:${(front.address() as AddressInfo).port}`;
    await sink({ url, tls: { ca_file: cert.certFile } }).send(events(2), signal);
    expect(r.events.map(eventIdOf)).toEqual(['e0', 'e1']);
    const e = await failure(sink({ url }).send(events(1), signal));
    expect([e.code, e.message]).toEqual(['SINK_CONFIG', expect.stringMatching(/TLS verification failed .*tls\.ca_file/) as string]);
  });
});

describe('splunk_hec through the sink runner', () => {
  it('delivers every event once with acks on, a busy HEC and a document HEC cannot parse dead-lettered', async () => {
    const r = await receiver({ ack: true, ackPlan: (c) => (c.ackId % 3 === 1 ? { kind: 'after_polls', polls: 2 } : { kind: 'immediate' }) });
    r.fault({ kind: 'busy' });
    const total = 60;
    const bad = 'e17';
    const docs: NormalizedEvent[] = Array.from({ length: total }, (_, i) => {
      const id = `e${i}`;
      const time = new Date(Date.parse(T) + i * 1000).toISOString();
      const doc = { '@timestamp': time, event: { id } };
      return { id, stream: 'siem', account: 'corp', time, logType: 'receipt', doc, ...(id === bad ? { json: `{"event":{"id":"${id}"},"broken":}` } : {}) };
    });
    const source = onceSource(docs, { per: 25 });
    const cfg = config({ url: r.url, ack: true, concurrency: 3, batch: { max_events: 10, max_wait: '0s' } }, { ack_poll_interval: 50 });
    const s = httpSink.create(cfg, { logger: silentLogger() });
    sinks.push(s);
    const journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-hec-')), checkpointWorker: false });
    const pipeline = new Pipeline({ journal, sources: [{ source, pollIntervalMs: 3_600_000 }], sinks: [bindSink(s, cfg)], logger: silentLogger() });
    cleanups.push(async () => {
      await pipeline.stop();
      journal.close();
    });
    pipeline.start();
    await until(() => journal.offset('splunk') === total);
    const counts = countById(r.events);
    expect(counts.size).toBe(total - 1);
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(counts.has(bad)).toBe(false);
    expect(journal.deadLetters().map((d) => [d.event.id, d.reason])).toEqual([[bad, expect.stringMatching(/^HEC code 6: Invalid data format \(event \d of the request\)$/) as string]]);
    expect(r.countRequests('event', 503)).toBe(1);
    expect(pipeline.sinks()[0]).toMatchObject({ delivered: total - 1, deadLettered: 1 });
  });
});
