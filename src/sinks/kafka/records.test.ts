// Record batches the sink writes itself are read back by the client library's own record-batch reader: keys, values,
// headers, offsets, producer id/epoch/sequence and timestamps as written, the CRC-32C right, for every compression.
import * as lib from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { StoredEvent, type OutEvent } from '../../core/contracts.js';
import { ZSTD_AVAILABLE } from './config.js';
import { batchCodec, encodeBatch, headerBlock, recordBytesAtMost, varintBytes, type BatchRecords } from './records.js';

/** Events of varied sizes (0 bytes to 20 KB, so length varints of 1–3 bytes), some with non-ASCII keys and values. */
function events(n: number): OutEvent[] {
  const block = Buffer.from('x'.repeat(50) + JSON.stringify({ ü: 'é' }).repeat(400));
  return Array.from({ length: n }, (_, i) => {
    const id = i % 7 === 3 ? `ïd-${i}-€` : `id-${i}`;
    const size = (i * 977) % 21_000;
    // Some events are a range of a larger buffer (as the journal's blocks are), some text.
    const body = i % 2 === 0 ? Buffer.from(JSON.stringify({ n: i, pad: 'y'.repeat(size) })) : JSON.stringify({ n: i, t: 'ü'.repeat(size % 300) });
    if (i % 5 === 0) return new StoredEvent(i + 1, id, 'siem', 'acme', 't', block, 'receipt', undefined, 10 + (i % 40), i % 1000);
    return new StoredEvent(i + 1, id, i % 3 === 0 ? 'audit' : 'siem', 'acme', 't', body, i % 3 === 0 ? 'audit' : 'receipt');
  });
}

const compressions = (['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const).filter((c) => c !== 'zstd' || ZSTD_AVAILABLE);

function records(all: readonly OutEvent[], idx: number[]): BatchRecords {
  const keyBytes = new Int32Array(all.length);
  all.forEach((e, i) => (keyBytes[i] = Buffer.byteLength(e.id)));
  const blocks = new Map<string, Buffer>();
  const headers = all.map((e) => {
    const k = `${e.stream}/${e.logType}`;
    let b = blocks.get(k);
    if (b === undefined) blocks.set(k, (b = headerBlock([['account', e.account], ['stream', e.stream], ['log_type', e.logType]])));
    return b;
  });
  return { events: all, idx, from: 0, to: idx.length, keyBytes, headers };
}

describe('encodeBatch', () => {
  it('varintBytes counts the zig-zag varint bytes at every boundary', () => {
    expect([0, 63, 64, 8191, 8192, 1048575, 1048576, 134217727, 134217728].map(varintBytes)).toEqual([1, 1, 2, 2, 3, 3, 4, 4, 5]);
  });

  it.each(compressions)('compression %s: the library reads back every record as written, CRC-32C checked', (compression) => {
    const all = events(300);
    // A batch of some of the events, not in their order (as a partition takes them), more than 64 (2-byte deltas).
    const idx = all.map((_, i) => i).filter((i) => i % 3 !== 1);
    idx.reverse();
    const codec = batchCodec(lib, compression);
    const stamp = { producerId: 123456789012n, producerEpoch: 3, baseSequence: 2_000_000_000, timestamp: 1_733_500_000_123 };
    const batch = encodeBatch(records(all, idx), stamp, codec);

    const read = lib.readRecordsBatch(lib.Reader.from(batch));
    expect(read.magic).toBe(2);
    expect(read.firstOffset).toBe(0n);
    expect(read.length).toBe(batch.length - 12);
    expect(read.attributes & 7).toBe(codec.bits);
    expect(read.crc).toBe(lib.jsCRC32C(batch.subarray(21)));
    expect(read.producerId).toBe(123456789012n);
    expect(read.producerEpoch).toBe(3);
    expect(read.firstSequence).toBe(2_000_000_000);
    expect(read.firstTimestamp).toBe(1_733_500_000_123n);
    expect(read.maxTimestamp).toBe(1_733_500_000_123n);
    expect(read.lastOffsetDelta).toBe(idx.length - 1);
    expect(read.records).toHaveLength(idx.length);
    read.records.forEach((r, n) => {
      const e = all[idx[n] as number] as OutEvent;
      expect(r.offsetDelta).toBe(n);
      expect(r.timestampDelta).toBe(0n);
      expect(r.key?.toString('utf8')).toBe(e.id);
      expect(r.value?.equals(e.bytes)).toBe(true);
      expect(r.headers.map(([k, v]) => [k?.toString('utf8'), v?.toString('utf8')])).toEqual([
        ['account', 'acme'],
        ['stream', e.stream],
        ['log_type', e.logType],
      ]);
    });
  });

  it('an uncompressed batch is exactly its header and records, each record within recordBytesAtMost', () => {
    const all = events(50);
    const r = records(all, all.map((_, i) => i));
    const batch = encodeBatch(r, { producerId: 1n, producerEpoch: 0, baseSequence: 0, timestamp: 0 }, batchCodec(lib, 'none'));
    const bound = all.reduce((n, e, i) => n + recordBytesAtMost(r.keyBytes[i] as number, e.size, (r.headers[i] as Buffer).length), 61);
    expect(batch.length).toBeLessThanOrEqual(bound);
    expect(bound - batch.length).toBeLessThanOrEqual(all.length * 5);
  });
});
