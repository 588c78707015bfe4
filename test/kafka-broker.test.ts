// Proves the test Kafka broker is a real Apache Kafka and that the client library works on this Node: a produce
// with an idempotent producer (acks all) read back by a consumer, a refused oversized batch, and a restart on the
// same port that keeps the data.
import { afterAll, describe, expect, it } from 'vitest';
import { Producer, ProtocolError, GenericError } from '@platformatic/kafka';
import { readTopics, startKafkaBroker, type RunningKafkaBroker } from '../src/testkit/kafka-broker.js';

describe('test Kafka broker (real Apache Kafka, KRaft)', () => {
  // Started by the first test rather than in beforeAll: a start-up failure then fails every test with its message.
  let starting: Promise<RunningKafkaBroker> | undefined;
  const up = async (): Promise<RunningKafkaBroker> => {
    if (starting === undefined) {
      starting = startKafkaBroker({ messageMaxBytes: 64 * 1024 });
      const b = await starting;
      console.info(`kafka broker: ready in ${b.startupMs} ms, pid ${b.pid()}, ${b.bootstrap}`);
    }
    return starting;
  };
  afterAll(async () => {
    await (await starting?.catch(() => undefined))?.close();
  }, 30_000);

  it(`round trip on Node ${process.version}: an idempotent producer's records are read back with key, value and headers`, async () => {
    const b = await up();
    await b.createTopic('roundtrip');
    const producer = new Producer({ clientId: 't', bootstrapBrokers: [b.bootstrap], idempotent: true, acks: -1, retries: 2 });
    try {
      const res = await producer.send({
        messages: Array.from({ length: 50 }, (_, i) => ({ topic: 'roundtrip', key: Buffer.from(`id-${i}`), value: Buffer.from(JSON.stringify({ n: i })), headers: new Map([[Buffer.from('stream'), Buffer.from('siem')]]) })),
        compression: 'lz4',
      });
      expect(res.offsets?.[0]?.offset).toBe(0n);
    } finally {
      await producer.close();
    }
    const got = await readTopics(b.bootstrap, ['roundtrip']);
    expect(got.map((r) => r.key)).toEqual(Array.from({ length: 50 }, (_, i) => `id-${i}`));
    expect(JSON.parse(got[7]?.value.toString('utf8') ?? '')).toEqual({ n: 7 });
    expect(got[0]?.headers).toEqual({ stream: 'siem' });
  }, 120_000);

  it('refuses a batch over message.max.bytes with MESSAGE_TOO_LARGE', async () => {
    const b = await up();
    await b.createTopic('small');
    const producer = new Producer({ clientId: 't', bootstrapBrokers: [b.bootstrap], idempotent: true, acks: -1, retries: 2 });
    try {
      const err: unknown = await producer.send({ messages: [{ topic: 'small', key: Buffer.from('big'), value: Buffer.alloc(100 * 1024, 'x') }] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(Error);
      const found = (err as GenericError).findBy<ProtocolError>('apiId', 'MESSAGE_TOO_LARGE');
      expect(found?.apiId).toBe('MESSAGE_TOO_LARGE');
    } finally {
      await producer.close();
    }
  }, 120_000);

  it('stops and starts again on the same port, keeping its data', async () => {
    const b = await up();
    await b.createTopic('kept');
    const producer = new Producer({ clientId: 't', bootstrapBrokers: [b.bootstrap], idempotent: true, acks: -1, retries: 2 });
    await producer.send({ messages: [{ topic: 'kept', key: Buffer.from('a'), value: Buffer.from('1') }] });
    await producer.close();
    const pid = b.pid();
    const t0 = Date.now();
    await b.stop();
    const t1 = Date.now();
    await b.start();
    console.info(`kafka broker: stopped in ${t1 - t0} ms, started again in ${Date.now() - t1} ms`);
    expect(b.pid()).not.toBe(pid);
    const got = await readTopics(b.bootstrap, ['kept']);
    expect(got.map((r) => r.value.toString('utf8'))).toEqual(['1']);
  }, 120_000);
});
