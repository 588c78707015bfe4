// Tests for the incremental JSON SIEM file reader: structure, chunking, truncation and bad elements.
import { describe, expect, it } from 'vitest';
import { JsonRecordScanner, jsonRecordTexts } from './jsonfile.js';
import { SiemFileError } from './records.js';
import { parseSlot, parsedSlots, type ParsedSlot as RecordItem } from './testkit.js';

async function collect(chunks: readonly string[], max?: number): Promise<{ items: RecordItem[]; error?: unknown }> {
  const items: RecordItem[] = [];
  const src = (async function* () {
    for (const c of chunks) yield Buffer.from(c, 'utf8');
  })();
  try {
    for await (const r of parsedSlots(jsonRecordTexts(src, max === undefined ? {} : { maxRecordBytes: max }), JSON.parse, 'bad_json')) items.push(r);
  } catch (error) {
    return { items, error };
  }
  return { items };
}

const records = [
  { datetime: '2024-03-01T10:00:00+0100', Subject: 'braces { ] } and "quotes" \\ here', n: 1 },
  { datetime: '2024-03-01T10:00:01+0100', SpamProcessingDetail: { spf: { allow: true } }, list: [1, [2, { a: 'b' }]], Subject: null },
  { datetime: '2024-03-01T10:00:02+0100', Subject: 'ünïcødé ✓ \u2028' },
];
const file = JSON.stringify({ meta: { x: [1, { y: '}' }] }, type: 'MTA', data: records, trailer: 'ok' }, null, 1);

describe('jsonRecordTexts', () => {
  it('yields the data elements and skips the other members', async () => {
    const { items, error } = await collect([file]);
    expect(error).toBeUndefined();
    expect(items).toEqual(records.map((value) => ({ ok: true, value })));
  });

  it('is independent of chunking (every split point)', async () => {
    for (let cut = 1; cut < file.length; cut += 7) {
      const { items, error } = await collect([file.slice(0, cut), file.slice(cut)]);
      expect(error).toBeUndefined();
      expect(items).toHaveLength(3);
    }
    const scanner = new JsonRecordScanner();
    const out: RecordItem[] = [];
    for (const ch of file) out.push(...scanner.feedTexts(ch).map((t) => parseSlot(t, JSON.parse, 'bad_json')));
    scanner.end();
    expect(out).toEqual(records.map((value) => ({ ok: true, value })));
  });

  it('reads a bare top-level array and primitive elements', async () => {
    const { items } = await collect(['[{"a":1}, 2 ,"s",null]']);
    expect(items.map((i) => (i.ok ? i.value : null))).toEqual([{ a: 1 }, 2, 's', null]);
  });

  it('a cut file yields what came before, then a truncated_file error (the elastic #5053 case)', async () => {
    const cut = '{"type":"MTA","data":[{"a":1},{"b":2},{"c":';
    const { items, error } = await collect([cut]);
    expect(items).toEqual([{ ok: true, value: { a: 1 } }, { ok: true, value: { b: 2 } }]);
    expect(error).toBeInstanceOf(SiemFileError);
    expect((error as SiemFileError).reason).toBe('truncated_file');
    expect((await collect(['{"type":"MTA","data":'])).error).toMatchObject({ reason: 'truncated_file' });
    expect((await collect([''])).error).toMatchObject({ reason: 'truncated_file' });
  });

  it('a broken element is one bad record; the rest are read', async () => {
    const { items, error } = await collect(['{"data":[{"a":1},{"b":tru},{"c":3}]}']);
    expect(error).toBeUndefined();
    expect(items.map((i) => (i.ok ? i.value : i.reason))).toEqual([{ a: 1 }, 'bad_json', { c: 3 }]);
  });

  it('an over-long element is reported, not held', async () => {
    const big = JSON.stringify({ s: 'x'.repeat(10_000) });
    const text = `{"data":[{"a":1},${big},{"c":3}]}`;
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += 512) chunks.push(text.slice(i, i + 512));
    const { items } = await collect(chunks, 2000);
    expect(items.map((i) => (i.ok ? i.value : i.reason))).toEqual([{ a: 1 }, 'record_too_large', { c: 3 }]);
  });

  it('an over-long element that arrives in one piece keeps its prefix; the limit counts UTF-8 bytes', async () => {
    const big = JSON.stringify({ s: 'x'.repeat(10_000) });
    const { items } = await collect([`{"data":[{"a":1},${big},{"c":3}]}`], 2000);
    const bad = items[1];
    expect(bad?.ok).toBe(false);
    expect(bad?.ok === false ? bad.raw : '').toBe(big.slice(0, 4096));
    // 900 characters of 3 bytes each: under 2000 characters, over 2000 bytes.
    const wide = JSON.stringify({ s: '✓'.repeat(900) });
    const { items: w } = await collect([`{"data":[${wide},{"c":3}]}`], 2000);
    expect(w.map((i) => (i.ok ? i.value : i.reason))).toEqual(['record_too_large', { c: 3 }]);
  });

  it('text that is not a SIEM JSON file is corrupt_file', async () => {
    expect((await collect(['datetime=x|a=b'])).error).toMatchObject({ reason: 'corrupt_file' });
    expect((await collect(['{"data":[{"a":1}]} trailing'])).error).toMatchObject({ reason: 'corrupt_file' });
  });
});
