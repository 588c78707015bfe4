// The kafka sink against a real Apache Kafka broker: delivered (read back), record batches split under the broker's
// limit, oversized events dead-lettered with the reason, and the failures only the operator can fix (SASL, an unknown
// topic, TLS verification) stopping the sink with the key to fix; a broker that is down is retried.
import { compatibilityPartitioner, connectionsApiChannel } from '@platformatic/kafka';
import { afterAll, describe, expect, it } from 'vitest';
import { StoredEvent, type OutEvent } from '../../core/contracts.js';
import { silentLogger } from '../../telemetry/logger.js';
import { KAFKA_SASL_PASSWORD, KAFKA_SASL_USER, readTopics, startKafkaBroker, type RunningKafkaBroker } from '../../testkit/kafka-broker.js';
import { sinkFailure } from '../../testkit/sink-failure.js';
import { selfSignedCert } from '../../testkit/tls.js';
import { kafkaSinkSchema } from './config.js';
import { KafkaSink } from './sink.js';

const cert = selfSignedCert('127.0.0.1');
const BROKER_MAX = 16 * 1024;

let starting: Promise<RunningKafkaBroker> | undefined;
const up = (): Promise<RunningKafkaBroker> => (starting ??= startKafkaBroker({ sasl: true, tls: { certFile: cert.certFile, keyFile: cert.keyFile }, messageMaxBytes: BROKER_MAX }));
afterAll(async () => {
  await (await starting?.catch(() => undefined))?.close();
}, 30_000);

let topics = 0;
const sinks: KafkaSink[] = [];
afterAll(async () => {
  for (const s of sinks) await s.close();
});

function sink(extra: Record<string, unknown>): KafkaSink {
  const s = new KafkaSink(kafkaSinkSchema.parse({ name: 'kafka', type: 'kafka', request_timeout: '5s', ...extra }), silentLogger());
  sinks.push(s);
  return s;
}

function events(n: number, opts: { size?: number; stream?: 'siem' | 'audit'; from?: number } = {}): OutEvent[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `ev-${(opts.from ?? 0) + i}`;
    const body = JSON.stringify({ event: { id }, pad: 'x'.repeat(Math.max(0, (opts.size ?? 100) - 30)) });
    return new StoredEvent(i + 1, id, opts.stream ?? 'siem', 'acme', '2024-05-01T00:00:00Z', Buffer.from(body), opts.stream === 'audit' ? 'audit' : 'receipt');
  });
}

const signal = new AbortController().signal;

describe('kafka sink against a real broker', () => {
  it('delivers every event keyed by event.id with account/stream/log_type headers, to the topic of its stream', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(`${t}.siem`);
    await b.createTopic(`${t}.audit`);
    const s = sink({ brokers: [b.bootstrap], topic: `${t}.{stream}`, compression: 'lz4' });
    const batch = [...events(120), ...events(30, { stream: 'audit', from: 1000 })];
    expect(await s.send(batch, signal)).toBeUndefined();
    const got = await readTopics(b.bootstrap, [`${t}.siem`, `${t}.audit`]);
    expect(got).toHaveLength(150);
    for (const r of got) {
      const doc = JSON.parse(r.value.toString('utf8')) as { event: { id: string } };
      expect(r.key).toBe(doc.event.id);
      expect(r.topic).toBe(r.key !== undefined && Number(r.key.slice(3)) >= 1000 ? `${t}.audit` : `${t}.siem`);
      expect(r.headers).toEqual({ account: 'acme', stream: r.topic.endsWith('audit') ? 'audit' : 'siem', log_type: r.topic.endsWith('audit') ? 'audit' : 'receipt' });
    }
    expect(new Set(got.map((r) => r.key)).size).toBe(150);
  }, 60_000);

  it('on a topic of several partitions each event goes where the Java client puts its key, in the order sent', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t, {}, 3);
    const s = sink({ brokers: [b.bootstrap], topic: t });
    const batch = events(90);
    expect(await s.send(batch.slice(0, 45), signal)).toBeUndefined();
    expect(await s.send(batch.slice(45), signal)).toBeUndefined();
    const got = await readTopics(b.bootstrap, [t]);
    expect(got).toHaveLength(90);
    const used = new Set<number>();
    for (const r of got) {
      const key = Buffer.from(r.key ?? '', 'utf8');
      expect(r.partition).toBe(compatibilityPartitioner({ topic: t, value: key }, key) % 3);
      used.add(r.partition);
    }
    expect(used.size).toBe(3);
    for (const p of used) {
      const inPartition = got.filter((r) => r.partition === p).sort((x, y) => (x.offset < y.offset ? -1 : 1));
      const sent = batch.filter((e) => inPartition.some((r) => r.key === e.id)).map((e) => e.id);
      expect(inPartition.map((r) => r.key)).toEqual(sent);
    }
  }, 60_000);

  it('a broker taking less than max_message_bytes: batches are split, the one event over its limit is dead-lettered with the reason, the rest delivered', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t);
    // The sink believes 1MB; this broker takes 16KB batches: 100 events of 1KB go in smaller batches.
    const s = sink({ brokers: [b.bootstrap], topic: t });
    const batch = events(100, { size: 1000 });
    batch.splice(37, 0, new StoredEvent(999, 'big-one', 'siem', 'acme', 't', Buffer.from(JSON.stringify({ pad: 'y'.repeat(BROKER_MAX + 100) })), 'receipt'));
    const result = await s.send(batch, signal);
    expect(result).toEqual({ rejected: [{ index: 37, reason: expect.stringMatching(/^the broker refused the records \((MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE)/) as unknown }] });
    const got = await readTopics(b.bootstrap, [t]);
    expect(got.map((r) => r.key)).toEqual(batch.filter((e) => e.id !== 'big-one').map((e) => e.id));
  }, 60_000);

  it('an event over max_message_bytes is dead-lettered without being sent', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t);
    const s = sink({ brokers: [b.bootstrap], topic: t, max_message_bytes: '2KB' });
    const result = await s.send([...events(2), ...events(1, { size: 3000, from: 2 })], signal);
    expect(result).toEqual({ rejected: [{ index: 2, reason: expect.stringMatching(/over max_message_bytes \(2048\)/) as unknown }] });
    expect((await readTopics(b.bootstrap, [t])).map((r) => r.key)).toEqual(['ev-0', 'ev-1']);
  }, 60_000);

  it('a topic that does not exist where the broker creates none: SINK_CONFIG naming topic, from send and from check', async () => {
    const b = await up();
    const s = sink({ brokers: [b.bootstrap], topic: 'nowhere.{stream}' });
    const err = await sinkFailure(s.send(events(3), signal));
    expect(err.code).toBe('SINK_CONFIG');
    expect(err.message).toMatch(/topic nowhere.siem does not exist and the brokers did not create it \(auto.create.topics.enable=false\): create it, or fix topic/);
    const fixed = sink({ brokers: [b.bootstrap], topic: 'nowhere' });
    const checked = await sinkFailure(fixed.check(signal));
    expect(checked.code).toBe('SINK_CONFIG');
    expect(checked.message).toMatch(/metadata for topic nowhere: topic nowhere does not exist/);
  }, 60_000);

  it('check passes for a topic that exists', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t);
    await expect(sink({ brokers: [b.bootstrap], topic: t }).check(signal)).resolves.toBeUndefined();
  }, 60_000);

  it.each(['plain', 'scram-sha-256', 'scram-sha-512'])('SASL %s: the right password delivers, a wrong one is SINK_CONFIG naming sasl', async (mechanism) => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t);
    const ok = sink({ brokers: [b.saslBootstrap], topic: t, sasl: { mechanism, username: KAFKA_SASL_USER, password: KAFKA_SASL_PASSWORD } });
    expect(await ok.send(events(5), signal)).toBeUndefined();
    expect(await readTopics(b.bootstrap, [t])).toHaveLength(5);
    const bad = sink({ brokers: [b.saslBootstrap], topic: t, sasl: { mechanism, username: KAFKA_SASL_USER, password: 'wrong' } });
    const err = await sinkFailure(bad.send(events(1), signal));
    expect(err.code).toBe('SINK_CONFIG');
    expect(err.message).toMatch(/sasl\.username and sasl\.password/);
  }, 60_000);

  it('TLS: a certificate the sink cannot verify is SINK_CONFIG naming tls.ca_file; with the CA it delivers', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t);
    const untrusted = sink({ brokers: [b.tlsBootstrap], topic: t, tls: {} });
    const err = await sinkFailure(untrusted.send(events(1), signal));
    expect(err.code).toBe('SINK_CONFIG');
    expect(err.message).toMatch(/TLS verification failed \(DEPTH_ZERO_SELF_SIGNED_CERT\): .*tls\.ca_file/);
    const trusted = sink({ brokers: [b.tlsBootstrap], topic: t, tls: { ca_file: cert.certFile } });
    expect(await trusted.send(events(4), signal)).toBeUndefined();
    expect(await readTopics(b.bootstrap, [t])).toHaveLength(4);
  }, 60_000);

  it('no broker listening: SINK_RETRYABLE (the runner backs off), and probe says no', async () => {
    const s = sink({ brokers: ['127.0.0.1:1'], topic: 'x' });
    const err = await sinkFailure(s.send(events(1), signal));
    expect(err.code).toBe('SINK_RETRYABLE');
    expect(await s.probe()).toBe(false);
  }, 60_000);
});

/** Produce requests written to a broker and not yet answered, seen through the client library's diagnostics channel. */
function produceRequestsInFlight(): { now: () => number; most: () => number; stop: () => void } {
  const open = new Set<object>();
  let most = 0;
  const isProduce = (ctx: unknown): boolean => (ctx as { apiKey?: unknown }).apiKey === 0;
  const handlers = {
    start: (ctx: unknown) => {
      if (!isProduce(ctx)) return;
      open.add(ctx as object);
      most = Math.max(most, open.size);
    },
    end: () => undefined,
    asyncStart: (ctx: unknown) => void open.delete(ctx as object),
    asyncEnd: () => undefined,
    error: (ctx: unknown) => void open.delete(ctx as object),
  };
  connectionsApiChannel.subscribe(handlers as Parameters<typeof connectionsApiChannel.subscribe>[0]);
  return { now: () => open.size, most: () => most, stop: () => connectionsApiChannel.unsubscribe(handlers as Parameters<typeof connectionsApiChannel.unsubscribe>[0]) };
}

/** The number in an `ev-N` key. */
const numberOf = (key: string | undefined): number => Number((key ?? '').slice(3));

describe('kafka sink: several produce requests in flight', () => {
  it('sends given at once go to the broker together (more than one produce request in flight); every event lands once, each partition in the order sent', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t, {}, 3);
    // Batches under what this broker takes (16 KB): several per partition and send.
    const s = sink({ brokers: [b.bootstrap], topic: t, max_message_bytes: '15KB' });
    const all = events(6000, { size: 300 });
    const seen = produceRequestsInFlight();
    try {
      const sends = Array.from({ length: 12 }, (_, k) => s.send(all.slice(k * 500, (k + 1) * 500), signal));
      expect(await Promise.all(sends)).toEqual(Array.from({ length: 12 }, () => undefined));
    } finally {
      seen.stop();
    }
    expect(seen.most()).toBeGreaterThan(1);
    expect(seen.most()).toBeLessThanOrEqual(5);
    const got = await readTopics(b.bootstrap, [t]);
    expect(got).toHaveLength(all.length);
    expect(new Set(got.map((r) => r.key)).size).toBe(all.length);
    for (const p of [0, 1, 2]) {
      const keys = got.filter((r) => r.partition === p).sort((x, y) => (x.offset < y.offset ? -1 : 1)).map((r) => numberOf(r.key));
      expect(keys.length).toBeGreaterThan(0);
      expect(keys).toEqual([...keys].sort((x, y) => x - y));
    }
  }, 60_000);

  // Stops the shared broker: the last test of the file.
  it('the broker stops while produce requests are in flight and comes back: every event is in the topic, resends only under their own key', async () => {
    const b = await up();
    const t = `t${++topics}`;
    await b.createTopic(t, {}, 2);
    const s = sink({ brokers: [b.bootstrap], topic: t, max_message_bytes: '15KB' });
    const all = events(8000, { size: 400 });
    const byId = new Map(all.map((e) => [e.id, e]));
    // A small stand-in for the sink runner: 4 sends in flight, what fails sent again after 100 ms.
    const again: OutEvent[] = [];
    let next = 0;
    let delivered = 0;
    let failures = 0;
    const deadline = Date.now() + 90_000;
    const worker = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const batch = again.length > 0 ? again.splice(0, 400) : all.slice(next, (next += 400));
        if (batch.length === 0) {
          if (delivered >= all.length) return;
          await new Promise((r) => setTimeout(r, 50));
          continue;
        }
        try {
          const result = await s.send(batch, signal);
          expect(result?.rejected ?? []).toEqual([]);
          const retry = new Set((result?.retry ?? []).map((v) => v.index));
          again.push(...batch.filter((_, i) => retry.has(i)));
          delivered += batch.length - retry.size;
          if (retry.size > 0) failures++;
        } catch (err) {
          expect((err as { code?: unknown }).code).toBe('SINK_RETRYABLE');
          failures++;
          again.push(...batch);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    const seen = produceRequestsInFlight();
    const workers = Array.from({ length: 4 }, () => worker());
    try {
      // Stopped with requests at the broker, a quarter of the way in.
      for (const until = Date.now() + 30_000; !(next >= all.length / 4 && seen.now() >= 2); ) {
        if (Date.now() > until) throw new Error(`no moment with 2 produce requests in flight (most ${seen.most()})`);
        await new Promise((r) => setImmediate(r));
      }
      const inFlight = seen.now();
      await b.stop();
      await new Promise((r) => setTimeout(r, 1000));
      await b.start();
      await Promise.all(workers);
      console.info(`kafka in-flight outage: ${inFlight} produce requests in flight at the stop, ${failures} failed sends`);
    } finally {
      seen.stop();
    }
    expect(failures).toBeGreaterThan(0);
    expect(delivered).toBe(all.length);
    const got = await readTopics(b.bootstrap, [t]);
    expect(new Set(got.map((r) => r.key))).toEqual(new Set(byId.keys()));
    // A record twice is the same event under the same key (its answer was lost at the stop).
    for (const r of got) expect(r.value.equals((byId.get(r.key ?? '') as OutEvent).bytes)).toBe(true);
    console.info(`kafka in-flight outage: ${got.length} records for ${all.length} events (${got.length - all.length} resent)`);
  }, 120_000);
});
