// `checkpoints` from the operator's side: the built CLI against a collector run on the simulator, stopped, its cursor
// moved back an hour and more, run again — the hour is fetched again and the journal's dedup keeps the file sink free
// of duplicates. Plus each subcommand's output and refusals (unknown stream, bad time, no terminal, daemon running).
import { freePort } from '../src/testkit/free-port.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCursors } from '../src/journal/journal.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { eventId, readOutput, runCli, spawnCli, waitFor, type Child } from './helpers/harness.js';
import { manifestOf, multiYaml } from './helpers/streams.js';

let sim: RunningSimulator;
let dir: string;
let config: string;
let output: string;
let manifests: string;
let port: number;
let daemon: Child | undefined;

interface SourceStatus {
  key: string;
  events: number;
  duplicates: number;
  lastCaughtUpAt?: number;
}

async function sources(): Promise<SourceStatus[]> {
  const res = await fetch(`http://127.0.0.1:${port}/status`);
  const body = (await res.json()) as { sources: SourceStatus[] };
  return body.sources;
}

async function stopDaemon(): Promise<void> {
  if (daemon === undefined) return;
  daemon.proc.kill('SIGTERM');
  const { code } = await daemon.exited;
  daemon = undefined;
  expect(code).toBe(0);
}

function auditOut(): Record<string, unknown>[] {
  return readOutput(output).filter((d) => (d['event'] as Record<string, unknown>)['dataset'] === 'mimecast.audit');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mc-ckpt-'));
  manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  output = join(dir, 'out.ndjson');
  port = await freePort();
  sim = await startSimulator({
    seed: 'checkpoints',
    backlogRecords: 200,
    backlogHours: 24,
    publishIntervalMs: 0,
    manifestDir: manifests,
    streamRecords: { audit: 480, ttp_url: 40 },
  });
  config = join(dir, 'collector.yaml');
  const yaml = multiYaml({
    dataDir: join(dir, 'data'),
    output,
    accounts: [{ name: 'sim', api: 'v2', sim, startFrom: '2d', streams: ['audit: { settle: 1s }', 'ttp_url: { settle: 1s }'] }],
  });
  writeFileSync(config, `${yaml}http: { listen: 127.0.0.1:${port} }\n`);
});

afterAll(async () => {
  if (daemon !== undefined) {
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
  }
  await sim.close();
});

describe('checkpoints', () => {
  it('set re-collects an hour the collector already delivered: fetched again, delivered once', async () => {
    const expected = manifestOf(manifests, 'audit').length;
    expect(expected).toBeGreaterThan(400);

    // First run: catch up.
    daemon = spawnCli(['run', '--config', config], join(dir, 'run1.log'));
    await waitFor(() => auditOut().length >= expected, 60_000, 'the first run to deliver every audit record');

    // While it runs: listing works, moving a cursor is refused, naming the collector.
    const listed = await runCli(['checkpoints', 'list', '--config', config]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^STREAM +POSITION +UPDATED/);
    expect(listed.stdout).toMatch(/\nsim\/audit +from \d{4}-.*ago/);
    expect(listed.stdout).toMatch(/\nsim\/ttp_url +from /);
    expect(listed.stdout).toMatch(new RegExp(`a collector \\(pid ${daemon.proc.pid} on .*\`run\` started .*, status at 127\\.0\\.0\\.1:${port}\\) holds this journal`));
    const refused = await runCli(['checkpoints', 'set', '--config', config, '--stream', 'sim/audit', '--to', '2h', '--yes']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`a collector (pid ${daemon.proc.pid} on `);
    expect(refused.stderr).toContain('holds the journal');
    expect(refused.stderr).toContain('stop it first');
    await stopDaemon();

    const first = auditOut();
    expect(first).toHaveLength(expected);
    const before = readCursors(join(dir, 'data')).find((c) => c.key === 'sim/audit');
    expect(before).toBeDefined();

    // Move it back: 2h15m before now (so at least one whole hour lies between it and the end of the run).
    const to = new Date(Date.now() - 135 * 60_000);
    const inWindow = first.filter((d) => Date.parse(String(d['@timestamp'])) >= to.getTime()).length;
    expect(inWindow).toBeGreaterThan(20);
    const set = await runCli(['checkpoints', 'set', '--config', config, '--stream', 'sim/audit', '--to', to.toISOString(), '--yes']);
    expect(set.stderr).toBe('');
    expect(set.code).toBe(0);
    const from = new Date(Math.floor(to.getTime() / 1000) * 1000 - 10 * 60_000).toISOString().replace('.000Z', 'Z');
    expect(set.stdout).toContain(`→ collects again from ${from}`);
    expect(set.stdout).toContain(`moved sim/audit: the collector reads from ${from} at its next start`);
    const moved = readCursors(join(dir, 'data')).find((c) => c.key === 'sim/audit');
    expect(JSON.parse(moved?.cursor ?? '{}')).toEqual({ v: 1, from: new Date(Math.floor(to.getTime() / 1000) * 1000).toISOString() });
    // The other stream is untouched.
    expect(readCursors(join(dir, 'data')).find((c) => c.key === 'sim/ttp_url')).toBeDefined();

    // Second run: the window from `from` is fetched again; every record in it is a duplicate for the journal.
    const started = Date.now();
    daemon = spawnCli(['run', '--config', config], join(dir, 'run2.log'));
    let audit: SourceStatus | undefined;
    await waitFor(
      () => {
        void sources()
          .then((s) => (audit = s.find((x) => x.key === 'sim/audit')))
          .catch(() => undefined);
        return audit?.lastCaughtUpAt !== undefined && audit.lastCaughtUpAt >= started;
      },
      60_000,
      'the second run to catch up again',
    );
    expect(audit?.duplicates).toBeGreaterThanOrEqual(inWindow);
    expect(audit?.events).toBe(0);
    await stopDaemon();

    const after = auditOut();
    expect(after).toHaveLength(expected);
    const ids = after.map(eventId);
    expect(new Set(ids).size).toBe(ids.length);
    // The cursor went on from where it was set to the present again.
    const end = readCursors(join(dir, 'data')).find((c) => c.key === 'sim/audit');
    expect(Date.parse((JSON.parse(end?.cursor ?? '{}') as { from: string }).from)).toBeGreaterThan(to.getTime() + 60 * 60_000);
  }, 150_000);

  it('set and reset: unknown stream lists the known ones, a bad or future time, no terminal without --yes', async () => {
    const unknown = await runCli(['checkpoints', 'set', '--config', config, '--stream', 'sim/nope', '--to', '1h', '--yes']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no configured stream "sim/nope"; the configured streams are: sim/ttp_url, sim/audit');

    const bad = await runCli(['checkpoints', 'set', '--config', config, '--stream', 'sim/audit', '--to', 'yesterday-ish', '--yes']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--to yesterday-ish is not a time: give a date (2026-05-01), an ISO time (2026-05-01T10:00:00Z) or a duration before now (90m, 24h, 3d)');

    const future = await runCli(['checkpoints', 'set', '--config', config, '--stream', 'sim/audit', '--to', '2999-01-01', '--yes']);
    expect(future.code).toBe(2);
    expect(future.stderr).toContain('is in the future');

    const missing = await runCli(['checkpoints', 'set', '--config', config, '--to', '1h']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('needs --stream KEY and --to TIME');

    const before = readCursors(join(dir, 'data')).find((c) => c.key === 'sim/audit')?.cursor;
    const unasked = await runCli(['checkpoints', 'set', '--config', config, '--stream', 'sim/audit', '--to', '3h'], 'y\n');
    expect(unasked.code).toBe(1);
    expect(unasked.stderr).toContain('needs confirmation and stdin is not a terminal; pass --yes');
    expect(readCursors(join(dir, 'data')).find((c) => c.key === 'sim/audit')?.cursor).toBe(before);

    const reset = await runCli(['checkpoints', 'reset', '--config', config, '--stream', 'sim/ttp_url', '--yes']);
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain('→ back to its configured start: 2d 0h before the next start (start_from)');
    expect(readCursors(join(dir, 'data')).find((c) => c.key === 'sim/ttp_url')).toBeUndefined();
    const list = await runCli(['checkpoints', 'list', '--config', config]);
    expect(list.stdout).toMatch(/\nsim\/ttp_url +none yet: starts 2d 0h before its first poll \(start_from\)/);
    expect(list.stdout).toContain('no collector holds this journal now');
  });

  it('export and import move the cursors to another journal (another pod), all or nothing', async () => {
    const exported = await runCli(['checkpoints', 'export', '--config', config, '--account', 'sim']);
    expect(exported.code).toBe(0);
    const doc = JSON.parse(exported.stdout) as { format: string; version: number; cursors: { key: string; cursor: string }[] };
    expect(doc.format).toBe('mimecast-collector-checkpoints');
    expect(doc.cursors.map((c) => c.key)).toEqual(['sim/audit']);
    const file = join(dir, 'export.json');
    writeFileSync(file, exported.stdout);

    // The other pod: the same account, its own data_dir, no journal yet.
    const other = join(dir, 'other.yaml');
    const yaml = multiYaml({ dataDir: join(dir, 'other-data'), output: join(dir, 'other.ndjson'), accounts: [{ name: 'sim', api: 'v2', sim, streams: ['audit: {}'] }] });
    writeFileSync(other, yaml);
    const imported = await runCli(['checkpoints', 'import', file, '--config', other, '--yes']);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain('sim/audit: no cursor yet  →  from ');
    expect(readCursors(join(dir, 'other-data'))).toEqual([expect.objectContaining({ key: 'sim/audit', cursor: doc.cursors[0]?.cursor })]);

    // A pod without that account refuses the whole file, naming what it does collect.
    const third = join(dir, 'third.yaml');
    writeFileSync(third, multiYaml({ dataDir: join(dir, 'third-data'), output: join(dir, 'third.ndjson'), accounts: [{ name: 'corp', api: 'v2', sim, streams: ['audit: {}'] }] }));
    const strangers = await runCli(['checkpoints', 'import', file, '--config', third, '--yes']);
    expect(strangers.code).toBe(1);
    expect(strangers.stderr).toContain('not configured here: sim/audit; nothing imported');
    expect(strangers.stderr).toContain('The configured streams are: corp/audit');
    expect(readCursors(join(dir, 'third-data'))).toEqual([]);

    const junk = join(dir, 'junk.json');
    writeFileSync(junk, '{"format":"something-else"}');
    const notExport = await runCli(['checkpoints', 'import', junk, '--config', other, '--yes']);
    expect(notExport.code).toBe(1);
    expect(notExport.stderr).toContain('not a checkpoints export (format is "something-else"');
  });
});
