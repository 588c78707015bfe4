// The `streams.siem` block of an account: which SIEM types, batch or stream mode, and the per-file limits.
import { z } from 'zod';
import { durationIn, sizeIn } from '../../config/common.js';
import { CI_TYPES, SIEM_TYPES } from '../../core/contracts.js';

const siemType = z.enum([...SIEM_TYPES, ...CI_TYPES], {
  error: `expected one of: ${SIEM_TYPES.join(', ')}; or a Cloud Integrated type: ${CI_TYPES.join(', ')}`,
});

/** The SIEM stream. API 2.0: batch files (one cursor per type) or the stream endpoint; API 1.0: get-siem-logs files. */
export const siemStreamSchema = z.strictObject({
  /**
   * Which SIEM log types to collect: the ten Cloud Gateway types by default. The Cloud Integrated types (entities,
   * mailflow, urlclick; API 2.0, read from the `ci` batch endpoint) are collected only when listed.
   */
  types: z
    .array(siemType)
    .min(1)
    .refine((t) => new Set(t).size === t.length, 'a type is listed twice')
    .default([...SIEM_TYPES]),
  /** API 2.0 only: `batch` (files per type, the default) or `stream` (inline events, 24-hour look-back). */
  mode: z.enum(['batch', 'stream'], { error: 'expected batch or stream' }).default('batch'),
  /** API 2.0 only. Batch mode: files listed per page (1–100, default 100); stream mode: events per page (1–1000, default 100). */
  page_size: z.number().int().min(1).max(1000).optional(),
  /** Events per journal transaction inside a file: bounds memory and how much a restart re-reads. 1–100000, default 500. */
  chunk_events: z.number().int().min(1).max(100_000).default(500),
  /**
   * How long a SIEM file that fails to download or arrives cut is tried again (fresh URLs, backoff from 1 s to a
   * minute) before it is quarantined: transient storage and network faults are ridden out. 1m–7d, default 10m.
   */
  file_retry_span: durationIn('1m', '7d').prefault('10m'),
  /**
   * Longest single SIEM record (API 2.0: one line; API 1.0: one JSON record or key_value line), in bytes of its
   * text. A longer one is quarantined alone (`record_too_large`, with its first 4096 characters and its position)
   * without being held in memory, and the rest of the file flows. The parse workers' heap is sized from it.
   * 64KB–64MB, default 1MB (real records are a few KB).
   */
  max_record_size: sizeIn('64KB', '64MB').prefault('1MB'),
  /**
   * Most bytes read from one SIEM file once decompressed (a decompression bomb stops here). What came before is kept;
   * the rest of the file is quarantined (`file_too_large`, with where it was cut). 1MB–64GB, default 1GB.
   */
  max_file_size: sizeIn('1MB', '64GB').prefault('1GB'),
  /** API 1.0 only: the get-siem-logs file format, `json` (default) or `key_value`. */
  file_format: z.enum(['json', 'key_value'], { error: 'expected json or key_value' }).optional(),
  /** API 1.0 only: ask for zip-compressed files (default true). */
  compress: z.boolean().optional(),
});

export type SiemStreamConfig = z.output<typeof siemStreamSchema>;
