// `mimecast-collector api` end to end against the simulator: every command in table and json output on API 1.0 and 2.0, and its errors.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiAction } from '../src/cli/api/spec.js';
import { API_ACTIONS } from '../src/cli/api/registry.js';
import { formatMimecastDate } from '../src/normalize/time.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { PROFILES, apiYaml, runApi, type ApiRun, type ApiRunOptions } from './helpers/api-cli.js';
import { runCli, writeConfig } from './helpers/harness.js';

let sim: RunningSimulator;
let config: string;
let dir: string;

function yamlFor(s: RunningSimulator, defaultAccount: 'v2' | 'none'): string {
  return apiYaml(s, { defaultAccount });
}

function api(args: string[], o: ApiRunOptions = {}): Promise<ApiRun> {
  return runApi(dir, args, o);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mc-api-'));
  sim = await startSimulator({ seed: 'api-cli', backlogRecords: 400, publishIntervalMs: 0, maxApiPageSize: 500 });
  config = writeConfig(join(dir, 'config.yaml'), yamlFor(sim, 'v2'));
});

afterAll(async () => {
  await sim.close();
});

describe.each(PROFILES)('on profile %s', (profile) => {
  const base = (...a: string[]): string[] => [...a, '--config', config, '--profile', profile];

  it.each([
    ['urls', 'url'],
    ['attachments', 'file'],
    ['impersonation', 'definition'],
  ])('ttp %s: json when piped, the records whole; a table on a terminal', async (action, column) => {
    const json = await api(base('ttp', action, '--start', '2d'));
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const records = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(records.length).toBeGreaterThan(0);
    const table = await api(base('ttp', action, '--start', '2d'), { tty: true, columns: 90 });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toContain(column);
    expect(lines).toHaveLength(records.length + 1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(90);
    // --output says what it gets, whatever stdout is.
    const forced = await api(base('ttp', action, '--start', '2d', '--output', 'json', '--limit', '3'), { tty: true });
    expect(JSON.parse(forced.stdout)).toEqual(records.slice(0, 3));
  });

  it('reports audit: every page followed, progress on stderr, the same records as one big page', async () => {
    const whole = await api(base('reports', 'audit', '--start', '2d', '--end', '0s', '--output', 'json'));
    expect(whole.code).toBe(0);
    const all = JSON.parse(whole.stdout) as Record<string, unknown>[];
    expect(all.length).toBeGreaterThan(10);
    const paged = await api(base('reports', 'audit', '--start', '2d', '--end', '0s', '--output', 'json', '--page-size', '1'));
    expect(paged.code).toBe(0);
    expect(JSON.parse(paged.stdout)).toEqual(all);
    expect(paged.stderr).toContain(`/api/audit/get-audit-events: 10 of ${all.length} records, 10 pages so far…\n`);
    const table = await api(base('reports', 'audit', '--start', '2d', '--end', '0s', '--limit', '2'), { tty: true });
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(3);
    expect(table.stdout).toMatch(/^time +type +user/);
  });

  it('reports siem: one type, as fetch reads it, in both outputs', async () => {
    const json = await api(base('reports', 'siem', '--type', 'receipt', '--format', 'json', '--start', '2d', '--output', 'json'));
    expect(json.stderr).toBe('');
    expect(json.code).toBe(0);
    const docs = JSON.parse(json.stdout) as { mimecast: { log_type: string } }[];
    expect(docs.length).toBeGreaterThan(0);
    expect(new Set(docs.map((d) => d.mimecast.log_type))).toEqual(new Set(['receipt']));
    const table = await api(base('reports', 'siem', '--type', 'receipt', '--start', '2d', '--limit', '5'), { tty: true });
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^time +type +action +outcome +summary$/);
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(6);
  });

  it('reports threat-intel: the feed\'s indicators', async () => {
    const json = await api(base('reports', 'threat-intel', '--feed', 'malware_customer', '--start', '2d', '--output', 'json'));
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as unknown[]).length).toBeGreaterThan(0);
    const table = await api(base('reports', 'threat-intel', '--start', '2d', '--limit', '1'), { tty: true });
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('an API error: exit 1 with Mimecast\'s code on stderr', async () => {
    const r = await api(base('reports', 'audit', '--start', '100d', '--end', '90d'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: err_validation_date_range: .*Historical lookup is restricted/m);
    expect(r.stdout).toBe('');
  });
});

describe('usage errors exit 2', () => {
  it('a bad date, naming the option', async () => {
    const r = await api(['ttp', 'urls', '--config', config, '--start', 'yesterday-ish']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--start "yesterday-ish" is not a time');
    const end = await api(['reports', 'audit', '--config', config, '--start', '2d', '--end', '2024-13-45']);
    expect(end.code).toBe(2);
    expect(end.stderr).toContain('--end "2024-13-45" is not a time');
  });

  it('an unknown profile, listing the profiles', async () => {
    const r = await api(['ttp', 'urls', '--config', config, '--start', '1d', '--profile', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--profile "nope" is not an account');
    expect(r.stderr).toContain('cloud, legacy');
  });

  it('no --profile with several accounts and no default, naming the choices; the default one otherwise', async () => {
    const none = writeConfig(join(dir, 'none.yaml'), yamlFor(sim, 'none'));
    const r = await api(['ttp', 'urls', '--config', none, '--start', '1d']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/none is marked "default: true".*--profile \(cloud, legacy\)/);
    const viaEnv = await api(['ttp', 'urls', '--start', '1d', '--limit', '1'].concat([]), {});
    // $MIMECAST_COLLECTOR_CONFIG is not set and ~/.config has no file: the default path is named.
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.stderr).toContain(join(dir, '.config', 'mimecast-collector', 'config.yaml'));
  });

  it('an unknown resource or action, a bad choice, a bad --limit', async () => {
    expect((await api(['nope', 'list'])).code).toBe(2);
    expect((await api(['ttp', 'nope'])).code).toBe(2);
    expect((await api(['ttp'])).code).toBe(2);
    const fmt = await api(['reports', 'siem', '--type', 'receipt', '--format', 'xml', '--config', config]);
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toContain('json, key_value');
    expect((await api(['ttp', 'urls', '--start', '1d', '--limit', '0', '--config', config])).code).toBe(2);
    expect((await api(['--help'])).code).toBe(0);
  });
});

describe('writes (a test action on a function the simulator serves)', () => {
  const write: ApiAction = {
    resource: 'test',
    action: 'touch',
    description: 'a destructive write for the tests',
    options: [],
    kind: 'destructive',
    async run(ctx) {
      const day = formatMimecastDate(new Date(ctx.now - 86_400_000));
      await ctx.write({ what: 'touch the audit log', path: '/api/audit/get-audit-events', data: [{ startDateTime: day, endDateTime: day, note: 'ünïcode' }], destructive: true });
      return { columns: [], rows: [] };
    },
  };
  const actions = [...API_ACTIONS, write];

  it('--dry-run prints the request with the credentials masked and sends nothing', async () => {
    const before = sim.stats().requests;
    const r = await api(['test', 'touch', '--config', config, '--dry-run'], { actions });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`POST ${sim.url}/api/audit/get-audit-events`);
    expect(r.stdout).toContain('Authorization: Bearer [redacted]');
    expect(r.stdout).toContain('"note": "ünïcode"');
    expect(r.stdout).not.toContain(sim.clientSecret);
    const legacy = await api(['test', 'touch', '--config', config, '--profile', 'legacy', '--dry-run'], { actions });
    expect(legacy.stdout).toContain('Authorization: MC [redacted]');
    expect(legacy.stdout).not.toContain(sim.accessKey);
    expect(sim.stats().requests).toEqual(before);
  });

  it('refuses without --yes when stdin is not a terminal; with --yes sends and logs who, what and when', async () => {
    const refused = await api(['test', 'touch', '--config', config], { actions });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refusing without --yes');
    const done = await api(['test', 'touch', '--config', config, '--yes'], { actions });
    expect(done.code).toBe(0);
    const line = done.stderr.split('\n').find((l) => l.includes('"api write"'));
    expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 30, profile: 'cloud', command: 'test touch', what: 'touch the audit log', call: 'POST /api/audit/get-audit-events', outcome: 'done', at: expect.stringMatching(/^\d{4}-/) as string });
  });
});

describe('the built CLI', () => {
  it('runs `api` as a subcommand: json when piped, exit 2 on a bad date', async () => {
    const ok = await runCli(['api', 'ttp', 'urls', '--start', '2d', '--limit', '2', '--config', config]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toHaveLength(2);
    const bad = await runCli(['api', 'ttp', 'urls', '--start', 'soon', '--config', config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--start "soon"');
  });
});
