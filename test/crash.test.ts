// Crash test: a real collector process against the faulty simulator, SIGKILLed at random moments and restarted;
// afterwards every record the simulator published is in the file sink's output, duplicates bounded by in-flight batches.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkEventContract } from '../src/normalize/contract.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { collectorYaml, eventId, outputKey, readManifest, readOutput, recordKey, sleepMs, spawnCli, waitFor, writeConfig } from './helpers/harness.js';

const KILLS = 6;
const SINK_BATCH = 300;

describe('crash safety (SIGKILL at random moments)', () => {
  let sim: RunningSimulator | undefined;
  afterAll(async () => {
    await sim?.close();
  });

  it('loses nothing and duplicates at most the in-flight batches', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-crash-'));
    const manifest = join(dir, 'manifest.ndjson');
    const output = join(dir, 'out', 'events.ndjson');
    const log = join(dir, 'collector.log');
    sim = await startSimulator({
      seed: 'crash-test',
      backlogRecords: 30_000,
      backlogHours: 48,
      recordsPerBlob: 400,
      publishIntervalMs: 500,
      recordsPerInterval: 300,
      manifestPath: manifest,
      faults: {
        rateLimit429: 0.05,
        serverError500: 0.05,
        slowReplyMs: 300,
        slowReplyRate: 0.1,
        earlyTokenExpiry: 0.5,
        expiredBlob: 0.05,
        truncatedGzip: 0.05,
        nonJsonLines: 0.1,
        replayRecords: 0.1,
      },
    });
    const config = writeConfig(join(dir, 'collector.yaml'), collectorYaml(sim, { dataDir: join(dir, 'data'), output, chunkEvents: 250, sinkMaxEvents: SINK_BATCH }));

    // Kill it at random moments while it works through the backlog and new batches keep appearing.
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < KILLS; i++) {
      const child = spawnCli(['run', '--config', config], log);
      await sleepMs(800 + Math.floor(rand() * 2500));
      child.proc.kill('SIGKILL');
      const exit = await child.exited;
      expect(exit.signal).toBe('SIGKILL');
    }
    const progressAfterKills = readOutput(output).length;
    expect(progressAfterKills).toBeGreaterThan(0);

    // Let it finish: stop publishing, run until every manifest record is out, then stop it gracefully.
    sim.stopPublishing();
    const published = new Set(readManifest(manifest).map(recordKey));
    expect(published.size).toBe(sim.publishedRecords());
    const final = spawnCli(['run', '--config', config], log);
    await waitFor(
      () => {
        const seen = new Set(readOutput(output).map(outputKey));
        for (const k of published) if (!seen.has(k)) return false;
        return true;
      },
      120_000,
      'every published record in the output',
      1000,
    );
    final.proc.kill('SIGTERM');
    expect((await final.exited).code).toBe(0);

    const docs = readOutput(output);
    const problems = docs.flatMap((d) => checkEventContract(d)).slice(0, 5);
    expect(problems).toEqual([]);
    // Zero loss.
    const byRecord = new Map<string, Set<string>>();
    for (const d of docs) {
      const k = outputKey(d);
      const ids = byRecord.get(k) ?? new Set<string>();
      ids.add(eventId(d));
      byRecord.set(k, ids);
    }
    const missing = [...published].filter((k) => !byRecord.has(k));
    expect(missing).toEqual([]);
    // Nothing that was never published.
    expect([...byRecord.keys()].filter((k) => !published.has(k))).toEqual([]);
    // A record always carries the same event.id, and duplicates are bounded by the batches in flight at each kill.
    expect([...byRecord.values()].filter((ids) => ids.size !== 1)).toEqual([]);
    const duplicates = docs.length - byRecord.size;
    expect(duplicates).toBeLessThanOrEqual(KILLS * SINK_BATCH);
    const stats = sim.stats();
    // The faults really happened (otherwise this test proves less than it claims).
    for (const f of ['rateLimit429', 'serverError500', 'expiredBlob', 'truncatedGzip', 'nonJsonLines', 'replayRecords'] as const) {
      expect(stats.faults[f], f).toBeGreaterThan(0);
    }
    console.log(
      `crash test: ${published.size} records, ${docs.length} lines, ${duplicates} duplicate lines after ${KILLS} kills; faults injected: ${JSON.stringify(stats.faults)}`,
    );
  }, 240_000);
});
