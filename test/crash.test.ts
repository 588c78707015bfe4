// Crash test: a real collector process against the faulty simulator, SIGKILLed at random moments and restarted;
// afterwards every record the simulator published is in the file sink's output, duplicates bounded by in-flight batches.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkEventContract } from '../src/normalize/contract.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { collectorYaml, eventId, outputKey, readManifest, readOutput, recordKey, sleepMs, spawnCli, waitFor, writeConfig } from './helpers/harness.js';
import { compare, killLoop, manifestOf, multiYaml, quarantineOf, runUntil } from './helpers/streams.js';

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
    const starts = (): number => (existsSync(log) ? readFileSync(log, 'utf8').split('"collector started"').length - 1 : 0);
    for (let i = 0; i < KILLS; i++) {
      const started = starts();
      const child = spawnCli(['run', '--config', config], log);
      // The random moment counts from the start-up being done (on a loaded machine it alone can take seconds).
      await waitFor(() => starts() > started, 30_000, `collector start ${i + 1}`, 50);
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

  it('both API generations with every fault, cut and corrupt files and storage redirects included, 8 kills: nothing missing, every line parses', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-crash-all-'));
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    const dataDir = join(dir, 'data');
    const output = join(dir, 'out', 'events.ndjson');
    const log = join(dir, 'collector.log');
    await sim?.close();
    sim = await startSimulator({
      seed: 'crash-all-faults',
      backlogRecords: 1500,
      backlogHours: 6,
      recordsPerBlob: 60,
      siemV1RecordsPerFile: 40,
      publishIntervalMs: 700,
      recordsPerInterval: 30,
      manifestDir: manifests,
      streamShare: { siem_v1: 1, ttp_url: 0, ttp_attachment: 0, ttp_impersonation: 0, audit: 0, dlp: 0, held_release: 0, archive_search: 0, threat_intel: 0 },
      faults: {
        rateLimit429: 0.05,
        serverError500: 0.05,
        slowReplyMs: 200,
        slowReplyRate: 0.1,
        earlyTokenExpiry: 0.3,
        expiredBlob: 0.05,
        redirectBlob: 0.15,
        truncatedGzip: 0.08,
        nonJsonLines: 0.1,
        replayRecords: 0.1,
        truncatedFile: 0.08,
        corruptZip: 0.08,
      },
    });
    const s = sim;
    const config = writeConfig(
      join(dir, 'collector.yaml'),
      multiYaml({
        dataDir,
        output,
        sinkMaxEvents: 100,
        accounts: [
          { name: 'one', api: 'v1', sim: s, streams: ['siem: { file_format: json, compress: true, chunk_events: 15 }'] },
          { name: 'two', api: 'v2', sim: s, streams: ['siem: { chunk_events: 15 }'] },
        ],
      }),
    );
    const hits = await killLoop({ config, dataDir, log, kills: 8, midway: (cursors) => [...cursors.values()].some((c) => c.includes('"record"') || c.includes('"page"')) });
    s.stopPublishing();
    const missing = (): number =>
      compare(readOutput(output), manifestOf(manifests, 'siem_v1'), 'one', 'siem').missing.length + compare(readOutput(output), manifestOf(manifests, 'siem'), 'two', 'siem').missing.length;
    expect(await runUntil(config, log, () => missing() === 0, 120_000, 'every record of both generations in the output')).toBe(0);
    // readOutput parses every line: a torn or half-written line would have thrown (the collector has stopped).
    const docs = readOutput(output, { settled: true });
    const v1 = compare(docs, manifestOf(manifests, 'siem_v1'), 'one', 'siem');
    const v2 = compare(docs, manifestOf(manifests, 'siem'), 'two', 'siem');
    for (const c of [v1, v2]) {
      expect(c.missing.slice(0, 3)).toEqual([]);
      expect(c.unknown.slice(0, 3)).toEqual([]);
      expect(c.unstableIds).toBe(0);
      expect(c.expected).toBeGreaterThan(500);
    }
    expect(docs.flatMap((d) => checkEventContract(d)).slice(0, 5)).toEqual([]);
    // No file was given up: every fault was ridden out.
    expect(quarantineOf(dataDir).filter((q) => q.reason.startsWith('blob_') || q.location.includes('file='))).toEqual([]);
    const faults = s.stats().faults;
    for (const f of ['redirectBlob', 'truncatedGzip', 'truncatedFile', 'corruptZip', 'expiredBlob', 'rateLimit429', 'serverError500'] as const) {
      expect(faults[f], f).toBeGreaterThan(0);
    }
    expect(hits).toBeGreaterThanOrEqual(4);
    console.log(`crash test (both generations): v1 ${v1.expected} records, v2 ${v2.expected} records, ${docs.length} lines, ${hits}/8 kills mid-file; faults ${JSON.stringify(faults)}`);
  }, 300_000);
});
