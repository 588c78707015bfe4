// Kafka record batches (v2, magic 2) written by the sink itself: each batch sized exactly, then written into one Buffer
// (no Buffer, Writer or BigInt per record), CRC-32C over it, the records section compressed where asked.
import { createRequire } from 'node:module';
import type * as KafkaLibrary from '@platformatic/kafka';
import type { OutEvent } from '../../core/contracts.js';
import type { KafkaSinkConfig } from './config.js';

/** A record batch's fixed header: baseOffset .. record count. */
export const BATCH_HEADER_BYTES = 61;
/** Where the part the CRC covers starts (attributes). */
const CRC_FROM = 21;

/** What the batch needs from the client library (loaded lazily): the CRC-32C and the compressors. */
export interface BatchCodec {
  crc32c(data: Uint8Array): number;
  /** Compresses the records section; undefined for `none`. */
  compress: ((records: Buffer) => Buffer) | undefined;
  /** The compression bits of the batch's attributes (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd). */
  bits: number;
}

/** The producer session a batch belongs to, and where its records start in the partition's sequence. */
export interface BatchStamp {
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  /** The records' timestamp, ms since the epoch (the time they are produced, as the Java client does). */
  timestamp: number;
}

/**
 * The CRC-32C the library itself uses: `@node-rs/crc32` (its optional native dependency) called on the batch's own
 * bytes — the library's wrapper copies them into a new Uint8Array first — or, where that is not installed, the
 * library's WebAssembly one.
 */
function crcOf(lib: typeof KafkaLibrary): (data: Uint8Array) => number {
  try {
    const native = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown };
    if (typeof native.crc32c === 'function') return native.crc32c as (data: Uint8Array) => number;
  } catch {
    // not installed: the library's fallback
  }
  return lib.crc32c;
}

/** The codec of a sink's batches: the library's CRC-32C and its compressor for `compression`. */
export function batchCodec(lib: typeof KafkaLibrary, compression: KafkaSinkConfig['compression']): BatchCodec {
  const crc32c = crcOf(lib);
  if (compression === 'none') return { crc32c, compress: undefined, bits: 0 };
  const algorithm = lib.compressionsAlgorithms[compression];
  return { crc32c, compress: (records) => algorithm.compressSync(records), bits: algorithm.bitmask };
}

/** Bytes of the zig-zag varint of a non-negative int `n` (zig-zag doubles it). */
export function varintBytes(n: number): number {
  const z = n * 2;
  return z < 0x80 ? 1 : z < 0x4000 ? 2 : z < 0x200000 ? 3 : z < 0x10000000 ? 4 : 5;
}

/** Writes the zig-zag varint of a non-negative int `n` at `off`; returns the offset after it. */
function writeVarint(buf: Buffer, off: number, n: number): number {
  let z = n * 2;
  while (z >= 0x80) {
    buf[off++] = (z & 0x7f) | 0x80;
    z = Math.floor(z / 128);
  }
  buf[off++] = z;
  return off;
}

/**
 * The headers of a record, as its bytes: their count, then each name and value with their zig-zag varint lengths.
 * Made once per (account, stream, log type) and copied into every record of those events.
 */
export function headerBlock(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  const parts = headers.map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  let size = varintBytes(parts.length);
  for (const [k, v] of parts) size += varintBytes(k.length) + k.length + varintBytes(v.length) + v.length;
  const out = Buffer.alloc(size);
  let off = writeVarint(out, 0, parts.length);
  for (const [k, v] of parts) {
    off = writeVarint(out, off, k.length);
    off += k.copy(out, off);
    off = writeVarint(out, off, v.length);
    off += v.copy(out, off);
  }
  return out;
}

/**
 * The most bytes an event's record takes in a batch (before compression), whatever its place in the batch: for
 * splitting a send into batches under max_message_bytes before they are written.
 */
export function recordBytesAtMost(keyBytes: number, valueBytes: number, headerBytes: number): number {
  const body = 2 + 5 + varintBytes(keyBytes) + keyBytes + varintBytes(valueBytes) + valueBytes + headerBytes;
  return varintBytes(body) + body;
}

/** The records of one batch: events[idx[from..to)], each with its key's UTF-8 length and its headers' block. */
export interface BatchRecords {
  events: readonly OutEvent[];
  idx: readonly number[];
  from: number;
  to: number;
  /** The UTF-8 length of each event's key (event.id), by position in `events`. */
  keyBytes: Int32Array;
  /** The header block of each event (see headerBlock), by position in `events`. */
  headers: readonly Buffer[];
}

/** A scratch buffer for the records section of compressed batches, grown as needed and kept between batches. */
let scratch = Buffer.allocUnsafe(0);

/** Writes the records of `r` at `off` in `buf` (it has the room: see recordsBytes); returns the offset after them. */
function writeRecords(buf: Buffer, off: number, r: BatchRecords): number {
  for (let i = r.from; i < r.to; i++) {
    const at = r.idx[i] as number;
    const e = r.events[at] as OutEvent;
    const delta = i - r.from;
    const key = r.keyBytes[at] as number;
    const headers = r.headers[at] as Buffer;
    const body = 2 + varintBytes(delta) + varintBytes(key) + key + varintBytes(e.size) + e.size + headers.length;
    off = writeVarint(buf, off, body);
    buf[off++] = 0; // attributes
    buf[off++] = 0; // timestampDelta: every record of the batch has its base timestamp
    off = writeVarint(buf, off, delta);
    off = writeVarint(buf, off, key);
    off += buf.write(e.id, off, key, 'utf8');
    off = writeVarint(buf, off, e.size);
    off += e.writeTo(buf, off);
    off += headers.copy(buf, off);
  }
  return off;
}

/** The exact bytes of the records section of `r` (uncompressed). */
function recordsBytes(r: BatchRecords): number {
  let total = 0;
  for (let i = r.from; i < r.to; i++) {
    const at = r.idx[i] as number;
    const e = r.events[at] as OutEvent;
    const key = r.keyBytes[at] as number;
    const body = 2 + varintBytes(i - r.from) + varintBytes(key) + key + varintBytes(e.size) + e.size + (r.headers[at] as Buffer).length;
    total += varintBytes(body) + body;
  }
  return total;
}

/**
 * Room for the batches of one produce request, reused request after request: the library's connection copies a
 * request into one Buffer of its own as it is handed over, so the batches need not outlive that call — and a
 * megabyte Buffer per batch made the process collect garbage for the external memory alone.
 */
export class Arena {
  private buf = Buffer.allocUnsafe(0);
  private used = 0;
  /** `n` bytes no earlier take() of this round holds. */
  take(n: number): Buffer {
    if (this.used + n > this.buf.length) {
      // A new block: the batches already taken from the old one stay valid until the round ends.
      this.buf = Buffer.allocUnsafe(Math.max(n, this.buf.length * 2, 64 * 1024));
      this.used = 0;
    }
    const out = this.buf.subarray(this.used, this.used + n);
    this.used += n;
    return out;
  }
  /** Everything taken so far is no longer needed. */
  reset(): void {
    this.used = 0;
  }
}

/**
 * One record batch holding `r`'s records, stamped with the producer session and sequence, as one Buffer ready for a
 * produce request: taken from `arena` (valid until its next reset) or, without one, a Buffer of its own. The event
 * bytes are copied into it (they belong to the journal only until the send settles).
 */
export function encodeBatch(r: BatchRecords, stamp: BatchStamp, codec: BatchCodec, arena?: Arena): Buffer {
  const size = recordsBytes(r);
  const room = (n: number): Buffer => (arena === undefined ? Buffer.allocUnsafe(n) : arena.take(n));
  let batch: Buffer;
  if (codec.compress === undefined) {
    batch = room(BATCH_HEADER_BYTES + size);
    const end = writeRecords(batch, BATCH_HEADER_BYTES, r);
    if (end !== batch.length) throw new Error(`record batch written ${end} bytes of ${batch.length}`);
  } else {
    if (scratch.length < size) scratch = Buffer.allocUnsafe(Math.max(size, scratch.length * 2));
    const end = writeRecords(scratch, 0, r);
    if (end !== size) throw new Error(`record batch written ${end} bytes of ${size}`);
    const packed = codec.compress(scratch.subarray(0, size));
    batch = room(BATCH_HEADER_BYTES + packed.length);
    packed.copy(batch, BATCH_HEADER_BYTES);
  }
  const count = r.to - r.from;
  batch.writeUInt32BE(0, 0); // baseOffset (int64 0): the broker assigns offsets
  batch.writeUInt32BE(0, 4);
  batch.writeInt32BE(batch.length - 12, 8); // batchLength: from partitionLeaderEpoch to the end
  batch.writeInt32BE(-1, 12); // partitionLeaderEpoch: set by the broker
  batch[16] = 2; // magic
  batch.writeInt16BE(codec.bits, 21); // attributes: compression; not transactional, not control, create time
  batch.writeInt32BE(count - 1, 23); // lastOffsetDelta
  const hi = Math.floor(stamp.timestamp / 0x100000000);
  const lo = stamp.timestamp - hi * 0x100000000;
  batch.writeUInt32BE(hi, 27); // baseTimestamp
  batch.writeUInt32BE(lo, 31);
  batch.writeUInt32BE(hi, 35); // maxTimestamp
  batch.writeUInt32BE(lo, 39);
  batch.writeBigInt64BE(stamp.producerId, 43);
  batch.writeInt16BE(stamp.producerEpoch, 51);
  batch.writeInt32BE(stamp.baseSequence, 53);
  batch.writeInt32BE(count, 57);
  batch.writeUInt32BE(codec.crc32c(batch.subarray(CRC_FROM)) >>> 0, 17);
  return batch;
}
