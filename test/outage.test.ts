// Sink outage: the file sink cannot write for a while; the sources pause at the journal budget, then everything flows.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCollector, type Collector } from '../src/app.js';
import { parseConfigText } from '../src/config/load.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { startStatusServer, type StatusServer } from '../src/telemetry/status-server.js';
import { collectorYaml, eventId, outputKey, readManifest, readOutput, recordKey, sleepMs, waitFor } from './helpers/harness.js';

const BUDGET = 2000;
const CHUNK = 100;
const TYPES = ['receipt', 'process', 'delivery', 'spam', 'journal'];

describe('sink outage', () => {
  let sim: RunningSimulator | undefined;
  let collector: Collector | undefined;
  let server: StatusServer | undefined;
  afterAll(async () => {
    await server?.close();
    await collector?.stop();
    await sim?.close();
  });

  it('pauses sources at the journal budget and loses nothing once the sink is back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-outage-'));
    const manifest = join(dir, 'manifest.ndjson');
    const outDir = join(dir, 'out');
    const output = join(outDir, 'events.ndjson');
    sim = await startSimulator({ seed: 'outage', backlogRecords: 15_000, backlogHours: 24, recordsPerBlob: 300, publishIntervalMs: 0, manifestPath: manifest });
    const { config, issues } = parseConfigText(
      collectorYaml(sim, { dataDir: join(dir, 'data'), output, chunkEvents: CHUNK, journalMaxEvents: BUDGET, types: TYPES }),
      {},
    );
    expect(issues).toEqual([]);
    if (config === undefined) return;
    // The sink's directory is "unwritable": a regular file stands where the directory should be.
    writeFileSync(outDir, 'blocked');

    collector = buildCollector(config, silentLogger());
    collector.start();
    const c = collector;
    let peak = 0;
    await waitFor(
      () => {
        peak = Math.max(peak, c.journal.usage().events);
        return c.pipeline.sources().some((s) => s.state === 'paused');
      },
      60_000,
      'a source paused at the journal budget',
      50,
    );
    // Hold the outage a while: the journal must stay bounded, the sink keeps retrying.
    for (let i = 0; i < 20; i++) {
      peak = Math.max(peak, c.journal.usage().events);
      await sleepMs(100);
    }
    // A chunk that would cross the budget is not written (it is pulled again once there is room), so the journal
    // fills up to within one chunk of the budget and never past it.
    expect(peak).toBeGreaterThan(BUDGET - CHUNK);
    expect(peak).toBeLessThanOrEqual(BUDGET);
    expect(c.journal.usage().waiting).toBeGreaterThan(0);
    const sink = c.pipeline.sinks()[0];
    expect(sink?.state).toBe('retrying');
    expect(sink?.lastError?.message).toContain(output);
    expect(existsSync(output)).toBe(false);

    // Failing for longer than unready_after: /readyz says so, naming the sink and its error.
    server = await startStatusServer('127.0.0.1:0', c.pipeline, c.journal, silentLogger(), { unreadyAfterMs: 1_000 });
    const url = server.url;
    await waitFor(() => (c.pipeline.sinks()[0]?.failingSince ?? Date.now()) <= Date.now() - 1_000, 10_000, 'a sink failing for 1 s');
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    const ready = (await res.json()) as { status: string; failing_sinks: { name: string; error?: string }[] };
    expect(ready.status).toBe('degraded');
    expect(ready.failing_sinks.map((s) => s.name)).toEqual(['file']);
    expect(ready.failing_sinks[0]?.error).toContain(output);

    // The operator fixes it.
    rmSync(outDir);
    mkdirSync(outDir);
    const published = new Set(readManifest(manifest).filter((r) => TYPES.includes(String(r['type']))).map(recordKey));
    expect(published.size).toBeGreaterThan(5000);
    // The sink's receiver is probed while it waits to retry: the first delivery follows within seconds.
    await waitFor(() => existsSync(output), 15_000, 'a delivery soon after the fix', 50);
    await waitFor(() => readOutput(output).length >= published.size, 90_000, 'all records delivered', 250);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    await sleepMs(300);
    const docs = readOutput(output);
    const keys = new Set(docs.map(outputKey));
    expect([...published].filter((k) => !keys.has(k))).toEqual([]);
    expect(docs.length).toBe(keys.size);
    expect(new Set(docs.map(eventId)).size).toBe(docs.length);
    expect(c.journal.usage().events).toBe(0);
  }, 180_000);
});
