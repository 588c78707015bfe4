// SiemV1Source against the simulator's get-siem-logs with many files cut or corrupt: every manifest record arrives.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Batch, NormalizedEvent } from '../../../core/contracts.js';
import type { RetryPolicy } from '../../../core/retry.js';
import { MimecastV1Client } from '../../../mimecast/v1client.js';
import { startSimulator, type RunningSimulator, type SimulatorFaults } from '../../../simulator/index.js';
import { silentLogger } from '../../../telemetry/logger.js';
import { SiemV1Source } from './source.js';

const FAST: RetryPolicy = { retries: 3, minDelayMs: 1, maxDelayMs: 5, factor: 2 };

/** Key order does not matter when comparing a record with its manifest line. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
    .join(',')}}`;
}

function keepRecord(record: unknown, ctx: { account: string }): NormalizedEvent {
  const text = canonical(record);
  return { id: text, stream: 'siem', account: ctx.account, time: '2024-03-01T00:00:00.000Z', doc: {} };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

interface Run {
  sim: RunningSimulator;
  batches: Batch[];
  manifest: string[];
  /** Virtual time the source spent waiting between attempts. */
  waitedMs: number;
}

async function runAgainstFaults(format: 'json' | 'key_value', compress: boolean, faults: SimulatorFaults, seed: string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'mc-siemv1-faults-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const sim = await startSimulator({
    seed,
    publishIntervalMs: 0,
    backlogRecords: 1200,
    backlogHours: 6,
    siemV1RecordsPerFile: 40,
    manifestDir: dir,
    ...(format === 'key_value' ? { manifestSiemV1As: 'key_value' as const } : {}),
    streamShare: { siem_v1: 1, ttp_url: 0, ttp_attachment: 0, ttp_impersonation: 0, audit: 0, dlp: 0, held_release: 0, archive_search: 0, threat_intel: 0 },
  });
  cleanups.push(() => sim.close());
  const api = new MimecastV1Client({ baseUrl: sim.url, appId: sim.appId, appKey: sim.appKey, accessKey: sim.accessKey, secretKey: sim.secretKey, retry: FAST });
  cleanups.push(() => api.close());
  sim.setFaults(faults);
  // The production retry logic on a virtual clock: each wait moves the clock instead of sleeping.
  let clock = 1_700_000_000_000;
  let waitedMs = 0;
  const source = new SiemV1Source({
    account: 'corp',
    api,
    fileFormat: format,
    compress,
    chunkEvents: 7,
    logger: silentLogger(),
    normalize: keepRecord,
    now: () => clock,
    sleep: (ms: number) => {
      clock += ms;
      waitedMs += ms;
      return Promise.resolve();
    },
  });
  const batches: Batch[] = [];
  let cursor: string | undefined;
  // One pull runs to the end of the chain; a second from its cursor must find nothing new.
  for (let cycle = 0; cycle < 2; cycle++) {
    for await (const b of source.pull(cursor, new AbortController().signal)) {
      batches.push(b);
      cursor = b.cursor;
    }
  }
  const manifest = readFileSync(join(dir, 'siem_v1.ndjson'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => canonical(JSON.parse(l)));
  return { sim, batches, manifest, waitedMs };
}

function check(r: Run): void {
  const got = r.batches.flatMap((b) => b.events.map((e) => e.id));
  const have = new Set(got);
  const missing = r.manifest.filter((m) => !have.has(m));
  expect(r.manifest.length).toBeGreaterThan(1000);
  expect(missing.length).toBe(0);
  expect(got.length).toBe(r.manifest.length);
  expect(r.batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
}

describe('SiemV1Source under cut and corrupt files', () => {
  it('zipped json, about 30% of downloads cut or corrupt: nothing lost, nothing twice', async () => {
    const r = await runAgainstFaults('json', true, { truncatedFile: 0.15, corruptZip: 0.15 }, 'v1-faults-zip');
    const faults = r.sim.stats().faults;
    expect((faults.truncatedFile ?? 0) + (faults.corruptZip ?? 0)).toBeGreaterThan(10);
    check(r);
    expect(r.waitedMs).toBeGreaterThan(0);
  }, 60_000);

  it('plain json, 25% of downloads cut: nothing lost, nothing twice', async () => {
    const r = await runAgainstFaults('json', false, { truncatedFile: 0.25 }, 'v1-faults-json');
    expect(r.sim.stats().faults.truncatedFile ?? 0).toBeGreaterThan(5);
    check(r);
  }, 60_000);

  it('zipped key_value, about 30% cut or corrupt: nothing lost, nothing twice', async () => {
    const r = await runAgainstFaults('key_value', true, { truncatedFile: 0.15, corruptZip: 0.15 }, 'v1-faults-kv');
    check(r);
  }, 60_000);
});
