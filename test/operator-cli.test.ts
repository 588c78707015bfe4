// The operator commands `status`, `quarantine show|purge` and `check` from the operator's side: the built CLI against a
// collector running on the simulator (and stopped), a journal holding quarantine entries, sinks that answer or not.
import { freePort } from '../src/testkit/free-port.js';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readDaemonStatus } from '../src/cli/status.js';
import { StoredEvent } from '../src/core/contracts.js';
import { Journal } from '../src/journal/journal.js';
import { acquireDaemonLock } from '../src/journal/lock.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { readOutput, runCli, sleepMs, spawnCli, waitFor, type Child } from './helpers/harness.js';
import { manifestOf, multiYaml } from './helpers/streams.js';

let sim: RunningSimulator;
let dir: string;
let config: string;
let output: string;
let manifests: string;
let port: number;
let daemon: Child | undefined;

interface StatusJson {
  daemon: { running: boolean; pid: number | null; answered: boolean; note: string | null };
  streams: { key: string; state: string | null; lag_ms: number | null; cursor_age_ms: number | null; position: string | null; last_error: string | null }[];
  sinks: { name: string; backlog: number; last_delivery_at: string | null; dead_letters: number }[];
  quarantined: number;
  journal: { events: number; max_events: number };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mc-opcli-'));
  manifests = join(dir, 'manifests');
  mkdirSync(manifests);
  output = join(dir, 'out.ndjson');
  port = await freePort();
  sim = await startSimulator({ seed: 'operator', backlogRecords: 100, backlogHours: 6, publishIntervalMs: 0, manifestDir: manifests, streamRecords: { audit: 60 }, unlicensed: ['ttp_url'] });
  config = join(dir, 'collector.yaml');
  const yaml = multiYaml({ dataDir: join(dir, 'data'), output, accounts: [{ name: 'sim', api: 'v2', sim, startFrom: '1d', streams: ['audit: { settle: 1s }', 'ttp_url: {}'] }] });
  writeFileSync(config, `${yaml}http: { listen: 127.0.0.1:${port} }\n`);
});

// A test that fails with its collector running must not leave it holding the journal for the next.
afterEach(async () => {
  if (daemon !== undefined) {
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
    daemon = undefined;
  }
});

afterAll(async () => {
  if (daemon !== undefined) {
    daemon.proc.kill('SIGKILL');
    await daemon.exited;
  }
  await sim.close();
});

describe('status', () => {
  it('while the collector runs: its live facts (state, lag, last error) beside the journal\'s; stopped: the journal\'s, the rest unavailable', async () => {
    const expected = manifestOf(manifests, 'audit').length;
    daemon = spawnCli(['run', '--config', config], join(dir, 'run.log'));
    await waitFor(() => readOutput(output).length >= expected, 60_000, 'the audit records');

    // One `status` at a time, until it shows the unlicensed stream disabled.
    let s: StatusJson | undefined;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await runCli(['status', '--config', config, '--output', 'json']);
      expect(r.code).toBe(0);
      s = JSON.parse(r.stdout) as StatusJson;
      // The daemon's health in words (`disabled: not licensed`), as the status page shows it.
      if (s.streams.find((x) => x.key === 'sim/ttp_url')?.state?.startsWith('disabled') === true) break;
      if (Date.now() > deadline) throw new Error(`status never showed sim/ttp_url disabled: ${r.stdout}`);
    }
    expect(s.daemon).toMatchObject({ running: true, pid: daemon.proc.pid, answered: true, note: null });
    const audit = s.streams.find((x) => x.key === 'sim/audit');
    expect(audit?.state).toMatch(/^(caught_up|collecting)$/);
    expect(audit?.lag_ms).toBeGreaterThanOrEqual(0);
    expect(audit?.lag_ms).toBeLessThan(30 * 60_000);
    expect(audit?.position).toMatch(/^from \d{4}-/);
    expect(s.streams.find((x) => x.key === 'sim/ttp_url')?.last_error).toMatch(/stream ttp_url disabled for account sim: the account is not licensed for it/);
    expect(s.sinks).toEqual([expect.objectContaining({ name: 'file', backlog: 0, dead_letters: 0, last_delivery_at: expect.stringMatching(/^\d{4}-/) as string })]);

    const table = await runCli(['status', '--config', config]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`collector: running (pid ${daemon.proc.pid}), live facts from http://127.0.0.1:${port}/status`);
    expect(table.stdout).toMatch(/\nsim\/ttp_url +disabled: not licensed +.*stream ttp_url disabled for account sim/);
    expect(table.stdout).toMatch(/\nfile +(idle|delivering) +0 +- +\d+[smh].* ago +0 +-\n/);
    expect(table.stdout).toMatch(/\njournal: \d+ events of 1000000 \(\d+\.\d%\)/);

    daemon.proc.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
    daemon = undefined;

    const stopped = await runCli(['status', '--config', config]);
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain('collector: no collector is running on this journal: last errors, states and lag are known only to a running collector');
    expect(stopped.stdout).toMatch(/\nsim\/audit +unavailable +from \d{4}-\S+ +\d+[smh]/);
    expect(stopped.stdout).toMatch(/\nfile +unavailable +0 +- +unavailable +0 +unavailable/);
  }, 120_000);

  it('a collector holding the journal whose /status does not answer is named, and its live facts said unavailable', async () => {
    const dead = await freePort();
    const lock = acquireDaemonLock(join(dir, 'data'), { command: 'run', http: `127.0.0.1:${dead}` });
    try {
      const r = await runCli(['status', '--config', config, '--output', 'json']);
      expect(r.code).toBe(0);
      const s = JSON.parse(r.stdout) as StatusJson;
      expect(s.daemon.running).toBe(true);
      expect(s.daemon.answered).toBe(false);
      expect(s.daemon.note).toContain(`a collector (pid ${process.pid} on `);
      expect(s.daemon.note).toContain(`is running, but no answer from http://127.0.0.1:${dead}/status`);
      expect(s.streams.every((x) => x.state === null && x.lag_ms === null)).toBe(true);
    } finally {
      lock.release();
    }
  });

  it('bad --output is a usage error', async () => {
    const r = await runCli(['status', '--config', config, '--output', 'yaml']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--output must be table or json, got yaml');
  });

  it('reads /status defensively: today\'s fields, snake_case ones, and junk', () => {
    const now = Date.parse('2026-05-01T12:00:00Z');
    const v = readDaemonStatus(
      {
        sources: [
          { key: 'a/audit', state: 'idle', lag_ms: 5000, lastError: { at: 1, message: 'HTTP 403' } },
          { key: 'a/siem/receipt', health: 'caught_up', last_event_time: '2026-05-01T11:00:00Z', last_error: 'boom' },
          { nokey: true },
          'junk',
        ],
        sinks: [{ name: 'hec', state: 'retrying', last_delivery_at: '2026-05-01T11:59:00Z', last_error: { message: 'HTTP 503' } }, { name: 7 }],
      },
      now,
    );
    expect(v.sources.get('a/audit')).toEqual({ state: 'idle', lagMs: 5000, lastError: 'HTTP 403' });
    expect(v.sources.get('a/siem/receipt')).toEqual({ state: 'caught_up', lagMs: 3_600_000, lastError: 'boom' });
    expect(v.sources.size).toBe(2);
    expect(v.sinks.get('hec')).toEqual({ state: 'retrying', lastDeliveryAt: Date.parse('2026-05-01T11:59:00Z'), lastError: 'HTTP 503' });
    expect(v.sinks.size).toBe(1);
    expect(readDaemonStatus('not json at all').sources.size).toBe(0);
    expect(readDaemonStatus({ sources: 'nope', sinks: null }).sinks.size).toBe(0);
  });
});

describe('quarantine show|purge', () => {
  let qdir: string;
  let qconfig: string;

  beforeAll(() => {
    qdir = mkdtempSync(join(tmpdir(), 'mc-qcli-'));
    qconfig = join(qdir, 'collector.yaml');
    writeFileSync(
      qconfig,
      [`data_dir: ${JSON.stringify(join(qdir, 'data'))}`, 'accounts:', '  - { name: corp, client_id: abc, client_secret: x, streams: { siem: {}, audit: {} } }', 'sinks:', '  - { name: out, type: stdout }', ''].join('\n'),
    );
    const journal = Journal.open({ dir: join(qdir, 'data'), checkpointWorker: false });
    journal.append('corp/siem/receipt', {
      events: [],
      cursor: '{"v":1}',
      quarantined: [
        { reason: 'bad_json', detail: 'Unexpected token } in JSON at position 12', location: 'page=abc,blob=2,line=1043', raw: '{"subject": "\u001b[31mred\u001b[0m" }' },
        { reason: 'truncated_gzip', detail: 'unexpected end of file', location: 'page=abc,blob=3', raw: '', refetch: '{"page":"abc","blob":3}' },
      ],
    });
    journal.append('corp/audit', { events: [], cursor: '{"v":1,"from":"2026-05-01T00:00:00Z"}', quarantined: [{ reason: 'bad_record', detail: 'no eventTime', location: 'page 1', raw: '{"id":"x"}' }] });
    journal.close();
  });

  it('show: whole entries, control characters escaped; json; unknown ids', async () => {
    const text = await runCli(['quarantine', 'show', '1', '#2', '--config', qconfig]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^#1 {2}quarantined \d{4}-.*Z by stream corp\/siem\/receipt\n/);
    expect(text.stdout).toContain('  reason    bad_json\n');
    expect(text.stdout).toContain('  where     page=abc,blob=2,line=1043\n');
    expect(text.stdout).toContain('  detail    Unexpected token } in JSON at position 12\n');
    expect(text.stdout).toContain('  raw       {"subject": "\\u001b[31mred\\u001b[0m" }\n');
    expect(text.stdout).not.toContain('\u001b');
    expect(text.stdout).toContain('#2  quarantined');
    expect(text.stdout).toContain('  retry     can be read again (`quarantine retry`)');
    expect(text.stdout).toContain('  raw       (none kept)');

    const json = await runCli(['quarantine', 'show', '3', '--config', qconfig, '--output', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 3, stream: 'corp/audit', reason: 'bad_record', detail: 'no eventTime', raw: '{"id":"x"}', refetchable: false, retry: null });

    const unknown = await runCli(['quarantine', 'show', '3', '99', '--config', qconfig]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no such entry: #99');
    const bad = await runCli(['quarantine', 'show', 'abc', '--config', qconfig]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('not an entry id (see `quarantine list`): abc');
  });

  it('purge: by id or --all narrowed by stream and reason; asks, and refuses to ask without a terminal', async () => {
    const none = await runCli(['quarantine', 'purge', '--config', qconfig]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('name the entries to remove');

    const unasked = await runCli(['quarantine', 'purge', '--all', '--stream', 'corp/siem/receipt', '--config', qconfig], 'y\n');
    expect(unasked.code).toBe(1);
    expect(unasked.stderr).toContain('remove 2 quarantine entries for good: needs confirmation and stdin is not a terminal; pass --yes');

    const narrowed = await runCli(['quarantine', 'purge', '--all', '--stream', 'corp/siem/receipt', '--reason', 'GZIP', '--yes', '--config', qconfig]);
    expect(narrowed.code).toBe(0);
    expect(narrowed.stdout).toContain('removed 1 entry');
    const left = await runCli(['quarantine', 'list', '--config', qconfig, '--output', 'json']);
    expect(left.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: number }).id)).toEqual([3, 1]);

    const byId = await runCli(['quarantine', 'purge', '3', '7', '--yes', '--config', qconfig]);
    expect(byId.code).toBe(1);
    expect(byId.stdout).toContain('removed 1 entry');
    expect(byId.stderr).toContain('no such entry: #7');
  });
});

describe('check', () => {
  it('one verdict a line: credentials, each stream\'s permission in words, each sink; exit 1 when any fails', async () => {
    const deadPort = await freePort();
    const cdir = mkdtempSync(join(tmpdir(), 'mc-check-'));
    const file = join(cdir, 'collector.yaml');
    const yaml = multiYaml({ dataDir: join(cdir, 'data'), output: join(cdir, 'out.ndjson'), accounts: [{ name: 'sim', api: 'v2', sim, streams: ['siem: { types: [receipt] }', 'audit: {}', 'ttp_url: {}'] }] });
    writeFileSync(file, `${yaml}  - { name: splunk, type: http, preset: splunk_hec, url: "http://127.0.0.1:${deadPort}", token: t }\n`);
    const r = await runCli(['check', '--config', file]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe("ok    account sim: the API 2.0 application's credentials were accepted (token issued)");
    expect(lines).toContain('ok    stream sim/siem/receipt: readable');
    expect(lines).toContain('ok    stream sim/audit: readable');
    expect(lines.find((l) => l.includes('sim/ttp_url'))).toMatch(
      /^FAIL {2}stream sim\/ttp_url: stream ttp_url disabled for account sim: the account is not licensed for it \(HTTP 403 .*\); if it should be, give the API application's role "Monitoring \| URL Protection \| Read"$/,
    );
    expect(lines).toContain('ok    sink file (sinks[0], file): the receiver can take data');
    expect(lines.find((l) => l.startsWith('FAIL  sink splunk (sinks[1], http):'))).toMatch(/ECONNREFUSED|refused|connect/i);
    expect(lines[lines.length - 1]).toBe('2 checks failed');

    // Credentials refused: said once, for the account; its streams are not tried.
    const wrong = join(cdir, 'wrong.yaml');
    writeFileSync(wrong, yaml.replace(JSON.stringify(sim.clientSecret), '"not-the-secret"'));
    const refused = await runCli(['check', '--config', wrong]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^FAIL {2}account sim: the API 2\.0 application credentials were refused: /);
    expect(refused.stdout).not.toContain('stream sim/');
    expect(refused.stdout).toContain('ok    sink file');
    expect(refused.stdout).not.toContain('not-the-secret');
  }, 60_000);
});

describe('dead-letters retry progress', () => {
  it('while a collector runs, follows its re-sends: a line as the counts move, then what came of them', async () => {
    const ddir = mkdtempSync(join(tmpdir(), 'mc-dlprog-'));
    const dconfig = join(ddir, 'collector.yaml');
    writeFileSync(dconfig, [`data_dir: ${JSON.stringify(join(ddir, 'data'))}`, 'accounts:', '  - { name: corp, client_id: abc, client_secret: x, streams: { audit: {} } }', 'sinks:', '  - { name: hec, type: stdout }', ''].join('\n'));
    const journal = Journal.open({ dir: join(ddir, 'data'), checkpointWorker: false });
    const ev = (n: number): StoredEvent => new StoredEvent(n, `evt-${n}`, 'audit', 'corp', '2026-05-01T10:00:00.000Z', Buffer.from(JSON.stringify({ event: { id: `evt-${n}` } })), 'audit');
    journal.deadLetterEach('hec', [1, 2, 3].map((n) => ({ event: ev(n), reason: 'HEC code 6: Invalid data format' })));
    // This process plays the running collector: it holds the lock and settles the re-sends as its sink runner would.
    const lock = acquireDaemonLock(join(ddir, 'data'), { command: 'run' });
    try {
      const running = runCli(['dead-letters', 'retry', '--all', '--config', dconfig]);
      await waitFor(() => journal.deadLetterRetries('hec', 10).length === 3, 15_000, 'the retry request');
      await sleepMs(1500);
      journal.settleDeadLetterRetries([1, 2], []);
      await sleepMs(1500);
      journal.settleDeadLetterRetries([], [{ id: 3, reason: 'HEC code 6: still invalid' }]);
      const r = await running;
      expect(r.stdout + r.stderr).toContain('requested 3 entries');
      expect(r.stderr).toContain(`following the re-sends by a collector (pid ${process.pid} on `);
      expect(r.stderr).toContain('re-sending: 0 of 3 done (0 delivered, 0 rejected again), 3 waiting');
      expect(r.stderr, r.stdout).toContain('re-sending: 2 of 3 done (2 delivered, 0 rejected again), 1 waiting');
      expect(r.stderr).toContain('re-sending: 3 of 3 done (2 delivered, 1 rejected again), 0 waiting');
      expect(r.stdout).toContain("1 entry rejected again: `dead-letters list` shows the receiver's new reason");
      expect(r.code).toBe(1);
    } finally {
      lock.release();
      journal.close();
    }
    // No collector running: the request is made and the command returns at once.
    const idle = await runCli(['dead-letters', 'retry', '--all', '--config', dconfig]);
    expect(idle.code).toBe(0);
    expect(idle.stdout).toContain('no collector is running: they are sent at its next start');
  }, 60_000);
});
