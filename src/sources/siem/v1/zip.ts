// A small ZIP reader for SIEM 1.0 archives, spooled or in memory: central directory when intact, local headers when cut; stored and deflate.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createInflateRaw, crc32 } from 'node:zlib';
import { SiemFileError } from './records.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const EOCD_MIN = 22;
const MAX_COMMENT = 0xffff;
const FLAG_ENCRYPTED = 0x1;
const FLAG_DESCRIPTOR = 0x8;
const FLAG_UTF8 = 0x800;
/** Largest central directory read into memory; a SIEM zip holds a handful of entries (about 100 bytes each). */
const MAX_CENTRAL_DIRECTORY = 16 * 1024 * 1024;
/** Most entries a zip without ZIP64 can list; a header walk (of a cut archive) that finds more is not a real one. */
const MAX_ENTRIES = 0xffff;

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  /** Undefined when only a local header with a data descriptor told us about the entry. */
  compressedSize: number | undefined;
  size: number | undefined;
  crc32: number | undefined;
  /** Offset of the local header. */
  offset: number;
}

export interface ZipDirectory {
  entries: ZipEntry[];
  /** True when there was no central directory: the archive was cut, entries come from its local headers. */
  truncated: boolean;
  fileSize: number;
}

/**
 * Where an archive's bytes are: a spooled file (a path), or the whole reply in memory (a small one: no temp dir,
 * no file calls). Both are read through the same checks and limits.
 */
export type ZipData = string | Buffer;

/** Random access to the archive's bytes: an open file, or the buffer itself. */
type ZipReader = Buffer | FileHandle;

async function readAt(fh: ZipReader, position: number, length: number): Promise<Buffer> {
  if (Buffer.isBuffer(fh)) return fh.subarray(Math.min(position, fh.length), Math.min(position + length, fh.length));
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return bytesRead === length ? buf : buf.subarray(0, bytesRead);
}

async function openReader(data: ZipData): Promise<{ reader: ZipReader; size: number; close: () => Promise<void> }> {
  if (Buffer.isBuffer(data)) return { reader: data, size: data.length, close: () => Promise.resolve() };
  const fh = await open(data, 'r');
  try {
    const { size } = await fh.stat();
    return { reader: fh, size, close: () => fh.close() };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

function decodeName(raw: Buffer, flags: number): string {
  // Non-UTF-8 names are CP437 in the spec; SIEM entry names are ASCII, for which latin1 is exact.
  return raw.toString((flags & FLAG_UTF8) !== 0 ? 'utf8' : 'latin1');
}

async function findEocd(fh: ZipReader, size: number): Promise<Buffer | undefined> {
  if (size < EOCD_MIN) return undefined;
  const span = Math.min(size, EOCD_MIN + MAX_COMMENT);
  const tail = await readAt(fh, size - span, span);
  for (let i = tail.length - EOCD_MIN; i >= 0; i--) {
    if (tail.readUInt32LE(i) === SIG_EOCD && i + EOCD_MIN + tail.readUInt16LE(i + 20) <= tail.length) return tail.subarray(i);
  }
  return undefined;
}

async function centralEntries(fh: ZipReader, eocd: Buffer, size: number): Promise<ZipEntry[]> {
  const count = eocd.readUInt16LE(10);
  const cdSize = eocd.readUInt32LE(12);
  const cdOffset = eocd.readUInt32LE(16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw new SiemFileError('unsupported_file', 'ZIP64 archives are not supported');
  }
  if (cdOffset + cdSize > size) throw new SiemFileError('corrupt_file', 'the ZIP central directory points past the end of the file');
  if (cdSize > MAX_CENTRAL_DIRECTORY) {
    throw new SiemFileError('unsupported_file', `the ZIP central directory is ${cdSize} bytes, more than the ${MAX_CENTRAL_DIRECTORY} read into memory`);
  }
  const cd = await readAt(fh, cdOffset, cdSize);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let k = 0; k < count; k++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== SIG_CENTRAL) throw new SiemFileError('corrupt_file', `ZIP central directory entry ${k} is damaged`);
    const flags = cd.readUInt16LE(p + 8);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    const entry: ZipEntry = {
      name: decodeName(cd.subarray(p + 46, p + 46 + nameLen), flags),
      method: cd.readUInt16LE(p + 10),
      flags,
      crc32: cd.readUInt32LE(p + 16),
      compressedSize: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      offset: cd.readUInt32LE(p + 42),
    };
    if (entry.compressedSize === 0xffffffff || entry.size === 0xffffffff || entry.offset === 0xffffffff) {
      throw new SiemFileError('unsupported_file', 'ZIP64 entries are not supported');
    }
    entries.push(entry);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Entries found by walking local headers from the start; stops at the first entry whose end it cannot know. */
async function localEntries(fh: ZipReader, size: number, maxEntries: number): Promise<ZipEntry[]> {
  const entries: ZipEntry[] = [];
  let pos = 0;
  while (pos + 30 <= size) {
    if (entries.length >= maxEntries) throw new SiemFileError('unsupported_file', `the cut ZIP file holds more than ${maxEntries} local headers`);
    const h = await readAt(fh, pos, 30);
    if (h.length < 30 || h.readUInt32LE(0) !== SIG_LOCAL) break;
    const flags = h.readUInt16LE(6);
    const nameLen = h.readUInt16LE(26);
    const extraLen = h.readUInt16LE(28);
    const descriptor = (flags & FLAG_DESCRIPTOR) !== 0;
    const name = decodeName(await readAt(fh, pos + 30, nameLen), flags);
    const compressedSize = descriptor ? undefined : h.readUInt32LE(18);
    entries.push({
      name,
      method: h.readUInt16LE(8),
      flags,
      crc32: descriptor ? undefined : h.readUInt32LE(14),
      compressedSize,
      size: descriptor ? undefined : h.readUInt32LE(22),
      offset: pos,
    });
    // With a data descriptor the size follows the data; without a directory we cannot find the next header.
    if (compressedSize === undefined) break;
    pos += 30 + nameLen + extraLen + compressedSize;
  }
  return entries;
}

/** Reads the archive's table of entries. Throws SiemFileError when it is not a ZIP at all. */
export async function readZipDirectory(data: ZipData, opts: { maxEntries?: number } = {}): Promise<ZipDirectory> {
  const { reader: fh, size, close } = await openReader(data);
  try {
    const eocd = await findEocd(fh, size);
    if (eocd !== undefined) return { entries: await centralEntries(fh, eocd, size), truncated: false, fileSize: size };
    const head = await readAt(fh, 0, 4);
    if (head.length < 4 || head.readUInt32LE(0) !== SIG_LOCAL) {
      throw new SiemFileError(size === 0 ? 'truncated_file' : 'corrupt_file', size === 0 ? 'the ZIP file is empty' : 'not a ZIP file');
    }
    return { entries: await localEntries(fh, size, opts.maxEntries ?? MAX_ENTRIES), truncated: true, fileSize: size };
  } finally {
    await close();
  }
}

/** Read size of an entry's bytes from memory: as a spooled file is read, so limits stop at the same places. */
const SLICE_BYTES = 64 * 1024;

function* slices(data: Buffer, start: number, end: number): Generator<Buffer> {
  for (let p = start; p < end; p += SLICE_BYTES) yield data.subarray(p, Math.min(end, p + SLICE_BYTES));
}

/** Checks length and CRC-32 of an entry's uncompressed bytes as they pass. */
class EntryCheck extends Transform {
  #crc = 0;
  #size = 0;
  constructor(
    private readonly entry: ZipEntry,
    private readonly cut: boolean,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.#crc = crc32(chunk, this.#crc);
    this.#size += chunk.length;
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    const e = this.entry;
    if (this.cut && e.size !== undefined && this.#size < e.size) {
      cb(new SiemFileError('truncated_file', `ZIP entry ${e.name} is cut short (${this.#size} of ${e.size} bytes)`));
    } else if (e.size !== undefined && this.#size !== e.size) {
      cb(new SiemFileError('corrupt_file', `ZIP entry ${e.name} has ${this.#size} bytes, the archive says ${e.size}`));
    } else if (e.crc32 !== undefined && this.#crc >>> 0 !== e.crc32 >>> 0) {
      cb(new SiemFileError('corrupt_file', `ZIP entry ${e.name} fails its CRC-32 check`));
    } else {
      cb();
    }
  }
}

/**
 * The uncompressed bytes of one entry, streamed from the spooled file or the buffer (inflated as they are read, so a
 * bomb in memory is stopped by the reader's byte limit as one on disk is). Errors on the stream are SiemFileErrors:
 * `truncated_file` when the archive ends inside the entry, `corrupt_file` for bad deflate data, size or CRC.
 */
export async function openZipEntry(data: ZipData, entry: ZipEntry, fileSize: number): Promise<Readable> {
  if ((entry.flags & FLAG_ENCRYPTED) !== 0) throw new SiemFileError('unsupported_file', `ZIP entry ${entry.name} is encrypted`);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new SiemFileError('unsupported_file', `ZIP entry ${entry.name} uses compression method ${entry.method}; only stored and deflate are supported`);
  }
  const { reader: fh, close } = await openReader(data);
  let start: number;
  try {
    const h = await readAt(fh, entry.offset, 30);
    if (h.length < 30 || h.readUInt32LE(0) !== SIG_LOCAL) throw new SiemFileError('corrupt_file', `ZIP local header of ${entry.name} is missing`);
    // The local extra field may differ from the central one, so the data offset comes from the local header.
    start = entry.offset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
  } finally {
    await close();
  }
  const declaredEnd = entry.compressedSize === undefined ? fileSize : start + entry.compressedSize;
  const cut = declaredEnd > fileSize;
  const end = Math.min(declaredEnd, fileSize);
  if (entry.method === 0 && entry.compressedSize === undefined) {
    throw new SiemFileError('truncated_file', `ZIP entry ${entry.name} is stored with a data descriptor and the directory is missing`);
  }
  const raw =
    end <= start ? Readable.from([]) : Buffer.isBuffer(data) ? Readable.from(slices(data, start, end)) : createReadStream(data, { start, end: end - 1 });
  const check = new EntryCheck(entry, cut);
  const fail = (err: unknown): void => {
    const msg = err instanceof Error ? err.message : String(err);
    const e =
      err instanceof SiemFileError
        ? err
        : cut || /unexpected end/i.test(msg)
          ? new SiemFileError('truncated_file', `ZIP entry ${entry.name} is cut short: ${msg}`, { cause: err })
          : new SiemFileError('corrupt_file', `ZIP entry ${entry.name} is damaged: ${msg}`, { cause: err });
    check.destroy(e);
  };
  raw.on('error', fail);
  if (entry.method === 0) {
    raw.pipe(check);
  } else {
    const inflate = createInflateRaw();
    inflate.on('error', fail);
    raw.pipe(inflate).pipe(check);
    check.on('close', () => {
      inflate.destroy();
      raw.destroy();
    });
  }
  return check;
}
