// SIGKILL with http sinks: a real collector process delivering to a real OpenSearch node and to the HEC receiver
// (indexer acks on) is killed at random moments and restarted. Every record arrives, resends carry the same
// event.id, and Elasticsearch's _id keeps the index free of duplicates: its count equals the records published.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { eventIdOf, startHecReceiver, type HecReceiver } from '../src/testkit/hec-receiver.js';
import { eventId, outputKey, readManifest, readOutput, recordKey, sleepMs, spawnCli, waitFor, writeConfig } from './helpers/harness.js';
import { engineJson, startSearchEngine, type RunningSearchEngine } from '../src/testkit/search-engine.js';

const KILLS = 5;
const HEC_TOKEN = 'crash-hec-token-0123456789';

describe('crash safety with http sinks (SIGKILL at random moments)', () => {
  let sim: RunningSimulator | undefined;
  let engine: RunningSearchEngine | undefined;
  let hec: HecReceiver | undefined;
  afterAll(async () => {
    await sim?.close();
    await hec?.close();
    await engine?.stop();
  });

  it('every record reaches Elasticsearch exactly once (count = records) and Splunk at least once, with the same event.ids', async () => {
    engine = await startSearchEngine();
    await engineJson(engine.url, 'PUT', '/_index_template/mimecast-crash', { index_patterns: ['logs-mimecast.*-*'], data_stream: {}, priority: 200, template: { settings: { 'index.max_result_window': 100_000 } } });
    hec = await startHecReceiver({ token: HEC_TOKEN, ack: true });
    const dir = mkdtempSync(join(tmpdir(), 'mc-http-crash-'));
    const manifest = join(dir, 'manifest.ndjson');
    const output = join(dir, 'out', 'events.ndjson');
    const log = join(dir, 'collector.log');
    sim = await startSimulator({
      seed: 'http-crash',
      backlogRecords: 8000,
      backlogHours: 24,
      recordsPerBlob: 300,
      publishIntervalMs: 500,
      recordsPerInterval: 200,
      manifestPath: manifest,
      faults: { rateLimit429: 0.05, serverError500: 0.05, truncatedGzip: 0.05, replayRecords: 0.1 },
    });
    const config = writeConfig(
      join(dir, 'collector.yaml'),
      [
        `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
        'log_level: warn',
        'shutdown_timeout: 5s',
        'accounts:',
        '  - name: sim',
        `    base_url: ${sim.url}`,
        `    client_id: ${JSON.stringify(sim.clientId)}`,
        `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
        '    start_from: 7d',
        '    poll_interval: 1s',
        '    streams: { siem: { chunk_events: 250 } }',
        'sinks:',
        '  - name: elastic',
        '    type: http',
        '    preset: elasticsearch',
        `    url: ${engine.url}`,
        '    namespace: crash',
        '    concurrency: 2',
        '    batch: { max_events: 300, max_wait: 100ms }',
        '  - name: splunk',
        '    type: http',
        '    preset: splunk_hec',
        `    url: ${hec.url}`,
        `    token: ${HEC_TOKEN}`,
        '    ack: true',
        '    ack_poll_interval: 100ms',
        '    concurrency: 2',
        '    batch: { max_events: 300, max_wait: 100ms }',
        '  - name: file',
        '    type: file',
        `    path: ${JSON.stringify(output)}`,
        '    batch: { max_events: 300, max_wait: 100ms }',
        '',
      ].join('\n'),
    );

    let seed = 4242;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < KILLS; i++) {
      const child = spawnCli(['run', '--config', config], log);
      await sleepMs(1000 + Math.floor(rand() * 2500));
      child.proc.kill('SIGKILL');
      expect((await child.exited).signal).toBe('SIGKILL');
    }

    sim.stopPublishing();
    const published = new Set(readManifest(manifest).map(recordKey));
    expect(published.size).toBe(sim.publishedRecords());
    const final = spawnCli(['run', '--config', config], log);
    const e = engine;
    const h = hec;
    let esCount = 0;
    try {
      await waitFor(
        () => {
          const seen = new Set(readOutput(output).map(outputKey));
          for (const k of published) if (!seen.has(k)) return false;
          return true;
        },
        150_000,
        'every published record in the file sink',
        1000,
      );
      const expected = new Set(readOutput(output).map(eventId));
      expect(expected.size).toBe(published.size);
      // Splunk and Elasticsearch catch up with the file sink.
      await waitFor(() => new Set(h.events.map((ev) => eventIdOf(ev))).size >= expected.size, 60_000, 'every event in the HEC receiver', 500);
      for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
        await engineJson(e.url, 'POST', '/logs-mimecast.*-crash/_refresh');
        esCount = Number((await engineJson(e.url, 'GET', '/logs-mimecast.*-crash/_count'))['count']);
        if (esCount >= expected.size) break;
        await sleepMs(500);
      }
      expect(esCount).toBe(expected.size);
      const found = await engineJson(e.url, 'GET', `/logs-mimecast.*-crash/_search?size=${expected.size + 10}&_source=false`);
      const ids = ((found['hits'] as { hits?: { _id: string }[] }).hits ?? []).map((x) => x._id);
      expect(new Set(ids)).toEqual(expected);
      const hecIds = h.events.map((ev) => eventIdOf(ev) ?? '');
      expect(new Set(hecIds)).toEqual(expected);
      console.log(`http crash test: ${published.size} records; Elasticsearch holds ${esCount}; the HEC receiver indexed ${hecIds.length} (${hecIds.length - expected.size} resent after kills)`);
    } finally {
      final.proc.kill('SIGTERM');
      await final.exited;
    }
  }, 300_000);
});
