// Tests for the ZIP reader: stored/deflate entries, data descriptors, CRC checks and cut archives.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { SiemFileError } from './records.js';
import { buildZip } from './testkit.js';
import { openZipEntry, readZipDirectory } from './zip.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'zip-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
function write(buf: Buffer): string {
  const p = path.join(dir, `z${n++}.zip`);
  fs.writeFileSync(p, buf);
  return p;
}

async function text(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readAll(p: string | Buffer): Promise<{ names: string[]; texts: string[]; truncated: boolean }> {
  const d = await readZipDirectory(p);
  const texts: string[] = [];
  for (const e of d.entries) texts.push(await text(await openZipEntry(p, e, d.fileSize)));
  return { names: d.entries.map((e) => e.name), texts, truncated: d.truncated };
}

const big = Array.from({ length: 3000 }, (_, i) => `line ${i} ${'abc'.repeat(i % 17)}`).join('\n');

describe('zip reader', () => {
  it('reads stored and deflated entries, with and without data descriptors', async () => {
    const p = write(
      buildZip([
        { name: 'receipt_20240301101500123.json', data: big },
        { name: 'process_20240301101500124.json', data: 'stored text', method: 'stored' },
        { name: 'delivery_20240301101500125.json', data: big.slice(0, 5000), descriptor: true },
      ]),
    );
    const r = await readAll(p);
    expect(r.truncated).toBe(false);
    expect(r.names).toEqual(['receipt_20240301101500123.json', 'process_20240301101500124.json', 'delivery_20240301101500125.json']);
    expect(r.texts).toEqual([big, 'stored text', big.slice(0, 5000)]);
  });

  it('detects a damaged entry by its CRC', async () => {
    const zip = buildZip([{ name: 'a.log', data: 'hello world, hello world', method: 'stored' }]);
    const at = 30 + 'a.log'.length + 3;
    zip[at] = (zip[at] ?? 0) ^ 0xff;
    const p = write(zip);
    const d = await readZipDirectory(p);
    const entry = d.entries[0];
    if (entry === undefined) throw new Error('no entry');
    await expect(text(await openZipEntry(p, entry, d.fileSize))).rejects.toMatchObject({ reason: 'corrupt_file' });
  });

  it('a cut archive falls back to local headers: complete entries read, the cut one fails as truncated', async () => {
    const zip = buildZip([
      { name: 'a_20240301101500123.json', data: 'first entry text' },
      { name: 'b_20240301101500124.json', data: big },
    ]);
    const p = write(zip.subarray(0, Math.floor(zip.length * 0.6)));
    const d = await readZipDirectory(p);
    expect(d.truncated).toBe(true);
    expect(d.entries.map((e) => e.name)).toEqual(['a_20240301101500123.json', 'b_20240301101500124.json']);
    const [a, b] = d.entries;
    if (a === undefined || b === undefined) throw new Error('entries');
    expect(await text(await openZipEntry(p, a, d.fileSize))).toBe('first entry text');
    await expect(text(await openZipEntry(p, b, d.fileSize))).rejects.toMatchObject({ reason: 'truncated_file' });
  });

  it('reads an archive held in memory as it reads the same bytes spooled: entries, cut ones, damage, limits', async () => {
    const zip = buildZip([
      { name: 'receipt_20240301101500123.json', data: big },
      { name: 'process_20240301101500124.json', data: 'stored text', method: 'stored' },
      { name: 'delivery_20240301101500125.json', data: big.slice(0, 5000), descriptor: true },
    ]);
    expect(await readAll(zip)).toEqual(await readAll(write(zip)));
    const two = buildZip([
      { name: 'a_20240301101500123.json', data: 'first entry text' },
      { name: 'b_20240301101500124.json', data: big },
    ]);
    const cut = two.subarray(0, Math.floor(two.length * 0.6));
    const d = await readZipDirectory(cut);
    expect(d).toEqual(await readZipDirectory(write(cut)));
    const [first, second] = d.entries;
    if (first === undefined || second === undefined) throw new Error('entries');
    expect(d.truncated).toBe(true);
    expect(await text(await openZipEntry(cut, first, d.fileSize))).toBe('first entry text');
    await expect(text(await openZipEntry(cut, second, d.fileSize))).rejects.toMatchObject({ reason: 'truncated_file' });
    const damaged = Buffer.from(zip);
    const at = 30 + 'receipt_20240301101500123.json'.length + 10;
    damaged[at] = (damaged[at] ?? 0) ^ 0xff;
    const dd = await readZipDirectory(damaged);
    const e0 = dd.entries[0];
    if (e0 === undefined) throw new Error('entry');
    await expect(text(await openZipEntry(damaged, e0, dd.fileSize))).rejects.toMatchObject({ reason: 'corrupt_file' });
    await expect(readZipDirectory(Buffer.from('{"type":"MTA"}'))).rejects.toMatchObject({ reason: 'corrupt_file' });
    const one = buildZip([{ name: 'a', data: '', method: 'stored' }]);
    const many = Buffer.concat(Array.from({ length: 101 }, () => one.subarray(0, 31)));
    await expect(readZipDirectory(many, { maxEntries: 100 })).rejects.toMatchObject({ reason: 'unsupported_file' });
  });

  it('something that is not a zip is corrupt_file; an empty one truncated_file', async () => {
    await expect(readZipDirectory(write(Buffer.from('{"type":"MTA"}')))).rejects.toBeInstanceOf(SiemFileError);
    await expect(readZipDirectory(write(Buffer.alloc(0)))).rejects.toMatchObject({ reason: 'truncated_file' });
  });

  it('refuses a directory or a header walk too large to hold, instead of allocating it', async () => {
    // An end record that claims a 512 MiB central directory in a file that really is that large (sparse).
    const big = write(Buffer.alloc(0));
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(1, 8);
    eocd.writeUInt16LE(1, 10);
    eocd.writeUInt32LE(512 * 1024 * 1024, 12);
    eocd.writeUInt32LE(0, 16);
    fs.truncateSync(big, 512 * 1024 * 1024);
    fs.appendFileSync(big, eocd);
    await expect(readZipDirectory(big)).rejects.toMatchObject({ reason: 'unsupported_file' });
    // A cut archive of empty stored entries, more than the walk accepts (65535 by default, 100 here).
    const one = buildZip([{ name: 'a', data: '', method: 'stored' }]);
    const local = one.subarray(0, 31);
    const many = write(Buffer.concat(Array.from({ length: 101 }, () => local)));
    await expect(readZipDirectory(many, { maxEntries: 100 })).rejects.toMatchObject({ reason: 'unsupported_file' });
    expect((await readZipDirectory(many, { maxEntries: 101 })).entries).toHaveLength(101);
  });
});
