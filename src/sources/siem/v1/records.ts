// What the SIEM 1.0 file readers hand to the source: one record slot at a time, and the error for an unusable file.
import { CollectorError } from '../../../core/errors.js';

/** One record slot of a file. Bad slots still count, so a resume position means the same thing on every read. */
export type RecordItem =
  | { ok: true; value: unknown }
  | { ok: false; reason: string; detail: string; raw: string };

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

/** Raw text kept with a quarantined record, bounded. */
export const MAX_RAW = 4096;

export function clip(text: string): string {
  return text.length > MAX_RAW ? text.slice(0, MAX_RAW) : text;
}
