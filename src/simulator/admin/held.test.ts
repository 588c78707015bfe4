// Tests held messages, message search and sender policies over HTTP with both auth kinds: a release leaves the held list and enters held_release.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../index.js';
import { AdminCaller } from './api-client.js';

const sims: RunningSimulator[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

type Row = Record<string, unknown>;
const DAY = 86_400_000;

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000');
}

describe.each(['v1', 'v2'] as const)('admin held messages, search and policies over API %s', (kind) => {
  let c: AdminCaller;
  beforeAll(async () => {
    const s = await startSimulator({ publishIntervalMs: 0, backlogRecords: 20, seed: 13 });
    sims.push(s);
    c = new AdminCaller(s, kind);
  });

  async function held(extra: Row = {}): Promise<Row[]> {
    const r = await c.call('/api/gateway/get-hold-message-list', [{ admin: true, ...extra }]);
    expect(r.fail).toEqual([]);
    return r.data;
  }

  it('get-hold-message-list: the seeded queue in the real shape, filtered by searchBy and dates, paginated', async () => {
    const all = await held();
    expect(all).toHaveLength(12);
    expect(all[0]).toMatchObject({ route: 'INBOUND', from: { emailAddress: expect.any(String) }, to: { emailAddress: expect.any(String) } });
    expect(String(all[0]?.['reasonCode'])).toMatch(/^message_hold_applied_/);
    expect(String(all[0]?.['dateReceived'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
    const sender = (all[0]?.['from'] as Row)['emailAddress'] as string;
    const bySender = await held({ searchBy: { fieldName: 'sender', value: sender } });
    expect(bySender.length).toBeGreaterThan(0);
    expect(bySender.every((h) => (h['from'] as Row)['emailAddress'] === sender)).toBe(true);
    expect(await held({ start: iso(Date.now() + DAY) })).toEqual([]);
    const notAdmin = await c.call('/api/gateway/get-hold-message-list', [{}]);
    expect(notAdmin.data).toEqual([]);
    const page = await c.call('/api/gateway/get-hold-message-list', [{ admin: true }], { pageSize: 5 });
    expect(page.meta.pagination).toMatchObject({ pageSize: 5, totalCount: 12, next: expect.any(String) });
  });

  it('hold-release: the message leaves the held list, shows up in held_release and audit; a second release fails', async () => {
    const before = await held();
    const target = before[3] as Row;
    const id = String(target['id']);
    const r = await c.call('/api/gateway/hold-release', [{ id }]);
    expect(r).toMatchObject({ meta: { status: 200 }, data: [{ id, release: true }], fail: [] });
    const after = await held();
    expect(after.map((h) => h['id'])).not.toContain(id);
    expect(after).toHaveLength(before.length - 1);
    const now = Date.now();
    const logs = await c.call('/api/gateway/get-held-release-logs', [{ start: iso(now - 60_000), end: iso(now + 60_000) }], { pageSize: 500 });
    const released = (logs.data[0]?.['heldReleaseLogs'] as Row[]).find((l) => l['id'] === id);
    expect(released).toMatchObject({ status: 'released', subject: target['subject'], operator: { emailAddress: expect.stringMatching(/@corp\.example$/) } });
    const audit = await c.call('/api/audit/get-audit-events', [{ startDateTime: iso(now - 60_000), endDateTime: iso(now + 60_000) }], { pageSize: 500 });
    expect(audit.data.map((e) => e['auditType'])).toContain('Held Message Released');
    const again = await c.call('/api/gateway/hold-release', [{ id }, { id: 'eNoUnknownUnknownUnknownUnknown' }]);
    expect(again.data).toEqual([]);
    expect(again.fail.map((f) => f.errors[0]?.code)).toEqual(['err_hold_message_already_released', 'err_hold_message_not_found']);
    const summary = await c.call('/api/gateway/get-hold-summary-list', []);
    expect(summary.data.reduce((n, s) => n + Number(s['numberOfItems']), 0)).toBe(after.length);
  });

  it('message-finder search by from/subject in the last day; start older than 30 days is err_track_and_trace_invalid_start_date', async () => {
    const all = await held();
    const h = all[all.length - 1] as Row;
    const from = (h['from'] as Row)['emailAddress'] as string;
    const r = await c.call('/api/message-finder/search', [{ start: iso(Date.now() - 3 * DAY), advancedTrackAndTraceOptions: { from, subject: String(h['subject']) } }]);
    expect(r.fail).toEqual([]);
    const found = r.data[0]?.['trackedEmails'] as Row[];
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((t) => (t['fromEnv'] as Row)['emailAddress'] === from)).toBe(true);
    // The 2.0 collection's placement: start inside the advanced options.
    const nested = await c.call('/api/message-finder/search', [{ advancedTrackAndTraceOptions: { start: iso(Date.now() - 3 * DAY), from } }]);
    expect((nested.data[0]?.['trackedEmails'] as Row[]).length).toBeGreaterThan(0);
    const old = await c.call('/api/message-finder/search', [{ start: iso(Date.now() - 40 * DAY), advancedTrackAndTraceOptions: { from } }]);
    expect(old.data).toEqual([]);
    expect(old.fail[0]?.errors[0]?.code).toBe('err_track_and_trace_invalid_start_date');
    const none = await c.call('/api/message-finder/search', [{}]);
    expect(none.fail[0]?.errors[0]?.code).toBe('err_validation_null');
  });

  it('blocked-sender policies: create then get-policy lists it in both forms; managed senders validate the sender', async () => {
    const created = await c.call('/api/policy/blockedsenders/create-policy', [
      { option: 'block_sender', policy: { description: 'Block phish@evil.example', fromPart: 'envelope_from', fromType: 'individual_email_address', fromValue: 'phish@evil.example', toType: 'everyone' } },
    ]);
    expect(created.fail).toEqual([]);
    const p = created.data[0] as Row;
    expect(p).toMatchObject({ option: 'block_sender', policy: { fromType: 'individual_email_address', fromValue: 'phish@evil.example', from: { type: 'individual_email_address', emailAddress: 'phish@evil.example' } } });
    const list = await c.call('/api/policy/blockedsenders/get-policy', []);
    expect(list.data.map((x) => x['id'])).toContain(p['id']);
    expect(list.data).toHaveLength(3);
    const one = await c.call('/api/policy/blockedsenders/get-policy', [{ id: p['id'] }]);
    expect(one.data).toEqual([p]);
    const bad = await c.call('/api/policy/blockedsenders/create-policy', [{ option: 'explode', policy: { description: 'x', fromType: 'everyone' } }]);
    expect(bad.fail[0]?.errors[0]).toMatchObject({ code: 'err_validation_invalid_value', field: 'option' });
    const permit = await c.call('/api/managedsender/permit-or-block-sender', [
      { sender: 'trusted@partner.example', to: 'it-ops@corp.example', action: 'permit' },
      { sender: 'not an address', to: 'it-ops@corp.example', action: 'block' },
    ]);
    expect(permit.data[0]).toMatchObject({ sender: 'trusted@partner.example', to: 'it-ops@corp.example', type: 'Permit', id: expect.stringMatching(/^eNo/) });
    expect(permit.fail[0]).toMatchObject({ key: { sender: 'not an address' }, errors: [{ code: 'err_validation_invalid_email_address', field: 'sender' }] });
    const defs = await c.call('/api/policy/address-alteration/get-definition', [{ routing: 'all' }]);
    expect((defs.data[0]?.['items'] as Row[]).length).toBe(2);
    const now = Date.now();
    const audit = await c.call('/api/audit/get-audit-events', [{ startDateTime: iso(now - 60_000), endDateTime: iso(now + 60_000) }], { pageSize: 500 });
    expect(audit.data.map((e) => e['auditType'])).toEqual(expect.arrayContaining(['New Policy', 'Managed Sender Changed']));
  });
});
