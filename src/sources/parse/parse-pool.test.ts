// The parse pool: worker threads give exactly what inline parsing gives, and a dead worker is replaced.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EcsDocument } from '../../core/contracts.js';
import { severityOf } from '../../normalize/severity.js';
import { ParsePool } from './parse-pool.js';
import { SpareBuffers, frameRecords, parseAndPack, parseLines, unpackEvents, type ParseJob } from './parse-lines.js';

const WORKER = join(import.meta.dirname, '../../../dist/sources/parse/parse-worker.js');

function job(n: number): ParseJob {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const verdict = i % 7 === 0 ? { scanResult: 'Malicious' } : {};
    lines.push(JSON.stringify({ _offset: i, _partition: 1, accountId: 'C1', timestamp: 1714557600000 + i, type: 'receipt', subject: `s${i}|x`, spamProcessingDetail: '{"spf":{"allow":true}}', ...verdict }));
  }
  lines.splice(3, 0, 'not json', '', '["receipt"]');
  return { stream: 'siem', variant: 'v2', account: 'acct', lines, firstLine: 10, where: 'type=receipt,blob=0' };
}

describe('record-framed jobs (SIEM 1.0 files, API pages)', () => {
  const v1 = (i: number): Record<string, unknown> => ({ datetime: `2024-03-01T10:00:0${i}+0000`, aCode: `a${i}`, acc: 'C1', Subject: `s${i}`, Dir: 'Inbound' });

  it('records are numbered (not lines), may span lines, keep their order; bad ones are quarantined where they are', async () => {
    const texts = [JSON.stringify(v1(1)), JSON.stringify(v1(2), null, 2), 'not json', JSON.stringify(v1(3))];
    const { text, ends } = frameRecords(texts, (n) => Buffer.alloc(n));
    const j: ParseJob = { stream: 'siem', variant: 'v1', account: 'acct', logType: 'receipt', text, firstLine: 7, where: 'file=f.json', records: { ends } };
    const inline = parseLines(j);
    expect(inline.events).toHaveLength(3);
    expect(inline.quarantined).toEqual([expect.objectContaining({ reason: 'bad_json', location: 'file=f.json,record=9', raw: 'not json' })]);
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      const { text: t2, ends: e2 } = frameRecords(texts, (n) => threaded.textBuffer(n));
      const r = await threaded.run({ ...j, text: t2, records: { ends: e2 } }, true);
      expect(r.events.map((e) => e.doc)).toEqual(inline.events.map((e) => e.doc));
      expect(r.quarantined).toEqual(inline.quarantined);
    } finally {
      await threaded.close();
    }
  });

  it('a whole paged reply is parsed once where it runs: records found as the spec says, token and counts, fail[], not JSON, not a page', async () => {
    const rec = (id: string, eventTime: string): Record<string, unknown> => ({ id, auditType: 'Logon', user: 'a@corp.example', eventTime, category: 'authentication_logs' });
    const reply = { timeField: 'eventTime', from: Date.parse('2024-03-10T10:00:00Z'), to: Date.parse('2024-03-10T11:00:00Z') };
    const fail = [{ errors: [{ code: 'err_page_token_invalid', message: 'invalid', retryable: false }] }];
    const bodies = [
      { meta: { pagination: { next: 'tok2' } }, data: [rec('A1', '2024-03-10T10:30:00+0000'), 42, rec('A2', '2024-03-09T00:00:00+0000')], fail: [] },
      { meta: { status: 200 }, data: [], fail },
      '<html>  gateway   error</html>',
      { meta: {}, data: { not: 'a list' } },
    ];
    const jobOf = (b: unknown, alloc: (n: number) => Buffer): ParseJob => {
      const bytes = Buffer.from(typeof b === 'string' ? b : JSON.stringify(b));
      const text = alloc(bytes.length);
      bytes.copy(text);
      return { stream: 'audit', account: 'acct', text, firstLine: 1, where: 'stream=audit,page=1', reply };
    };
    const inline = bodies.map((b) => parseLines(jobOf(b, (n) => Buffer.alloc(n))));
    expect(inline.map((r) => r.reply)).toEqual([
      { kind: 'page', records: 3, next: 'tok2', outsideWindow: 1 },
      { kind: 'fail', fail },
      { kind: 'not_json', snippet: '<html> gateway error</html>', reason: expect.any(String) },
      { kind: 'bad', message: '"data" is not an array' },
    ]);
    expect(inline[0]?.events.map((e) => e.time)).toEqual(['2024-03-10T10:30:00.000Z', '2024-03-09T00:00:00.000Z']);
    expect(inline[0]?.quarantined).toEqual([expect.objectContaining({ reason: 'bad_record', location: 'stream=audit,page=1,record=2', raw: '42' })]);
    expect(parseLines({ ...jobOf(bodies[0], (n) => Buffer.alloc(n)), reply: { ...reply, recordsKey: 'logs' } }).reply).toEqual({ kind: 'page', records: 0, next: 'tok2', outsideWindow: 0 });
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      for (const [i, b] of bodies.entries()) {
        const heads: unknown[] = [];
        const r = await threaded.run(jobOf(b, (n) => threaded.textBuffer(n)), true, (head) => heads.push(head));
        // The page's head is told before its events, and only for a page with a next token.
        expect(heads).toEqual(i === 0 ? [inline[0]?.reply] : []);
        expect(r.reply).toEqual(inline[i]?.reply);
        expect(r.events.map((e) => [e.id, e.time, e.doc])).toEqual(inline[i]?.events.map((e) => [e.id, e.time, e.doc]));
        expect(r.quarantined).toEqual(inline[i]?.quarantined);
      }
    } finally {
      await threaded.close();
    }
  });

  it('key_value records are parsed as such, and only the records named are tagged mimecast_invalid_utf8', () => {
    const kv = (i: number): string => `datetime=2024-03-01T10:00:0${i}+0000|aCode=a${i}|acc=C1|Subject=x | y=z \uFFFD${i}`;
    const texts = [kv(1), kv(2), '|no key'];
    const { text, ends } = frameRecords(texts, (n) => Buffer.alloc(n));
    const r = parseLines({ stream: 'siem', variant: 'v1', account: 'acct', text, firstLine: 1, where: 'file=r.log', records: { ends, format: 'key_value', invalidUtf8: [1] } });
    expect(r.events).toHaveLength(2);
    const tags = r.events.map((e) => (e.doc['tags'] as string[] | undefined) ?? []);
    expect(tags[0]).not.toContain('mimecast_invalid_utf8');
    expect(tags[1]).toContain('mimecast_invalid_utf8');
    expect(r.quarantined).toEqual([expect.objectContaining({ reason: 'bad_record', location: 'file=r.log,record=3' })]);
  });
});

describe('ParsePool', () => {
  it('needs the compiled worker (npm test builds it first)', () => {
    expect(existsSync(WORKER), `${WORKER} missing: run npm run build`).toBe(true);
  });

  it('compiled, finds its worker beside itself without being told where (the daemon relies on it)', async () => {
    // The daemon never passes workerFile: a pool module and its worker compiled to different folders would
    // silently parse everything on the main thread.
    const compiled = (await import(join(import.meta.dirname, '../../../dist/sources/parse/parse-pool.js'))) as { ParsePool: typeof ParsePool };
    const pool = new compiled.ParsePool({ workers: 1 });
    try {
      expect(pool.threaded).toBe(true);
      const out = await pool.run(job(3));
      expect(out.events).toHaveLength(3);
    } finally {
      await pool.close();
    }
  });

  it('gives the same events and quarantine on a worker thread as inline', async () => {
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    const inline = new ParsePool({ workers: 0 });
    try {
      expect(threaded.threaded).toBe(true);
      expect(inline.threaded).toBe(false);
      const j = job(300);
      const [a, b] = await Promise.all([threaded.run(j), inline.run(j)]);
      expect(a.events.map((e) => [e.id, e.time, e.stream, e.account, e.json, e.severity])).toEqual(b.events.map((e) => [e.id, e.time, e.stream, e.account, e.json, e.severity]));
      // The severity crosses from the worker with the event, and is the rule's answer for its document.
      expect(a.events.every((e) => e.severity !== undefined && e.severity === severityOf(JSON.parse(e.json ?? '') as EcsDocument))).toBe(true);
      expect(new Set(a.events.map((e) => e.severity))).toEqual(new Set([3, 8]));
      expect(a.events[0]?.doc).toEqual(JSON.parse(b.events[0]?.json ?? ''));
      expect(a.quarantined).toEqual(b.quarantined);
      expect(a.quarantined.map((q) => [q.reason, q.location])).toEqual([
        ['bad_json', 'type=receipt,blob=0,line=13'],
        ['bad_record', 'type=receipt,blob=0,line=15'],
      ]);
    } finally {
      await threaded.close();
      await inline.close();
    }
  });

  it('reads a job given as UTF-8 bytes exactly like the same lines given as strings', async () => {
    const lines = [...(job(5).lines ?? []), '{"_offset":9,"_partition":1,"timestamp":1714557600000,"type":"receipt","subject":"Grüße 📧"}\r'];
    const asLines: ParseJob = { ...job(0), lines };
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      for (const text of [lines.join('\n') + '\n', lines.join('\n')]) {
        const asText: ParseJob = { stream: 'siem', variant: 'v2', account: 'acct', text: Buffer.from(text), firstLine: 10, where: 'type=receipt,blob=0' };
        const want = parseLines(asLines);
        for (const got of [parseLines(asText), await threaded.run(asText)]) {
          expect(got.events.map((e) => [e.id, e.json])).toEqual(want.events.map((e) => [e.id, e.json]));
          expect(got.quarantined).toEqual(want.quarantined);
        }
      }
      expect(parseLines({ stream: 'siem', variant: 'v2', account: 'acct', text: Buffer.alloc(0), firstLine: 1, where: 'x' })).toEqual({ events: [], quarantined: [] });
    } finally {
      await threaded.close();
    }
  });

  it('hands a whole job text over to the worker instead of copying it, and never a view into a larger buffer', async () => {
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      const lines = (job(50).lines ?? []).join('\n') + '\n';
      const asText = (text: Buffer): ParseJob => ({ stream: 'siem', variant: 'v2', account: 'acct', text, firstLine: 10, where: 'type=receipt,blob=0' });
      const want = parseLines(asText(Buffer.from(lines)));
      const whole = Buffer.allocUnsafeSlow(Buffer.byteLength(lines));
      whole.write(lines);
      const got = await threaded.run(asText(whole), true);
      expect(got.events.map((e) => [e.id, e.json])).toEqual(want.events.map((e) => [e.id, e.json]));
      expect(whole.byteLength).toBe(0); // moved: this thread no longer holds the bytes
      // A view into a larger buffer (a read chunk that holds more) is copied: the rest of it stays readable.
      const big = Buffer.from(lines + 'tail');
      const view = big.subarray(0, Buffer.byteLength(lines));
      const again = await threaded.run(asText(view), true);
      expect(again.events).toHaveLength(want.events.length);
      expect(big.toString('utf8').endsWith('tail')).toBe(true);
      // Without handOver nothing is moved.
      const kept = Buffer.allocUnsafeSlow(Buffer.byteLength(lines));
      kept.write(lines);
      await threaded.run(asText(kept));
      expect(kept.toString('utf8')).toBe(lines);
    } finally {
      await threaded.close();
    }
  });

  it('fills buffers handed back again, and never one whose events are still in use', async () => {
    const pool = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      const textOf = (n: number): string => (job(n).lines ?? []).join('\n') + '\n';
      const run = async (n: number): Promise<{ got: Awaited<ReturnType<ParsePool['run']>>; want: (string | undefined)[] }> => {
        const text = textOf(n);
        const buf = pool.textBuffer(Buffer.byteLength(text));
        buf.write(text);
        const got = await pool.run({ stream: 'siem', variant: 'v2', account: 'acct', text: buf, firstLine: 1, where: 'w' }, true);
        return { got, want: parseLines({ stream: 'siem', variant: 'v2', account: 'acct', text: Buffer.from(text), firstLine: 1, where: 'w' }).events.map((e) => e.json) };
      };

      // A document buffer handed back is filled with the next reply that fits (its size gives it away).
      const first = await run(200);
      const firstSize = first.got.block?.byteLength ?? 0;
      expect(firstSize).toBeGreaterThan(0);
      pool.recycle([first.got.block as ArrayBuffer]);
      // Handed back means gone from this thread: the events' bytes can no longer be read here.
      expect(first.got.events[0]?.bytes?.byteLength).toBe(0);
      const smaller = await run(150);
      expect(smaller.got.block?.byteLength).toBe(firstSize);
      expect(smaller.got.events.map((e) => e.json)).toEqual(smaller.want);
      // Job texts come back with the reply and serve the next job of a size that fits.
      const t1 = pool.textBuffer(1000);
      const t2 = pool.textBuffer(1000);
      expect(t1.buffer.byteLength).toBeGreaterThanOrEqual(Buffer.byteLength(textOf(150)));
      expect(t1.buffer).not.toBe(t2.buffer);

      // Many rounds: each job's events are checked after the next job ran, and only then handed back.
      let live = smaller;
      for (let i = 0; i < 40; i++) {
        const next = await run(1 + ((i * 37) % 300));
        expect(next.got.events.map((e) => e.json)).toEqual(next.want);
        expect(live.got.events.map((e) => e.json), `round ${i}`).toEqual(live.want);
        if (live.got.block !== undefined) pool.recycle([live.got.block]);
        live = next;
      }
    } finally {
      await pool.close();
    }
  });

  it('keeps at most its capacity of spare buffers, the largest ones, and none too small to be worth it', () => {
    const spares = new SpareBuffers(2, 100);
    spares.put(new ArrayBuffer(50)); // too small
    spares.put(new ArrayBuffer(0)); // detached or empty
    spares.put(new ArrayBuffer(200));
    spares.put(new ArrayBuffer(300));
    spares.put(new ArrayBuffer(150)); // full, and smaller than both kept
    spares.put(new ArrayBuffer(400)); // full: replaces the smallest (200)
    expect(spares.take(500)).toBeUndefined();
    expect(spares.take(250)?.byteLength).toBeGreaterThanOrEqual(250);
    expect(spares.take(250)?.byteLength).toBeGreaterThanOrEqual(250);
    expect(spares.take(1)).toBeUndefined();
  });

  it('counts as saturated once its workers have enough queued, and never when parsing inline', async () => {
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    const inline = new ParsePool({ workers: 0 });
    try {
      expect(threaded.saturated).toBe(false);
      const runs: Promise<unknown>[] = [];
      while (!threaded.saturated && runs.length < 100) runs.push(threaded.run(job(2000)));
      expect(runs.length).toBeGreaterThan(1);
      expect(runs.length).toBeLessThan(100);
      await Promise.all(runs);
      expect(threaded.saturated).toBe(false);
      expect(inline.saturated).toBe(false);
    } finally {
      await threaded.close();
      await inline.close();
    }
  });

  it('packs as it parses, byte for byte (multi-byte text included): past the scratch size, exact-size reuse, a reused buffer filled from the start', () => {
    // 1000 small records make ~370 KB of documents, more than the 256 KB scratch buffer starts with.
    const tiny = Array.from({ length: 1000 }, (_, i) => `{"timestamp":${1714557600000 + i},"type":"receipt","subject":"é—📧${i}"}`);
    const text = Buffer.from(tiny.join('\n') + '\n');
    const j: ParseJob = { stream: 'siem', variant: 'v2', account: 'acct', text, firstLine: 1, where: 'w' };
    const want = parseLines(j).events.map((e) => [e.id, e.time, e.json]);
    const offered: number[] = [];
    const spare = new ArrayBuffer(1 << 20);
    new Uint8Array(spare).fill(0x41);
    for (const reuse of [undefined, (n: number) => (offered.push(n), undefined), (n: number) => (offered.push(n), spare)]) {
      const { packed, quarantined } = parseAndPack(j, reuse);
      expect(quarantined).toEqual([]);
      expect(unpackEvents(packed, 'siem', 'acct').map((e) => [e.id, e.time, e.bytes?.toString('utf8')])).toEqual(want);
    }
    const total = want.reduce((n, [, , json]) => n + Buffer.byteLength(json ?? ''), 0);
    expect(total).toBeGreaterThan(256 * 1024);
    expect(offered).toEqual([total, total]);
    const last = parseAndPack(j, () => spare).packed;
    expect(last.docs.buffer).toBe(spare);
    expect(last.docs.byteOffset).toBe(0);
    expect(parseAndPack({ ...j, text: Buffer.alloc(0) }).packed.ends).toHaveLength(0);
  });

  it('fails the jobs of a worker that died as retryable, and keeps working with a new one', async () => {
    const pool = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      const pending = pool.run(job(20_000));
      const behind = pool.run(job(10));
      await pool.killOne();
      const err = await pending.catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'NORMALIZE_FAILED', retryable: true });
      // The job it was running is named as the possible cause; the one queued behind it only waited.
      expect(err).toMatchObject({ details: { workerDied: true, culprit: true } });
      expect(await behind.catch((e: unknown) => e)).toMatchObject({ code: 'NORMALIZE_FAILED', details: { workerDied: true, culprit: false } });
      const again = await pool.run(job(10));
      expect(again.events).toHaveLength(10);
    } finally {
      await pool.close();
    }
  });

  it('keeps a record with bytes that are not UTF-8 (replaced by U+FFFD) and tags it mimecast_invalid_utf8; valid text is not tagged', async () => {
    const rec = (i: number, subject: Buffer): Buffer =>
      Buffer.concat([Buffer.from(`{"_offset":${i},"_partition":1,"timestamp":${1714557600000 + i},"type":"receipt","subject":"`), subject, Buffer.from('"}\n')]);
    const text = Buffer.concat([
      rec(1, Buffer.from('plain')),
      rec(2, Buffer.from([0x47, 0xc3, 0x28, 0x21])), // a lead byte followed by one that cannot continue it
      rec(3, Buffer.from('Grüße 📧')),
      rec(4, Buffer.from([0xff, 0xfe])),
    ]);
    const j: ParseJob = { stream: 'siem', variant: 'v2', account: 'acct', text, firstLine: 1, where: 'w' };
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      for (const got of [parseLines(j), await threaded.run(j)]) {
        const docs = got.events.map((e) => e.doc);
        expect(got.quarantined).toEqual([]);
        expect(docs.map((d) => (d['email'] as { subject?: string }).subject)).toEqual(['plain', 'G\uFFFD(!', 'Grüße 📧', '\uFFFD\uFFFD']);
        expect(docs.map((d) => d['tags'])).toEqual([undefined, ['mimecast_invalid_utf8'], undefined, ['mimecast_invalid_utf8']]);
        // The rest of the document is what it would have been.
        expect({ ...docs[1], tags: undefined }).toEqual({ ...parseLines({ ...j, text: rec(2, Buffer.from('G\uFFFD(!')) }).events[0]?.doc, tags: undefined });
      }
    } finally {
      await threaded.close();
    }
  });
});
