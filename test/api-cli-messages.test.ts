// `api account|messages|policies|reports stats` end to end against the simulator: both outputs, both API generations, each command's error case, and the state a change leaves behind.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchCommand } from '../src/cli/fetch.js';
import { AdminCaller } from '../src/simulator/admin/api-client.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { PROFILES, apiYaml, runApi, type ApiRun, type ApiRunOptions } from './helpers/api-cli.js';
import { writeConfig } from './helpers/harness.js';

type Row = Record<string, unknown>;

let sim: RunningSimulator;
let config: string;
let dir: string;

function api(args: readonly string[], o: ApiRunOptions = {}): Promise<ApiRun> {
  return runApi(dir, args, o);
}

function rowsOf(r: ApiRun): Row[] {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Row[];
}

function tableLines(r: ApiRun): string[] {
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trimEnd().split('\n');
}

/** The ids of what is held now, read through the simulator directly (not through the command under test). */
async function heldIds(): Promise<string[]> {
  const c = new AdminCaller(sim, 'v2');
  const r = await c.call('/api/gateway/get-hold-message-list', [{ admin: true }], { pageSize: 500 });
  return r.data.map((h) => String(h['id']));
}

/** What the collector's `held_release` stream serves for the last ten minutes, read as `fetch` reads it. */
async function heldReleaseStream(profile: string): Promise<Row[]> {
  let out = '';
  const stdout = new PassThrough();
  stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const code = await fetchCommand(
    { stream: 'held_release', config, account: profile, since: '10m', output: 'ndjson' },
    { stdout, stderr: new PassThrough(), env: { HOME: dir }, signal: new AbortController().signal },
  );
  expect(code).toBe(0);
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Row);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mc-api-msg-'));
  sim = await startSimulator({ seed: 'api-cli-messages', backlogRecords: 20, publishIntervalMs: 0, maxApiPageSize: 500 });
  const broken = ['  - name: broken', '    api: v1', `    base_url: ${sim.url}`, `    app_id: ${JSON.stringify(sim.appId)}`, `    app_key: ${JSON.stringify(sim.appKey)}`, `    access_key: ${JSON.stringify(sim.accessKey)}`, '    secret_key: "d3Jvbmcgc2VjcmV0IGtleQ=="', '    streams: { siem: {} }'];
  config = writeConfig(join(dir, 'config.yaml'), apiYaml(sim, { extraAccounts: broken }));
});

afterAll(async () => {
  await sim.close();
});

describe.each(PROFILES)('on profile %s', (profile) => {
  const base = (...a: string[]): string[] => [...a, '--config', config, '--profile', profile];

  it('account info: the account object as json; field/value rows as a table', async () => {
    const [account, ...more] = rowsOf(await api(base('account', 'info', '--output', 'json')));
    expect(more).toEqual([]);
    expect(account).toMatchObject({ accountCode: sim.accountCode, accountName: 'Simulated Corp', userCount: expect.any(Number) as number });
    const lines = tableLines(await api(base('account', 'info'), { tty: true, columns: 80 }));
    expect(lines[0]).toMatch(/^field +value$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^accountCode +${sim.accountCode}$`)));
    expect(lines).toContainEqual(expect.stringMatching(/^userCount +\d+$/));
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
  });

  it('account info: bad credentials are an API error, exit 1 with the call named', async () => {
    const r = await api(['account', 'info', '--config', config, '--profile', 'broken']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: err_xdk_invalid_signature: .*\/api\/account\/get-account.*0004 Invalid Signature/m);
    expect(r.stdout).toBe('');
  });

  it('messages held: every held message (all recipients) in both outputs; a window in the future is empty', async () => {
    const held = rowsOf(await api(base('messages', 'held', '--output', 'json', '--page-size', '5')));
    expect(held.map((h) => h['id'])).toEqual(await heldIds());
    expect(held.length).toBeGreaterThan(5);
    expect(held[0]).toMatchObject({ route: 'INBOUND', from: { emailAddress: expect.any(String) as string }, reasonCode: expect.stringMatching(/^message_hold_applied_/) as string });
    const lines = tableLines(await api(base('messages', 'held', '--limit', '3'), { tty: true, columns: 300 }));
    expect(lines[0]).toMatch(/^id +received +from +to +subject +reason$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain(String((held[0]?.['from'] as Row)['emailAddress']));
    expect(lines[1]).toContain(String(held[0]?.['id']));
    expect(rowsOf(await api(base('messages', 'held', '--start', '2099-01-01', '--output', 'json')))).toEqual([]);
  });

  it('messages held: a bad date or an empty window is a usage error naming the option', async () => {
    const bad = await api(base('messages', 'held', '--start', 'last tuesday'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--start "last tuesday" is not a time');
    const backwards = await api(base('messages', 'held', '--start', '1h', '--end', '2h'));
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/--start .* must be before --end/);
  });

  it('messages search: tracked mail by sender and subject in both outputs', async () => {
    const c = new AdminCaller(sim, 'v2');
    const first = (await c.call('/api/gateway/get-hold-message-list', [{ admin: true }])).data[0] as Row;
    const from = String((first['from'] as Row)['emailAddress']);
    const found = rowsOf(await api(base('messages', 'search', '--from', from, '--subject', String(first['subject']), '--start', '4d', '--output', 'json')));
    expect(found.length).toBeGreaterThan(0);
    for (const t of found) {
      expect((t['fromEnv'] as Row)['emailAddress']).toBe(from);
      expect(t['subject']).toBe(first['subject']);
    }
    const lines = tableLines(await api(base('messages', 'search', '--from', from, '--start', '4d'), { tty: true, columns: 200 }));
    expect(lines[0]).toMatch(/^id +received +status +from +to +subject +route$/);
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.slice(1).every((l) => l.includes(from))).toBe(true);
    // The default window is the last 24 hours; nothing there is from a made-up sender.
    expect(rowsOf(await api(base('messages', 'search', '--to', 'nobody@nowhere.example', '--output', 'json')))).toEqual([]);
  });

  it('messages search: no filter is a usage error; a start beyond 30 days is Mimecast\'s own error, exit 1', async () => {
    const none = await api(base('messages', 'search', '--start', '1d'));
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('give at least one of --from, --to, --subject');
    const old = await api(base('messages', 'search', '--from', 'a@b.example', '--start', '40d'));
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/^error: err_track_and_trace_invalid_start_date: .*\/api\/message-finder\/search/m);
    const bad = await api(base('messages', 'search', '--from', 'a@b.example', '--end', '2024-02-30x'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--end "2024-02-30x" is not a time');
  });

  it('messages release: refuses without --yes off a terminal, --dry-run sends nothing; then released, gone from the held list, in held_release and in audit', async () => {
    const [id, other] = await heldIds();
    if (id === undefined || other === undefined) throw new Error('the seeded queue ran out');
    const refused = await api(base('messages', 'release', '--id', id));
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('refusing without --yes');
    const dry = await api(base('messages', 'release', '--id', id, '--dry-run'));
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`POST ${sim.url}/api/gateway/hold-release`);
    expect(dry.stdout).toContain(`"id": "${id}"`);
    expect(await heldIds()).toContain(id);

    const done = rowsOf(await api(base('messages', 'release', '--id', id, '--yes', '--output', 'json')));
    expect(done).toEqual([{ id, release: true }]);
    expect(await heldIds()).not.toContain(id);
    expect((await heldReleaseStream(profile)).map((e) => (e['mimecast'] as Row)['id'])).toContain(id);
    const audit = rowsOf(await api(base('reports', 'audit', '--start', '10m', '--end', '0s', '--output', 'json')));
    expect(audit.map((e) => e['auditType'])).toContain('Held Message Released');

    const table = tableLines(await api(base('messages', 'release', '--id', other, '--yes'), { tty: true, columns: 120 }));
    expect(table[0]).toMatch(/^id +released$/);
    expect(table[1]).toMatch(/ +true$/);
    expect(await heldIds()).not.toContain(other);
  });

  it('messages release: an unknown id and a second release are Mimecast failures, exit 1, and change nothing', async () => {
    const before = await heldIds();
    const unknown = await api(base('messages', 'release', '--id', 'eNoNoSuchHeldMessageNoSuchHeldMessage', '--yes'));
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: err_hold_message_not_found: .*\/api\/gateway\/hold-release/m);
    const [id] = before;
    if (id === undefined) throw new Error('the seeded queue ran out');
    expect((await api(base('messages', 'release', '--id', id, '--yes'))).code).toBe(0);
    const again = await api(base('messages', 'release', '--id', id, '--yes'));
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^error: err_hold_message_already_released: /m);
    expect(await heldIds()).toEqual(before.filter((h) => h !== id));
  });

  it('policies list: every type the API lists, with the type in a column', async () => {
    const all = rowsOf(await api(base('policies', 'list', '--output', 'json')));
    expect(new Set(all.map((p) => p['type']))).toEqual(new Set(['blocked_senders', 'anti_spoofing_bypass', 'address_alteration']));
    expect(all).toContainEqual(expect.objectContaining({ type: 'blocked_senders', option: 'block_sender', policy: expect.objectContaining({ fromValue: 'spam@bad.example' }) as unknown }));
    const lines = tableLines(await api(base('policies', 'list'), { tty: true, columns: 200 }));
    expect(lines[0]).toMatch(/^type +option +description +from +to +enabled +id$/);
    expect(lines).toHaveLength(all.length + 1);
    expect(lines).toContainEqual(expect.stringMatching(/^blocked_senders +block_sender +Block spam@bad\.example +individual_email_address:spam@bad\.example +everyone +true +eNo/));
    expect(lines.filter((l) => l.startsWith('anti_spoofing_bypass')).length).toBeGreaterThan(0);
  });

  it('policies block-sender: a blocked-senders policy, then listed and audited; refused without --yes; a bad address is Mimecast\'s error', async () => {
    const email = `phish-${profile}@evil.example`;
    const refused = await api(base('policies', 'block-sender', '--email', email));
    expect(refused.code).toBe(2);
    const before = rowsOf(await api(base('policies', 'list', '--output', 'json'))).length;
    const dry = await api(base('policies', 'block-sender', '--email', email, '--dry-run'));
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`POST ${sim.url}/api/policy/blockedsenders/create-policy`);
    expect(dry.stdout).toContain(`"fromValue": "${email}"`);
    expect(rowsOf(await api(base('policies', 'list', '--output', 'json')))).toHaveLength(before);
    const [created] = rowsOf(await api(base('policies', 'block-sender', '--email', email, '--yes', '--output', 'json')));
    expect(created).toMatchObject({ type: 'blocked_senders', option: 'block_sender', policy: { fromType: 'individual_email_address', fromValue: email, description: `Block ${email}` } });
    const listed = rowsOf(await api(base('policies', 'list', '--output', 'json')));
    expect(listed.map((p) => p['id'])).toContain(created?.['id']);
    const audit = rowsOf(await api(base('reports', 'audit', '--start', '10m', '--end', '0s', '--output', 'json')));
    expect(audit.map((e) => String(e['eventInfo']))).toContainEqual(expect.stringContaining(`Block ${email}`));
    const table = tableLines(await api(base('policies', 'block-sender', '--email', `table-${email}`, '--yes'), { tty: true, columns: 300 }));
    expect(table[0]).toMatch(/^type +option +description/);
    expect(table[1]).toContain(`individual_email_address:table-${email}`);
    const bad = await api(base('policies', 'block-sender', '--email', 'not-an-address', '--yes'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: err_validation_invalid_email_address: .*\/api\/policy\/blockedsenders\/create-policy/m);
  });

  it('policies permit-sender --to: one managed-sender entry, audited; a bad address is Mimecast\'s error', async () => {
    const sender = `trusted-${profile}@partner.example`;
    const rows = rowsOf(await api(base('policies', 'permit-sender', '--email', sender, '--to', 'it-ops@corp.example', '--output', 'json')));
    expect(rows).toEqual([{ id: expect.stringMatching(/^eNo/) as string, sender, to: 'it-ops@corp.example', type: 'Permit' }]);
    const audit = rowsOf(await api(base('reports', 'audit', '--start', '10m', '--end', '0s', '--output', 'json')));
    expect(audit.map((e) => String(e['eventInfo']))).toContainEqual(expect.stringContaining(`permit ${sender} for it-ops@corp.example`));
    const lines = tableLines(await api(base('policies', 'permit-sender', '--email', sender, '--to', 'ada.lovelace@corp.example'), { tty: true, columns: 200 }));
    expect(lines[0]).toMatch(/^sender +to +type +id$/);
    expect(lines[1]).toMatch(new RegExp(`^${sender.replace(/\./g, '\\.')} +ada\\.lovelace@corp\\.example +Permit +eNo`));
    const bad = await api(base('policies', 'permit-sender', '--email', 'no at sign', '--to', 'it-ops@corp.example'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: err_validation_invalid_email_address: .*\/api\/managedsender\/permit-or-block-sender/m);
  });

  it('policies permit-sender without --to: an entry for every internal user (not aliases), saying so', async () => {
    const c = new AdminCaller(sim, 'v2');
    const users: string[] = [];
    for (const domain of ['corp.example', 'subsidiary.example']) {
      const r = await c.call('/api/user/get-internal-users', [{ domain }], { pageSize: 500 });
      for (const u of (r.data[0]?.['users'] as Row[] | undefined) ?? []) if (u['alias'] !== true) users.push(String(u['emailAddress']));
    }
    const sender = `everyone-${profile}@partner.example`;
    const r = await api(base('policies', 'permit-sender', '--email', sender, '--output', 'json', '--page-size', '7'));
    const rows = rowsOf(r);
    expect(rows.map((e) => e['to']).sort()).toEqual(users.sort());
    expect(rows.every((e) => e['sender'] === sender && e['type'] === 'Permit')).toBe(true);
    expect(r.stderr).toContain(`note: Mimecast permits a sender per recipient: ${sender} is now permitted for each of the ${users.length} internal users`);
  });

  it('policies definitions: the address-alteration definitions in both outputs, filtered by routing; a bad routing is a usage error', async () => {
    const all = await api(base('policies', 'definitions', '--output', 'json'));
    const defs = rowsOf(all);
    expect(defs.length).toBeGreaterThanOrEqual(2);
    expect(defs[0]).toMatchObject({ originalAddress: expect.any(String) as string, newAddress: expect.any(String) as string, routing: expect.any(String) as string });
    expect(all.stderr).toContain('note: these are address alteration definitions');
    const inbound = rowsOf(await api(base('policies', 'definitions', '--routing', 'inbound', '--output', 'json')));
    expect(inbound.length).toBeLessThan(defs.length);
    expect(inbound.every((d) => d['routing'] === 'inbound' || d['routing'] === 'all')).toBe(true);
    const lines = tableLines(await api(base('policies', 'definitions'), { tty: true, columns: 200 }));
    expect(lines[0]).toMatch(/^original +new +addressType +routing +id$/);
    expect(lines).toHaveLength(defs.length + 1);
    const bad = await api(base('policies', 'definitions', '--routing', 'sideways'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('all, inbound, outbound');
  });

  it('reports stats: account figures and the held queue by policy, sourced, in both outputs', async () => {
    const r = await api(base('reports', 'stats', '--output', 'json'));
    const rows = rowsOf(r);
    expect(r.stderr).toContain('note: Mimecast has no statistics function');
    const c = new AdminCaller(sim, 'v2');
    const account = (await c.call('/api/account/get-account', [])).data[0] as Row;
    expect(rows).toContainEqual({ metric: 'users', value: account['userCount'], source: '/api/account/get-account userCount' });
    expect(rows).toContainEqual({ metric: 'held messages', value: (await heldIds()).length, source: '/api/gateway/get-hold-summary-list' });
    expect(rows.filter((x) => String(x['metric']).startsWith('held: ')).reduce((n, x) => n + Number(x['value']), 0)).toBe((await heldIds()).length);
    const lines = tableLines(await api(base('reports', 'stats'), { tty: true, columns: 120 }));
    expect(lines[0]).toMatch(/^metric +value +source$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^users +${String(account['userCount'])} +/api/account/get-account userCount$`)));
  });

  it('reports stats: bad credentials are an API error, exit 1', async () => {
    const r = await api(['reports', 'stats', '--config', config, '--profile', 'broken']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: err_xdk_invalid_signature: /m);
  });
});

describe('policies list on an account where one policy type cannot be read', () => {
  let partial: RunningSimulator;
  let partialConfig: string;
  beforeAll(async () => {
    partial = await startSimulator({ seed: 'api-cli-partial', backlogRecords: 10, publishIntervalMs: 0, unlicensed: ['anti_spoofing_bypass'] });
    partialConfig = writeConfig(join(dir, 'partial.yaml'), apiYaml(partial));
  });
  afterAll(async () => {
    await partial.close();
  });

  it.each(PROFILES)('on profile %s: the other types listed, the one left out named with Mimecast\'s code on stderr', async (profile) => {
    const r = await api(['policies', 'list', '--config', partialConfig, '--profile', profile, '--output', 'json']);
    const rows = rowsOf(r);
    expect(new Set(rows.map((p) => p['type']))).toEqual(new Set(['blocked_senders', 'address_alteration']));
    expect(r.stderr).toMatch(/^note: anti_spoofing_bypass policies not read: app_forbidden: .*\/api\/policy\/antispoofing-bypass\/get-policy/m);
  });
});

describe('confirmation on a terminal', () => {
  it('messages release asks on a terminal: "n" changes nothing, "y" releases', async () => {
    const [id] = await heldIds();
    if (id === undefined) throw new Error('the seeded queue ran out');
    const tty = (answer: string): PassThrough & { isTTY: boolean } => {
      const s = Object.assign(new PassThrough(), { isTTY: true });
      s.end(answer);
      return s;
    };
    const no = await api(['messages', 'release', '--id', id, '--config', config], { stdin: tty('n\n') });
    expect(no.stderr).toContain(`release held message ${id} on account cloud? [y/N]`);
    expect(no.code).toBe(1);
    expect(await heldIds()).toContain(id);
    const yes = await api(['messages', 'release', '--id', id, '--config', config, '--output', 'json'], { stdin: tty('y\n') });
    expect(rowsOf(yes)).toEqual([{ id, release: true }]);
    expect(await heldIds()).not.toContain(id);
  });
});

describe('help says where Mimecast has no endpoint for the promise', () => {
  it.each([
    [['reports', 'stats'], 'no statistics function'],
    [['policies', 'definitions'], 'address alteration definitions'],
    [['policies', 'permit-sender'], 'every internal user'],
    [['policies', 'list'], 'permitted-sender policies'],
  ])('%j --help', async (words, text) => {
    const r = await api([...words, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.replace(/\s+/g, ' ')).toContain(text);
  });
});
