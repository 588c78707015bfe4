// The SIEM batch source against the simulator over real HTTP: full drain, exact resume, expired and cut files, bad lines.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Batch, NormalizedEvent } from '../../core/contracts.js';
import { ApiError } from '../../core/errors.js';
import { MimecastV2Client } from '../../mimecast/v2client.js';
import { startSimulator, type RunningSimulator } from '../../simulator/index.js';
import { silentLogger } from '../../telemetry/logger.js';
import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { SiemBatchSource, type SiemBatchApi } from './batch.js';

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

function source(api: SiemBatchApi, opts: { chunkEvents?: number; pageSize?: number; type?: 'receipt' | 'delivery' } = {}): SiemBatchSource {
  return new SiemBatchSource({
    account: 'sim',
    type: opts.type ?? 'receipt',
    api,
    startFromMs: 7 * 86_400_000,
    pageSize: opts.pageSize ?? 3,
    chunkEvents: opts.chunkEvents ?? 70,
    logger: silentLogger(),
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

  it('quarantines a file that stays broken and moves on', async () => {
    const api: SiemBatchApi = {
      getJson: (p, q, s) => client.getJson(p, q, s),
      openDownload: () => Promise.reject(new ApiError('BLOB_MISSING', 'gone', 'GET blob', { status: 404 })),
    };
    const { batches } = await drain(source(api, { pageSize: 2 }), undefined, 5);
    const q = batches.flatMap((b) => b.quarantined ?? []);
    expect(q.length).toBeGreaterThan(0);
    expect(q[0]?.reason).toBe('blob_missing');
    expect(q[0]?.location).toMatch(/type=receipt,page=.*,blob=0,line=1/);
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
