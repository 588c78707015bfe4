// The kafka sink against the official apache/kafka image (testcontainers): events through the real Pipeline and
// SinkRunner, read back with the same client library. Skipped, saying why, without a container runtime (none on the
// development machines: there the real broker of test/kafka-sink.test.ts, from Maven Central jars, stands in).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { GenericContainer, getContainerRuntimeClient, Wait, type StartedTestContainer } from 'testcontainers';
import { afterAll, describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../src/core/contracts.js';
import { Pipeline } from '../src/core/pipeline.js';
import { Journal } from '../src/journal/journal.js';
import { bindSink } from '../src/sinks/common.js';
import { kafkaSink, kafkaSinkSchema } from '../src/sinks/kafka/index.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { readTopics } from '../src/testkit/kafka-broker.js';
import { onceSource } from '../src/testkit/once-source.js';
import { freePort } from '../src/testkit/free-port.js';

/** Why the container test cannot run here (undefined: a runtime answered). Rejects within milliseconds without one. */
const noRuntime = await getContainerRuntimeClient().then(
  () => undefined,
  (e: unknown) => String(e),
);
if (noRuntime !== undefined) console.log(`test/kafka-containers.test.ts: skipped, no container runtime (${noRuntime})`);

const N = 25;
let container: StartedTestContainer | undefined;
afterAll(async () => {
  await container?.stop().catch(() => undefined);
}, 120_000);

describe.skipIf(noRuntime !== undefined)('kafka sink against the official apache/kafka image (testcontainers)', () => {
  it('every event once in mimecast.siem, keyed by event.id', async () => {
    const port = await freePort();
    container = await new GenericContainer('apache/kafka:4.1.0')
      .withExposedPorts({ container: 9092, host: port })
      .withEnvironment({
        KAFKA_NODE_ID: '1',
        KAFKA_PROCESS_ROLES: 'broker,controller',
        KAFKA_LISTENERS: 'PLAINTEXT://:9092,CONTROLLER://:9093',
        KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://127.0.0.1:${port}`,
        KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
        KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
        KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
        KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
        KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
        KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'true',
      })
      .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
      .withStartupTimeout(120_000)
      .start();
    const bootstrap = `127.0.0.1:${port}`;
    const evs: NormalizedEvent[] = Array.from({ length: N }, (_, i) => {
      const id = `kc-${i + 1}`;
      const time = new Date(Date.parse('2026-12-01T00:00:00Z') + i * 1000).toISOString();
      return { id, stream: 'siem', account: 'corp', time, logType: 'receipt', doc: { '@timestamp': time, event: { id }, message: `event ${i + 1}` } };
    });
    const cfg = kafkaSinkSchema.parse({ name: 'out', type: 'kafka', brokers: [bootstrap], batch: { max_events: 10, max_wait: '0s' } });
    const sink = kafkaSink.create(cfg, { logger: silentLogger() });
    const journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-kafka-containers-')), checkpointWorker: false });
    const pipeline = new Pipeline({ journal, sources: [{ source: onceSource(evs), pollIntervalMs: 3_600_000 }], sinks: [bindSink(sink, cfg)], logger: pino({ level: 'silent' }) });
    pipeline.start();
    try {
      for (let i = 0; i < 600 && journal.offset('out') < evs.length; i++) await new Promise((r) => setTimeout(r, 100));
      expect(journal.offset('out')).toBe(evs.length);
    } finally {
      await pipeline.stop();
      journal.close();
      await sink.close();
    }
    const got = await readTopics(bootstrap, ['mimecast.siem']);
    expect(got.map((r) => r.key).sort()).toEqual(evs.map((e) => e.id).sort());
    expect(got[0]?.headers).toEqual({ account: 'corp', stream: 'siem', log_type: 'receipt' });
  }, 300_000);
});
