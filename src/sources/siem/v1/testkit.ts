// Test support for the SIEM 1.0 readers: builds ZIP archives (stored/deflate, optional data descriptors) byte by byte,
// and parses the readers' record texts as the parse worker would.
import { crc32, deflateRawSync } from 'node:zlib';
import { clip, type RecordFailure, type RecordText } from './records.js';

/** A record slot with its text parsed (what the tests compare). */
export type ParsedSlot = { ok: true; value: unknown; invalidUtf8?: true } | RecordFailure;

/** The slots of `texts` parsed by `parse`; a text it rejects becomes a `failure` slot, as on the parse worker. */
export async function* parsedSlots(texts: AsyncIterable<RecordText>, parse: (text: string) => unknown, failure: 'bad_json' | 'bad_record'): AsyncGenerator<ParsedSlot> {
  for await (const it of texts) yield parseSlot(it, parse, failure);
}

export function parseSlot(it: RecordText, parse: (text: string) => unknown, failure: 'bad_json' | 'bad_record'): ParsedSlot {
  if (!it.ok) return it;
  try {
    const value = parse(it.text);
    return it.invalidUtf8 === true ? { ok: true, value, invalidUtf8: true } : { ok: true, value };
  } catch (err) {
    return { ok: false, reason: failure, detail: err instanceof Error ? err.message : String(err), raw: clip(it.text) };
  }
}

export interface ZipInput {
  name: string;
  data: Buffer | string;
  /** Default 'deflate'. */
  method?: 'stored' | 'deflate';
  /** Write sizes and CRC in a data descriptor after the data (flag bit 3) instead of the local header. */
  descriptor?: boolean;
}

/** A ZIP archive of the given entries, the way common zip writers lay it out. */
export function buildZip(entries: readonly ZipInput[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const data = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
    const method = e.method === 'stored' ? 0 : 8;
    const body = method === 8 ? deflateRawSync(data) : data;
    const crc = crc32(data) >>> 0;
    const name = Buffer.from(e.name, 'utf8');
    const flags = 0x800 | (e.descriptor === true ? 0x8 : 0);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(flags, 6);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt32LE(e.descriptor === true ? 0 : crc, 14);
    lh.writeUInt32LE(e.descriptor === true ? 0 : body.length, 18);
    lh.writeUInt32LE(e.descriptor === true ? 0 : data.length, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(0, 28);
    const parts = [lh, name, body];
    if (e.descriptor === true) {
      const dd = Buffer.alloc(16);
      dd.writeUInt32LE(0x08074b50, 0);
      dd.writeUInt32LE(crc, 4);
      dd.writeUInt32LE(body.length, 8);
      dd.writeUInt32LE(data.length, 12);
      parts.push(dd);
    }
    const local = Buffer.concat(parts);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(flags, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(body.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(name.length, 28);
    ch.writeUInt32LE(offset, 42);
    centrals.push(Buffer.concat([ch, name]));
    locals.push(local);
    offset += local.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}
