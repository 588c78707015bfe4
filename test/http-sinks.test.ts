// The http sink end to end, per preset: simulator → collector → receiver with faults at both ends, and an outage of
// the receiver while a file sink keeps delivering. What the receiver got is read back on its side.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Collector } from '../src/app.js';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from '../src/simulator/index.js';
import { jsonReply } from '../src/testkit/receiver-server.js';
import { startNdjsonReceiver } from '../src/testkit/ndjson-receiver.js';
import { startFaultProxy } from '../src/testkit/fault-proxy.js';
import { eventIdOf, startHecReceiver } from '../src/testkit/hec-receiver.js';
import { engineJson, startSearchEngine, type RunningSearchEngine } from '../src/testkit/search-engine.js';
import { eventId, sleepMs, spawnCli, waitFor } from './helpers/harness.js';
import { fileSinkComplete, fileSinkOutput, sinkTestConfig, startCollectorFrom } from './helpers/sink-e2e.js';

/** A receiver under test, as the tests drive it. */
interface Target {
  /** The sink's YAML entry, as lines under `sinks:`. */
  sinkYaml: string[];
  /** event.id of every event the receiver holds (a resend shows up twice where the receiver keeps duplicates). */
  ids(): Promise<string[]>;
  /** Receiver-side faults on or off. */
  faults(on: boolean): void;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

interface Preset {
  name: string;
  /** Whether the receiver itself drops resent duplicates (Elasticsearch `_id`), so ids must be unique there. */
  dedups: boolean;
  start(): Promise<Target>;
}

const ndjson: Preset = {
  name: 'ndjson',
  dedups: false,
  async start() {
    const r = await startNdjsonReceiver();
    return {
      sinkYaml: [
        '  - name: http',
        '    type: http',
        '    preset: ndjson',
        `    url: ${r.url}/ingest`,
        '    concurrency: 2',
        '    batch: { max_events: 200, max_wait: 50ms }',
      ],
      ids: () => Promise.resolve(r.docs.map(eventId)),
      faults(on) {
        // Every third request busy, every seventh cut before it is read: nothing taken, all resent.
        r.setFault(on ? (n) => (n % 3 === 0 ? jsonReply(503, { error: 'busy' }, { 'Retry-After': '0' }) : n % 7 === 0 ? { kind: 'drop' } : undefined) : undefined);
      },
      stop: () => r.stop(),
      start: () => r.start(),
      close: () => r.close(),
    };
  },
};

const HEC_TOKEN = 'e2e-hec-token-0123456789';

const splunk: Preset = {
  name: 'splunk_hec',
  dedups: false,
  async start() {
    const r = await startHecReceiver({ token: HEC_TOKEN, ack: true });
    return {
      sinkYaml: [
        '  - name: http',
        '    type: http',
        '    preset: splunk_hec',
        `    url: ${r.url}`,
        `    token: ${HEC_TOKEN}`,
        '    ack: true',
        '    ack_poll_interval: 100ms',
        '    ack_timeout: 10s',
        '    concurrency: 3',
        '    batch: { max_events: 200, max_wait: 50ms }',
      ],
      ids: () => Promise.resolve(r.events.map((e) => eventIdOf(e) ?? '')),
      faults(on) {
        if (!on) {
          r.setFaultFunction(undefined);
          r.setAckPlan({ kind: 'immediate' });
          return;
        }
        // Busy now and then, a request cut before it is read; acks late, out of order, and one lost with its events
        // (never indexed: sent again after ack_timeout).
        r.setFaultFunction((ctx) => (ctx.endpoint !== 'event' ? undefined : ctx.endpointRequestNo % 4 === 0 ? { kind: 'busy' } : ctx.endpointRequestNo % 11 === 0 ? { kind: 'drop' } : undefined));
        r.setAckPlan((ctx) => (ctx.requestNo === 3 ? { kind: 'lost' } : ctx.requestNo % 3 === 0 ? { kind: 'after_polls', polls: 3 } : { kind: 'after_polls', polls: 1 + (ctx.requestNo % 2) }));
      },
      stop: () => r.stop(),
      start: () => r.start(),
      close: () => r.close(),
    };
  },
};

/** One real OpenSearch node for the file, started by the first test that needs it. */
let engine: Promise<RunningSearchEngine> | undefined;
afterAll(async () => {
  await (await engine)?.stop();
});

let namespaces = 0;

const elasticsearch: Preset = {
  name: 'elasticsearch',
  dedups: true,
  async start() {
    engine ??= startSearchEngine();
    const e = await engine;
    // OpenSearch has no built-in logs-*-* template: the data streams need one.
    await engineJson(e.url, 'PUT', '/_index_template/mimecast-e2e', { index_patterns: ['logs-mimecast.*-*'], data_stream: {}, priority: 200, template: { settings: { 'index.max_result_window': 100_000 } } });
    const ns = `e2e${++namespaces}`;
    const proxy = await startFaultProxy(e.url);
    return {
      sinkYaml: [
        '  - name: http',
        '    type: http',
        '    preset: elasticsearch',
        `    url: ${proxy.url}`,
        `    namespace: ${ns}`,
        '    concurrency: 2',
        '    batch: { max_events: 200, max_wait: 50ms }',
      ],
      async ids() {
        const pattern = `logs-mimecast.*-${ns}`;
        await engineJson(e.url, 'POST', `/${pattern}/_refresh?ignore_unavailable=true`);
        const found = await engineJson(e.url, 'GET', `/${pattern}/_search?size=10000&_source=false&ignore_unavailable=true`);
        const hits = (found['hits'] as { hits?: { _id: string }[] } | undefined)?.hits ?? [];
        return hits.map((h) => h._id);
      },
      faults(on) {
        // Every fourth bulk request busy (429), every seventh indexed by the engine but its reply lost: the resend
        // gets 409s, which count as delivered, and the index holds each event once.
        proxy.setFault(
          on
            ? (n, _m, path) =>
                !path.endsWith('/_bulk') ? { kind: 'pass' } : n % 4 === 0 ? { kind: 'answer', reply: jsonReply(429, { error: { type: 'es_rejected_execution_exception' } }, { 'Retry-After': '0' }) } : n % 7 === 0 ? { kind: 'lose_reply' } : { kind: 'pass' }
            : undefined,
        );
      },
      stop: () => proxy.stop(),
      start: () => proxy.start(),
      close: () => proxy.close(),
    };
  },
};

const PRESETS: readonly Preset[] = [ndjson, splunk, elasticsearch];

const SIM_FAULTS: SimulatorOptions['faults'] = { rateLimit429: 0.05, serverError500: 0.05, truncatedGzip: 0.05, nonJsonLines: 0.05, replayRecords: 0.1 };

let sim: RunningSimulator | undefined;
let collector: Collector | undefined;
let target: Target | undefined;

afterEach(async () => {
  await collector?.stop();
  await target?.close();
  await sim?.close();
  collector = undefined;
  target = undefined;
  sim = undefined;
});

function config(dir: string, s: RunningSimulator, t: Target, extra: { budget?: number } = {}): string {
  return sinkTestConfig(dir, s, t.sinkYaml, extra);
}

function startCollector(yaml: string): Collector {
  const c = startCollectorFrom(yaml);
  collector = c;
  return c;
}

async function fileComplete(output: string, manifest: string): Promise<Set<string>> {
  return new Set((await fileSinkComplete(output, manifest)).keys());
}

/** Polls the receiver (one request at a time) until it holds `want` distinct ids; returns every id it holds. */
async function receiverHolds(t: Target, want: number, each: () => void): Promise<string[]> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    each();
    const got = await t.ids();
    if (want > 0 && new Set(got).size >= want) return got;
    if (Date.now() > deadline) throw new Error(`timed out after 60000 ms waiting for the receiver to hold ${want} events (it holds ${new Set(got).size})`);
    await sleepMs(200);
  }
}

describe.each(PRESETS)('http sink, preset $name, end to end', (preset) => {
  it('with faults at both ends, every record the simulator served reaches the receiver, once per event.id', async () => {
    const dir = mkdtempSync(join(tmpdir(), `mc-http-${preset.name}-`));
    const manifest = join(dir, 'manifest.ndjson');
    sim = await startSimulator({ seed: `http-${preset.name}`, backlogRecords: 3000, backlogHours: 24, recordsPerBlob: 250, publishIntervalMs: 0, manifestPath: manifest, faults: SIM_FAULTS });
    target = await preset.start();
    target.faults(true);
    const t = target;
    const c = startCollector(config(dir, sim, t));
    const expected = await fileComplete(fileSinkOutput(dir), manifest);
    const got = await receiverHolds(t, expected.size, () => undefined);
    expect(new Set(got)).toEqual(expected);
    // These faults never let a receiver take a request it then fails to confirm (busy, cut before reading, a lost
    // ack with its events, a reply lost after Elasticsearch indexed: a resend is a 409 there): exactly once.
    expect(got.length).toBe(expected.size);
    expect(c.journal.deadLetterCount()).toBe(0);
    const st = c.pipeline.sinks().find((s) => s.name === 'http');
    expect(st?.retries).toBeGreaterThan(0);
  }, 180_000);

  it('an outage of the receiver: the file sink keeps delivering, the journal stays within budget, nothing is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), `mc-http-outage-${preset.name}-`));
    const manifest = join(dir, 'manifest.ndjson');
    const output = fileSinkOutput(dir);
    const budget = 2000;
    sim = await startSimulator({ seed: `http-outage-${preset.name}`, backlogRecords: 1500, backlogHours: 24, recordsPerBlob: 200, publishIntervalMs: 300, recordsPerInterval: 150, manifestPath: manifest });
    target = await preset.start();
    const t = target;
    const c = startCollector(config(dir, sim, t, { budget }));
    await waitFor(() => c.pipeline.sinks().find((s) => s.name === 'http')?.delivered !== 0, 30_000, 'a first delivery to the receiver');
    await t.stop();
    // Sends already in flight find out at their own pace (a HEC send waiting for its ack, until ack_timeout).
    await waitFor(() => c.pipeline.sinks().find((s) => s.name === 'http')?.state === 'retrying', 30_000, 'the http sink retrying');
    let peak = 0;
    for (let i = 0; i < 30; i++) {
      peak = Math.max(peak, c.journal.usage().events);
      await sleepMs(100);
    }
    // The file sink delivers everything journaled (publishing goes on until the journal's budget pauses the
    // sources), while the http sink's backlog waits in the journal.
    await waitFor(() => c.journal.backlog('file').events === 0, 20_000, 'the file sink caught up during the outage');
    expect(c.journal.backlog('http').events).toBeGreaterThan(0);
    expect(c.pipeline.sinks().find((s) => s.name === 'http')?.state).toBe('retrying');
    await t.start();
    // Stop publishing, then everything published must arrive.
    sim.stopPublishing();
    const expected = await fileComplete(output, manifest);
    const got = await receiverHolds(t, expected.size, () => {
      peak = Math.max(peak, c.journal.usage().events);
    });
    expect(new Set(got)).toEqual(expected);
    // A request cut by the outage after the receiver took it is sent again: only Elasticsearch's _id absorbs that.
    if (preset.dedups) expect(got.length).toBe(expected.size);
    expect(peak).toBeLessThanOrEqual(budget);
    expect(c.journal.deadLetterCount()).toBe(0);
  }, 180_000);
});

describe('an http sink its receiver refuses (401), as a user starting `run` sees it', () => {
  it('says on stderr which sink stopped and why, keeps its events, and the file sink delivers everything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-http-401-'));
    const manifest = join(dir, 'manifest.ndjson');
    sim = await startSimulator({ seed: 'http-401', backlogRecords: 500, backlogHours: 24, recordsPerBlob: 100, publishIntervalMs: 0, manifestPath: manifest });
    const r = await startNdjsonReceiver();
    r.setFault(() => jsonReply(401, { error: 'invalid api key' }));
    target = { sinkYaml: ['  - name: gateway', '    type: http', '    preset: ndjson', `    url: ${r.url}/ingest`], ids: () => Promise.resolve([]), faults: () => undefined, stop: () => r.stop(), start: () => r.start(), close: () => r.close() };
    const cfg = join(dir, 'collector.yaml');
    writeFileSync(cfg, config(dir, sim, target).replace('log_level: silent', 'log_level: error').concat(`http: { listen: 127.0.0.1:0 }\n`));
    const log = join(dir, 'collector.log');
    const child = spawnCli(['run', '--config', cfg], log);
    try {
      await fileComplete(fileSinkOutput(dir), manifest);
      await waitFor(() => readFileSync(log, 'utf8').includes('error: sinks[0] (gateway) stopped'), 30_000, 'the stopped sink on stderr');
      const text = readFileSync(log, 'utf8');
      expect(text).toMatch(/error: sinks\[0\] \(gateway\) stopped: sink gateway: POST \/ingest answered HTTP 401: \{"error":"invalid api key"\}\. Fix its configuration and restart; its events are kept in the journal and the other sinks go on\./);
      // Said once, not per batch.
      expect(text.split('error: sinks[0] (gateway) stopped').length - 1).toBe(1);
      expect(r.docs).toHaveLength(0);
    } finally {
      child.proc.kill('SIGTERM');
      await child.exited;
    }
  }, 120_000);
});
