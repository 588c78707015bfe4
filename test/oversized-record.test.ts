// A real collector process against SIEM 2.0 files that each hold a 50 MB line: it keeps running, every record flows,
// each big line is quarantined once, and SIGTERM still ends it with 0 (it used to abort with exit 134 at every start).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { collectorYaml, outputKey, readManifest, readOutput, recordKey, spawnCli, waitFor, writeConfig } from './helpers/harness.js';
import { peakRss } from './helpers/hostile.js';

describe('a SIEM 2.0 record far over the cap', () => {
  let sim: RunningSimulator | undefined;
  afterAll(async () => {
    await sim?.close();
  });

  it('the process survives, the good records are delivered, each big line is one quarantine entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-oversized-'));
    const manifest = join(dir, 'manifest.ndjson');
    const output = join(dir, 'out', 'events.ndjson');
    const log = join(dir, 'collector.log');
    sim = await startSimulator({
      seed: 'oversized',
      backlogRecords: 600,
      backlogHours: 2,
      recordsPerBlob: 100,
      publishIntervalMs: 0,
      manifestPath: manifest,
      faults: { oversizedLineBytes: 50 * 1024 * 1024 },
    });
    const config = writeConfig(join(dir, 'collector.yaml'), collectorYaml(sim, { dataDir: join(dir, 'data'), output, types: ['receipt', 'delivery'], startFrom: '1d' }));
    const published = new Set(readManifest(manifest).filter((r) => r['type'] === 'receipt' || r['type'] === 'delivery').map(recordKey));
    expect(published.size).toBeGreaterThan(0);
    const child = spawnCli(['run', '--config', config], log);
    await waitFor(
      () => {
        // A collector that died (it used to abort with 134 on the big line, and again at every restart) fails at once.
        if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`collector exited (${child.proc.exitCode ?? child.proc.signalCode})`);
        const seen = new Set(readOutput(output).map(outputKey));
        for (const k of published) if (!seen.has(k)) return false;
        return true;
      },
      90_000,
      'every published receipt and delivery record in the output',
      500,
    );
    // The 50 MB lines were skipped as they streamed, never held: memory stays under the documented bound.
    const peak = await peakRss(child.proc.pid ?? 0);
    child.proc.kill('SIGTERM');
    expect((await child.exited).code).toBe(0);
    expect(peak).toBeDefined();
    expect(peak ?? Infinity).toBeLessThan(400 * 1024 * 1024);
    const files = sim.stats().faults.oversizedLine;
    expect(files).toBeGreaterThan(0);
    const quarantined = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"record quarantined"'))
      .map((l) => JSON.parse(l) as { reason: string; location: string });
    expect(quarantined.length).toBe(files);
    expect(quarantined.every((q) => q.reason === 'record_too_large' && /,line=2$/.test(q.location))).toBe(true);
  }, 120_000);
});
