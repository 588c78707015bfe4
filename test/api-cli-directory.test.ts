// `api users ...` and `api groups ...` end to end against the simulator's directory: both outputs, both API generations, their errors, the state they leave.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminCaller } from '../src/simulator/admin/api-client.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { PROFILES, apiYaml, runApi, type ApiRun, type ApiRunOptions } from './helpers/api-cli.js';
import { MAIN, REPO, runCli, writeConfig } from './helpers/harness.js';

type Row = Record<string, unknown>;

let sim: RunningSimulator;
let dir: string;
/** An admin-only config: accounts, no sinks (what `api` must accept). */
let config: string;
let admin: AdminCaller;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mc-api-dir-'));
  sim = await startSimulator({ seed: 'api-directory', backlogRecords: 20, publishIntervalMs: 0 });
  config = writeConfig(join(dir, 'admin.yaml'), apiYaml(sim, { sinks: false }));
  admin = new AdminCaller(sim, 'v2');
});

afterAll(async () => {
  await sim.close();
});

function api(args: string[], o: ApiRunOptions = {}): Promise<ApiRun> {
  return runApi(dir, args, o);
}

function rowsOf(r: ApiRun): Row[] {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Row[];
}

/** The table's lines split into cells (two or more spaces apart). */
function cells(r: ApiRun): string[][] {
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trimEnd()
    .split('\n')
    .map((l) => l.split(/ {2,}/));
}

/** Every user of a domain as the simulator holds it, read through the API 2.0 native list (disabled flag included). */
async function directoryUser(address: string): Promise<Row | undefined> {
  const token = await admin.headers('/user/cloud-gateway/v1/users');
  const res = await fetch(`${sim.url}/user/cloud-gateway/v1/users?pageSize=500`, { headers: token });
  const body = (await res.json()) as { users: Row[] };
  return body.users.find((u) => u['emailAddress'] === address);
}

async function groupIdOf(description: string): Promise<string> {
  const r = await admin.call('/api/directory/find-groups', [{ query: description }]);
  const g = (r.data[0]?.['folders'] as Row[]).find((x) => x['description'] === description);
  return String(g?.['id']);
}

async function membersOf(description: string): Promise<string[]> {
  const r = await admin.call('/api/directory/get-group-members', [{ id: await groupIdOf(description) }]);
  return (r.data[0]?.['groupMembers'] as Row[]).map((m) => String(m['emailAddress']));
}

async function auditInfo(): Promise<string[]> {
  const r = await api(['reports', 'audit', '--config', config, '--start', '1h', '--end', '0s', '--output', 'json']);
  return rowsOf(r).map((e) => String(e['eventInfo']));
}

describe.each(PROFILES)('on profile %s', (profile) => {
  const base = (...a: string[]): string[] => [...a, '--config', config, '--profile', profile];
  const person = (local: string): string => `${profile}.${local}@corp.example`;

  describe('users list', () => {
    it('json: the records whole; every internal domain without --domain, one with it', async () => {
      const all = rowsOf(await api(base('users', 'list')));
      expect(new Set(all.map((u) => u['domain']))).toEqual(new Set(['corp.example', 'subsidiary.example']));
      expect(all.map((u) => u['emailAddress'])).toContain('ada.lovelace@corp.example');
      const sub = rowsOf(await api(base('users', 'list', '--domain', 'subsidiary.example')));
      expect(sub.length).toBeGreaterThan(0);
      expect(sub.every((u) => u['domain'] === 'subsidiary.example')).toBe(true);
      expect(sub).toEqual(all.filter((u) => u['domain'] === 'subsidiary.example'));
      if (profile === 'cloud') {
        // API 2.0's own list: internal and created are the API's; a disabled account says so.
        expect(sub.find((u) => u['emailAddress'] === 'frank.garcia@subsidiary.example')).toMatchObject({ internal: true, disabled: true, createdDateTime: expect.stringMatching(/^\d{4}-/) as string });
      } else {
        // get-internal-users returns neither field; nothing is made up for them.
        for (const u of all) expect(Object.keys(u)).not.toEqual(expect.arrayContaining(['internal']));
        expect(all.some((u) => 'created' in u || 'createdDateTime' in u)).toBe(false);
      }
    });

    it('both generations list the same users (API 1.0 walks the domains one call each, with pages)', async () => {
      const mine = rowsOf(await api(base('users', 'list', '--page-size', '7'))).map((u) => u['emailAddress']);
      const other = rowsOf(await api(['users', 'list', '--config', config, '--profile', profile === 'cloud' ? 'legacy' : 'cloud'])).map((u) => u['emailAddress']);
      expect([...mine].sort()).toEqual([...other].sort());
    });

    it('table: the five columns, `-` where this generation returns nothing; --limit', async () => {
      const t = cells(await api(base('users', 'list', '--domain', 'subsidiary.example'), { tty: true, columns: 140 }));
      expect(t[0]).toEqual(['emailAddress', 'name', 'domain', 'internal', 'created']);
      const frank = t.find((c) => c[0] === 'frank.garcia@subsidiary.example');
      expect(frank?.slice(1, 3)).toEqual(['Frank Garcia', 'subsidiary.example']);
      if (profile === 'cloud') {
        expect(frank?.[3]).toBe('true');
        expect(frank?.[4]).toMatch(/^\d{4}-\d\d-\d\dT/);
      } else {
        expect(frank?.slice(3)).toEqual(['-', '-']);
      }
      expect(cells(await api(base('users', 'list', '--limit', '3'), { tty: true }))).toHaveLength(4);
    });

    it('--limit with --domain: the first users of that domain, without shrinking the pages it reads (other domains\' users are skipped)', async () => {
      const all = rowsOf(await api(base('users', 'list', '--domain', 'subsidiary.example')));
      const before = sim.stats().requests.api;
      const one = rowsOf(await api(base('users', 'list', '--domain', 'subsidiary.example', '--limit', '1')));
      expect(one).toEqual(all.slice(0, 1));
      // get-internal-domain, then one page of users: the default page holds every user of the seeded directory.
      expect(sim.stats().requests.api - before).toBe(2);
    });

    it('an unknown domain: exit 2 naming the internal domains', async () => {
      const r = await api(base('users', 'list', '--domain', 'elsewhere.example'));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('--domain "elsewhere.example" is not an internal domain of account');
      expect(r.stderr).toContain('corp.example, subsidiary.example');
      expect(r.stdout).toBe('');
    });
  });

  describe('users create / update', () => {
    it('create: the new user is listed; table and json; --domain completes a local part', async () => {
      const created = rowsOf(await api(base('users', 'create', '--email', person('new1'), '--name', 'New One')));
      expect(created).toEqual([{ id: expect.stringMatching(/^eNo/) as string, emailAddress: person('new1') }]);
      const t = cells(await api(base('users', 'create', '--email', `${profile}.new2`, '--domain', 'corp.example'), { tty: true }));
      expect(t[0]).toEqual(['emailAddress', 'id']);
      expect(t[1]?.[0]).toBe(person('new2'));
      const listed = rowsOf(await api(base('users', 'list', '--domain', 'corp.example'))).filter((u) => String(u['emailAddress']).startsWith(`${profile}.new`));
      expect(listed.map((u) => [u['emailAddress'], u['name']])).toEqual([
        [person('new1'), 'New One'],
        [person('new2'), ''],
      ]);
    });

    it('create errors: an existing address is Mimecast\'s failure (exit 1); a bad address or a domain mismatch is usage (exit 2)', async () => {
      const dup = await api(base('users', 'create', '--email', 'ada.lovelace@corp.example'));
      expect(dup.code).toBe(1);
      expect(dup.stderr).toMatch(/^error: err_user_already_exists: .*\[simulator-only code\]/m);
      const outside = await api(base('users', 'create', '--email', 'x@elsewhere.example'));
      expect(outside.code).toBe(1);
      expect(outside.stderr).toContain('err_user_domain_not_internal');
      const bare = await api(base('users', 'create', '--email', 'nobody'));
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('--email "nobody" is not an email address');
      const mismatch = await api(base('users', 'create', '--email', 'a@corp.example', '--domain', 'subsidiary.example'));
      expect(mismatch.code).toBe(2);
      expect(mismatch.stderr).toContain('is not in --domain "subsidiary.example"');
    });

    it('update: a new name and an alias, both listed afterwards; table and json', async () => {
      await api(base('users', 'create', '--email', person('upd'), '--name', 'Old Name'));
      const json = rowsOf(await api(base('users', 'update', '--email', person('upd'), '--name', 'New Name', '--alias', person('upd-alias'))));
      expect(json.map((r) => [r['change'], r['value']])).toEqual([
        ['name', 'New Name'],
        ['alias', person('upd-alias')],
      ]);
      expect(json[0]?.['result']).toMatchObject({ emailAddress: person('upd'), name: 'New Name' });
      const t = cells(await api(base('users', 'update', '--email', person('upd'), '--name', 'Newer Name'), { tty: true }));
      expect(t).toEqual([
        ['emailAddress', 'change', 'value'],
        [person('upd'), 'name', 'Newer Name'],
      ]);
      const listed = rowsOf(await api(base('users', 'list', '--domain', 'corp.example')));
      expect(listed.find((u) => u['emailAddress'] === person('upd'))?.['name']).toBe('Newer Name');
      const alias = listed.find((u) => u['emailAddress'] === person('upd-alias'));
      expect(alias?.[profile === 'cloud' ? 'isAlias' : 'alias']).toBe(true);
    });

    it('update errors: a missing user is exit 1 with Mimecast\'s code; nothing to update is exit 2', async () => {
      const missing = await api(base('users', 'update', '--email', 'nobody@corp.example', '--name', 'X'));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^error: err_user_not_found: .*nobody@corp\.example/m);
      const aliasMissing = await api(base('users', 'update', '--email', 'nobody@corp.example', '--alias', 'nb@corp.example'));
      expect(aliasMissing.code).toBe(1);
      expect(aliasMissing.stderr).toContain('err_user_not_found');
      const nothing = await api(base('users', 'update', '--email', person('upd')));
      expect(nothing.code).toBe(2);
      expect(nothing.stderr).toContain('nothing to update: give --name and/or --alias');
    });
  });

  describe('users delete', () => {
    it('disables the account, removes its aliases and every group membership (its own and its aliases\'), says it was not deleted', async () => {
      const who = person('leaver');
      const alias = person('leaver-alias');
      expect((await api(base('users', 'create', '--email', who, '--name', 'Leaver'))).code).toBe(0);
      expect((await api(base('users', 'update', '--email', who, '--alias', alias))).code).toBe(0);
      expect((await api(base('groups', 'add-member', '--group', 'Sales Team', '--email', who))).code).toBe(0);
      expect((await api(base('groups', 'add-member', '--group', 'Finance', '--email', alias))).code).toBe(0);
      const r = await api(base('users', 'delete', '--email', who, '--yes'), { tty: true, columns: 160 });
      const t = cells(r);
      expect(t).toEqual([
        ['step', 'target', 'call'],
        ['disable account', who, '/api/user/update-user'],
        ['remove from group "Sales Team"', who, '/api/directory/remove-group-member'],
        ['remove from group "Finance"', alias, '/api/directory/remove-group-member'],
        ['remove alias', alias, '/api/user/remove-alias'],
      ]);
      expect(r.stderr).toContain(`${who} was not deleted: Mimecast's API has no call that deletes a user`);
      expect(await directoryUser(who)).toMatchObject({ disabled: true });
      expect(await directoryUser(alias)).toBeUndefined();
      expect(await membersOf('Sales Team')).not.toContain(who);
      expect(await membersOf('Finance')).not.toContain(alias);
      // Still there (disabled): the API cannot delete it.
      expect(rowsOf(await api(base('users', 'list', '--domain', 'corp.example'))).map((u) => u['emailAddress'])).toContain(who);
    });

    it('--purge adds the address to the purge list; json output lists the steps', async () => {
      const who = person('purged');
      await api(base('users', 'create', '--email', who));
      const steps = rowsOf(await api(base('users', 'delete', '--email', who, '--purge', '--yes')));
      expect(steps.map((s) => s['step'])).toEqual(['disable account', 'add to purge list']);
      expect((await auditInfo()).some((a) => a.startsWith('Purge Address Added') && a.includes(who))).toBe(true);
    });

    it('--dry-run prints every request and changes nothing; a missing user is exit 1 and changes nothing', async () => {
      const who = person('kept');
      await api(base('users', 'create', '--email', who));
      await api(base('groups', 'add-member', '--group', 'Engineering', '--email', who));
      const dry = await api(base('users', 'delete', '--email', who, '--dry-run'));
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain('POST ' + sim.url + '/api/user/update-user');
      expect(dry.stdout).toContain('"accountDisabled": true');
      expect(dry.stdout).toContain('/api/directory/remove-group-member');
      expect(await directoryUser(who)).toMatchObject({ disabled: false });
      expect(await membersOf('Engineering')).toContain(who);
      const missing = await api(base('users', 'delete', '--email', 'nobody@corp.example', '--yes'));
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^error: err_user_not_found: .*nobody@corp\.example/m);
      expect(missing.stderr).not.toContain('"api write"');
    });

    it('refuses without --yes when stdin is not a terminal (exit 2), before changing anything', async () => {
      const who = person('stays');
      await api(base('users', 'create', '--email', who));
      const r = await api(base('users', 'delete', '--email', who));
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('refusing without --yes');
      expect(await directoryUser(who)).toMatchObject({ disabled: false });
      expect((await api(base('users', 'delete', '--help'))).stdout).toContain("Mimecast's API has no call that deletes a user");
    });
  });

  describe('groups', () => {
    it('list: json whole, table with id, description, source, folderCount', async () => {
      const json = rowsOf(await api(base('groups', 'list')));
      expect(json.map((g) => g['description'])).toEqual(expect.arrayContaining(['Blocked Senders', 'Permitted senders', 'Sales Team', 'Finance', 'Engineering']));
      expect(json[0]).toMatchObject({ id: expect.stringMatching(/^eNo/) as string, source: 'cloud', folderCount: 0, userCount: expect.any(Number) as number });
      const t = cells(await api(base('groups', 'list'), { tty: true, columns: 200 }));
      expect(t[0]).toEqual(['id', 'description', 'source', 'folderCount']);
      expect(t.slice(1).map((c) => c[0])).toEqual(json.map((g) => g['id']));
      expect(t.find((c) => c[1] === 'Finance')?.slice(2)).toEqual(['cloud', '0']);
    });

    it('list (and users list) with credentials Mimecast refuses: exit 1, the refusal on stderr, nothing on stdout', async () => {
      const wrong = writeConfig(
        join(dir, `wrong-${profile}.yaml`),
        apiYaml(sim, { sinks: false }).replace(JSON.stringify(sim.clientSecret), '"not-the-secret"').replace(JSON.stringify(sim.secretKey), JSON.stringify(Buffer.from('not the key').toString('base64'))),
      );
      for (const cmd of [['groups', 'list'], ['users', 'list']]) {
        const r = await api([...cmd, '--config', wrong, '--profile', profile]);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).toMatch(profile === 'cloud' ? /^error: invalid_client: Mimecast rejected the client credentials/m : /^error: err_xdk_\w+: Mimecast rejected the API 1.0 signature for POST \/api\/(directory\/find-groups|domain\/get-internal-domain)/m);
      }
    });

    it('create: listed afterwards; a blank description is Mimecast\'s validation failure (exit 1)', async () => {
      const made = rowsOf(await api(base('groups', 'create', '--description', `${profile} Contractors`)));
      expect(made).toEqual([expect.objectContaining({ description: `${profile} Contractors`, source: 'cloud', folderCount: 0, userCount: 0 })]);
      const t = cells(await api(base('groups', 'create', '--description', `${profile} Interns`), { tty: true, columns: 200 }));
      expect(t[1]?.slice(1)).toEqual([`${profile} Interns`, 'cloud', '0']);
      const listed = rowsOf(await api(base('groups', 'list'))).map((g) => g['description']);
      expect(listed).toEqual(expect.arrayContaining([`${profile} Contractors`, `${profile} Interns`]));
      const blank = await api(base('groups', 'create', '--description', ' '));
      expect(blank.code).toBe(1);
      expect(blank.stderr).toMatch(/^error: err_validation_blank: /m);
    });

    it('add-member by id or by description; a member twice is exit 1, an unknown group exit 2', async () => {
      const id = await groupIdOf('Engineering');
      const json = rowsOf(await api(base('groups', 'add-member', '--group', id, '--email', person('eng1'))));
      expect(json).toEqual([expect.objectContaining({ group: 'Engineering', folderId: id, emailAddress: person('eng1'), internal: true })]);
      const t = cells(await api(base('groups', 'add-member', '--group', 'engineering', '--email', `Contractor.${profile}@Partner.example`), { tty: true, columns: 200 }));
      expect(t[0]).toEqual(['group', 'emailAddress', 'internal', 'groupId']);
      expect(t[1]).toEqual(['Engineering', `contractor.${profile}@partner.example`, 'false', id]);
      expect(await membersOf('Engineering')).toEqual(expect.arrayContaining([person('eng1'), `contractor.${profile}@partner.example`]));
      const twice = await api(base('groups', 'add-member', '--group', 'Engineering', '--email', person('eng1')));
      expect(twice.code).toBe(1);
      expect(twice.stderr).toMatch(/^error: err_folder_group_member_already_exists: .*Group member already exists/m);
      for (const unknown of ['No Such Group', `eNo${'x'.repeat(40)}`]) {
        const r = await api(base('groups', 'add-member', '--group', unknown, '--email', person('eng1')));
        expect(r.code).toBe(2);
        expect(r.stderr).toContain(`--group "${unknown}": account ${profile} has no group with this id or description`);
      }
    });

    it('remove-member (--yes): gone from the group; not a member is exit 1; without --yes and no terminal exit 2', async () => {
      await api(base('groups', 'add-member', '--group', 'Finance', '--email', person('fin1')));
      const refused = await api(base('groups', 'remove-member', '--group', 'Finance', '--email', person('fin1')));
      expect(refused.code).toBe(2);
      expect(await membersOf('Finance')).toContain(person('fin1'));
      const t = cells(await api(base('groups', 'remove-member', '--group', 'Finance', '--email', person('fin1'), '--yes'), { tty: true, columns: 200 }));
      expect(t[1]?.slice(0, 3)).toEqual(['Finance', person('fin1'), 'true']);
      expect(await membersOf('Finance')).not.toContain(person('fin1'));
      await api(base('groups', 'add-member', '--group', 'Finance', '--email', person('fin2')));
      const json = rowsOf(await api(base('groups', 'remove-member', '--group', 'Finance', '--email', person('fin2'), '--yes')));
      expect(json).toEqual([expect.objectContaining({ group: 'Finance', emailAddress: person('fin2') })]);
      const again = await api(base('groups', 'remove-member', '--group', 'Finance', '--email', person('fin2'), '--yes'));
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^error: err_folder_email_address_not_found: /m);
    });
  });

  it('every change is in the audit stream', async () => {
    const audit = await auditInfo();
    for (const expected of [
      `User Created: created user ${person('new1')}`,
      `User Updated: updated user ${person('upd')} (name)`,
      `User Updated: added alias ${person('upd-alias')}`,
      `User Updated: updated user ${person('leaver')} (accountDisabled=true)`,
      `User Updated: removed alias ${person('leaver-alias')}`,
      `Profile Group Created: created group "${profile} Contractors"`,
      `Profile Group Log Entry: added ${person('eng1')} to group "Engineering"`,
      `Profile Group (unlink) Log Entry: removed ${person('fin1')} from group "Finance"`,
    ]) {
      expect(audit.some((a) => a.startsWith(expected)), `${expected} in ${audit.join('\n')}`).toBe(true);
    }
  });
});

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command args` from the repository root with `env` added, stdin empty (not a terminal). */
function runProcess(command: string, args: readonly string[], env: Record<string, string> = {}): Promise<Exit> {
  return new Promise((done, fail) => {
    const proc = spawn(command, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.on('error', fail);
    proc.on('close', (code) => done({ code, stdout, stderr }));
    proc.stdin.end();
  });
}

/** The built CLI's `api ...args` on a real pseudo-terminal (test/helpers/pty-run.py), answering its y/N prompt with `answer`. */
function onTerminal(answer: string, args: readonly string[]): Promise<Exit> {
  return runProcess('python3', [join(REPO, 'test/helpers/pty-run.py'), answer, '[y/N] ', process.execPath, MAIN, 'api', ...args]);
}

/** Each test below starts the built CLI several times; on a busy 2-core machine one start takes seconds. */
const CLI_TEST_TIMEOUT = 240_000;

describe('the built CLI', () => {
  it.each(PROFILES)('onboarding, bulk export and offboarding as a bash script (%s) leave the directory as expected', async (profile) => {
    const who = `${profile}.script-hire@corp.example`;
    const exported = join(dir, `${profile}-export.json`);
    const r = await runProcess('bash', ['test/scripts/admin-workflows.sh'], { MIMECAST_COLLECTOR_CONFIG: config, PROFILE: profile, NEW_USER: who, EXPORT: exported, CLI: MAIN });
    expect(r.code, r.stderr).toBe(0);
    // The export: every corp.example user, the new one among them, exactly as `users list` gives them.
    const list = JSON.parse(readFileSync(exported, 'utf8')) as Row[];
    expect(list.every((u) => u['domain'] === 'corp.example')).toBe(true);
    expect(list.find((u) => u['emailAddress'] === who)).toMatchObject({ name: 'New Hire' });
    expect(list.length).toBeGreaterThan(40);
    // Afterwards, through the API: disabled (not deleted), in neither group, and every step in the audit trail.
    expect(await directoryUser(who)).toMatchObject({ disabled: true, name: 'New Hire' });
    expect(await membersOf('Sales Team')).not.toContain(who);
    expect(await membersOf('Engineering')).not.toContain(who);
    expect(r.stderr).toContain(`${who} was not deleted: Mimecast's API has no call that deletes a user`);
    const audit = await auditInfo();
    for (const step of [`User Created: created user ${who}`, `Profile Group Log Entry: added ${who} to group "Sales Team"`, `Profile Group Log Entry: added ${who} to group "Engineering"`, `Profile Group (unlink) Log Entry: removed ${who} from group "Sales Team"`, `Profile Group (unlink) Log Entry: removed ${who} from group "Engineering"`, `User Updated: updated user ${who} (accountDisabled=true)`]) {
      expect(audit.some((a) => a.startsWith(step)), step).toBe(true);
    }
  }, CLI_TEST_TIMEOUT);

  it('on a pseudo-terminal a destructive command asks: n changes nothing, y does it', async () => {
    const who = 'pty.member@corp.example';
    expect((await api(['groups', 'add-member', '--config', config, '--group', 'Finance', '--email', who])).code).toBe(0);
    const args = ['groups', 'remove-member', '--config', config, '--group', 'Finance', '--email', who];
    const no = await onTerminal('n', args);
    expect(no.stdout).toContain(`remove ${who} from group "Finance" on account cloud? [y/N] `);
    expect(no.stdout).toContain('not confirmed: nothing was changed');
    expect(no.code).toBe(1);
    expect(await membersOf('Finance')).toContain(who);
    const yes = await onTerminal('y', args);
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout).toContain('[y/N] ');
    // stdout is the terminal: a table.
    expect(yes.stdout).toMatch(/group +emailAddress +internal +groupId/);
    expect(await membersOf('Finance')).not.toContain(who);
  }, CLI_TEST_TIMEOUT);

  it('on a pseudo-terminal `users delete` asks once for the whole change; y disables the user', async () => {
    const who = 'pty.leaver@corp.example';
    await api(['users', 'create', '--config', config, '--email', who]);
    await api(['groups', 'add-member', '--config', config, '--group', 'Engineering', '--email', who]);
    const no = await onTerminal('n', ['users', 'delete', '--config', config, '--email', who]);
    expect(no.code).toBe(1);
    expect(no.stdout).toContain(`disable user ${who} (Mimecast cannot delete it), remove its 0 aliases and 1 group membership on account cloud? [y/N] `);
    expect(await directoryUser(who)).toMatchObject({ disabled: false });
    const yes = await onTerminal('y', ['users', 'delete', '--config', config, '--email', who]);
    expect(yes.code, yes.stdout).toBe(0);
    expect(yes.stdout.split('[y/N]')).toHaveLength(2);
    expect(await directoryUser(who)).toMatchObject({ disabled: true });
    expect(await membersOf('Engineering')).not.toContain(who);
  }, CLI_TEST_TIMEOUT);

  it('with stdin not a terminal, a destructive command without --yes refuses with exit 2 and changes nothing', async () => {
    const who = 'pipe.member@corp.example';
    await api(['groups', 'add-member', '--config', config, '--group', 'Finance', '--email', who]);
    const r = await runCli(['api', 'groups', 'remove-member', '--config', config, '--group', 'Finance', '--email', who], 'y\n');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('refusing without --yes, because stdin is not a terminal to ask on');
    expect(await membersOf('Finance')).toContain(who);
  }, CLI_TEST_TIMEOUT);

  it('`api` runs on an admin-only config (no sinks); `run` refuses that file, naming the key', async () => {
    const listed = await runCli(['api', 'groups', 'list', '--config', config]);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Row[]).length).toBeGreaterThan(4);
    const daemon = await runCli(['run', '--config', config]);
    expect(daemon.code).toBe(1);
    expect(daemon.stderr).toContain('sinks: required');
  }, CLI_TEST_TIMEOUT);
});
