// Tests the account and user functions over HTTP with both auth kinds: listing per domain, create, update (disable), aliases, audit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../index.js';
import { AdminCaller, type AuthKind } from './api-client.js';
import { SIM_ONLY } from './envelope.js';

const sims: RunningSimulator[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

async function fresh(kind: AuthKind): Promise<AdminCaller> {
  const s = await startSimulator({ publishIntervalMs: 0, backlogRecords: 50, seed: 7 });
  sims.push(s);
  return new AdminCaller(s, kind);
}

type Row = Record<string, unknown>;

async function allUsers(c: AdminCaller, domain: string, pageSize = 25): Promise<Row[]> {
  const out: Row[] = [];
  let pageToken: string | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await c.call('/api/user/get-internal-users', [{ domain }], pageToken === undefined ? { pageSize } : { pageSize, pageToken });
    expect(r.fail).toEqual([]);
    out.push(...((r.data[0]?.['users'] as Row[] | undefined) ?? []));
    pageToken = r.meta.pagination?.next;
    if (pageToken === undefined) return out;
  }
  throw new RangeError('pagination did not end');
}

async function auditTypes(c: AdminCaller): Promise<string[]> {
  const now = Date.now();
  const r = await c.call('/api/audit/get-audit-events', [{ startDateTime: new Date(now - 60_000).toISOString(), endDateTime: new Date(now + 60_000).toISOString() }]);
  return r.data.map((e) => `${String(e['auditType'])} | ${String(e['eventInfo'])}`);
}

describe.each(['v1', 'v2'] as const)('admin users over API %s', (kind) => {
  let c: AdminCaller;
  beforeAll(async () => {
    c = await fresh(kind);
  });

  it('get-account answers the account with its code and user count', async () => {
    const r = await c.call('/api/account/get-account', []);
    expect(r.meta.status).toBe(200);
    expect(r.data[0]).toMatchObject({ accountCode: c.sim.accountCode, accountName: 'Simulated Corp' });
    expect(typeof r.data[0]?.['userCount']).toBe('number');
  });

  it('lists two internal domains and pages through a domain’s users', async () => {
    const d = await c.call('/api/domain/get-internal-domain', []);
    expect(d.data.map((x) => x['domain'])).toEqual(['corp.example', 'subsidiary.example']);
    const first = await c.call('/api/user/get-internal-users', [{ domain: 'corp.example' }], { pageSize: 25 });
    expect(first.meta.pagination).toMatchObject({ pageSize: 25 });
    expect(first.meta.pagination?.next).toBeTypeOf('string');
    const users = await allUsers(c, 'corp.example');
    expect(users.length).toBe(first.data[0]?.['userCount']);
    expect(new Set(users.map((u) => u['emailAddress'])).size).toBe(users.length);
    expect(users.find((u) => u['emailAddress'] === 'ada.lovelace@corp.example')).toEqual({
      name: 'Ada Lovelace',
      emailAddress: 'ada.lovelace@corp.example',
      domain: 'corp.example',
      alias: false,
      addressType: 'created_manually',
      source: 'cloud',
    });
    expect(users.find((u) => u['emailAddress'] === 'ada@corp.example')?.['alias']).toBe(true);
    const sub = await allUsers(c, 'subsidiary.example');
    expect(sub.map((u) => u['emailAddress'])).toContain('dave.smith@subsidiary.example');
  });

  it('get-internal-users: missing domain is err_validation_null, a foreign domain a labelled simulator-only code', async () => {
    const missing = await c.call('/api/user/get-internal-users', [{}]);
    expect(missing.fail[0]?.errors[0]).toMatchObject({ code: 'err_validation_null', field: 'domain' });
    const foreign = await c.call('/api/user/get-internal-users', [{ domain: 'elsewhere.example' }]);
    expect(foreign.data).toEqual([]);
    expect(foreign.fail[0]?.errors[0]?.code).toBe('err_user_domain_not_internal');
    expect(foreign.fail[0]?.errors[0]?.message.startsWith(SIM_ONLY)).toBe(true);
  });

  it('create-user then lists it; a duplicate and a foreign domain fail per item in the same call', async () => {
    const r = await c.call('/api/user/create-user', [
      { emailAddress: 'New.Hire@corp.example', name: 'New Hire' },
      { emailAddress: 'ada.lovelace@corp.example', name: 'Dup' },
      { emailAddress: 'x@elsewhere.example' },
      { emailAddress: 'not-an-address' },
    ]);
    expect(r.data).toHaveLength(1);
    expect(r.data[0]).toMatchObject({ emailAddress: 'new.hire@corp.example' });
    expect(String(r.data[0]?.['id'])).toMatch(/^eNo/);
    expect(r.fail.map((f) => f.errors[0]?.code)).toEqual(['err_user_already_exists', 'err_user_domain_not_internal', 'err_validation_invalid_email_address']);
    expect(r.fail[0]?.key).toEqual({ emailAddress: 'ada.lovelace@corp.example', name: 'Dup' });
    const users = await allUsers(c, 'corp.example', 500);
    expect(users.find((u) => u['emailAddress'] === 'new.hire@corp.example')).toMatchObject({ name: 'New Hire', alias: false });
    expect(await auditTypes(c)).toContainEqual(expect.stringMatching(/^User Created \| User Created: created user new\.hire@corp\.example/));
  });

  it('update-user disables an account: the reply echoes it, the 2.0 users list shows it disabled, the audit stream has it', async () => {
    const r = await c.call('/api/user/update-user', [{ emailAddress: 'bob.builder@corp.example', accountDisabled: true, name: 'Bob B.' }]);
    expect(r.fail).toEqual([]);
    expect(r.data[0]).toMatchObject({ emailAddress: 'bob.builder@corp.example', name: 'Bob B.', accountDisabled: true });
    const unknown = await c.call('/api/user/update-user', [{ emailAddress: 'nobody@corp.example', accountDisabled: true }]);
    expect(unknown.fail[0]?.errors[0]).toMatchObject({ code: 'err_user_not_found', field: 'emailAddress' });
    const badFlag = await c.call('/api/user/update-user', [{ emailAddress: 'bob.builder@corp.example', accountDisabled: 'yes' }]);
    expect(badFlag.fail[0]?.errors[0]).toMatchObject({ code: 'err_validation_invalid_value', field: 'accountDisabled' });
    const native = new AdminCaller(c.sim, 'v2');
    const res = await fetch(`${c.sim.url}/user/cloud-gateway/v1/users?pageSize=500`, { headers: await native.headers('/user/cloud-gateway/v1/users') });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { users: Row[] };
    expect(body.users.find((u) => u['emailAddress'] === 'bob.builder@corp.example')).toMatchObject({ disabled: true, internal: true, name: 'Bob B.' });
    expect(body.users.find((u) => u['emailAddress'] === 'ada.lovelace@corp.example')).toMatchObject({ disabled: false });
    expect(await auditTypes(c)).toContainEqual(expect.stringMatching(/^User Updated \| User Updated: updated user bob\.builder@corp\.example \(name, accountDisabled=true\)/));
  });

  it('update-alias adds an alias row; get-aliases lists it; remove-alias takes it away', async () => {
    const r = await c.call('/api/user/update-alias', [{ aliasFor: 'carol.jones@corp.example', alias: 'c.jones@corp.example' }]);
    expect(r.data[0]).toMatchObject({ alias: 'c.jones@corp.example', aliasFor: 'carol.jones@corp.example', isInternal: true });
    const listed = await c.call('/api/user/get-aliases', [{ emailAddress: 'carol.jones@corp.example' }]);
    expect(listed.data[0]?.['aliases']).toEqual([{ alias: 'c.jones@corp.example', aliasDisplayName: 'Carol Jones', domain: 'corp.example' }]);
    expect((await allUsers(c, 'corp.example', 500)).find((u) => u['emailAddress'] === 'c.jones@corp.example')?.['alias']).toBe(true);
    const removed = await c.call('/api/user/remove-alias', [{ alias: 'c.jones@corp.example' }]);
    expect(removed.data[0]).toMatchObject({ alias: 'c.jones@corp.example', removed: true });
    expect((await c.call('/api/user/get-aliases', [{ emailAddress: 'carol.jones@corp.example' }])).data[0]?.['aliases']).toEqual([]);
  });

  it('an /api path no product has answers app_forbidden (the old CLI’s invented paths too)', async () => {
    const res = await c.raw('/api/user/create-internal-user', { data: [{ emailAddress: 'x@corp.example' }] });
    expect(res.status).toBe(403);
    const body = (await res.json()) as { fail: { errors: { code: string }[] }[] };
    expect(body.fail[0]?.errors[0]?.code).toBe('app_forbidden');
    const anonymous = await fetch(`${c.sim.url}/api/user/create-internal-user`, { method: 'POST', body: '{}' });
    expect(anonymous.status).toBe(401);
  });

  it('add-to-purge-list takes an address and records it in the audit stream', async () => {
    const r = await c.call('/api/user/add-to-purge-list', [{ emailAddress: 'Erin.Miller@subsidiary.example' }]);
    expect(r).toMatchObject({ data: [{ emailAddress: 'erin.miller@subsidiary.example' }], fail: [] });
    expect(await auditTypes(c)).toContainEqual(expect.stringContaining('added erin.miller@subsidiary.example to the purge list'));
  });

  it('the injected apiFail200 fault answers a retryable fail[] in HTTP 200 and changes nothing', async () => {
    c.sim.setFaults({ apiFail200: 1 });
    const r = await c.call('/api/user/create-user', [{ emailAddress: 'flaky@corp.example' }]);
    c.sim.setFaults({});
    expect(r.data).toEqual([]);
    expect(r.fail[0]?.errors[0]).toMatchObject({ code: 'err_internal_server_error', retryable: true });
    expect((await allUsers(c, 'corp.example', 500)).map((u) => u['emailAddress'])).not.toContain('flaky@corp.example');
  });
});

describe('admin auth', () => {
  it('a bad signature is refused before any change, and the same seed seeds the same ids', async () => {
    const c = await fresh('v1');
    const res = await fetch(`${c.sim.url}/api/user/create-user`, {
      method: 'POST',
      headers: { ...(await c.headers('/api/user/other')) },
      body: JSON.stringify({ data: [{ emailAddress: 'sneaky@corp.example' }] }),
    });
    expect(res.status).toBe(401);
    const users = await allUsers(c, 'corp.example', 500);
    expect(users.map((u) => u['emailAddress'])).not.toContain('sneaky@corp.example');
    const again = await fresh('v2');
    const ids = async (x: AdminCaller): Promise<unknown[]> => ((await x.call('/api/directory/find-groups', [{}])).data[0]?.['folders'] as Row[]).map((g) => g['id']);
    expect(await ids(again)).toEqual(await ids(c));
  });
});

describe('admin quota', () => {
  it('the admin functions share the account quota: past the limit they answer 429 with X-RateLimit-Reset', async () => {
    const s = await startSimulator({ publishIntervalMs: 0, backlogRecords: 0, rateLimit: { limit: 2, windowMs: 60_000 } });
    sims.push(s);
    const c = new AdminCaller(s, 'v1');
    expect((await c.raw('/api/account/get-account', { data: [] })).status).toBe(200);
    expect((await c.raw('/api/directory/find-groups', { data: [{}] })).status).toBe(200);
    const third = await c.raw('/api/user/get-internal-users', { data: [{ domain: 'corp.example' }] });
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
  });
});
