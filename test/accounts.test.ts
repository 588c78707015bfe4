// End to end, accounts: a v1 and a v2 account in one config (region discovery, an unlicensed stream disabled with
// one warning while the others flow, a SIGKILL mid-pagination), and expired API 1.0 keys failing at start-up.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkEventContract } from '../src/normalize/contract.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { readOutput, spawnCli, writeConfig } from './helpers/harness.js';
import { compare, killLoop, manifestOf, multiYaml, runUntil } from './helpers/streams.js';

const TYPES = ['receipt', 'delivery'];
const SINK_BATCH = 100;

function logLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('accounts end to end', () => {
  let sim: RunningSimulator | undefined;
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it('a v2 and a v1 account in one config: all their streams delivered, an unlicensed one disabled with one warning', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-accounts-'));
    const manifests = join(dir, 'manifests');
    mkdirSync(manifests);
    const dataDir = join(dir, 'data');
    const output = join(dir, 'out', 'events.ndjson');
    sim = await startSimulator({
      seed: 'accounts-e2e',
      backlogRecords: 1500,
      backlogHours: 12,
      recordsPerBlob: 100,
      publishIntervalMs: 700,
      recordsPerInterval: 30,
      manifestDir: manifests,
      unlicensed: ['dlp'],
      streamShare: { siem_v1: 0, ttp_url: 0.2, audit: 0.1, ttp_attachment: 0, ttp_impersonation: 0, dlp: 0.05, held_release: 0, archive_search: 0, threat_intel: 0 },
      faults: { rateLimit429: 0.05, serverError500: 0.05, apiFail200: 0.05, slowReplyMs: 200, slowReplyRate: 0.2, expiredBlob: 0.05, truncatedGzip: 0.05 },
    });
    const config = writeConfig(
      join(dir, 'collector.yaml'),
      multiYaml({
        dataDir,
        output,
        sinkMaxEvents: SINK_BATCH,
        accounts: [
          {
            name: 'modern',
            api: 'v2',
            sim,
            streams: [`siem: { types: [${TYPES.join(', ')}], chunk_events: 50 }`, 'audit: { page_size: 20, settle: 2s, overlap: 30s }', 'dlp: {}'],
          },
          { name: 'legacy', api: 'v1', sim, discoverEmail: 'svc-siem@corp.example', streams: ['ttp_url: { page_size: 15, settle: 2s, overlap: 30s }'] },
        ],
      }),
    );
    const hits = await killLoop({
      config,
      dataDir,
      log: join(dir, 'killed-runs.log'),
      kills: 1,
      midway: (cursors) => [...cursors.entries()].some(([k, c]) => k.startsWith('legacy/ttp_url') && c.includes('"pageToken"')),
    });
    sim.stopPublishing();
    const s = sim;
    const finalLog = join(dir, 'final-run.log');
    const siemManifest = (): Record<string, unknown>[] => manifestOf(manifests, 'siem').filter((r) => TYPES.includes(String(r['type'])));
    const done = (): boolean => {
      const out = readOutput(output);
      return (
        compare(out, siemManifest(), 'modern', 'siem').missing.length === 0 &&
        compare(out, manifestOf(manifests, 'audit'), 'modern', 'audit').missing.length === 0 &&
        compare(out, manifestOf(manifests, 'ttp_url'), 'legacy', 'ttp_url').missing.length === 0
      );
    };
    expect(await runUntil(config, finalLog, done, 90_000, 'every record of both accounts')).toBe(0);

    const docs = readOutput(output);
    expect(hits).toBe(1);
    expect(docs.flatMap((d) => checkEventContract(d)).slice(0, 5)).toEqual([]);
    for (const [account, stream, manifest] of [
      ['modern', 'siem', siemManifest()],
      ['modern', 'audit', manifestOf(manifests, 'audit')],
      ['legacy', 'ttp_url', manifestOf(manifests, 'ttp_url')],
    ] as const) {
      const c = compare(docs, manifest, account, stream);
      expect(c.expected, `${account}/${stream}`).toBeGreaterThan(50);
      expect(c.missing.slice(0, 3), `${account}/${stream}`).toEqual([]);
      expect(c.unknown.slice(0, 3), `${account}/${stream}`).toEqual([]);
      expect(c.unstableIds).toBe(0);
      expect(c.duplicateLines).toBeLessThanOrEqual(SINK_BATCH);
    }
    // The two accounts' events are told apart, and nothing of the unlicensed stream was delivered.
    expect(docs.some((d) => (d['mimecast'] as Record<string, unknown>)['account'] === 'legacy')).toBe(true);
    expect(docs.filter((d) => (d['mimecast'] as Record<string, unknown>)['stream'] === 'dlp')).toEqual([]);

    // One warning in the final run, naming the account, the stream and Mimecast's own words; never an error about it.
    const lines = logLines(finalLog);
    const disabled = lines.filter((l) => l['msg'] === 'stream disabled: the account does not have it');
    expect(disabled).toHaveLength(1);
    expect(disabled[0]).toMatchObject({ level: 'warn', account: 'modern', stream: 'dlp' });
    expect(String(disabled[0]?.['err'])).toMatch(/stream dlp disabled for account modern: .*not licensed for this product/);
    expect(lines.filter((l) => l['level'] === 'error' && JSON.stringify(l).includes('dlp'))).toEqual([]);
    expect(lines.some((l) => l['msg'] === 'API 1.0 region discovered' && l['account'] === 'legacy')).toBe(true);
    expect(s.stats().requests.discover).toBeGreaterThanOrEqual(2);
    // The run went through injected failures (each is a 5 % roll per call, so any single kind may miss a short run).
    const f = s.stats().faults;
    expect(f.rateLimit429 + f.serverError500 + f.apiFail200).toBeGreaterThan(0);
    expect(f.unlicensed).toBeGreaterThan(0);
  }, 150_000);

  it('expired API 1.0 keys: a clear fatal message at start-up naming the account, exit 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-expired-'));
    sim = await startSimulator({ seed: 'expired', backlogRecords: 100, faults: { bindingExpired: 1 } });
    const config = writeConfig(
      join(dir, 'collector.yaml'),
      multiYaml({ dataDir: join(dir, 'data'), output: join(dir, 'out.ndjson'), accounts: [{ name: 'legacy', api: 'v1', sim, streams: ['siem: {}', 'audit: {}'] }] }),
    );
    const log = join(dir, 'run.log');
    const child = spawnCli(['run', '--config', config], log);
    const exit = await child.exited;
    expect(exit.code).toBe(1);
    const text = readFileSync(log, 'utf8');
    expect(text).toMatch(/^error: account legacy: Mimecast API 1\.0 access\/secret keys \(the configured access_key and secret_key used with application id \S+\) have expired \(binding expired\)/m);
    expect(text).not.toContain(sim.secretKey);
    expect(text).not.toContain(sim.accessKey.slice(0, 6));
    expect(sim.stats().faults.bindingExpired).toBeGreaterThan(0);
  }, 60_000);
});
