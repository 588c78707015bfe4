// Tests the group functions over HTTP with both auth kinds: find, members, create, add/remove member, their errors and audit.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../index.js';
import { AdminCaller } from './api-client.js';
import { SIM_ONLY } from './envelope.js';

const sims: RunningSimulator[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

type Row = Record<string, unknown>;

describe.each(['v1', 'v2'] as const)('admin groups over API %s', (kind) => {
  let c: AdminCaller;
  beforeAll(async () => {
    const s = await startSimulator({ publishIntervalMs: 0, backlogRecords: 20, seed: 11 });
    sims.push(s);
    c = new AdminCaller(s, kind);
  });

  async function groups(query = ''): Promise<Row[]> {
    const r = await c.call('/api/directory/find-groups', [{ query }]);
    expect(r.fail).toEqual([]);
    return r.data[0]?.['folders'] as Row[];
  }

  async function members(id: string): Promise<Row[]> {
    const r = await c.call('/api/directory/get-group-members', [{ id }]);
    expect(r.fail).toEqual([]);
    return r.data[0]?.['groupMembers'] as Row[];
  }

  async function groupId(description: string): Promise<string> {
    const g = (await groups(description)).find((x) => x['description'] === description);
    return String(g?.['id']);
  }

  it('find-groups lists the seeded groups and filters by a part of the description; pages carry the count returned', async () => {
    const all = await groups();
    expect(all.map((g) => g['description'])).toEqual(['Blocked Senders', 'Permitted senders', 'Sales Team', 'Finance', 'Engineering']);
    expect(all[2]).toMatchObject({ source: 'cloud', userCount: 3, folderCount: 0 });
    expect(String(all[0]?.['id'])).toMatch(/^eNo[A-Za-z0-9_-]{20,}$/);
    expect((await groups('sEnDeRs')).map((g) => g['description'])).toEqual(['Blocked Senders', 'Permitted senders']);
    const paged = await c.call('/api/directory/find-groups', [{}], { pageSize: 2 });
    expect(paged.meta.pagination).toMatchObject({ pageSize: 2, totalCount: 5 });
    const next = await c.call('/api/directory/find-groups', [{}], { pageSize: 2, pageToken: paged.meta.pagination?.next });
    expect((next.data[0]?.['folders'] as Row[]).map((g) => g['description'])).toEqual(['Sales Team', 'Finance']);
  });

  it('create-group then find-groups lists it, empty', async () => {
    const r = await c.call('/api/directory/create-group', [{ description: 'Incident Response' }]);
    expect(r.data[0]).toMatchObject({ description: 'Incident Response', source: 'cloud', userCount: 0, folderCount: 0 });
    const id = String(r.data[0]?.['id']);
    expect((await groups('incident'))[0]?.['id']).toBe(id);
    expect(await members(id)).toEqual([]);
    const blank = await c.call('/api/directory/create-group', [{ description: ' ' }]);
    expect(blank.fail[0]?.errors[0]).toMatchObject({ code: 'err_validation_blank', field: 'description' });
  });

  it('add-group-member then get-group-members shows it; a second add is err_folder_group_member_already_exists', async () => {
    const id = await groupId('Engineering');
    const r = await c.call('/api/directory/add-group-member', [{ id, emailAddress: 'Ada.Lovelace@corp.example', notes: 'added by test' }]);
    expect(r.fail).toEqual([]);
    expect(r.data[0]).toMatchObject({ folderId: id, emailAddress: 'ada.lovelace@corp.example', internal: true });
    expect(await members(id)).toEqual([{ emailAddress: 'ada.lovelace@corp.example', domain: 'corp.example', internal: true, type: 'created_manually', name: 'Ada Lovelace', notes: 'added by test' }]);
    const dup = await c.call('/api/directory/add-group-member', [{ id, emailAddress: 'ada.lovelace@corp.example' }]);
    expect(dup.data).toEqual([]);
    expect(dup.fail[0]).toEqual({
      key: { id, emailAddress: 'ada.lovelace@corp.example' },
      errors: [{ code: 'err_folder_group_member_already_exists', message: 'Group member already exists', retryable: false }],
    });
    expect((await groups('Engineering'))[0]?.['userCount']).toBe(1);
  });

  it('remove-group-member takes a member out; a non-member is err_folder_email_address_not_found', async () => {
    const id = await groupId('Sales Team');
    const r = await c.call('/api/directory/remove-group-member', [
      { id, emailAddress: 'bob.builder@corp.example' },
      { id, emailAddress: 'carol.jones@corp.example' },
    ]);
    expect(r.data).toEqual([expect.objectContaining({ folderId: id, emailAddress: 'bob.builder@corp.example' })]);
    expect(r.fail[0]?.errors[0]).toMatchObject({ code: 'err_folder_email_address_not_found', message: 'Error email address not found' });
    expect((await members(id)).map((m) => m['emailAddress'])).toEqual(['ada.lovelace@corp.example', 'dave.smith@subsidiary.example']);
    const tooMany = await c.call('/api/directory/remove-group-member', Array.from({ length: 11 }, () => ({ id, emailAddress: 'x@corp.example' })));
    expect(tooMany.fail[0]?.errors[0]?.code).toBe('err_validation_too_many_items');
  });

  it('domain members; an unknown group id is a labelled simulator-only code; a corrupt one is HTTP 400 with no body', async () => {
    const id = await groupId('Blocked Senders');
    expect((await members(id)).find((m) => m['domain'] === 'bad-domain.example')).toMatchObject({ emailAddress: '', internal: false });
    const added = await c.call('/api/directory/add-group-member', [{ id, domain: 'worse.example' }]);
    expect(added.data[0]).toMatchObject({ folderId: id, domain: 'worse.example', internal: false });
    const unknown = await c.call('/api/directory/add-group-member', [{ id: `eNo${'A'.repeat(60)}`, emailAddress: 'x@corp.example' }]);
    expect(unknown.fail[0]?.errors[0]?.code).toBe('err_folder_not_found');
    expect(unknown.fail[0]?.errors[0]?.message.startsWith(SIM_ONLY)).toBe(true);
    const corrupt = await c.raw('/api/directory/get-group-members', { data: [{ id: id.slice(0, 10) + '!' }] });
    expect(corrupt.status).toBe(400);
    expect(await corrupt.text()).toBe('');
  });

  it('every group change appears in the audit stream', async () => {
    const now = Date.now();
    const r = await c.call('/api/audit/get-audit-events', [{ startDateTime: new Date(now - 60_000).toISOString(), endDateTime: new Date(now + 60_000).toISOString() }], { pageSize: 500 });
    const info = r.data.map((e) => String(e['eventInfo']));
    expect(info).toContainEqual(expect.stringContaining('created group "Incident Response"'));
    expect(info).toContainEqual(expect.stringContaining('added ada.lovelace@corp.example to group "Engineering"'));
    expect(info).toContainEqual(expect.stringContaining('removed bob.builder@corp.example from group "Sales Team"'));
  });
});
