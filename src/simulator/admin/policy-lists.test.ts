// Tests the anti-spoofing bypass and address-alteration get-policy functions over HTTP with both auth kinds: all, one by id, an unknown id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator } from '../index.js';
import { AdminCaller } from './api-client.js';
import { SIM_ONLY } from './envelope.js';

const sims: RunningSimulator[] = [];
afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
});

describe.each(['v1', 'v2'] as const)('per-type policy lists over API %s', (kind) => {
  let c: AdminCaller;
  beforeAll(async () => {
    const s = await startSimulator({ publishIntervalMs: 0, backlogRecords: 10, seed: 21 });
    sims.push(s);
    c = new AdminCaller(s, kind);
  });

  it.each([
    ['/api/policy/antispoofing-bypass/get-policy', 2],
    ['/api/policy/address-alteration/get-policy', 1],
  ])('%s: data [] lists them all in the get-policy shape; an id reads one; an unknown id goes to fail[]', async (path, count) => {
    const all = await c.call(path, []);
    expect(all.fail).toEqual([]);
    expect(all.data).toHaveLength(count);
    for (const p of all.data) {
      expect(p['id']).toMatch(/^eNo/);
      expect(p['policy']).toMatchObject({ description: expect.any(String) as string, fromType: expect.any(String) as string, toType: 'everyone', enabled: true });
    }
    const id = String(all.data[0]?.['id']);
    const one = await c.call(path, [{ id }, { id: 'eNoNotAPolicyNotAPolicy' }]);
    expect(one.data).toEqual([all.data[0]]);
    expect(one.fail).toEqual([{ key: { id: 'eNoNotAPolicyNotAPolicy' }, errors: [{ code: 'err_policy_not_found', message: expect.stringContaining(SIM_ONLY) as string, retryable: false, field: 'id' }] }]);
    // The same seed gives the same policies on every read.
    expect((await c.call(path, [])).data).toEqual(all.data);
  });
});

describe('a policy type the application was not given', () => {
  it('answers app_forbidden (HTTP 403) as the gateway does; the other type still answers', async () => {
    const s = await startSimulator({ publishIntervalMs: 0, backlogRecords: 10, seed: 21, unlicensed: ['anti_spoofing_bypass'] });
    sims.push(s);
    const c = new AdminCaller(s, 'v2');
    const res = await c.raw('/api/policy/antispoofing-bypass/get-policy', { data: [] });
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ fail: [{ errors: [{ code: 'app_forbidden' }] }] });
    expect((await c.call('/api/policy/address-alteration/get-policy', [])).data).toHaveLength(1);
  });
});
