// The record-level commands as a user runs them: `normalize` over raw API records of every shape, `fetch` one-shot pulls.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkEventContract } from '../src/normalize/contract.js';
import { parseTime } from '../src/normalize/time.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { runCli, spawnCli, waitFor, writeConfig } from './helpers/harness.js';
import { identity, manifestOf, mimecastOf, multiYaml } from './helpers/streams.js';

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const V1_RECEIPT = { datetime: '2024-03-01T10:02:11+0100', aCode: 'q7Lm2XbWNz6tP0aQe1RrFg', acc: 'CUK12A345', Sender: 'a@vendor.example', Rcpt: 'ops@corp.example', Act: 'Acc', IP: '198.51.100.23', Dir: 'Inbound', MsgId: '<a1@vendor.example>', Subject: 'Invoice | 4411' };
const V2_RECEIPT = { _offset: 1201, _partition: 7, accountId: 'CUK12A345', action: 'Acc', aggregateId: 'agg_1', direction: 'Inbound', processingId: 'p_1', senderEnvelope: 'a@vendor.example', recipients: 'ops@corp.example', subject: 'Invoice 4411', subtype: 'Acc', timestamp: 1709287331482, type: 'receipt' };
const V2_DELIVERY = { ...V2_RECEIPT, _offset: 1202, type: 'delivery', subtype: 'true', delivered: 'true' };
const CLICK = { userEmailAddress: 'bob@corp.example', fromUserEmailAddress: 'news@list.example', url: 'https://news.example/a/9', ttpDefinition: 'Default', subject: 'Weekly', action: 'allow', adminOverride: 'N/A', userOverride: 'None', scanResult: 'clean', category: 'News', sendingIp: '192.0.2.14', userAwarenessAction: 'Continue', date: '2024-03-01T10:20:31+0000', actions: 'Allow', route: 'inbound', creationMethod: 'User Click', emailPartsDescription: ['Body'], messageId: '<n-991@list.example>' };

describe('normalize', () => {
  it('siem: v1 and v2 records auto-detected, envelopes unwrapped, bad lines reported with their number, exit 0', async () => {
    const input = [
      JSON.stringify(V1_RECEIPT),
      JSON.stringify(V2_RECEIPT),
      '{"this is": not json',
      JSON.stringify({ value: [V2_RECEIPT, V2_DELIVERY], '@nextPage': 'abc', isCaughtUp: true }),
      '',
      JSON.stringify({ type: 'MTA', data: [V1_RECEIPT, { ...V1_RECEIPT, aCode: 'other' }] }),
      JSON.stringify({ timestamp: 'never', type: 'receipt' }),
      JSON.stringify({ meta: { status: 200 }, data: [], fail: [{ errors: [{ code: 'err_validation', message: 'bad', retryable: false }] }] }),
      '42',
    ].join('\n');
    const r = await runCli(['normalize', '--stream', 'siem', '--account', 'acme'], input + '\n');
    expect(r.code).toBe(0);
    const docs = jsonLines(r.stdout);
    expect(docs).toHaveLength(7);
    expect(docs.flatMap((d) => checkEventContract(d))).toEqual([]);
    expect(docs.map((d) => mimecastOf(d)['account'])).toEqual(Array(7).fill('acme'));
    expect(docs[0]?.['@timestamp']).toBe('2024-03-01T09:02:11.000Z');
    expect(mimecastOf(docs[0] ?? {})['Subject']).toBe('Invoice | 4411');
    expect(docs.map((d) => mimecastOf(d)['log_type'])).toEqual(['receipt', 'receipt', 'receipt', 'delivery', 'receipt', 'receipt', 'receipt']);
    // A record whose time is no date is still a record: kept, stamped when read, tagged.
    expect(docs[6]?.['tags']).toEqual(['mimecast_time_missing']);
    expect(mimecastOf(docs[6] ?? {})['timestamp']).toBe('never');
    // The same record always gets the same id, whichever envelope it came in.
    expect((docs[1]?.['event'] as Record<string, unknown>)['id']).toBe((docs[2]?.['event'] as Record<string, unknown>)['id']);
    expect(r.stderr).toMatch(/^line 3: not JSON/m);
    expect(r.stderr).not.toMatch(/^line 7: /m);
    expect(r.stderr).toMatch(/^line 8: an API error reply/m);
    expect(r.stderr).toMatch(/^line 9: not a JSON object/m);
    expect(r.stderr).toMatch(/normalize: 8 lines read, 7 events written, 3 bad lines \(0 unusable records\)/);
  });

  it('every other stream: paged envelopes and nested logs unwrapped, STIX bundles split; cef, leef and raw formats', async () => {
    const page = { meta: { status: 200, pagination: { pageSize: 2, next: 'n' } }, data: [{ clickLogs: [CLICK, { ...CLICK, url: 'https://x.example/' }] }], fail: [] };
    const ecs = await runCli(['normalize', '--stream', 'ttp_url'], `${JSON.stringify(page)}\n${JSON.stringify({ clickLogs: [CLICK] })}\n${JSON.stringify(CLICK)}\n`);
    expect(ecs.code).toBe(0);
    const docs = jsonLines(ecs.stdout);
    expect(docs).toHaveLength(4);
    expect(docs.map((d) => (d['url'] as Record<string, unknown>)['original'])).toEqual(['https://news.example/a/9', 'https://x.example/', 'https://news.example/a/9', 'https://news.example/a/9']);
    expect(docs.flatMap((d) => checkEventContract(d))).toEqual([]);

    const bundle = {
      type: 'bundle',
      id: 'bundle--1',
      objects: [
        { type: 'indicator', id: 'indicator--7b1e2d3c-4a5f-4e6d-8c7b-9a0f1e2d3c4b', created: '2024-05-01T15:07:26.653Z', modified: '2024-05-01T15:08:00.000Z', labels: ['malicious-activity'], pattern: "[file:hashes.'SHA-256' = '4f2a9c1e7b3d5a6f8e0c2b4d6a8f0e1c3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a']", valid_from: '2024-05-01T15:07:26.653Z' },
        { type: 'malware', id: 'malware--3c0a6f4e-1d2b-4c8e-9f10-aa11bb22cc33', created: '2024-05-01T15:07:26.653Z', modified: '2024-05-01T15:07:26.653Z', labels: ['virus'], name: 'x' },
      ],
    };
    const ti = await runCli(['normalize', '--stream', 'threat_intel', '--format', 'cef'], JSON.stringify(bundle) + '\n');
    expect(ti.code).toBe(0);
    const cef = ti.stdout.trim().split('\n');
    expect(cef).toHaveLength(2);
    for (const l of cef) expect(l).toMatch(/^CEF:0\|Mimecast\|Email Security\|/);

    const leef = await runCli(['normalize', '--stream', 'ttp_url', '--format', 'leef'], JSON.stringify(CLICK) + '\n');
    expect(leef.stdout).toMatch(/^LEEF:1\.0\|Mimecast\|Email Security\|/);

    const raw = await runCli(['normalize', '--stream', 'audit', '--format', 'raw'], JSON.stringify({ meta: {}, data: [{ id: 'a-1', auditType: 'User Logged On', user: 'u@corp.example', eventTime: '2024-03-01T09:00:05+0000', eventInfo: 'x', category: 'authentication_logs' }] }) + '\n');
    const rawDocs = jsonLines(raw.stdout);
    expect(rawDocs).toEqual([{ id: 'a-1', auditType: 'User Logged On', user: 'u@corp.example', eventTime: '2024-03-01T09:00:05+0000', eventInfo: 'x', category: 'authentication_logs', mimecast: { account: 'cli', stream: 'audit', log_type: 'audit' } }]);
  });

  it('exits 1 when nothing could be read, and 2 for an unknown stream', async () => {
    const bad = await runCli(['normalize', '--stream', 'dlp'], 'garbage\n{"half":\n');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/normalize: 2 lines read, 0 events written, 2 bad lines/);
    const unknown = await runCli(['normalize', '--stream', 'email']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/not one of: siem, ttp_url/);
  });
});

describe('fetch', () => {
  let sim: RunningSimulator | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'mc-fetch-'));
  const manifests = join(dir, 'manifests');
  const dataDir = join(dir, 'data');
  let config = '';

  beforeAll(async () => {
    mkdirSync(manifests);
    sim = await startSimulator({ seed: 'fetch', backlogRecords: 1500, backlogHours: 24, publishIntervalMs: 0, manifestDir: manifests, faults: { rateLimit429: 0.05, serverError500: 0.05, apiFail200: 0.05 } });
    config = writeConfig(
      join(dir, 'collector.yaml'),
      multiYaml({
        dataDir,
        output: join(dir, 'out.ndjson'),
        accounts: [
          { name: 'modern', api: 'v2', sim, streams: ['siem: { types: [receipt] }'] },
          { name: 'legacy', api: 'v1', sim, streams: ['siem: {}'] },
        ],
      }),
    );
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('prints every record of the window once, as ndjson, without writing a journal or checkpoint', async () => {
    const since = new Date(Date.now() - 10 * 3_600_000).toISOString();
    const r = await runCli(['fetch', 'audit', '--config', config, '--account', 'modern', '--since', since, '--until', '2h']);
    expect(r.stderr).toMatch(/fetch audit: \d+ events from /);
    expect(r.code).toBe(0);
    const docs = jsonLines(r.stdout);
    const lo = Date.parse(since);
    const hi = Date.now() - 2 * 3_600_000;
    const expected = new Set(
      manifestOf(manifests, 'audit')
        .filter((rec) => {
          const t = parseTime(rec['eventTime'])?.getTime() ?? 0;
          // A minute of slack at each end for the two clocks (test and CLI) reading "now" apart.
          return t >= lo && t <= hi - 60_000;
        })
        .map(identity),
    );
    const got = docs.map((d) => identity(mimecastOf(d)));
    expect(expected.size).toBeGreaterThan(5);
    for (const k of expected) expect(got).toContain(k);
    expect(new Set(got).size).toBe(got.length);
    expect(docs.every((d) => mimecastOf(d)['account'] === 'modern' && mimecastOf(d)['stream'] === 'audit')).toBe(true);
    expect(docs.flatMap((d) => checkEventContract(d))).toEqual([]);
    expect(existsSync(dataDir) ? readdirSync(dataDir) : []).toEqual([]);
  }, 60_000);

  it('--output json is one JSON array and --output table has a header; every account when --account is absent', async () => {
    const json = await runCli(['fetch', 'ttp_url', '--config', config, '--since', '6h', '--output', 'json']);
    expect(json.code).toBe(0);
    const arr = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(arr.length).toBeGreaterThan(5);
    expect(new Set(arr.map((d) => mimecastOf(d)['account']))).toEqual(new Set(['modern', 'legacy']));
    const table = await runCli(['fetch', 'ttp_url', '--config', config, '--account', 'legacy', '--since', '6h', '--output', 'table']);
    expect(table.code).toBe(0);
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^@timestamp\s+account\s+type\s+action\s+outcome\s+summary$/);
    expect(rows.length).toBe(arr.length / 2 + 1);
    expect(rows.slice(1).every((row) => /^\d{4}-\d{2}-\d{2}T\S+Z\s+legacy\s+ttp_url/.test(row))).toBe(true);
  }, 60_000);

  it('rejects a bad --since and an unknown stream with exit 2', async () => {
    expect((await runCli(['fetch', 'audit', '--config', config, '--since', 'yesterday'])).code).toBe(2);
    expect((await runCli(['fetch', 'email', '--config', config, '--since', '1h'])).code).toBe(2);
  });
});

describe('simulate', () => {
  it('serves HTTPS with --tls-cert/--tls-key, prints the API 1.0 keys, and its --config-out works with fetch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-simtls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const banner = join(dir, 'banner.log');
    const out = join(dir, 'collector.yaml');
    const child = spawnCli(['simulate', '--port', '0', '--tls-cert', cert, '--tls-key', key, '--config-out', out, '--faults', 'apiFail200=0.1,truncatedFile=0.05,rateLimit429=0.05'], banner, dir);
    try {
      await waitFor(() => existsSync(banner) && readFileSync(banner, 'utf8').includes('collector config written'), 20_000, 'the simulator banner');
      const text = readFileSync(banner, 'utf8');
      expect(text).toMatch(/listening on https:\/\/127\.0\.0\.1:\d+/);
      for (const k of ['app_id', 'app_key', 'access_key', 'secret_key']) expect(text).toMatch(new RegExp(`${k}:\\s+\\S+`));
      expect(readFileSync(out, 'utf8')).toContain(`ca_file: ${JSON.stringify(cert)}`);
      const r = await runCli(['fetch', 'audit', '--config', out, '--since', '24h']);
      expect(r.stderr).toMatch(/fetch audit: \d+ events/);
      expect(r.code).toBe(0);
      expect(jsonLines(r.stdout).length).toBeGreaterThan(5);
    } finally {
      child.proc.kill('SIGINT');
    }
    expect((await child.exited).code).toBe(0);
  }, 60_000);
});
