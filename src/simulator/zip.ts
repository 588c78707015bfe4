// A minimal single-entry ZIP writer/reader (deflate, CRC-32) for the simulator's get-siem-logs files.
import { crc32 as zlibCrc32, deflateRawSync, inflateRawSync } from 'node:zlib';

/** CRC-32 of `buf` (zlib's, as the ZIP format uses). */
export function crc32(buf: Uint8Array): number {
  return zlibCrc32(buf);
}

function dosTime(d: Date): { time: number; date: number } {
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | Math.floor(d.getUTCSeconds() / 2),
    date: ((Math.max(1980, d.getUTCFullYear()) - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

/** A ZIP archive holding one deflated entry. */
export function zipSingle(name: string, data: Buffer, mtime: Date): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const packed = deflateRawSync(data);
  const crc = crc32(data);
  const { time, date } = dosTime(mtime);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4); // version needed
  local.writeUInt16LE(0x0800, 6); // UTF-8 names
  local.writeUInt16LE(8, 8); // deflate
  local.writeUInt16LE(time, 10);
  local.writeUInt16LE(date, 12);
  local.writeUInt32LE(crc, 14);
  local.writeUInt32LE(packed.length, 18);
  local.writeUInt32LE(data.length, 22);
  local.writeUInt16LE(nameBytes.length, 26);
  local.writeUInt16LE(0, 28);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(20, 4); // made by
  central.writeUInt16LE(20, 6);
  central.writeUInt16LE(0x0800, 8);
  central.writeUInt16LE(8, 10);
  central.writeUInt16LE(time, 12);
  central.writeUInt16LE(date, 14);
  central.writeUInt32LE(crc, 16);
  central.writeUInt32LE(packed.length, 20);
  central.writeUInt32LE(data.length, 24);
  central.writeUInt16LE(nameBytes.length, 28);
  // extra, comment, disk, internal attrs, external attrs stay 0
  central.writeUInt32LE(0, 42); // local header offset
  const centralOffset = local.length + nameBytes.length + packed.length;
  const centralSize = central.length + nameBytes.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(centralOffset, 16);
  return Buffer.concat([local, nameBytes, packed, central, nameBytes, end]);
}

/** Reads the first entry via its local header; throws on anything malformed (used by tests). */
export function unzipFirst(zip: Buffer): { name: string; data: Buffer } {
  if (zip.length < 30 || zip.readUInt32LE(0) !== 0x04034b50) throw new Error('not a zip local file header');
  const method = zip.readUInt16LE(8);
  const crc = zip.readUInt32LE(14);
  const packedSize = zip.readUInt32LE(18);
  const size = zip.readUInt32LE(22);
  const nameLen = zip.readUInt16LE(26);
  const extraLen = zip.readUInt16LE(28);
  const start = 30 + nameLen + extraLen;
  if (start + packedSize > zip.length) throw new Error('zip entry truncated');
  const name = zip.subarray(30, 30 + nameLen).toString('utf8');
  const packed = zip.subarray(start, start + packedSize);
  const data = method === 8 ? inflateRawSync(packed) : Buffer.from(packed);
  if (data.length !== size || crc32(data) !== crc) throw new Error('zip entry CRC or size mismatch');
  return { name, data };
}
