// What the SIEM 1.0 file readers hand to the source: one record slot at a time, and the error for an unusable file.
import { isAscii } from 'node:buffer';
import { StringDecoder } from 'node:string_decoder';
import { MAX_RAW } from '../../../core/contracts.js';
import { CollectorError } from '../../../core/errors.js';

/** A record slot that cannot be used, found while cutting the file into records. */
export interface RecordFailure {
  ok: false;
  reason: string;
  detail: string;
  raw: string;
}

/**
 * One record slot of a file, before its text is parsed (the parse worker parses it): a JSON text, or a key_value
 * record line. Bad slots still count, so a resume position means the same thing on every read.
 */
export type RecordText = { ok: true; text: string; invalidUtf8?: true } | RecordFailure;

/**
 * Why a whole file (or the rest of it) cannot be read. `truncated_file` and `corrupt_file` may be a fault on the way
 * (a proxy, a cut connection), so they are `retryable`: the file is requested again. `unsupported_file` (ZIP64,
 * encryption, a zip in the zip) and `file_too_large` (over a configured limit) are the same on every download.
 */
export type SiemFileReason = 'truncated_file' | 'corrupt_file' | 'unsupported_file' | 'file_too_large';

export class SiemFileError extends CollectorError {
  readonly reason: SiemFileReason;
  constructor(reason: SiemFileReason, message: string, options: { cause?: unknown } = {}) {
    super('BLOB_CORRUPT', message, { ...options, retryable: reason === 'truncated_file' || reason === 'corrupt_file', details: { reason } });
    this.name = 'SiemFileError';
    this.reason = reason;
  }
}

/** Default longest record (UTF-8 bytes of its text); a longer one is quarantined alone, with a prefix. */
export const DEFAULT_MAX_RECORD_BYTES = 1024 * 1024;

export { MAX_RAW };

export function clip(text: string): string {
  return text.length > MAX_RAW ? text.slice(0, MAX_RAW) : text;
}

const REPLACEMENT_BYTES = Buffer.from('\uFFFD', 'utf8');

function count(text: string, ch: string): number {
  let n = 0;
  for (let i = text.indexOf(ch); i >= 0; i = text.indexOf(ch, i + 1)) n++;
  return n;
}

/**
 * A UTF-8 decoder for a file read in chunks that notices when bytes were not UTF-8 (more U+FFFD came out than the
 * bytes spelled). A record whose text holds U+FFFD from such a file is then tagged: a U+FFFD the file itself spelt
 * elsewhere in it is, rarely, tagged too. An ASCII chunk costs one check.
 */
export class Utf8Decoder {
  private readonly decoder = new StringDecoder('utf8');
  /** Some bytes of this file so far were not UTF-8. */
  invalid = false;

  write(chunk: Buffer): string {
    const text = this.decoder.write(chunk);
    if (!this.invalid && !isAscii(chunk) && count(text, '\uFFFD') > countBytes(chunk)) this.invalid = true;
    return text;
  }

  end(): string {
    const text = this.decoder.end();
    if (text.includes('\uFFFD')) this.invalid = true;
    return text;
  }

  /** True when a record with this text should carry the invalid-UTF-8 tag. */
  replaced(text: string): boolean {
    return this.invalid && text.includes('\uFFFD');
  }
}

function countBytes(chunk: Buffer): number {
  let n = 0;
  for (let i = chunk.indexOf(REPLACEMENT_BYTES); i >= 0; i = chunk.indexOf(REPLACEMENT_BYTES, i + 1)) n++;
  return n;
}
