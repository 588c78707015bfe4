// Tests the paged 1.0-style functions, late arrival, the SIEM stream endpoint and the threat-intel feed chain.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from './index.js';
import { PAGED_PATHS } from './paged.js';
import { v1Headers } from './v1auth.js';

const HOUR = 3_600_000;
const dirs: string[] = [];
const sims: RunningSimulator[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mc-sim-paged-'));
  dirs.push(d);
  return d;
}

async function sim(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const s = await startSimulator({ publishIntervalMs: 0, ...options });
  sims.push(s);
  return s;
}

afterAll(async () => {
  await Promise.all(sims.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function manifest(dir: string, name: string): string[] {
  return readFileSync(join(dir, `${name}.ndjson`), 'utf8').split('\n').filter((l) => l !== '');
}

interface Envelope {
  meta: { status: number; pagination?: { pageSize: number; next?: string; totalCount?: number } };
  data: Record<string, unknown>[];
  fail: { errors: { code: string; retryable: boolean }[] }[];
}

async function call(s: RunningSimulator, path: string, body: unknown, auth?: string): Promise<Envelope> {
  const headers = auth === undefined ? v1Headers(s, path) : { Authorization: `Bearer ${auth}`, 'Content-Type': 'application/json' };
  const res = await fetch(`${s.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return (await res.json()) as Envelope;
}

async function bearer(s: RunningSimulator): Promise<string> {
  const res = await fetch(`${s.url}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: s.clientId, client_secret: s.clientSecret, grant_type: 'client_credentials' }).toString(),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

const WRAP: Record<keyof typeof PAGED_PATHS, string | undefined> = {
  ttp_url: 'clickLogs',
  ttp_attachment: 'attachmentLogs',
  ttp_impersonation: 'impersonationLogs',
  audit: undefined,
  dlp: 'dlpLogs',
  held_release: 'heldReleaseLogs',
  archive_search: 'logs',
};
const FROM: Record<keyof typeof PAGED_PATHS, [string, string]> = {
  ttp_url: ['from', 'to'],
  ttp_attachment: ['from', 'to'],
  ttp_impersonation: ['from', 'to'],
  audit: ['startDateTime', 'endDateTime'],
  dlp: ['from', 'to'],
  held_release: ['start', 'end'],
  archive_search: ['start', 'end'],
};

function recordsOf(stream: keyof typeof PAGED_PATHS, env: Envelope): Record<string, unknown>[] {
  const wrap = WRAP[stream];
  if (wrap === undefined) return env.data;
  return (env.data[0]?.[wrap] as Record<string, unknown>[] | undefined) ?? [];
}

/** Walks every page; `resend` = resend data with the token (elastic CEL) or send the token alone (httpjson). */
async function walk(
  s: RunningSimulator,
  stream: keyof typeof PAGED_PATHS,
  item: Record<string, unknown>,
  opts: { pageSize: number; resend: boolean; auth?: string },
): Promise<{ records: Record<string, unknown>[]; pages: Envelope[] }> {
  const path = PAGED_PATHS[stream];
  const records: Record<string, unknown>[] = [];
  const pages: Envelope[] = [];
  let token: string | undefined;
  for (let n = 0; n < 1000; n++) {
    const meta = { pagination: { pageSize: opts.pageSize, ...(token === undefined ? {} : { pageToken: token }) } };
    const body = token !== undefined && !opts.resend ? { meta } : { meta, data: [item] };
    const env = await call(s, path, body, opts.auth);
    expect(env.fail).toEqual([]);
    pages.push(env);
    const recs = recordsOf(stream, env);
    records.push(...recs);
    token = env.meta.pagination?.next;
    if (token === undefined || recs.length === 0) return { records, pages };
  }
  throw new Error('pagination did not end');
}

describe('paged 1.0-style functions', () => {
  let s: RunningSimulator;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    s = await sim({ seed: 'paged', backlogRecords: 0, backlogHours: 20, manifestDir: dir, streamRecords: { ttp_url: 230, ttp_attachment: 120, ttp_impersonation: 90, audit: 140, dlp: 60, held_release: 70, archive_search: 50 } });
  });

  for (const stream of Object.keys(PAGED_PATHS) as (keyof typeof PAGED_PATHS)[]) {
    it(`${stream}: every page walked equals the manifest, both auth kinds, both orders`, async () => {
      const [fk, tk] = FROM[stream];
      const item = { [fk]: new Date(Date.now() - 21 * HOUR).toISOString().replace('.000Z', 'Z').replace(/\.\d{3}Z$/, 'Z'), [tk]: new Date(Date.now() + 60_000).toISOString().slice(0, 19) + '+0000' };
      const want = manifest(dir, stream).sort();
      const newest = await walk(s, stream, item, { pageSize: 37, resend: false });
      expect(newest.records.map((r) => JSON.stringify(r)).sort()).toEqual(want);
      expect(newest.pages.length).toBe(Math.ceil(want.length / 37));
      const timeKey = Object.keys(newest.records[0] as object).find((k) => ['date', 'eventTime', 'released', 'createTime'].includes(k)) as string;
      const times = newest.records.map((r) => String(r[timeKey]));
      expect(times).toEqual([...times].sort().reverse());
      expect(times.every((t) => t.endsWith('+0000'))).toBe(true);
      const tok = await bearer(s);
      const oldest = await walk(s, stream, { ...item, oldestFirst: true }, { pageSize: 50, resend: true, auth: tok });
      expect(oldest.records.map((r) => JSON.stringify(r))).toEqual(newest.records.map((r) => JSON.stringify(r)).reverse());
      if (stream === 'ttp_impersonation') expect(oldest.pages[0]?.data[0]?.['resultCount']).toBe(50);
    });
  }

  it('validates windows: bad dates and audit beyond 60 days fail with the 1.0 shape', async () => {
    const bad = await call(s, PAGED_PATHS.ttp_url, { data: [{ from: 'yesterday' }] });
    expect(bad.fail[0]?.errors[0]?.code).toBe('err_validation_invalid_date');
    const old = await call(s, PAGED_PATHS.audit, { data: [{ startDateTime: new Date(Date.now() - 61 * 24 * HOUR).toISOString(), endDateTime: new Date().toISOString() }] });
    expect(old.fail[0]?.errors[0]?.code).toBe('err_validation_date_range');
    const missing = await call(s, PAGED_PATHS.audit, { data: [{}] });
    expect(missing.fail[0]?.errors[0]?.code).toBe('err_validation_null');
  });

  it('records keep their odd shapes: Internal IP, CRLF details, tagMap, nested objects', () => {
    const click = manifest(dir, 'ttp_url').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(click.some((r) => r['sendingIp'] === 'Internal IP')).toBe(true);
    expect(click.some((r) => typeof r['tagMap'] === 'object')).toBe(true);
    expect(manifest(dir, 'ttp_attachment').some((l) => l.includes('\\r\\n'))).toBe(true);
    const rel = JSON.parse(manifest(dir, 'held_release')[0] as string) as { operator: { emailAddress: string }; to: unknown[] };
    expect(rel.operator.emailAddress).toContain('@');
    expect(Array.isArray(rel.to)).toBe(true);
  });

  it('emptyLastPage: the last page carries next and following it yields an empty page that still has next', async () => {
    const e = await sim({ seed: 'paged', backlogRecords: 0, emptyLastPage: true, streamRecords: { dlp: 30 } });
    const item = { from: new Date(Date.now() - 30 * HOUR).toISOString() };
    const w = await walk(e, 'dlp', item, { pageSize: 20, resend: true });
    expect(w.records).toHaveLength(30);
    const last = w.pages[w.pages.length - 1] as Envelope;
    expect(recordsOf('dlp', last)).toHaveLength(0);
    expect(last.meta.pagination?.next).toBeTruthy();
  });

  it('apiFail200 answers HTTP 200 with a retryable fail and no data', async () => {
    s.setFaults({ apiFail200: 1 });
    const env = await call(s, PAGED_PATHS.dlp, { data: [{}] });
    s.setFaults({});
    expect(env.data).toEqual([]);
    expect(env.fail[0]?.errors[0]?.retryable).toBe(true);
    expect(s.stats().faults.apiFail200).toBe(1);
  });

  it('late arrivals: some just-published records show up only after lateArrivalMs', async () => {
    const dir2 = tempDir();
    const l = await sim({ seed: 'late', backlogRecords: 0, lateArrivalMs: 3000, lateArrivalShare: 0.3, manifestDir: dir2 });
    await l.publishStream('ttp_url', 200);
    const publishedAt = Date.now();
    const item = { from: new Date(Date.now() - HOUR).toISOString(), to: new Date(Date.now() + HOUR).toISOString() };
    const early = await walk(l, 'ttp_url', item, { pageSize: 500, resend: true });
    expect(manifest(dir2, 'ttp_url')).toHaveLength(200);
    expect(early.records.length).toBeLessThan(200);
    expect(early.records.length).toBeGreaterThan(100);
    await new Promise((r) => setTimeout(r, Math.max(0, publishedAt + 3200 - Date.now())));
    const later = await walk(l, 'ttp_url', item, { pageSize: 500, resend: true });
    expect(later.records).toHaveLength(200);
  });
});

describe('SIEM stream endpoint', () => {
  let s: RunningSimulator;
  let dir: string;
  let tok: string;
  beforeAll(async () => {
    dir = tempDir();
    s = await sim({ seed: 'stream', backlogRecords: 900, backlogHours: 20, recordsPerBlob: 80, manifestDir: dir, streamRecords: { siem_v1: 0 } });
    tok = await bearer(s);
  });
  const iso = (ms: number): string => new Date(ms).toISOString();
  const get = (params: Record<string, string>): Promise<Response> =>
    fetch(`${s.url}/siem/v1/events/cg?${new URLSearchParams(params).toString()}`, { headers: { Authorization: `Bearer ${tok}` } });

  interface StreamPage {
    value: Record<string, unknown>[];
    '@nextPage': string;
    '@nextLink': string;
    pageSize: number;
    isCaughtUp: boolean;
  }

  async function walkStream(params: Record<string, string>): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let res = await get({ ...params, pageSize: '60' });
    for (let n = 0; n < 500; n++) {
      expect(res.status).toBe(200);
      const page = (await res.json()) as StreamPage;
      expect(page.pageSize).toBe(60);
      out.push(...page.value);
      if (page.isCaughtUp) return out;
      res = await fetch(page['@nextLink'], { headers: { Authorization: `Bearer ${tok}` } });
    }
    throw new Error('stream did not catch up');
  }

  it('enforces the 24-hour window and the time format with {"error":{...}}', async () => {
    const old = await get({ dateRangeStartsAt: iso(Date.now() - 25 * HOUR), dateRangeEndsAt: iso(Date.now()) });
    expect(old.status).toBe(400);
    expect(((await old.json()) as { error: { code: string } }).error.code).toBe('invalid_date_range');
    const fmt = await get({ dateRangeStartsAt: '2024-01-01', dateRangeEndsAt: iso(Date.now()) });
    expect(fmt.status).toBe(400);
  });

  it('pages through every record in the window; types filter; replayed records are extra copies only', async () => {
    const start = Date.now() - 23 * HOUR;
    const want = manifest(dir, 'siem').sort();
    const all = await walkStream({ dateRangeStartsAt: iso(start), dateRangeEndsAt: iso(Date.now()) });
    expect(all.map((r) => JSON.stringify(r)).sort()).toEqual(want);
    const some = await walkStream({ dateRangeStartsAt: iso(start), dateRangeEndsAt: iso(Date.now()), types: 'receipt,url protect' });
    expect(some.length).toBe(want.filter((l) => /"type":"(receipt|url protect)"/.test(l)).length);
    s.setFaults({ replayRecords: 1 });
    const replayed = await walkStream({ dateRangeStartsAt: iso(start), dateRangeEndsAt: iso(Date.now()) });
    s.setFaults({});
    expect(replayed.length).toBeGreaterThan(want.length);
    expect([...new Set(replayed.map((r) => JSON.stringify(r)))].sort()).toEqual(want);
    expect(s.stats().faults.streamReplay).toBeGreaterThan(0);
  });
});

describe('publishing', () => {
  it('publish(n) spreads records over every stream by share, deterministically', async () => {
    const a = await sim({ seed: 'share', backlogRecords: 0, streamShare: { dlp: 0.5 } });
    await a.publish(333);
    await a.publish(333);
    expect(a.publishedRecords()).toBe(666);
    expect(a.publishedCount('siem_v1')).toBe(666);
    expect(a.publishedCount('ttp_url')).toBe(133);
    expect(a.publishedCount('dlp')).toBe(333);
    expect(a.stats().published.streams.audit).toBe(33);
  });
});

describe('threat intel feed', () => {
  it('chains files with X-Mc-Threat-Feed-Next-Token until absent; objects equal the manifest', async () => {
    const dir = tempDir();
    const s = await sim({ seed: 'ti', backlogRecords: 0, manifestDir: dir, streamRecords: { threat_intel: 260 }, threatIntelObjectsPerFile: 40 });
    const path = '/api/ttp/threat-intel/get-feed';
    const objects: Record<string, unknown>[] = [];
    let token: string | undefined;
    let files = 0;
    for (;;) {
      const res = await fetch(`${s.url}${path}`, { method: 'POST', headers: v1Headers(s, path), body: JSON.stringify({ data: [{ feedType: 'malware_customer', fileType: 'stix', ...(token === undefined ? {} : { token }) }] }) });
      expect(res.status).toBe(200);
      const bundle = (await res.json()) as { type: string; spec_version: string; objects: Record<string, unknown>[] };
      expect(bundle.type).toBe('bundle');
      objects.push(...bundle.objects);
      files++;
      const next = res.headers.get('x-mc-threat-feed-next-token');
      if (next === null) break;
      token = next;
    }
    const want = manifest(dir, 'threat_intel').filter((l) => l.includes('"x_mimecast_feed":"malware_customer"'));
    expect(objects.map((o) => JSON.stringify(o)).sort()).toEqual(want.sort());
    expect(files).toBe(Math.ceil(want.length / 40));
  });
});
