// The kafka sink end to end against a real Apache Kafka broker: simulator → collector → topics, read back with the
// same client library; an outage of the broker while a file sink keeps delivering; the collector SIGKILLed a few
// times. Every manifest record must be in the topics, keyed by its event.id, with its headers.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Collector } from '../src/app.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { readTopics, startKafkaBroker, type ConsumedRecord, type RunningKafkaBroker } from '../src/testkit/kafka-broker.js';
import { eventId, readManifest, recordKey, sleepMs, spawnCli, waitFor, writeConfig } from './helpers/harness.js';
import { fileSinkComplete, fileSinkOutput, sinkTestConfig, startCollectorFrom } from './helpers/sink-e2e.js';

/** One broker for the file (auto-create on: the default topic template names a topic per stream). */
let broker: Promise<RunningKafkaBroker> | undefined;
const up = (): Promise<RunningKafkaBroker> => (broker ??= startKafkaBroker({ autoCreateTopics: true }));
afterAll(async () => {
  await (await broker?.catch(() => undefined))?.close();
}, 30_000);

let sim: RunningSimulator | undefined;
let collector: Collector | undefined;
afterEach(async () => {
  await collector?.stop();
  await sim?.close();
  collector = undefined;
  sim = undefined;
});

function yaml(dir: string, s: RunningSimulator, b: RunningKafkaBroker, prefix: string, o: { budget?: number; logLevel?: string } = {}): string {
  const kafka = [
    '  - name: kafka',
    '    type: kafka',
    `    brokers: [${b.bootstrap}]`,
    `    topic: ${prefix}.{stream}.{log_type}`,
    '    compression: lz4',
    '    request_timeout: 5s',
    '    batch: { max_events: 200, max_wait: 50ms }',
  ];
  return sinkTestConfig(dir, s, kafka, o);
}

function startCollector(text: string): Collector {
  const c = startCollectorFrom(text);
  collector = c;
  return c;
}

const fileComplete = fileSinkComplete;

/** The topics a prefix can name for SIEM events. */
async function topicsOf(b: RunningKafkaBroker, prefix: string): Promise<string[]> {
  const { Admin } = await import('@platformatic/kafka');
  const a = new Admin({ clientId: 'test', bootstrapBrokers: [b.bootstrap] });
  try {
    return (await a.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
  } finally {
    await a.close();
  }
}

/** Reads the topics until they hold every expected event.id (the sink may still be catching up). */
async function topicsHold(b: RunningKafkaBroker, prefix: string, expected: ReadonlySet<string>): Promise<ConsumedRecord[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const got = await readTopics(b.bootstrap, await topicsOf(b, prefix));
    if (new Set(got.map((r) => r.key)).size >= expected.size) return got;
    if (Date.now() > deadline) throw new Error(`timed out: the topics hold ${new Set(got.map((r) => r.key)).size} of ${expected.size} event ids`);
    await sleepMs(1000);
  }
}

/** Every record is keyed by its event.id, sits in the topic of its stream and log type, and carries its headers. */
function checkRecords(got: readonly ConsumedRecord[], docs: ReadonlyMap<string, Record<string, unknown>>, prefix: string): void {
  for (const r of got) {
    const doc = JSON.parse(r.value.toString('utf8')) as Record<string, unknown>;
    expect(r.key).toBe(eventId(doc));
    expect(docs.has(r.key ?? '')).toBe(true);
    const m = doc['mimecast'] as { log_type: string; account: string };
    expect(r.topic).toBe(`${prefix}.siem.${m.log_type}`);
    expect(r.headers).toEqual({ account: 'sim', stream: 'siem', log_type: m.log_type });
  }
}

describe('kafka sink end to end (real Apache Kafka)', () => {
  it('with faults at the API, every record the simulator served is in the topics once, keyed by event.id', async () => {
    const b = await up();
    const dir = mkdtempSync(join(tmpdir(), 'mc-kafka-e2e-'));
    const manifest = join(dir, 'manifest.ndjson');
    sim = await startSimulator({ seed: 'kafka-e2e', backlogRecords: 2000, backlogHours: 24, recordsPerBlob: 250, publishIntervalMs: 0, manifestPath: manifest, faults: { rateLimit429: 0.05, serverError500: 0.05, truncatedGzip: 0.05, replayRecords: 0.1 } });
    const c = startCollector(yaml(dir, sim, b, 'e2e'));
    const docs = await fileComplete(fileSinkOutput(dir), manifest);
    const got = await topicsHold(b, 'e2e', new Set(docs.keys()));
    expect(new Set(got.map((r) => r.key))).toEqual(new Set(docs.keys()));
    // Nothing failed between the collector and the broker: exactly once.
    expect(got).toHaveLength(docs.size);
    checkRecords(got, docs, 'e2e');
    expect(c.journal.deadLetterCount()).toBe(0);
  }, 150_000);

  it('the broker stops mid-stream and comes back on the same port: the file sink kept delivering, nothing is lost', async () => {
    const b = await up();
    const dir = mkdtempSync(join(tmpdir(), 'mc-kafka-outage-'));
    const manifest = join(dir, 'manifest.ndjson');
    const output = fileSinkOutput(dir);
    sim = await startSimulator({ seed: 'kafka-outage', backlogRecords: 1000, backlogHours: 24, recordsPerBlob: 200, publishIntervalMs: 300, recordsPerInterval: 100, manifestPath: manifest });
    const c = startCollector(yaml(dir, sim, b, 'outage', { budget: 5000 }));
    const kafka = (): { delivered: number; state: string } | undefined => c.pipeline.sinks().find((s) => s.name === 'kafka');
    await waitFor(() => (kafka()?.delivered ?? 0) > 0, 30_000, 'a first delivery to Kafka');
    await b.stop();
    await waitFor(() => kafka()?.state === 'retrying', 30_000, 'the kafka sink retrying');
    const fileBefore = c.pipeline.sinks().find((s) => s.name === 'file')?.delivered ?? 0;
    // The file sink goes on while Kafka is down.
    await waitFor(() => (c.pipeline.sinks().find((s) => s.name === 'file')?.delivered ?? 0) > fileBefore, 20_000, 'the file sink delivering during the outage');
    expect(c.journal.backlog('kafka').events).toBeGreaterThan(0);
    expect(kafka()?.state).toBe('retrying');
    await b.start();
    sim.stopPublishing();
    const docs = await fileComplete(output, manifest);
    const got = await topicsHold(b, 'outage', new Set(docs.keys()));
    expect(new Set(got.map((r) => r.key))).toEqual(new Set(docs.keys()));
    checkRecords(got, docs, 'outage');
    expect(c.journal.deadLetterCount()).toBe(0);
    console.log(`kafka outage test: ${docs.size} records; the topics hold ${got.length} (${got.length - docs.size} resent across the outage)`);
  }, 150_000);

  it('SIGKILL at random moments: every record in the topics, duplicates only as resends with the same key', async () => {
    const b = await up();
    const dir = mkdtempSync(join(tmpdir(), 'mc-kafka-crash-'));
    const manifest = join(dir, 'manifest.ndjson');
    const output = fileSinkOutput(dir);
    const log = join(dir, 'collector.log');
    sim = await startSimulator({ seed: 'kafka-crash', backlogRecords: 5000, backlogHours: 24, recordsPerBlob: 300, publishIntervalMs: 500, recordsPerInterval: 200, manifestPath: manifest, faults: { rateLimit429: 0.05, serverError500: 0.05 } });
    const config = writeConfig(join(dir, 'collector.yaml'), yaml(dir, sim, b, 'crash', { logLevel: 'warn' }));
    let seed = 7;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 4; i++) {
      const child = spawnCli(['run', '--config', config], log);
      await sleepMs(1200 + Math.floor(rand() * 2000));
      child.proc.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
    }
    sim.stopPublishing();
    const final = spawnCli(['run', '--config', config], log);
    try {
      const docs = await fileComplete(output, manifest, 120_000);
      expect(docs.size).toBe(new Set(readManifest(manifest).map(recordKey)).size);
      const got = await topicsHold(b, 'crash', new Set(docs.keys()));
      expect(new Set(got.map((r) => r.key))).toEqual(new Set(docs.keys()));
      // A resend is the same event under the same key, never another record.
      checkRecords(got, docs, 'crash');
      console.log(`kafka crash test: ${docs.size} records; the topics hold ${got.length} (${got.length - docs.size} resent after kills)`);
    } finally {
      final.proc.kill('SIGTERM');
      await final.exited;
    }
  }, 240_000);
});
