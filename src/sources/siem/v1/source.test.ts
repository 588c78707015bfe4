// Tests for SiemV1Source against a scripted get-siem-logs host: token chain, formats, faults, resume, memory.
import { createHash } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import type { Batch, NormalizedEvent } from '../../../core/contracts.js';
import type { RetryPolicy } from '../../../core/retry.js';
import { buildSources } from '../../../app.js';
import { parseConfigText } from '../../../config/load.js';
import { sleep as realSleep } from '../../../core/util.js';
import { MimecastV1Client } from '../../../mimecast/v1client.js';
import { silentLogger } from '../../../telemetry/logger.js';
import { captureLogger } from '../../paged/testkit.js';
import { SiemV1Source, parseSiemV1Cursor, fileNameOf, logTypeOfName, type SiemV1SourceOptions } from './source.js';
import { buildZip } from './testkit.js';

/**
 * The two ways a zip reply is read: spooled to disk, and from memory — with a temp dir that does not exist, so the
 * in-memory case would fail (SPOOL_FAILED) if it touched the disk. Both must give the same events and quarantine.
 */
const ZIP_READS: [string, Partial<SiemV1SourceOptions>][] = [
  ['spooled', { memoryZipBytes: 0 }],
  ['in memory', { tempDir: path.join(os.tmpdir(), `mc-no-such-dir-${process.pid}`, 'never') }],
];

const FAST: RetryPolicy = { retries: 2, minDelayMs: 5, maxDelayMs: 20, factor: 2 };
const CREDS = { appId: 'app-1', appKey: 'appkey', accessKey: 'ACCESS123456', secretKey: Buffer.from('secret').toString('base64') };

interface SiemFile {
  name: string;
  body: Buffer | (() => Readable);
  contentType?: string;
}

interface Req {
  token: string | undefined;
  body: Record<string, unknown>;
}

/** Return true when the script answered the request itself. */
type Fault = (req: Req, res: http.ServerResponse, n: number) => boolean;

interface Host {
  url: string;
  requests: Req[];
  close: () => Promise<void>;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Token `t<i>` asks for file i; no token = file 0 (the oldest); past the end = caught up. */
async function siemHost(files: SiemFile[], fault?: Fault): Promise<Host> {
  const h: Host = { url: '', requests: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as { data: Record<string, unknown>[] };
      const item = body.data[0] ?? {};
      const token = typeof item['token'] === 'string' ? item['token'] : undefined;
      const r: Req = { token, body: item };
      h.requests.push(r);
      if (fault?.(r, res, h.requests.length) === true) return;
      const index = token === undefined ? 0 : /^t\d+$/.test(token) ? Number(token.slice(1)) : -1;
      if (index < 0 || index > files.length) {
        json(res, 200, { meta: { status: 200 }, data: [], fail: [{ key: item, errors: [{ code: 'err_audit_siem_invalid_token', message: 'The SIEM token is invalid', retryable: false }] }] });
        return;
      }
      const f = files[index];
      if (f === undefined) {
        json(res, 200, { meta: { status: 200, isLastToken: true }, data: [], fail: [] });
        return;
      }
      const headers = {
        'content-type': f.contentType ?? 'application/octet-stream',
        'content-disposition': `attachment; filename="${f.name}"`,
        'mc-siem-token': `t${index + 1}`,
      };
      if (Buffer.isBuffer(f.body)) {
        res.writeHead(200, { ...headers, 'content-length': String(f.body.length) }).end(f.body);
      } else {
        res.writeHead(200, headers);
        f.body().pipe(res);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return h;
}

/** Stands in for the real normalizer: the id is the record hash, the doc keeps the record and the log type. */
function testNormalize(record: unknown, ctx: { account: string; logType?: string }): NormalizedEvent {
  const text = JSON.stringify(record);
  if (typeof record !== 'object' || record === null || !('datetime' in record)) throw new Error('no datetime');
  return {
    id: createHash('sha1').update(text).digest('hex'),
    stream: 'siem',
    account: ctx.account,
    time: '2024-03-01T00:00:00.000Z',
    doc: { record, logType: ctx.logType ?? null },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

/** The source's clock and waits, virtual: a wait moves the clock at once, so retry spans of minutes take no time. */
interface VirtualTime {
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  /** Every wait, in order. */
  waits: number[];
  elapsed: () => number;
}

function virtualTime(): VirtualTime {
  const start = 1_700_000_000_000;
  let t = start;
  const waits: number[] = [];
  return {
    now: () => t,
    sleep: (ms) => {
      waits.push(ms);
      t += ms;
      return Promise.resolve();
    },
    waits,
    elapsed: () => t - start,
  };
}

async function setup(
  files: SiemFile[],
  fault?: Fault,
  extra: Partial<SiemV1SourceOptions> = {},
): Promise<{ h: Host; source: SiemV1Source; time: VirtualTime }> {
  const h = await siemHost(files, fault);
  const api = new MimecastV1Client({ baseUrl: h.url, ...CREDS, retry: FAST });
  cleanups.push(() => h.close(), () => api.close());
  const time = virtualTime();
  const source = new SiemV1Source({
    account: 'corp',
    api,
    fileFormat: 'json',
    compress: false,
    logger: silentLogger(),
    normalize: testNormalize,
    now: time.now,
    sleep: time.sleep,
    ...extra,
  });
  return { h, source, time };
}

async function drain(source: SiemV1Source, cursor?: string, stopAfter = Infinity): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of source.pull(cursor, new AbortController().signal)) {
    out.push(b);
    if (out.length >= stopAfter) break;
  }
  return out;
}

const ids = (batches: Batch[]): string[] => batches.flatMap((b) => b.events.map((e) => e.id));
const subjects = (batches: Batch[]): unknown[] => batches.flatMap((b) => b.events.map((e) => (e.doc['record'] as Record<string, unknown>)['Subject']));
const lastCursor = (batches: Batch[]): unknown => JSON.parse(batches[batches.length - 1]?.cursor ?? 'null');

function rec(type: string, i: number): Record<string, unknown> {
  return { datetime: `2024-03-01T10:${String(i % 60).padStart(2, '0')}:00+0100`, aCode: `${type}-${i}`, acc: 'CUK1', Subject: `${type} ${i}` };
}
function jsonFile(type: string, from: number, count: number): Buffer {
  return Buffer.from(JSON.stringify({ type: 'MTA', data: Array.from({ length: count }, (_, k) => rec(type, from + k)) }));
}
function kvLine(r: Record<string, unknown>): string {
  return Object.entries(r)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join('|');
}

describe('helpers', () => {
  it('file names, log types and cursors', () => {
    expect(fileNameOf('attachment; filename="receipt_20191125134532478.log"')).toBe('receipt_20191125134532478.log');
    expect(fileNameOf('attachment; filename=ttp_url_20211129153015541.json')).toBe('ttp_url_20211129153015541.json');
    expect(fileNameOf(undefined)).toBeUndefined();
    expect(logTypeOfName('receipt_20191125134532478.log')).toBe('receipt');
    expect(logTypeOfName('ttp_url_20211129153015541.json')).toBe('ttp_url');
    expect(logTypeOfName('spameventthread_20211129153015541.json')).toBe('spameventthread');
    expect(logTypeOfName('siem.zip')).toBeUndefined();
    expect(parseSiemV1Cursor('{"v":1,"token":"t3","file":"a.json","record":7}')).toEqual({ v: 1, token: 't3', file: 'a.json', record: 7 });
    expect(parseSiemV1Cursor('garbage')).toBeUndefined();
  });
});

describe('SiemV1Source', () => {
  it('follows the token chain over json files, one file per call, until isLastToken', async () => {
    const { h, source } = await setup([
      { name: 'receipt_20240301101500123.json', body: jsonFile('receipt', 0, 3) },
      { name: 'process_20240301103000456.json', body: jsonFile('process', 0, 2), contentType: 'application/json' },
      { name: 'ttp_url_20240301110000789.json', body: jsonFile('url', 0, 1) },
    ]);
    const batches = await drain(source);
    expect(subjects(batches)).toEqual(['receipt 0', 'receipt 1', 'receipt 2', 'process 0', 'process 1', 'url 0']);
    expect(batches.flatMap((b) => b.events.map((e) => e.doc['logType']))).toEqual(['receipt', 'receipt', 'receipt', 'process', 'process', 'ttp_url']);
    expect(h.requests.map((r) => r.token)).toEqual([undefined, 't1', 't2', 't3']);
    expect(h.requests[0]?.body).toEqual({ type: 'MTA', fileFormat: 'json', compress: false });
    expect(lastCursor(batches)).toEqual({ v: 1, token: 't3' });
    expect(batches.reduce((n, b) => n + (b.counters?.['siem_files'] ?? 0), 0)).toBe(3);

    // Next cycle from the stored cursor: caught up at once, cursor unchanged.
    const again = await drain(source, batches[batches.length - 1]?.cursor);
    expect(ids(again)).toEqual([]);
    expect(lastCursor(again)).toEqual({ v: 1, token: 't3' });
    expect(h.requests.at(-1)?.token).toBe('t3');
  });

  it('reads key_value files without corrupting values that contain | or datetime=', async () => {
    const nasty = { ...rec('receipt', 1), Subject: 'Q1 | Q2 datetime=2024-01-01T00:00:00+0000|x' };
    const body = `${kvLine(rec('receipt', 0))}\r\n${kvLine(nasty)}\r\n${kvLine(rec('receipt', 2))}`;
    const { h, source } = await setup([{ name: 'receipt_20240301101500123.log', body: Buffer.from(body) }], undefined, { fileFormat: 'key_value' });
    const batches = await drain(source);
    expect(subjects(batches)).toEqual(['receipt 0', 'Q1 | Q2 datetime=2024-01-01T00:00:00+0000|x', 'receipt 2']);
    expect(h.requests[0]?.body['fileFormat']).toBe('key_value');
  });

  it.each(ZIP_READS)('reads zip replies (%s): entries in order, log type from each entry name, json and key_value entries', async (_how, zipRead) => {
    const zip1 = buildZip([
      { name: 'receipt_20240301101500123.json', data: jsonFile('receipt', 0, 2) },
      { name: 'delivery_20240301101500124.json', data: jsonFile('delivery', 0, 1), descriptor: true },
    ]);
    const zip2 = buildZip([{ name: 'jrnl_20240301103000000.log', data: `${kvLine(rec('jrnl', 0))}\n${kvLine(rec('jrnl', 1))}\n`, method: 'stored' }]);
    const { h, source } = await setup(
      [
        { name: 'siem_20240301101500123.zip', body: zip1 },
        { name: 'siem_20240301103000000.zip', body: zip2 },
      ],
      undefined,
      { compress: true, ...zipRead },
    );
    const batches = await drain(source);
    expect(subjects(batches)).toEqual(['receipt 0', 'receipt 1', 'delivery 0', 'jrnl 0', 'jrnl 1']);
    expect(batches.flatMap((b) => b.events.map((e) => e.doc['logType']))).toEqual(['receipt', 'receipt', 'delivery', 'jrnl', 'jrnl']);
    expect(h.requests[0]?.body['compress']).toBe(true);
    expect(lastCursor(batches)).toEqual({ v: 1, token: 't2' });
  });

  it('an invalid/expired token warns, restarts from the oldest file and counts it', async () => {
    const { h, source } = await setup([
      { name: 'receipt_20240301101500123.json', body: jsonFile('receipt', 0, 2) },
      { name: 'receipt_20240301103000000.json', body: jsonFile('receipt', 2, 1) },
    ]);
    const batches = await drain(source, JSON.stringify({ v: 1, token: 'expired-token' }));
    expect(h.requests.map((r) => r.token)).toEqual(['expired-token', undefined, 't1', 't2']);
    expect(batches[0]).toMatchObject({ events: [], counters: { siem_token_reset: 1 } });
    expect(JSON.parse(batches[0]?.cursor ?? '')).toEqual({ v: 1 });
    expect(subjects(batches)).toEqual(['receipt 0', 'receipt 1', 'receipt 2']);
  });

  it('a json file cut the same way on every download is quarantined after the retry span, and the chain moves on', async () => {
    const full = jsonFile('receipt', 0, 3).toString();
    const cut = Buffer.from(full.slice(0, full.lastIndexOf('{"datetime"') + 20));
    const { h, source, time } = await setup(
      [
        { name: 'receipt_20240301101500123.json', body: cut },
        { name: 'receipt_20240301103000000.json', body: jsonFile('receipt', 10, 1) },
      ],
      undefined,
      { fileRetrySpanMs: 5 * 60_000 },
    );
    const batches = await drain(source);
    expect(subjects(batches)).toEqual(['receipt 0', 'receipt 1', 'receipt 10']);
    // Requested again with backoff (skipping what was committed) until the span is over, then quarantined.
    const again = h.requests.filter((r) => r.token === undefined).length;
    expect(again).toBeGreaterThanOrEqual(4);
    expect(time.elapsed()).toBeGreaterThanOrEqual(5 * 60_000);
    expect(time.elapsed()).toBeLessThan(6 * 60_000);
    expect(time.waits.every((w) => w <= 60_000)).toBe(true);
    expect(h.requests.map((r) => r.token).slice(again)).toEqual(['t1', 't2']);
    expect(batches.reduce((n, b) => n + (b.counters?.['siem_file_retry'] ?? 0), 0)).toBe(again - 1);
    const q = batches.flatMap((b) => b.quarantined ?? []);
    expect(q).toHaveLength(1);
    expect(q[0]).toMatchObject({ reason: 'truncated_file', location: 'token=(oldest),file=receipt_20240301101500123.json,record=3' });
    // What re-reads the rest of the file: the cursor of the first record not delivered.
    expect(JSON.parse(q[0]?.raw ?? '')).toEqual({ v: 1, file: 'receipt_20240301101500123.json', record: 2 });
    // The quarantine batch already points past the bad file.
    const qb = batches.find((b) => (b.quarantined ?? []).length > 0);
    expect(JSON.parse(qb?.cursor ?? '')).toEqual({ v: 1, token: 't1' });
    expect(lastCursor(batches)).toEqual({ v: 1, token: 't2' });
  });

  it('a file cut once (e.g. by a proxy) is read whole on the second request, without duplicates', async () => {
    const full = jsonFile('receipt', 0, 6);
    const { source } = await setup([{ name: 'receipt_20240301101500123.json', body: full }], (req, res, n) => {
      if (n !== 1) return false;
      const cut = full.subarray(0, Math.floor(full.length * 0.6));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="receipt_20240301101500123.json"', 'mc-siem-token': 't1', 'content-length': String(cut.length) });
      res.end(cut);
      return true;
    }, { chunkEvents: 1 });
    const batches = await drain(source);
    expect(subjects(batches)).toEqual(['receipt 0', 'receipt 1', 'receipt 2', 'receipt 3', 'receipt 4', 'receipt 5']);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
  });

  it.each(ZIP_READS)('a truncated zip (%s) is quarantined (complete entries kept) and the chain moves on', async (_how, zipRead) => {
    const zip = buildZip([
      { name: 'receipt_20240301101500123.json', data: jsonFile('receipt', 0, 2) },
      { name: 'process_20240301101500124.json', data: jsonFile('process', 0, 400) },
    ]);
    const { source } = await setup(
      [
        { name: 'siem_20240301101500123.zip', body: zip.subarray(0, zip.length - 200) },
        { name: 'siem_20240301103000000.zip', body: buildZip([{ name: 'receipt_20240301103000000.json', data: jsonFile('receipt', 9, 1) }]) },
      ],
      undefined,
      { compress: true, ...zipRead },
    );
    const batches = await drain(source);
    const s = subjects(batches);
    expect(s.slice(0, 2)).toEqual(['receipt 0', 'receipt 1']);
    expect(s.at(-1)).toBe('receipt 9');
    expect(new Set(s).size).toBe(s.length);
    const q = batches.flatMap((b) => b.quarantined ?? []);
    expect(q.map((x) => x.reason)).toEqual(['truncated_file']);
    expect(lastCursor(batches)).toEqual({ v: 1, token: 't2' });
  });

  it('bad records are quarantined one by one without stopping the file', async () => {
    const body = Buffer.from(JSON.stringify({ type: 'MTA', data: [rec('receipt', 0), { nodatetime: true }, rec('receipt', 2)] }));
    const { source } = await setup([{ name: 'receipt_20240301101500123.json', body }]);
    const batches = await drain(source);
    expect(subjects(batches)).toEqual(['receipt 0', 'receipt 2']);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toMatchObject([{ reason: 'bad_record', location: 'file=receipt_20240301101500123.json,record=2' }]);
  });

  it('resumes mid-file after a crash: same token, committed records skipped', async () => {
    const files = [
      { name: 'receipt_20240301101500123.json', body: jsonFile('receipt', 0, 2) },
      { name: 'process_20240301103000000.json', body: jsonFile('process', 0, 7) },
    ];
    const { h, source } = await setup(files, undefined, { chunkEvents: 3 });
    // First run: receipt file (its 2 events committed with the step to the next token: one batch), then the first
    // chunk of the process file; then "crash".
    const first = await drain(source, undefined, 2);
    expect(subjects(first)).toEqual(['receipt 0', 'receipt 1', 'process 0', 'process 1', 'process 2']);
    expect(first.map((b) => JSON.parse(b.cursor) as unknown)[0]).toEqual({ v: 1, token: 't1' });
    expect(first[0]?.counters).toEqual({ siem_files: 1 });
    const cursor = first.at(-1)?.cursor;
    expect(JSON.parse(cursor ?? '')).toEqual({ v: 1, token: 't1', file: 'process_20240301103000000.json', record: 3 });
    const second = await drain(source, cursor);
    expect(h.requests.map((r) => r.token)).toEqual([undefined, 't1', 't1', 't2']);
    expect(subjects(second)).toEqual(['process 3', 'process 4', 'process 5', 'process 6']);
    expect(lastCursor(second)).toEqual({ v: 1, token: 't2' });
  });

  it('a restart while the next file is already read ahead resumes at the committed token: nothing lost, nothing twice', async () => {
    const files = [
      { name: 'receipt_20240301101500123.json', body: jsonFile('receipt', 0, 2) },
      { name: 'process_20240301103000000.json', body: jsonFile('process', 0, 3) },
      { name: 'receipt_20240301104500000.json', body: jsonFile('receipt', 9, 1) },
    ];
    const { h, source } = await setup(files);
    const it = source.pull(undefined, new AbortController().signal)[Symbol.asyncIterator]();
    const first = await it.next();
    // The first file's records and the step past it are one batch.
    expect(first.done).toBe(false);
    expect(first.done === true ? undefined : subjects([first.value])).toEqual(['receipt 0', 'receipt 1']);
    expect(first.done === true ? undefined : (JSON.parse(first.value.cursor) as unknown)).toEqual({ v: 1, token: 't1' });
    // While that batch is being journaled the second file is read whole: the reply after it (t2) is asked for.
    for (let i = 0; i < 200 && !h.requests.some((r) => r.token === 't2'); i++) await realSleep(5, new AbortController().signal);
    expect(h.requests.map((r) => r.token)).toEqual([undefined, 't1', 't2']);
    // "Crash" before the next batch is journaled: what was read ahead is dropped and read again from the cursor.
    await it.return?.(undefined);
    const second = await drain(source, first.done === true ? undefined : first.value.cursor);
    expect(subjects(second)).toEqual(['process 0', 'process 1', 'process 2', 'receipt 9']);
    expect(lastCursor(second)).toEqual({ v: 1, token: 't3' });
  });

  it('a file read ahead that arrives cut is requested again before anything after it is committed', async () => {
    const cutBody = jsonFile('process', 0, 40);
    let cuts = 0;
    const { h, source } = await setup(
      [
        { name: 'receipt_20240301101500123.json', body: jsonFile('receipt', 0, 2) },
        { name: 'process_20240301103000000.json', body: cutBody },
        { name: 'receipt_20240301104500000.json', body: jsonFile('receipt', 9, 1) },
      ],
      (req, res) => {
        if (req.token !== 't1' || cuts >= 1) return false;
        cuts++;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="process_20240301103000000.json"', 'mc-siem-token': 't2', 'content-length': String(cutBody.length) });
        res.write(cutBody.subarray(0, Math.floor(cutBody.length / 2)), () => res.socket?.destroy());
        return true;
      },
      { chunkEvents: 5 },
    );
    const batches = await drain(source);
    const got = subjects(batches);
    expect(got).toEqual([...['receipt 0', 'receipt 1'], ...Array.from({ length: 40 }, (_, i) => `process ${i}`), 'receipt 9']);
    expect(cuts).toBe(1);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
    // Cursors never skip past the cut file before it is whole.
    const cursors = batches.map((b) => JSON.parse(b.cursor) as { token?: string; record?: number });
    const firstT2 = cursors.findIndex((c) => c.token === 't2');
    expect(got.slice(0, batches.slice(0, firstT2 + 1).reduce((n, b) => n + b.events.length, 0))).toContain('process 39');
    expect(h.requests.filter((r) => r.token === 't1').length).toBeGreaterThanOrEqual(2);
  });

  it('a connection cut mid-file is retried with the committed records skipped; no duplicates', async () => {
    const body = jsonFile('receipt', 0, 50);
    let cuts = 0;
    const { h, source } = await setup([{ name: 'receipt_20240301101500123.json', body }], (req, res) => {
      if (req.token !== undefined || cuts >= 1) return false;
      cuts++;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="receipt_20240301101500123.json"', 'mc-siem-token': 't1', 'content-length': String(body.length) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
      return true;
    }, { chunkEvents: 5 });
    const batches = await drain(source);
    const got = ids(batches);
    expect(new Set(got).size).toBe(got.length);
    expect(got).toHaveLength(50);
    expect(h.requests.map((r) => r.token)).toEqual([undefined, undefined, 't1']);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
  });

  it('a file whose download always breaks is quarantined after the span, with the whole token to fetch it again', async () => {
    const body = jsonFile('receipt', 0, 20);
    const longToken = `t1${'x'.repeat(300)}`;
    let fixed = false;
    const { h, source, time } = await setup(
      [
        { name: 'receipt_20240301101500123.json', body: jsonFile('receipt', 0, 1) },
        { name: 'receipt_20240301101600000.json', body },
        { name: 'receipt_20240301103000000.json', body: jsonFile('receipt', 30, 1) },
      ],
      (req, res) => {
        if (req.token === undefined) {
          // The first file hands out a long token for the second.
          const f = jsonFile('receipt', 0, 1);
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="receipt_20240301101500123.json"', 'mc-siem-token': longToken, 'content-length': String(f.length) });
          res.end(f);
          return true;
        }
        if (req.token !== longToken) return false;
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': 'attachment; filename="receipt_20240301101600000.json"', 'mc-siem-token': 't2', 'content-length': String(body.length) });
        if (fixed) res.end(body);
        else res.write(body.subarray(0, 100), () => res.socket?.destroy());
        return true;
      },
      { fileRetrySpanMs: 2 * 60_000 },
    );
    const batches = await drain(source);
    const q = batches.flatMap((b) => b.quarantined ?? []);
    expect(q.map((x) => x.reason)).toEqual(['file_unreadable']);
    expect(q[0]?.location).toBe(`token=${longToken},file=receipt_20240301101600000.json,record=1`);
    expect(JSON.parse(q[0]?.raw ?? '')).toEqual({ v: 1, token: longToken, file: 'receipt_20240301101600000.json', record: 0 });
    expect(subjects(batches)).toEqual(['receipt 0', 'receipt 30']);
    expect(h.requests.filter((r) => r.token === longToken).length).toBeGreaterThanOrEqual(3);
    expect(time.elapsed()).toBeGreaterThanOrEqual(2 * 60_000);
    expect(h.requests.at(-1)?.token).toBe('t3');

    // `quarantine retry`: once the file downloads whole, its refetch data reads it again, all of it.
    expect(q[0]?.refetch).toBe(q[0]?.raw);
    fixed = true;
    const again: unknown[] = [];
    for await (const b of source.refetch(q[0]?.refetch ?? '', new AbortController().signal)) again.push(...subjects([{ events: b.events, cursor: '' }]));
    expect(again).toEqual(Array.from({ length: 20 }, (_, i) => `receipt ${i}`));
  });

  it('a file cut at a later place on every download keeps being requested and arrives whole, however long it takes', async () => {
    const name = 'receipt_20240301101500123.json';
    const full = jsonFile('receipt', 0, 20);
    const starts: number[] = [];
    for (let at = full.indexOf('{"datetime"'); at >= 0; at = full.indexOf('{"datetime"', at + 1)) starts.push(at);
    let downloads = 0;
    const { h, source, time } = await setup(
      [{ name, body: full }],
      (req, res) => {
        if (req.token !== undefined) return false;
        downloads++;
        // Download n is cut inside record n + 1: every read gets exactly one record further than the one before.
        const cut = starts[downloads];
        if (cut === undefined) return false;
        const part = full.subarray(0, cut + 5);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${name}"`, 'mc-siem-token': 't1', 'content-length': String(part.length) });
        res.end(part);
        return true;
      },
      { chunkEvents: 1, fileRetrySpanMs: 60_000 },
    );
    const batches = await drain(source);
    expect(downloads).toBe(20);
    expect(subjects(batches)).toEqual(Array.from({ length: 20 }, (_, i) => `receipt ${i}`));
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
    // Every retry came after a progress, so each waited like a first retry (at most the 1 s minimum).
    expect(time.waits).toHaveLength(19);
    expect(time.waits.every((w) => w <= 1_000)).toBe(true);
    expect(h.requests.at(-1)?.token).toBe('t1');
  });

  it('waits between attempts are abortable: stopping during a backoff ends the pull with ABORTED', async () => {
    const full = jsonFile('receipt', 0, 3);
    const h = await siemHost([{ name: 'receipt_20240301101500123.json', body: full.subarray(0, 30) }]);
    const api = new MimecastV1Client({ baseUrl: h.url, ...CREDS, retry: FAST });
    cleanups.push(() => h.close(), () => api.close());
    const ac = new AbortController();
    // The production sleep, asked for a minute: only the abort (10 ms into the wait) can end it quickly.
    const sleep = (_ms: number, sig: AbortSignal): Promise<void> => {
      setTimeout(() => ac.abort(), 10).unref();
      return realSleep(60_000, sig);
    };
    const source = new SiemV1Source({ account: 'corp', api, fileFormat: 'json', compress: false, logger: silentLogger(), normalize: testNormalize, sleep });
    const started = Date.now();
    const run = (async () => {
      for await (const b of source.pull(undefined, ac.signal)) void b;
    })();
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(h.requests).toHaveLength(1);
  });

  it('a record over max_record_size is quarantined alone with a bounded prefix; the file flows on (json and key_value)', async () => {
    const huge = { ...rec('receipt', 1), Subject: 'y'.repeat(200_000) };
    const json = Buffer.from(JSON.stringify({ type: 'MTA', data: [rec('receipt', 0), huge, rec('receipt', 2)] }));
    const kv = Buffer.from(`${kvLine(rec('receipt', 0))}\n${kvLine(huge)}\n${kvLine(rec('receipt', 2))}\n`);
    for (const [format, body, name] of [
      ['json', json, 'receipt_20240301101500123.json'],
      ['key_value', kv, 'receipt_20240301101500123.log'],
    ] as const) {
      const { h, source } = await setup([{ name, body }], undefined, { fileFormat: format, maxRecordBytes: 64 * 1024 });
      const batches = await drain(source);
      expect(subjects(batches)).toEqual(['receipt 0', 'receipt 2']);
      const q = batches.flatMap((b) => b.quarantined ?? []);
      expect(q).toHaveLength(1);
      expect(q[0]).toMatchObject({ reason: 'record_too_large', location: `file=${name},record=2` });
      expect(q[0]?.detail).toContain('65536 bytes (max_record_size)');
      expect(q[0]?.raw.length).toBeLessThanOrEqual(4096);
      expect(q[0]?.raw.startsWith(format === 'json' ? '{"datetime"' : 'datetime=')).toBe(true);
      expect(h.requests).toHaveLength(2);
    }
  });

  it('invalid UTF-8 in a record: kept with U+FFFD and tagged mimecast_invalid_utf8; clean records untagged (json and key_value)', async () => {
    // "café" with a Latin-1 é (0xE9): not UTF-8.
    const bad = (text: string): Buffer => {
      const at = text.indexOf('CAFE');
      return Buffer.concat([Buffer.from(text.slice(0, at) + 'caf'), Buffer.from([0xe9]), Buffer.from(text.slice(at + 4))]);
    };
    const json = bad(JSON.stringify({ type: 'MTA', data: [rec('receipt', 0), { ...rec('receipt', 1), Subject: 'CAFE' }, rec('receipt', 2)] }));
    const kv = bad(`${kvLine(rec('receipt', 0))}\n${kvLine({ ...rec('receipt', 1), Subject: 'CAFE' })}\n${kvLine(rec('receipt', 2))}\n`);
    for (const [format, body, name] of [
      ['json', json, 'receipt_20240301101500123.json'],
      ['key_value', kv, 'receipt_20240301101500123.log'],
    ] as const) {
      const { source } = await setup([{ name, body }], undefined, { fileFormat: format });
      const events = (await drain(source)).flatMap((b) => b.events);
      expect(events).toHaveLength(3);
      const docs = events.map((e) => JSON.parse(e.json ?? JSON.stringify(e.doc)) as Record<string, unknown>);
      expect(docs.map((d) => d['tags'])).toEqual([undefined, ['mimecast_invalid_utf8'], undefined]);
      expect((docs[1]?.['record'] as Record<string, unknown>)['Subject']).toBe('caf\uFFFD');
    }
  });

  it.each(ZIP_READS)('a zip bomb (%s) stops at max_file_size: what came before is kept, the rest quarantined at once, the chain moves on', async (_how, zipRead) => {
    const records = (from: number): string => Array.from({ length: 10 }, (_, k) => JSON.stringify(rec('receipt', from + k))).join(',');
    // 10 records, 8 MiB of blanks (a few KB once deflated), 10 more records.
    const inflated = `{"type":"MTA","data":[${records(0)},${' '.repeat(8 * 1024 * 1024)}${records(10)}]}`;
    const zip = buildZip([{ name: 'receipt_20240301101500123.json', data: inflated }]);
    expect(zip.length).toBeLessThan(64 * 1024);
    const { h, source, time } = await setup(
      [
        { name: 'siem_20240301101500123.zip', body: zip },
        { name: 'siem_20240301103000000.zip', body: buildZip([{ name: 'receipt_20240301103000000.json', data: jsonFile('receipt', 90, 1) }]) },
      ],
      undefined,
      { compress: true, maxFileBytes: 1024 * 1024, ...zipRead },
    );
    const batches = await drain(source);
    expect(subjects(batches)).toEqual([...Array.from({ length: 10 }, (_, i) => `receipt ${i}`), 'receipt 90']);
    const q = batches.flatMap((b) => b.quarantined ?? []);
    expect(q.map((x) => x.reason)).toEqual(['file_too_large']);
    expect(q[0]?.detail).toContain('max_file_size');
    expect(q[0]?.location).toBe('token=(oldest),file=siem_20240301101500123.zip,record=11');
    expect(JSON.parse(q[0]?.raw ?? '')).toEqual({ v: 1, file: 'siem_20240301101500123.zip', record: 10 });
    // The same on every download, so no retry and no wait.
    expect(h.requests.map((r) => r.token)).toEqual([undefined, 't1', 't2']);
    expect(time.waits).toEqual([]);
  });

  it.each(ZIP_READS)('a zip reply (%s) over the spool limit is quarantined at once as file_too_large', async (_how, zipRead) => {
    const zip = buildZip([{ name: 'receipt_20240301101500123.json', data: jsonFile('receipt', 0, 50), method: 'stored' }]);
    const { h, source } = await setup([{ name: 'siem_20240301101500123.zip', body: zip }], undefined, { compress: true, maxZipBytes: 1024, ...zipRead });
    const batches = await drain(source);
    expect(ids(batches)).toEqual([]);
    expect(batches.flatMap((b) => b.quarantined ?? []).map((x) => x.reason)).toEqual(['file_too_large']);
    expect(h.requests.map((r) => r.token)).toEqual([undefined, 't1']);
  });

  it('a file of nothing but bad records still commits its place in bounded chunks', async () => {
    const body = Buffer.from(JSON.stringify({ type: 'MTA', data: Array.from({ length: 1000 }, (_, i) => ({ nodatetime: i })) }));
    const { source } = await setup([{ name: 'receipt_20240301101500123.json', body }], undefined, { chunkEvents: 5000 });
    const batches = await drain(source);
    const withBad = batches.filter((b) => (b.quarantined ?? []).length > 0);
    expect(withBad.reduce((n, b) => n + (b.quarantined ?? []).length, 0)).toBe(1000);
    expect(Math.max(...withBad.map((b) => (b.quarantined ?? []).length))).toBeLessThanOrEqual(256);
    expect(withBad.length).toBeGreaterThanOrEqual(4);
    const records = withBad.slice(0, -1).map((b) => (JSON.parse(b.cursor) as { record: number }).record);
    expect(records).toEqual([...records].sort((a, b) => a - b));
    expect(records.at(-1)).toBeLessThan(1000);
    // The last of them ends the file: committed with the step to the next token.
    expect(JSON.parse(withBad.at(-1)?.cursor ?? '')).toEqual({ v: 1, token: 't1' });
  });

  it('a long file logs its progress at info as it is read', async () => {
    const log = captureLogger();
    const { source } = await setup([{ name: 'receipt_20240301101500123.json', body: jsonFile('receipt', 0, 2000) }], undefined, {
      logger: log.logger,
      progressBytes: 64 * 1024,
    });
    const batches = await drain(source);
    expect(ids(batches)).toHaveLength(2000);
    const progress = log.lines().filter((l) => l.msg === 'SIEM 1.0 file still being read');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.every((l) => l.level === 30 && l['file'] === 'receipt_20240301101500123.json')).toBe(true);
    expect(progress.map((l) => l['bytes'])).toEqual([...progress.map((l) => l['bytes'])].sort((a, b) => Number(a) - Number(b)));
    expect(log.lines().filter((l) => l.msg === 'SIEM 1.0 file read to the end')).toHaveLength(1);
  });

  it('the collector builds the source with streams.siem.max_record_size from the config', async () => {
    const cfg = parseConfigText(
      `accounts:\n  - name: corp\n    api: v1\n    base_url: https://eu-api.mimecast.com\n    app_id: a\n    app_key: b\n    access_key: c\n    secret_key: ZA==\n    streams: { siem: { compress: false, max_record_size: 64KB } }\nsinks:\n  - { name: out, type: stdout }\n`,
      {},
    );
    const account = cfg.config?.accounts[0];
    if (account === undefined) throw new Error(JSON.stringify(cfg.issues));
    const huge = { ...rec('receipt', 1), Subject: 'y'.repeat(100_000) };
    const h = await siemHost([{ name: 'receipt_20240301101500123.json', body: Buffer.from(JSON.stringify({ type: 'MTA', data: [rec('receipt', 0), huge, rec('receipt', 2)] })) }]);
    const api = new MimecastV1Client({ baseUrl: h.url, ...CREDS, retry: FAST });
    cleanups.push(() => h.close(), () => api.close());
    const [source] = buildSources(account, api, silentLogger());
    const out: Batch[] = [];
    for await (const b of source?.pull(undefined, new AbortController().signal) ?? []) out.push(b);
    expect(out.flatMap((b) => b.events)).toHaveLength(2);
    expect(out.flatMap((b) => b.quarantined ?? []).map((q) => q.reason)).toEqual(['record_too_large']);
  });

  it('a zip that cannot be spooled to local disk fails the pull (code SPOOL_FAILED) and is never quarantined', async () => {
    const zip = buildZip([{ name: 'receipt_20240301101500123.json', data: jsonFile('receipt', 0, 2) }]);
    const { h, source, time } = await setup([{ name: 'siem_20240301101500123.zip', body: zip }], undefined, {
      compress: true,
      // Larger than what is read from memory: spooled.
      memoryZipBytes: 64,
      tempDir: path.join(os.tmpdir(), `mc-no-such-dir-${process.pid}`, 'deeper'),
    });
    const batches: Batch[] = [];
    const run = (async () => {
      for await (const b of source.pull(JSON.stringify({ v: 1, token: 't0' }), new AbortController().signal)) batches.push(b);
    })();
    await expect(run).rejects.toMatchObject({ code: 'SPOOL_FAILED', message: expect.stringContaining('ENOENT') as unknown });
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
    expect(h.requests).toHaveLength(1);
    expect(time.waits).toEqual([]);
  });

  it('expired keys stop the pull with the fatal auth error', async () => {
    const { source } = await setup([], (_req, res) => {
      json(res, 418, { meta: { status: 418 }, data: [], fail: [{ errors: [{ code: 'err_xdk_binding_expired', message: 'binding expired' }] }] });
      return true;
    });
    await expect(drain(source)).rejects.toMatchObject({ code: 'API_AUTH_FAILED' });
  });

  it('uses the registered SIEM 1.0 normalizer when none is given, with the file-name log type', async () => {
    const h = await siemHost([{ name: 'receipt_20240301101500123.json', body: Buffer.from(JSON.stringify({ type: 'MTA', data: [{ datetime: '2024-03-01T10:02:11+0100', aCode: 'q7', acc: 'CUK12A345', Sender: 'a@x.example', Rcpt: 'b@corp.example', Act: 'Acc', IP: '198.51.100.23', Dir: 'Inbound', Subject: 'Hi' }] })) }]);
    const api = new MimecastV1Client({ baseUrl: h.url, ...CREDS, retry: FAST });
    cleanups.push(() => h.close(), () => api.close());
    const source = new SiemV1Source({ account: 'corp', api, fileFormat: 'json', compress: false, logger: silentLogger() });
    const events = (await drain(source)).flatMap((b) => b.events);
    expect(events).toHaveLength(1);
    // The account's +0100 offset is honoured: 10:02:11+0100 is 09:02:11 UTC.
    expect(events[0]?.time).toBe('2024-03-01T09:02:11.000Z');
    expect(JSON.stringify(events[0]?.doc)).toContain('receipt');
  });

  it('asks for the next file while the current one is still being journaled; a crash then resumes from the committed cursor', async () => {
    const files: SiemFile[] = [0, 1, 2].map((f) => ({ name: `receipt_2024030110150${f}000.json`, body: jsonFile('receipt', f * 10, 5) }));
    let sawNext: () => void = () => undefined;
    const nextAsked = new Promise<void>((r) => (sawNext = r));
    const { h, source } = await setup(files, (req) => {
      if (req.token === 't1') sawNext();
      return false;
    }, { chunkEvents: 2 });
    const journaled: Batch[] = [];
    const it1 = source.pull(undefined, new AbortController().signal);
    const first = await it1.next();
    if (first.done === true) throw new Error('no batch');
    // The first chunk of file 0 is held, not journaled yet: the call for file 1 (token t1) is already on its way.
    const bounded = new Promise<'late'>((r) => setTimeout(() => r('late'), 2000).unref());
    expect(await Promise.race([nextAsked.then(() => 'asked' as const), bounded])).toBe('asked');
    journaled.push(first.value);
    expect(JSON.parse(first.value.cursor)).toEqual({ v: 1, file: files[0]?.name, record: 2 });
    // Crash with the second chunk in hand (never journaled) and file 1's reply read ahead.
    const second = await it1.next();
    expect(second.done).toBe(false);
    await it1.return(undefined);
    const before = h.requests.length;
    const rest = await drain(source, journaled[journaled.length - 1]?.cursor);
    journaled.push(...rest);
    // The restart asks for file 0 again (the committed cursor's token: none), skipping its 2 committed records.
    expect(h.requests[before]?.token).toBeUndefined();
    const all = ids(journaled);
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(15);
    expect(subjects(journaled)).toEqual([...[0, 1, 2, 3, 4], ...[10, 11, 12, 13, 14], ...[20, 21, 22, 23, 24]].map((i) => `receipt ${i}`));
    // Once read ahead, a reply is used: each file's token was asked for once in the uninterrupted pull.
    const tokens = h.requests.slice(before).map((r) => r.token);
    expect(tokens).toEqual([undefined, 't1', 't2', 't3']);
    expect(lastCursor(journaled)).toEqual({ v: 1, token: 't3' });
  });

  it('memory stays bounded while streaming a large file', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const total = 120_000;
    const pad = 'p'.repeat(300);
    const body = (): Readable =>
      Readable.from(
        (function* () {
          yield '{"type":"MTA","data":[';
          for (let i = 0; i < total; i += 1000) {
            const part: string[] = [];
            for (let k = i; k < i + 1000; k++) part.push(JSON.stringify({ ...rec('receipt', k), pad }));
            yield (i === 0 ? '' : ',') + part.join(',');
          }
          yield ']}';
        })(),
      );
    const { source } = await setup([{ name: 'receipt_20240301101500123.json', body }], undefined, { chunkEvents: 5000 });
    gc();
    const base = process.memoryUsage();
    let peak = 0;
    let count = 0;
    let n = 0;
    for await (const b of source.pull(undefined, new AbortController().signal)) {
      count += b.events.length;
      if (++n % 4 === 0) {
        gc();
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed - base.heapUsed + (m.arrayBuffers - base.arrayBuffers));
      }
    }
    expect(count).toBe(total);
    // The file is ~45 MB of text (90+ MB as JS strings); one 5000-event chunk is a few MB.
    expect(peak).toBeLessThan(24 * 1024 * 1024);
  });
});
