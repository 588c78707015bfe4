// The one place that knows which normalizer turns which stream's raw records into output events. Kept apart from
// the source registry (registry.ts) because the parse workers load it: they need the normalizers, not the sources.
import type { NormalizedEvent, StreamName } from '../core/contracts.js';
import { isRecord } from '../core/util.js';
import { normalizeArchiveSearch } from './archive_search/normalize.js';
import { normalizeAudit } from './audit/normalize.js';
import { normalizeDlp } from './dlp/normalize.js';
import { normalizeHeldRelease } from './held_release/normalize.js';
import { normalizeSiemV2 } from './siem/normalize.js';
import { normalizeSiemV1 } from './siem/normalize-v1.js';
import { normalizeThreatIntel } from './threat_intel/normalize.js';
import { normalizeTtpAttachment } from './ttp_attachment/normalize.js';
import { normalizeTtpImpersonation } from './ttp_impersonation/normalize.js';
import { normalizeTtpUrl } from './ttp_url/normalize.js';

/** Turns one raw API record into an output event; throws CollectorError('NORMALIZE_FAILED') for unusable records. */
export type Normalizer = (record: unknown, ctx: { account: string; logType?: string }) => NormalizedEvent;

/**
 * SIEM API 2.0: the shared normalizer, which also puts the parsed form of the JSON-encoded
 * `spamProcessingDetail` under `mimecast.parsed.spam_processing_detail` (the same place the
 * 1.0 normalizer puts it), leaving the original string untouched.
 */
export const normalizeSiemV2Full: Normalizer = (record, ctx) => normalizeSiemV2(record, { account: ctx.account });

const BY_STREAM: Readonly<Record<Exclude<StreamName, 'siem'>, Normalizer>> = {
  ttp_url: normalizeTtpUrl,
  ttp_attachment: normalizeTtpAttachment,
  ttp_impersonation: normalizeTtpImpersonation,
  audit: normalizeAudit,
  dlp: normalizeDlp,
  held_release: normalizeHeldRelease,
  archive_search: normalizeArchiveSearch,
  threat_intel: normalizeThreatIntel,
};

/**
 * The normalizer for a stream. `siem` has two record generations: `v2` (default; batch/stream
 * lines) and `v1` (get-siem-logs files). Other streams ignore `variant`.
 */
export function normalizerFor(stream: StreamName, variant?: 'v1' | 'v2'): Normalizer {
  if (stream === 'siem') return variant === 'v1' ? normalizeSiemV1 : normalizeSiemV2Full;
  return BY_STREAM[stream];
}

// Keys that only one generation uses. 2.0: Kafka-style envelope and camelCase names; 1.0: the
// short MTA keys (`aCode`, `acc`, `datetime`) and their capitalised siblings.
const V2_KEYS = ['timestamp', 'accountId', '_offset', '_partition', 'aggregateId', 'processingId'] as const;
const V1_KEYS = ['datetime', 'aCode', 'acc', 'Act', 'Rcpt', 'MsgId', 'Sender', 'Recipient'] as const;

/**
 * Which SIEM record generation `record` is: `v1` for 1.0 keys (`datetime`, `aCode`, `acc`...),
 * `v2` for 2.0 keys (`timestamp`, `accountId`, `_offset`...), undefined when neither shows.
 * A record with both (never seen from the API) goes by its time key: `datetime` → v1.
 */
export function detectVariant(record: unknown): 'v1' | 'v2' | undefined {
  if (!isRecord(record)) return undefined;
  if ('datetime' in record && !('timestamp' in record)) return 'v1';
  if ('timestamp' in record && !('datetime' in record)) return 'v2';
  if ('datetime' in record) return 'v1';
  let v1 = 0;
  let v2 = 0;
  for (const k of V1_KEYS) if (k in record) v1++;
  for (const k of V2_KEYS) if (k in record) v2++;
  if (v1 === v2) return undefined;
  return v1 > v2 ? 'v1' : 'v2';
}

/**
 * A SIEM normalizer that picks the generation per record (for `normalize` on mixed input);
 * records of neither shape go to the 2.0 normalizer, whose error names what is missing.
 */
export const normalizeSiemAuto: Normalizer = (record, ctx) =>
  detectVariant(record) === 'v1' ? normalizeSiemV1(record, ctx) : normalizeSiemV2Full(record, ctx);
