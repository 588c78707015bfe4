// `dead-letters list|show|retry|purge` from the operator's side: the built CLI against a real journal file holding
// dead letters, while the collector's own connection to it stays open (as when the daemon runs).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoredEvent } from '../src/core/contracts.js';
import { Journal } from '../src/journal/journal.js';
import { runCli } from './helpers/harness.js';

const LONG = `mapper_parsing_exception: failed to parse field [source.ip] of type [ip] in document with id 'x'. Preview of field's value: '${'9'.repeat(300)}'`;

let dir: string;
let config: string;
let journal: Journal;

function event(n: number, logType: string, doc: Record<string, unknown> = {}): StoredEvent {
  const id = `evt-${n}`;
  return new StoredEvent(n, id, logType === 'audit' ? 'audit' : 'siem', 'corp', `2026-05-0${n}T10:00:00.000Z`, Buffer.from(JSON.stringify({ event: { id }, mimecast: { log_type: logType }, ...doc })), logType);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'mc-dlcli-'));
  config = join(dir, 'collector.yaml');
  writeFileSync(
    config,
    [
      `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
      'accounts:',
      '  - { name: corp, client_id: abc, client_secret: x, streams: { siem: {}, audit: {} } }',
      'sinks:',
      '  - { name: hec, type: stdout }',
      '  - { name: elastic, type: stdout }',
      '',
    ].join('\n'),
  );
  journal = Journal.open({ dir: join(dir, 'data'), checkpointWorker: false });
  journal.deadLetterEach('hec', [
    { event: event(1, 'receipt', { email: { subject: 'Quarterly report' } }), reason: 'HEC code 6: Invalid data format' },
    { event: event(2, 'receipt'), reason: 'HEC code 6: Invalid data format' },
  ]);
  journal.deadLetterEach('elastic', [{ event: event(3, 'audit'), reason: LONG }]);
  // A sink since removed from the configuration.
  journal.deadLetterEach('kafka-old', [{ event: event(4, 'process'), reason: 'MESSAGE_TOO_LARGE' }]);
});

afterAll(() => {
  journal.close();
});

describe('dead-letters CLI', () => {
  it('list: a table newest first with the reason cut to the line, filters, and json', async () => {
    const table = await runCli(['dead-letters', 'list', '--config', config]);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines[0]).toMatch(/^ID +WHEN +SINK +STREAM +LOG TYPE +EVENT\.ID +REASON$/);
    expect(lines.slice(1, 5).map((l) => l.split(/ {2,}/).slice(0, 6))).toEqual([
      ['#4', expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/) as string, 'kafka-old', 'siem', 'process', 'evt-4'],
      ['#3', expect.any(String) as string, 'elastic', 'audit', 'audit', 'evt-3'],
      ['#2', expect.any(String) as string, 'hec', 'siem', 'receipt', 'evt-2'],
      ['#1', expect.any(String) as string, 'hec', 'siem', 'receipt', 'evt-1'],
    ]);
    // Not a terminal: 160 columns. The long reason is cut to them; short ones are whole.
    expect(lines[2]?.length).toBe(160);
    expect(lines[2]).toMatch(/mapper_parsing_exception: failed to parse field \[source\.ip\].*…$/);
    expect(lines[3]).toMatch(/ {2}HEC code 6: Invalid data format$/);
    expect(table.stdout).toContain('4 entries (newest first)');
    expect(table.stdout).toContain('sinks no longer configured (their entries can only be purged): kafka-old');

    const narrowed = await runCli(['dead-letters', 'list', '--config', config, '--sink', 'hec', '--reason', 'invalid DATA', '--limit', '1']);
    expect(narrowed.code).toBe(0);
    expect(narrowed.stdout).toMatch(/\n#2 .*evt-2 .*HEC code 6/);
    expect(narrowed.stdout).not.toContain('evt-1');
    expect(narrowed.stdout).toContain('1 entry of 2 (newest first; --limit for more)');

    const json = await runCli(['dead-letters', 'list', '--config', config, '--output', 'json', '--sink', 'hec']);
    expect(json.code).toBe(0);
    const rows = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r['id'])).toEqual([2, 1]);
    expect(rows[1]).toMatchObject({
      id: 1,
      sink: 'hec',
      stream: 'siem',
      account: 'corp',
      log_type: 'receipt',
      event_id: 'evt-1',
      seq: 1,
      reason: 'HEC code 6: Invalid data format',
      retry: null,
      event: { event: { id: 'evt-1' }, email: { subject: 'Quarterly report' } },
    });

    const none = await runCli(['dead-letters', 'list', '--config', config, '--reason', 'no such thing']);
    expect(none.stdout.trim()).toBe('no dead letters match');
    const bad = await runCli(['dead-letters', 'list', '--config', config, '--output', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--output must be table or json');
  });

  it('show: the whole entry with the document pretty-printed; an unknown id is named', async () => {
    const shown = await runCli(['dead-letters', 'show', '--config', config, '1', '#3']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('#1  dead-lettered ');
    expect(shown.stdout).toContain('by sink hec');
    expect(shown.stdout).toMatch(/ {2}event\.id {2}evt-1\n/);
    expect(shown.stdout).toContain('log type receipt');
    expect(shown.stdout).toContain('  reason    HEC code 6: Invalid data format');
    expect(shown.stdout).toContain('  {\n    "event": {\n      "id": "evt-1"\n    },');
    expect(shown.stdout).toContain('"subject": "Quarterly report"');
    // The long reason whole, not cut.
    expect(shown.stdout).toContain(`  reason    ${LONG}\n`);
    const json = await runCli(['dead-letters', 'show', '--config', config, '--output', 'json', '2']);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: 2, event_id: 'evt-2', event: { mimecast: { log_type: 'receipt' } } });
    const missing = await runCli(['dead-letters', 'show', '--config', config, '2', '77']);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('evt-2');
    expect(missing.stderr).toContain('no such entry: #77');
    const notId = await runCli(['dead-letters', 'show', '--config', config, 'abc']);
    expect(notId.code).toBe(2);
    expect(notId.stderr).toContain('not an entry id');
  });

  it('retry: marks entries for their configured sink; a removed sink, unknown ids and bad usage are said so', async () => {
    const usage = await runCli(['dead-letters', 'retry', '--config', config]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('or pass --all');
    const gone = await runCli(['dead-letters', 'retry', '--config', config, '--all', '--sink', 'kafka-old']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('sink "kafka-old" is not configured (sinks: hec, elastic)');

    const one = await runCli(['dead-letters', 'retry', '--config', config, '1']);
    expect(one.code).toBe(0);
    expect(one.stdout).toContain('requested 1 entry');
    expect(journal.deadLetterRetries('hec', 10).map((d) => d.id)).toEqual([1]);

    const all = await runCli(['dead-letters', 'retry', '--config', config, '--all']);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain('requested 2 entries');
    expect(all.stdout).toContain('already waiting to be sent again: 1 entry');
    expect(all.stderr).toContain('not requested: 1 entry of sink "kafka-old", which is not configured any more');
    expect(journal.deadLetterRetries('hec', 10).map((d) => d.id)).toEqual([1, 2]);
    expect(journal.deadLetterRetries('elastic', 10).map((d) => d.id)).toEqual([3]);

    const listed = await runCli(['dead-letters', 'list', '--config', config, '--sink', 'hec']);
    expect(listed.stdout).toContain('[retry requested] HEC code 6');
    const unknown = await runCli(['dead-letters', 'retry', '--config', config, '3', '--sink', 'hec']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no such entry (with these filters): #3');
  });

  it('purge: asks first, removes what matches, says how many', async () => {
    const declined = await runCli(['dead-letters', 'purge', '--config', config, '--all', '--sink', 'kafka-old'], 'n\n');
    expect(declined.code).toBe(1);
    expect(declined.stdout).toContain('remove 1 dead letter for good? [y/N]');
    expect(declined.stdout).toContain('nothing removed');
    expect(journal.deadLetterCount()).toBe(4);

    const confirmed = await runCli(['dead-letters', 'purge', '--config', config, '--all', '--sink', 'kafka-old'], 'y\n');
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toContain('removed 1 entry');
    expect(journal.deadLetterCount()).toBe(3);

    const byReason = await runCli(['dead-letters', 'purge', '--config', config, '--all', '--reason', 'hec code 6', '--yes']);
    expect(byReason.code).toBe(0);
    expect(byReason.stdout.trim()).toBe('removed 2 entries');
    expect(journal.deadLetters().map((d) => d.id)).toEqual([3]);

    const unknown = await runCli(['dead-letters', 'purge', '--config', config, '3', '9', '--yes']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain('removed 1 entry');
    expect(unknown.stderr).toContain('no such entry: #9');
    const both = await runCli(['dead-letters', 'purge', '--config', config, '3', '--all']);
    expect(both.code).toBe(2);
    const empty = await runCli(['dead-letters', 'list', '--config', config]);
    expect(empty.stdout.trim()).toBe('no dead letters');
  });
});
