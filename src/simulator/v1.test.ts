// Tests the API 1.0 side of the simulator: HMAC auth, discovery, get-siem-logs files in every format, errors, HTTPS.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type RunningSimulator, type SimulatorOptions } from './index.js';
import { signV1, v1Headers } from './v1auth.js';
import { keyValueObject, V1_PREFIXES } from './v1siem.js';
import { crc32, unzipFirst } from './zip.js';

const dirs: string[] = [];
const sims: RunningSimulator[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mc-sim-v1-'));
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

function post(s: RunningSimulator, path: string, body: unknown, headers: Record<string, string> = v1Headers(s, path)): Promise<Response> {
  return fetch(`${s.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
}

async function bearer(s: RunningSimulator): Promise<string> {
  const res = await fetch(`${s.url}/oauth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: s.clientId, client_secret: s.clientSecret, grant_type: 'client_credentials' }).toString(),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

function manifest(dir: string, name: string): string[] {
  return readFileSync(join(dir, `${name}.ndjson`), 'utf8').split('\n').filter((l) => l !== '');
}

/** Splits a key_value line only where `|` is followed by a key and `=` (values may hold `|`, `=` and `datetime=`). */
function parseKeyValue(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of line.split(/\|(?=[A-Za-z][A-Za-z0-9]*=)/)) {
    const eq = part.indexOf('=');
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
}

const SIEM = '/api/audit/get-siem-logs';

describe('API 1.0 signing', () => {
  it('matches the documented test vector and RFC 2202 case 1', () => {
    const sig = signV1(
      'AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=',
      'Tue, 24 Nov 2015 12:50:11 UTC',
      '8578FCFC-A305-4D9A-99CB-F4D5ECEFE297',
      '/api/audit/get-siem-logs',
      '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
    );
    expect(sig).toBe('3v9OQIokC68SeaZIon948PP79jU=');
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
  });
});

describe('API 1.0 auth and discovery', () => {
  let s: RunningSimulator;
  beforeAll(async () => {
    s = await sim({ seed: 'v1auth', backlogRecords: 300, rateLimit: { limit: 1000, windowMs: 60_000 } });
  });

  it('derives credentials from the seed; the secret key is base64 of random bytes', async () => {
    const again = await sim({ seed: 'v1auth', backlogRecords: 0 });
    expect(again.accessKey).toBe(s.accessKey);
    expect(again.secretKey).toBe(s.secretKey);
    expect(Buffer.from(s.secretKey, 'base64').toString('base64')).toBe(s.secretKey);
    expect(Buffer.from(s.secretKey, 'base64').length).toBe(64);
  });

  it('accepts a correctly signed request and rejects a wrong signature with the 1.0 error shape', async () => {
    const ok = await post(s, '/api/ttp/url/get-logs', { data: [{ oldestFirst: true }] });
    expect(ok.status).toBe(200);
    const headers = v1Headers(s, '/api/ttp/url/get-logs');
    // Signed for another path: the signature no longer matches.
    const bad = await post(s, '/api/ttp/url/get-logs', {}, { ...headers, Authorization: v1Headers(s, '/api/other').Authorization as string, 'x-mc-date': headers['x-mc-date'] as string });
    expect(bad.status).toBe(401);
    const body = (await bad.json()) as unknown;
    expect(body).toEqual({ meta: { status: 401 }, data: [], fail: [{ errors: [{ code: 'err_xdk_invalid_signature', message: '0004 Invalid Signature', retryable: false }] }] });
    const wrongKey = await post(s, SIEM, {}, v1Headers({ ...s, accessKey: 'nope' }, SIEM));
    expect(((await wrongKey.json()) as { fail: { errors: { code: string }[] }[] }).fail[0]?.errors[0]?.code).toBe('err_xdk_access_key_not_found');
    const noDate = { ...v1Headers(s, SIEM) };
    delete noDate['x-mc-date'];
    expect((await post(s, SIEM, {}, noDate)).status).toBe(401);
    expect((await post(s, SIEM, {}, { 'Content-Type': 'application/json' })).status).toBe(401);
  });

  it('accepts a 2.0 bearer token on /api/* too', async () => {
    const tok = await bearer(s);
    const res = await post(s, '/api/audit/get-audit-events', { data: [{ startDateTime: new Date(Date.now() - 86_400_000).toISOString(), endDateTime: new Date().toISOString() }] }, { Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json' });
    expect(res.status).toBe(200);
  });

  it('discover-authentication answers the region host without auth', async () => {
    const res = await post(s, '/api/login/discover-authentication', { data: [{ emailAddress: 'svc@corp.example' }] }, { 'Content-Type': 'application/json' });
    const body = (await res.json()) as { data: { region: { api: string } }[] };
    expect(body.data[0]?.region.api).toBe(s.url.replace('127.0.0.1', 'localhost'));
    const blank = await post(s, '/api/login/discover-authentication', { data: [{}] }, { 'Content-Type': 'application/json' });
    expect(((await blank.json()) as { fail: unknown[] }).fail).toHaveLength(1);
  });

  it('bindingExpired answers 418 err_xdk_binding_expired; wrongRegion names the right host', async () => {
    s.setFaults({ bindingExpired: 1 });
    const res = await post(s, SIEM, { data: [{ type: 'MTA' }] });
    expect(res.status).toBe(418);
    expect(JSON.stringify(await res.json())).toContain('err_xdk_binding_expired');
    s.setFaults({});
    const other = await sim({ seed: 'region', backlogRecords: 0, wrongRegion: 'https://us-api.mimecast.com' });
    const r2 = await post(other, SIEM, { data: [{ type: 'MTA' }] });
    const text = JSON.stringify(await r2.json());
    expect(text).toContain('err_audit_log_incorrect_region');
    expect(text).toContain('https://us-api.mimecast.com');
  });

  it('unlicensed streams answer 403 with the 1.0 shape; quotas are per credential', async () => {
    const u = await sim({ seed: 'unlic', backlogRecords: 50, unlicensed: ['ttp_url', 'siem'], rateLimit: { limit: 2, windowMs: 60_000 } });
    const res = await post(u, '/api/ttp/url/get-logs', { data: [{}] });
    expect(res.status).toBe(403);
    expect(JSON.stringify(await res.json())).toContain('err_ttp_not_licensed');
    expect(u.stats().faults.unlicensed).toBe(1);
    const tok = await bearer(u);
    const stream = await fetch(`${u.url}/siem/v1/events/cg?dateRangeStartsAt=x`, { headers: { Authorization: `Bearer ${tok}` } });
    expect(stream.status).toBe(403);
    // The v1 key has used 1 of 2 calls; the bearer client has its own bucket (token + stream used 2).
    expect((await post(u, '/api/dlp/get-logs', { data: [{}] })).status).toBe(200);
    expect((await post(u, '/api/dlp/get-logs', { data: [{}] })).status).toBe(429);
    expect(u.stats().rateLimited).toBeGreaterThanOrEqual(1);
  });
});

interface Walked {
  files: { name: string; records: Record<string, unknown>[] }[];
  lastToken: string;
}

async function walkSiem(s: RunningSimulator, fileFormat: 'json' | 'key_value', compress: boolean, token?: string): Promise<Walked> {
  const files: Walked['files'] = [];
  let tok = token;
  for (let n = 0; n < 10_000; n++) {
    const res = await post(s, SIEM, { data: [{ type: 'MTA', fileFormat, compress, ...(tok === undefined ? {} : { token: tok }) }] });
    expect(res.status).toBe(200);
    const next = res.headers.get('mc-siem-token');
    expect(next).toBeTruthy();
    if ((res.headers.get('content-type') ?? '').startsWith('application/json')) {
      expect(await res.json()).toEqual({ meta: { status: 200, isLastToken: true }, data: [], fail: [] });
      if (tok !== undefined) expect(next).toBe(tok);
      return { files, lastToken: next as string };
    }
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] as string;
    const ext = compress ? 'zip' : fileFormat === 'json' ? 'json' : 'log';
    expect(name).toMatch(new RegExp(`^(${V1_PREFIXES.join('|')})_\\d{17}\\.${ext}$`));
    let bytes: Buffer = Buffer.from(await res.arrayBuffer());
    if (compress) {
      const entry = unzipFirst(bytes);
      expect(entry.name).toBe(name.replace(/\.zip$/, fileFormat === 'json' ? '.json' : '.log'));
      bytes = entry.data;
    }
    const text = bytes.toString('utf8');
    const records =
      fileFormat === 'json'
        ? (JSON.parse(text) as { type: string; data: Record<string, unknown>[] }).data
        : text.split('\n').filter((l) => l !== '').map(parseKeyValue);
    files.push({ name, records });
    tok = next as string;
  }
  throw new Error('chain did not end');
}

describe('get-siem-logs', () => {
  let s: RunningSimulator;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    s = await sim({ seed: 'siemv1', backlogRecords: 200, streamRecords: { siem_v1: 1500 }, backlogHours: 30, manifestDir: dir, siemV1RecordsPerFile: 120, siemV1FileMs: 3 * 3_600_000 });
  });

  it('walks the chain to isLastToken in json; records equal the manifest and carry the account offset', async () => {
    const w = await walkSiem(s, 'json', false);
    const got = w.files.flatMap((f) => f.records.map((r) => JSON.stringify(r)));
    expect(got.sort()).toEqual(manifest(dir, 'siem_v1').sort());
    expect(w.files.length).toBe(s.stats().published.siemV1Files);
    const first = w.files[0]?.records[0] as Record<string, unknown>;
    expect(String(first['datetime'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0100$/);
    const receipts = w.files.filter((f) => f.name.startsWith('receipt_')).flatMap((f) => f.records);
    expect(receipts.some((r) => typeof r['SpamProcessingDetail'] === 'object')).toBe(true);
    expect(receipts.every((r) => 'Act' in r)).toBe(true);
    // Caught up: the same token keeps answering isLastToken until new files appear.
    const again = await walkSiem(s, 'json', false, w.lastToken);
    expect(again.files).toHaveLength(0);
    await s.publishStream('siem_v1', 50);
    const more = await walkSiem(s, 'json', false, w.lastToken);
    expect(more.files.reduce((n, f) => n + f.records.length, 0)).toBe(50);
  });

  it('walks key_value and zipped files; key_value lines decode to the manifest records as strings', async () => {
    const kv = await walkSiem(s, 'key_value', false);
    const want = manifest(dir, 'siem_v1').map((l) => JSON.stringify(keyValueObject(JSON.parse(l) as Record<string, unknown>)));
    expect(kv.files.flatMap((f) => f.records.map((r) => JSON.stringify(r))).sort()).toEqual([...want].sort());
    const hard = kv.files.flatMap((f) => f.records).filter((r) => String(r['Subject'] ?? '').includes('datetime='));
    expect(hard.length).toBeGreaterThan(0);
    const zipKv = await walkSiem(s, 'key_value', true);
    expect(zipKv.files.flatMap((f) => f.records.map((r) => JSON.stringify(r))).sort()).toEqual([...want].sort());
    const zipJson = await walkSiem(s, 'json', true);
    expect(zipJson.files.flatMap((f) => f.records.map((r) => JSON.stringify(r))).sort()).toEqual(manifest(dir, 'siem_v1').sort());
  });

  it('rejects an invalid token with err_audit_siem_invalid_token', async () => {
    const res = await post(s, SIEM, { data: [{ type: 'MTA', token: 'garbage' }] });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { fail: { errors: { code: string }[] }[] };
    expect(body.fail[0]?.errors[0]?.code).toBe('err_audit_siem_invalid_token');
  });

  it('drops files older than 7 days', async () => {
    const old = await sim({ seed: 'retention', backlogRecords: 0, streamRecords: { siem_v1: 900 }, backlogHours: 24 * 9 });
    const w = await walkSiem(old, 'json', false);
    const cutoff = Date.now() - 7 * 86_400_000 - 30 * 60_000;
    const served = w.files.flatMap((f) => f.records);
    expect(served.length).toBeGreaterThan(0);
    expect(served.length).toBeLessThan(900);
    expect(served.every((r) => Date.parse(String(r['datetime']).replace(/(\d\d)(\d\d)$/, '$1:$2')) >= cutoff)).toBe(true);
  });

  it('faults: truncatedFile and corruptZip yield files that cannot be read, and are counted', async () => {
    s.setFaults({ corruptZip: 1 });
    const res = await post(s, SIEM, { data: [{ type: 'MTA', fileFormat: 'json', compress: true }] });
    const zip = Buffer.from(await res.arrayBuffer());
    expect(zip.readUInt32LE(0)).toBe(0x04034b50);
    expect(() => unzipFirst(zip)).toThrow();
    s.setFaults({ truncatedFile: 1 });
    const res2 = await post(s, SIEM, { data: [{ type: 'MTA', fileFormat: 'json', compress: false }] });
    const cut = Buffer.from(await res2.arrayBuffer()).toString('utf8');
    expect(() => JSON.parse(cut) as unknown).toThrow();
    s.setFaults({});
    expect(s.stats().faults.corruptZip).toBe(1);
    expect(s.stats().faults.truncatedFile).toBe(1);
  });
});

describe('HTTPS', () => {
  it('serves https:// with the given certificate, verifiable with that certificate as CA', async () => {
    const dir = tempDir();
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const certPem = readFileSync(cert, 'utf8');
    const s = await sim({ seed: 'tls', backlogRecords: 0, tls: { cert: certPem, key: readFileSync(key, 'utf8') } });
    expect(s.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const u = new URL('/api/login/discover-authentication', s.url);
    const body = await new Promise<string>((resolve, reject) => {
      const req = httpsRequest(u, { method: 'POST', ca: certPem, headers: { 'Content-Type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end(JSON.stringify({ data: [{ emailAddress: 'a@b.example' }] }));
    });
    expect(JSON.parse(body)).toMatchObject({ data: [{ region: { api: s.url.replace('127.0.0.1', 'localhost') } }] });
  });
});
