// The SIEM batch source against the simulator over real HTTP: full drain, exact resume, expired and cut files, bad lines.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, NormalizedEvent, Quarantined } from '../../core/contracts.js';
import { ApiError } from '../../core/errors.js';
import { MimecastV2Client } from '../../mimecast/v2client.js';
import { startSimulator, type RunningSimulator } from '../../simulator/index.js';
import { silentLogger, type Logger } from '../../telemetry/logger.js';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ParsePool } from '../parse/parse-pool.js';
import { SiemBatchSource, type SiemBatchApi } from './batch.js';

const WORKER = join(import.meta.dirname, '../../../dist/sources/parse/parse-worker.js');

let sim: RunningSimulator;
let client: MimecastV2Client;
let manifest: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mc-siem-'));
  manifest = join(dir, 'manifest.ndjson');
  sim = await startSimulator({ seed: 'siem-source', backlogRecords: 6000, backlogHours: 30, recordsPerBlob: 200, maxPageSize: 100, publishIntervalMs: 0, manifestPath: manifest });
  client = new MimecastV2Client({ baseUrl: sim.url, clientId: sim.clientId, clientSecret: sim.clientSecret, logger: silentLogger() });
});

afterAll(async () => {
  await client.close();
  await sim.close();
});

function expected(type: string): Set<string> {
  return new Set(
    readFileSync(manifest, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((r) => r['type'] === type)
      .map((r) => `${String(r['_partition'])}:${String(r['_offset'])}`),
  );
}

function key(e: NormalizedEvent): string {
  const m = e.doc['mimecast'] as Record<string, unknown>;
  return `${String(m['_partition'])}:${String(m['_offset'])}`;
}

/** A fake clock for the waits between attempts at a failing file: sleeping moves it, nothing really waits. */
interface FakeClock {
  t: number;
  waits: number[];
}

function fakeClock(): FakeClock {
  return { t: Date.now(), waits: [] };
}

function source(api: SiemBatchApi, opts: { chunkEvents?: number; pageSize?: number; type?: 'receipt' | 'delivery'; clock?: FakeClock } = {}): SiemBatchSource {
  const clock = opts.clock ?? fakeClock();
  return new SiemBatchSource({
    account: 'sim',
    type: opts.type ?? 'receipt',
    api,
    startFromMs: 7 * 86_400_000,
    pageSize: opts.pageSize ?? 3,
    chunkEvents: opts.chunkEvents ?? 70,
    logger: silentLogger(),
    now: () => clock.t,
    sleep: (ms) => {
      clock.waits.push(ms);
      clock.t += ms;
      return Promise.resolve();
    },
  });
}

async function drain(src: SiemBatchSource, cursor: string | undefined, maxBatches = Infinity): Promise<{ batches: Batch[]; cursor: string | undefined }> {
  const batches: Batch[] = [];
  let cur = cursor;
  for await (const b of src.pull(cur, new AbortController().signal)) {
    batches.push(b);
    cur = b.cursor;
    if (batches.length >= maxBatches) break;
  }
  return { batches, cursor: cur };
}

describe('SiemBatchSource, Cloud Integrated types', () => {
  it('an account without Cloud Integrated: the type is disabled with one clear error, not retried', async () => {
    // The simulator started above has no Cloud Integrated product: its ci endpoint answers 403.
    const src = new SiemBatchSource({ account: 'sim', type: 'entities', api: client, startFromMs: 86_400_000, pageSize: 10, chunkEvents: 50, logger: silentLogger() });
    const err = await drain(src, undefined).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.details['disabled']).toBe(true);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/^SIEM type entities \(Cloud Integrated\) disabled for account sim: the account is not licensed for it \(HTTP 403 from GET \/siem\/v1\/batch\/events\/ci/);
  });

  it('asks the ci endpoint with the type as the API spells it; a cg type never goes there', async () => {
    const calls: string[] = [];
    const fake: SiemBatchApi = {
      getJson: (path, query) => {
        calls.push(`${path}?type=${String(query['type'])}`);
        return Promise.resolve({ value: [], isCaughtUp: true });
      },
      openDownload: () => Promise.reject(new Error('no files')),
    };
    for (const type of ['urlclick', 'url_protect'] as const) {
      await drain(new SiemBatchSource({ account: 'a', type, api: fake, startFromMs: 3_600_000, pageSize: 10, chunkEvents: 50, logger: silentLogger() }), undefined);
    }
    expect(calls).toEqual(['/siem/v1/batch/events/ci?type=urlclick', '/siem/v1/batch/events/cg?type=url protect']);
  });
});

describe('SiemBatchSource', () => {
  it('drains a type completely, in bounded chunks, and ends caught up', async () => {
    const want = expected('receipt');
    expect(want.size).toBeGreaterThan(500);
    const { batches } = await drain(source(client), undefined);
    const got = batches.flatMap((b) => b.events);
    expect(new Set(got.map(key))).toEqual(want);
    expect(got.length).toBe(want.size);
    expect(Math.max(...batches.map((b) => b.events.length))).toBeLessThanOrEqual(70);
    expect(got.every((e) => e.stream === 'siem' && e.account === 'sim')).toBe(true);
  });

  it('resumes exactly where a committed cursor says, mid-page and mid-file', async () => {
    const want = expected('delivery');
    const src = source(client, { type: 'delivery', chunkEvents: 50 });
    const first = await drain(src, undefined, 7);
    const cursor = JSON.parse(first.cursor ?? '{}') as { page?: { blob: number; line: number } };
    expect(cursor.page?.line).toBeGreaterThan(0);
    const rest = await drain(src, first.cursor);
    const all = [...first.batches, ...rest.batches].flatMap((b) => b.events).map(key);
    expect(all.length).toBe(want.size);
    expect(new Set(all)).toEqual(want);
  });

  it('reads lines however the bytes arrive: split mid-line and mid-character, CRLF, no final newline', async () => {
    // Each file re-served as CRLF text with a multi-byte subject and no final newline, gzipped, in 7-byte pieces.
    const api: SiemBatchApi = {
      getJson: (p, q, s) => client.getJson(p, q, s),
      openDownload: async (url, s) => {
        const res = await client.openDownload(url, s);
        const parts: Buffer[] = [];
        for await (const c of res.body as AsyncIterable<Buffer>) parts.push(c);
        const lines = gunzipSync(Buffer.concat(parts)).toString('utf8').split('\n').filter(Boolean);
        const text = lines.map((l) => l.replace('"subject":"', '"subject":"Grüße 📧 ')).join('\r\n');
        const gz = gzipSync(Buffer.from(text));
        const pieces: Buffer[] = [];
        for (let i = 0; i < gz.length; i += 7) pieces.push(gz.subarray(i, i + 7));
        return { body: Readable.from(pieces) };
      },
    };
    const want = expected('delivery');
    const src = source(api, { type: 'delivery', chunkEvents: 50 });
    const first = await drain(src, undefined, 7);
    const cursor = JSON.parse(first.cursor ?? '{}') as { page?: { blob: number; line: number } };
    expect(cursor.page?.line).toBeGreaterThan(0);
    const rest = await drain(src, first.cursor);
    const batches = [...first.batches, ...rest.batches];
    const all = batches.flatMap((b) => b.events);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
    expect(all.map(key).length).toBe(want.size);
    expect(new Set(all.map(key))).toEqual(want);
    const subjects = all.map((e) => (e.doc['email'] as { subject?: string } | undefined)?.subject).filter((x) => x !== undefined);
    expect(subjects.length).toBeGreaterThan(0);
    expect(subjects.every((x) => x.startsWith('Grüße 📧 '))).toBe(true);
  });

  it('re-requests the page when a file URL expired, and counts it', async () => {
    const failed = new Set<string>();
    const api: SiemBatchApi = {
      getJson: (p, q, s) => client.getJson(p, q, s),
      openDownload: async (url, s) => {
        const path = url.replace(/\?.*$/, '');
        if (!failed.has(path)) {
          failed.add(path);
          throw new ApiError('BLOB_EXPIRED', 'expired', 'GET blob', { status: 403 });
        }
        return client.openDownload(url, s);
      },
    };
    const { batches } = await drain(source(api), undefined);
    expect(new Set(batches.flatMap((b) => b.events).map(key))).toEqual(expected('receipt'));
    const expiredCount = batches.reduce((n, b) => n + (b.counters?.['blob_expired'] ?? 0), 0);
    expect(expiredCount).toBe(failed.size);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
  });

  it('retries a cut gzip file from the line it reached, without loss or repeats', async () => {
    const cut = new Set<string>();
    const api: SiemBatchApi = {
      getJson: (p, q, s) => client.getJson(p, q, s),
      openDownload: async (url, s) => {
        const res = await client.openDownload(url, s);
        const path = url.replace(/\?.*$/, '');
        if (cut.has(path)) return res;
        cut.add(path);
        let seen = 0;
        const limit = 1500;
        const truncate = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            const room = limit - seen;
            seen += chunk.length;
            if (room > 0) this.push(room >= chunk.length ? chunk : chunk.subarray(0, room));
            cb();
          },
        });
        return { body: res.body.pipe(truncate) as unknown as Readable };
      },
    };
    const { batches } = await drain(source(api), undefined);
    const keys = batches.flatMap((b) => b.events).map(key);
    expect(keys.length).toBe(expected('receipt').size);
    expect(new Set(keys)).toEqual(expected('receipt'));
    expect(batches.reduce((n, b) => n + (b.counters?.['blob_retry'] ?? 0), 0)).toBe(cut.size);
  });

  it('quarantines a file that stays broken only after the retry span (10m), with fresh URLs and growing waits, and moves on', async () => {
    let pages = 0;
    const api: SiemBatchApi = {
      getJson: (p, q, s) => ((pages += 1), client.getJson(p, q, s)),
      openDownload: () => Promise.reject(new ApiError('BLOB_MISSING', 'gone', 'GET blob', { status: 404 })),
    };
    const clock = fakeClock();
    const batches: Batch[] = [];
    for await (const b of source(api, { pageSize: 2, clock }).pull(undefined, new AbortController().signal)) {
      batches.push(b);
      if ((b.quarantined ?? []).length > 0) break;
    }
    const q = batches.flatMap((b) => b.quarantined ?? []);
    expect(q).toHaveLength(1);
    // Each failure is counted as it happens (a batch that only moves the counters), not after the last wait.
    expect(batches.slice(0, -1).map((b) => [b.events.length, b.counters?.['blob_missing']])).toEqual(clock.waits.map(() => [0, 1]));
    expect(q[0]?.reason).toBe('blob_missing');
    // The whole page token, so the file can be fetched again; the file's URL without its signature.
    expect(q[0]?.location).toMatch(/^type=receipt,page=start:\d{4}-\d{2}-\d{2},blob=0,line=1$/);
    expect(q[0]?.raw).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.+/);
    expect(q[0]?.raw).not.toContain('?');
    const spent = clock.waits.reduce((a, b) => a + b, 0);
    expect(spent).toBeGreaterThanOrEqual(10 * 60_000);
    expect(spent).toBeLessThan(12 * 60_000);
    expect(Math.max(...clock.waits)).toBeLessThanOrEqual(60_000);
    expect(pages).toBe(1 + clock.waits.length); // a fresh page (fresh URLs) before every new attempt
    expect(q[0]?.detail).toMatch(new RegExp(`^gone \\(${clock.waits.length + 1} attempts over 6\\d\\d s`));
  });

  it('rides out 20 s of storage failures: no file is lost, the waits stay small', async () => {
    const clock = fakeClock();
    const until = clock.t + 20_000;
    let failures = 0;
    const api: SiemBatchApi = {
      getJson: (p, q, s) => client.getJson(p, q, s),
      openDownload: (url, s) => {
        if (clock.t < until) {
          failures += 1;
          return Promise.reject(new ApiError('API_NETWORK', 'redirect loop from storage', 'GET blob', { retryable: true }));
        }
        return client.openDownload(url, s);
      },
    };
    const { batches } = await drain(source(api, { clock }), undefined);
    expect(failures).toBeGreaterThan(3);
    expect(batches.flatMap((b) => b.quarantined ?? [])).toEqual([]);
    expect(new Set(batches.flatMap((b) => b.events).map(key))).toEqual(expected('receipt'));
    expect(batches.reduce((n, b) => n + (b.counters?.['blob_retry'] ?? 0), 0)).toBe(failures);
  });

  it('quarantines junk lines and keeps every real record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-siem-junk-'));
    const m = join(dir, 'manifest.ndjson');
    const junkSim = await startSimulator({ seed: 'junk', backlogRecords: 1500, recordsPerBlob: 100, publishIntervalMs: 0, manifestPath: m, faults: { nonJsonLines: 1 } });
    const c = new MimecastV2Client({ baseUrl: junkSim.url, clientId: junkSim.clientId, clientSecret: junkSim.clientSecret, logger: silentLogger() });
    try {
      const { batches } = await drain(source(c), undefined);
      const want = readFileSync(m, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((r) => r['type'] === 'receipt').length;
      expect(batches.flatMap((b) => b.events).length).toBe(want);
      const q = batches.flatMap((b) => b.quarantined ?? []);
      expect(q.length).toBeGreaterThan(0);
      expect(q.every((x) => x.reason === 'bad_json' || x.reason === 'bad_record')).toBe(true);
      expect(q[0]?.location).toMatch(/line=\d+/);
    } finally {
      await c.close();
      await junkSim.close();
    }
  });

  it('keeps its place when a page is empty, and asks for the next page from the stored token', async () => {
    const src = source(client, { type: 'receipt' });
    const { cursor } = await drain(src, undefined);
    const again = await drain(src, cursor);
    expect(again.batches.flatMap((b) => b.events)).toEqual([]);
    const c = JSON.parse(again.cursor ?? '{}') as { next?: string };
    expect(typeof c.next).toBe('string');
    await sim.publish(400);
    const more = await drain(src, again.cursor);
    expect(more.batches.flatMap((b) => b.events).length).toBeGreaterThan(0);
  });
});

/** A logger that keeps every line it is given. */
function captureLogger(into: { msg: string; obj: Record<string, unknown> }[]): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const o = JSON.parse(chunk.toString('utf8')) as Record<string, unknown>;
      into.push({ msg: String(o['msg']), obj: o });
      cb();
    },
  });
  return pino({ level: 'debug' }, stream) as unknown as Logger;
}

/** A one-page, one-file SIEM 2.0 account whose file is `gz`; the page token is long, as real ones are. */
function oneFileApi(gz: () => Buffer | Promise<Buffer>, calls: { pages: number; downloads: number } = { pages: 0, downloads: 0 }): SiemBatchApi {
  return {
    getJson: () => {
      calls.pages += 1;
      return Promise.resolve({ value: [{ url: `https://storage.example/f0.gz?sig=${calls.pages}` }], '@nextPage': 'N'.repeat(300), isCaughtUp: true });
    },
    openDownload: async () => {
      calls.downloads += 1;
      const bytes = await gz();
      const pieces: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 64 * 1024) pieces.push(bytes.subarray(i, i + 64 * 1024));
      return { body: Readable.from(pieces) };
    },
  };
}

/** Drains like drain(), reading each event's document before the next batch (a threaded pool reuses its buffers). */
async function drainDocs(src: SiemBatchSource, cursor: string | undefined): Promise<{ docs: Record<string, unknown>[]; quarantined: Quarantined[]; cursors: string[] }> {
  const docs: Record<string, unknown>[] = [];
  const quarantined: Quarantined[] = [];
  const cursors: string[] = [];
  for await (const b of src.pull(cursor, new AbortController().signal)) {
    for (const e of b.events) docs.push(e.doc);
    quarantined.push(...(b.quarantined ?? []));
    cursors.push(b.cursor);
  }
  return { docs, quarantined, cursors };
}

function subject(doc: Record<string, unknown>): string | undefined {
  return (doc['email'] as { subject?: string } | undefined)?.subject;
}

function record(i: number, extra = ''): string {
  return JSON.stringify({ _offset: i, _partition: 1, accountId: 'C1', timestamp: 1714557600000 + i, type: 'receipt', subject: `s${i}${extra}` });
}

describe('SiemBatchSource limits', () => {
  it('a 50 MB record: the good lines are events, the big one is one bounded quarantine entry, the cursor moves past the file', async () => {
    const big = `{"timestamp":1714557600000,"type":"receipt","subject":"${'x'.repeat(50 * 1024 * 1024)}"}`;
    const lines = [record(1), record(2), big, record(3), record(4)];
    const gz = gzipSync(Buffer.from(lines.join('\n') + '\n'));
    const pool = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      expect(pool.threaded).toBe(true);
      const src = new SiemBatchSource({ account: 'a', type: 'receipt', api: oneFileApi(() => gz), startFromMs: 3_600_000, pageSize: 10, chunkEvents: 2, logger: silentLogger(), pool });
      const { docs, quarantined: q, cursors } = await drainDocs(src, undefined);
      expect(docs.map(subject)).toEqual(['s1', 's2', 's3', 's4']);
      expect(q).toHaveLength(1);
      expect(q[0]?.reason).toBe('record_too_large');
      expect(q[0]?.location).toBe(`type=receipt,page=start:${src.startDay()},blob=0,line=3`);
      expect(q[0]?.detail).toContain(`a line of ${big.length} bytes is longer than streams.siem.max_record_size (1048576 bytes)`);
      expect(q[0]?.raw.length).toBeLessThanOrEqual(4096);
      expect(q[0]?.raw.startsWith('{"timestamp":1714557600000')).toBe(true);
      expect(JSON.parse(cursors.at(-1) ?? '{}')).toEqual({ v: 1, start: src.startDay(), next: 'N'.repeat(300) });
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('an oversized last line without a newline, a resume past an oversized line, and a cap set lower', async () => {
    const big = `{"timestamp":1714557600000,"subject":"${'é'.repeat(100_000)}"}`; // 200 KB
    const gz = gzipSync(Buffer.from([record(1), big, record(2), big].join('\n')));
    const make = (): SiemBatchSource =>
      new SiemBatchSource({ account: 'a', type: 'receipt', api: oneFileApi(() => gz), startFromMs: 3_600_000, pageSize: 10, chunkEvents: 1, logger: silentLogger(), maxRecordBytes: 128 * 1024 });
    const all = await drainDocs(make(), undefined);
    expect(all.docs.map(subject)).toEqual(['s1', 's2']);
    expect(all.quarantined.map((q) => [q.reason, q.location.replace(/^.*,line=/, '')])).toEqual([
      ['record_too_large', '2'],
      ['record_too_large', '4'],
    ]);
    expect(all.quarantined[0]?.raw).toMatch(/^\{"timestamp":1714557600000,"subject":"éé/);
    expect(Buffer.byteLength(all.quarantined[0]?.raw ?? '')).toBeLessThanOrEqual(4096);
    // Committed after line 3 (s2, with the quarantined line 2): a restart skips the big line 2 as it streams and
    // quarantines only line 4.
    const after3 = all.cursors.find((c) => (JSON.parse(c) as { page?: { line: number } }).page?.line === 3);
    expect(after3).toBeDefined();
    const rest = await drainDocs(make(), after3);
    expect(rest.docs).toEqual([]);
    expect(rest.quarantined.map((q) => q.location.replace(/^.*,line=/, ''))).toEqual(['4']);
  });

  it('a decompression bomb: reads at most max_file_size, saves its place as it goes, logs progress, quarantines the rest and moves on', async () => {
    const text = Buffer.concat([Buffer.from(record(1) + '\n'), Buffer.alloc(5 * 1024 * 1024, 0x0a), Buffer.from(record(2) + '\n')]);
    const gz = gzipSync(text);
    expect(gz.length).toBeLessThan(64 * 1024);
    const logged: { msg: string; obj: Record<string, unknown> }[] = [];
    const logger = captureLogger(logged);
    const src = new SiemBatchSource({
      account: 'a',
      type: 'receipt',
      api: oneFileApi(() => gz),
      startFromMs: 3_600_000,
      pageSize: 10,
      chunkEvents: 500,
      logger,
      maxFileBytes: 2 * 1024 * 1024,
      progressBytes: 256 * 1024,
      progressLogBytes: 1024 * 1024,
    });
    const { docs, quarantined, cursors } = await drainDocs(src, undefined);
    expect(docs.map(subject)).toEqual(['s1']);
    expect(quarantined).toHaveLength(1);
    expect(quarantined[0]?.reason).toBe('file_too_large');
    expect(quarantined[0]?.detail).toContain('streams.siem.max_file_size (2097152 bytes)');
    expect(quarantined[0]?.location).toBe(`type=receipt,page=start:${src.startDay()},blob=0,line=${2 * 1024 * 1024 - Buffer.byteLength(record(1)) + 1}`);
    expect(quarantined[0]?.raw).toBe('https://storage.example/f0.gz');
    // Its place was committed every ~256 KB of blank lines, though no event came.
    const lines = cursors.map((c) => (JSON.parse(c) as { page?: { line: number } }).page?.line).filter((l) => l !== undefined);
    expect(lines.length).toBeGreaterThanOrEqual(7);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
    expect(logged.filter((l) => l.msg.startsWith('reading a large SIEM file'))).toHaveLength(2);
    expect(logged.some((l) => l.msg.startsWith('SIEM file larger than streams.siem.max_file_size'))).toBe(true);
    expect(JSON.parse(cursors.at(-1) ?? '{}')).toEqual({ v: 1, start: src.startDay(), next: 'N'.repeat(300) });
  });

  it('a record that kills the parse worker: retried once, then its group is quarantined line by line; the rest flows', async () => {
    // A worker with the smallest heap the collector gives one (32 MB) runs out of memory on a record of a few MB of
    // small arrays (gradually: it ends with ERR_WORKER_OUT_OF_MEMORY, the process lives on). Not less: with 8 MB a
    // Node 24 worker's own start-up leaves too little, and it dies on ordinary groups too.
    const killer = `{"timestamp":1714557600000,"type":"receipt","x":[${Array(1_000_000).fill('[0]').join(',')}]}`;
    const lines = [record(1), record(2), killer, record(3), record(4)];
    const gz = gzipSync(Buffer.from(lines.join('\n') + '\n'));
    const pool = new ParsePool({ workers: 1, workerFile: WORKER, workerHeapMb: 32 });
    const calls = { pages: 0, downloads: 0 };
    const clock = fakeClock();
    try {
      const src = new SiemBatchSource({
        account: 'a',
        type: 'receipt',
        api: oneFileApi(() => gz, calls),
        startFromMs: 3_600_000,
        pageSize: 10,
        chunkEvents: 2,
        logger: silentLogger(),
        pool,
        maxRecordBytes: 8 * 1024 * 1024,
        now: () => clock.t,
        sleep: (ms) => ((clock.t += ms), Promise.resolve()),
      });
      const { docs, quarantined, cursors } = await drainDocs(src, undefined);
      expect(docs.map(subject)).toEqual(['s1', 's2', 's3', 's4']);
      expect(calls.downloads).toBe(3); // groups of 2 lines: [1,2] ok, [3,4] dies; then [3] alone dies; then [3] is quarantined, [4] parsed
      expect(quarantined.map((q) => [q.reason, q.location.replace(/^.*,line=/, '')])).toEqual([['parse_worker_crash', '3']]);
      expect(quarantined[0]?.raw.length).toBe(4096);
      expect(JSON.parse(cursors.at(-1) ?? '{}')).toMatchObject({ next: 'N'.repeat(300) });
      // The pool still works.
      expect((await pool.run({ stream: 'siem', variant: 'v2', account: 'a', lines: [record(9)], firstLine: 1, where: 'w' })).events).toHaveLength(1);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('blank lines are skipped without parsing, and a short last line without a newline after them is still read', async () => {
    const gz = gzipSync(Buffer.from(`${record(1)}\n\n\n{`));
    const src = new SiemBatchSource({ account: 'a', type: 'receipt', api: oneFileApi(() => gz), startFromMs: 3_600_000, pageSize: 10, chunkEvents: 10, logger: silentLogger() });
    const { docs, quarantined } = await drainDocs(src, undefined);
    expect(docs.map(subject)).toEqual(['s1']);
    expect(quarantined.map((q) => [q.reason, q.location.replace(/^.*,line=/, ''), q.raw])).toEqual([['bad_json', '4', '{']]);
  });
});
