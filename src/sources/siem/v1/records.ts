// What the SIEM 1.0 file readers hand to the source: one record slot at a time, and the error for an unusable file.
import { CollectorError } from '../../../core/errors.js';

/** One record slot of a file. Bad slots still count, so a resume position means the same thing on every read. */
export type RecordItem =
  | { ok: true; value: unknown }
  | { ok: false; reason: string; detail: string; raw: string };

/** Why a whole file (or the rest of it) cannot be read: `truncated_file`, `corrupt_file`, `unsupported_file`. */
export class SiemFileError extends CollectorError {
  readonly reason: string;
  constructor(reason: string, message: string, options: { cause?: unknown } = {}) {
    super('BLOB_CORRUPT', message, { ...options, retryable: false, details: { reason } });
    this.name = 'SiemFileError';
    this.reason = reason;
  }
}

/** Raw text kept with a quarantined record, bounded. */
export const MAX_RAW = 4096;

export function clip(text: string): string {
  return text.length > MAX_RAW ? text.slice(0, MAX_RAW) : text;
}
