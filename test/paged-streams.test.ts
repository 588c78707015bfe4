// End to end, the time-window streams and the threat-intel feed: a real collector process against the faulty simulator,
// SIGKILLed mid-pagination and restarted, late-arriving records on; every manifest record delivered, none twice.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEventContract } from '../src/normalize/contract.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { readOutput, writeConfig } from './helpers/harness.js';
import { compare, killLoop, manifestOf, multiYaml, quarantineOf, runUntil, type Comparison } from './helpers/streams.js';

const PAGED = ['ttp_url', 'ttp_attachment', 'ttp_impersonation', 'audit', 'dlp', 'held_release', 'archive_search'] as const;
const KILLS = 3;
const SINK_BATCH = 100;

describe('every time-window stream and threat_intel, end to end with faults, kills and late arrivals', () => {
  let sim: RunningSimulator | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'mc-paged-e2e-'));
  const manifests = join(dir, 'manifests');
  const dataDir = join(dir, 'data');
  const output = join(dir, 'out', 'events.ndjson');
  const log = join(dir, 'collector.log');
  let docs: Record<string, unknown>[] = [];
  let midwayKills = 0;
  let quarantinedFiles = 0;
  const results = new Map<string, Comparison>();

  beforeAll(async () => {
    mkdirSync(manifests, { recursive: true });
    sim = await startSimulator({
      seed: 'paged-e2e',
      backlogRecords: 2000,
      backlogHours: 24,
      publishIntervalMs: 700,
      recordsPerInterval: 40,
      manifestDir: manifests,
      streamShare: { siem_v1: 0, ttp_url: 0.2, ttp_attachment: 0.1, ttp_impersonation: 0.08, audit: 0.08, dlp: 0.08, held_release: 0.08, archive_search: 0.08, threat_intel: 0.1 },
      threatIntelObjectsPerFile: 20,
      lateArrivalMs: 4000,
      lateArrivalShare: 0.3,
      emptyLastPage: true,
      faults: { rateLimit429: 0.05, serverError500: 0.05, apiFail200: 0.05, slowReplyMs: 200, slowReplyRate: 0.2, truncatedFile: 0.25 },
    });
    // Small pages so each window takes many calls (and a kill lands between two of them); a short settle and an
    // overlap well above the late-arrival delay.
    const paged = PAGED.map((s) => `${s}: { page_size: 15, overlap: 30s, settle: 2s, max_window: 12h }`);
    const config = writeConfig(
      join(dir, 'collector.yaml'),
      multiYaml({
        dataDir,
        output,
        sinkMaxEvents: SINK_BATCH,
        accounts: [{ name: 'corp', api: 'v2', sim, streams: [...paged, 'threat_intel: { feeds: [malware_customer, malware_grid] }'] }],
      }),
    );
    midwayKills = await killLoop({
      config,
      dataDir,
      log,
      kills: KILLS,
      midway: (cursors) => [...cursors.values()].some((c) => c.includes('"pageToken"')),
    });
    sim.stopPublishing();
    const lostThreatIntelBound = (): number => {
      quarantinedFiles = quarantineOf(dataDir).filter((r) => r.key.startsWith('corp/threat_intel/') && r.reason === 'truncated_file').length;
      return quarantinedFiles * 20;
    };
    const done = (): boolean => {
      const out = readOutput(output);
      const pagedDone = PAGED.every((name) => compare(out, manifestOf(manifests, name), 'corp', name).missing.length === 0);
      return pagedDone && compare(out, manifestOf(manifests, 'threat_intel'), 'corp', 'threat_intel').missing.length <= lostThreatIntelBound();
    };
    // Late records become visible up to lateArrivalMs after publication; the collector's overlap picks them up.
    const code = await runUntil(config, log, done, 90_000, 'every manifest record of every stream in the output');
    expect(code).toBe(0);
    docs = readOutput(output);
    lostThreatIntelBound();
    for (const name of [...PAGED, 'threat_intel']) results.set(name, compare(docs, manifestOf(manifests, name), 'corp', name));
    const summary = [...results].map(([k, c]) => `${k}=${c.expected}/${c.lines}`).join(' ');
    console.log(`paged e2e: ${summary}; ${midwayKills}/${KILLS} kills mid-pagination; ${quarantinedFiles} feed files cut; faults ${JSON.stringify(sim.stats().faults)}`);
  }, 180_000);

  afterAll(async () => {
    await sim?.close();
  });

  it('killed the collector mid-pagination, and the faults really happened', () => {
    expect(midwayKills).toBeGreaterThanOrEqual(1);
    const faults = sim?.stats().faults;
    for (const f of ['rateLimit429', 'serverError500', 'apiFail200', 'slowReply'] as const) expect(faults?.[f], f).toBeGreaterThan(0);
  });

  it('every output line passes the event contract', () => {
    expect(docs.length).toBeGreaterThan(0);
    expect(docs.flatMap((d) => checkEventContract(d)).slice(0, 5)).toEqual([]);
  });

  for (const stream of PAGED) {
    it(`${stream}: every manifest record delivered once (same event.id on any re-delivery), nothing else`, () => {
      const c = results.get(stream);
      expect(c?.expected).toBeGreaterThan(20);
      expect(c?.missing.slice(0, 3)).toEqual([]);
      expect(c?.unknown.slice(0, 3)).toEqual([]);
      expect(c?.unstableIds).toBe(0);
      // A sink may see the batch in flight at a kill again; nothing beyond that.
      expect(c?.duplicateLines).toBeLessThanOrEqual(KILLS * SINK_BATCH);
    });
  }

  it('threat_intel: every object of both feeds delivered (cut files are fetched again), except files that stayed cut on every attempt', () => {
    const c = results.get('threat_intel');
    expect(c?.expected).toBeGreaterThan(20);
    expect(c?.missing.length).toBeLessThanOrEqual(quarantinedFiles * 20);
    if (quarantinedFiles === 0) expect(c?.missing).toEqual([]);
    expect(c?.unknown.slice(0, 3)).toEqual([]);
    expect(c?.unstableIds).toBe(0);
    expect(c?.duplicateLines).toBeLessThanOrEqual(KILLS * SINK_BATCH);
  });
});
