// How long Mimecast keeps each stream's data, with our warning thresholds: the one table the status page, /status and the docs use.
import type { SourceStatus } from '../core/source-runner.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** One retention limit: which sources it applies to, Mimecast's limit, when we warn, and where the limit comes from. */
export interface RetentionLimit {
  /** Short name shown on the page and in /status. */
  readonly name: string;
  /** How long Mimecast serves the data: a cursor older than this points at data that is gone. */
  readonly retentionMs: number;
  /** Warn (amber) once the cursor is this old. */
  readonly warnMs: number;
  /** Critical (red) once the cursor is this old: act now or lose data. */
  readonly criticalMs: number;
  /** Where the limit is stated. */
  readonly source: string;
}

/**
 * The limits, most specific first. Warnings come well before the limit: a stuck stream is usually a sink or
 * credential problem someone has to fix by hand, and that takes days over a weekend, hours for the stream endpoint.
 */
export const RETENTION_LIMITS = {
  siem_stream: {
    name: 'SIEM stream endpoint (24 h)',
    retentionMs: 24 * HOUR,
    warnMs: 6 * HOUR,
    criticalMs: 12 * HOUR,
    source: 'GET /siem/v1/events/cg: start and end must be within the last 24 hours, else HTTP 400 (the Mimecast API notes, §2.5)',
  },
  siem_files: {
    name: 'SIEM files (7 days)',
    retentionMs: 7 * DAY,
    warnMs: 3 * DAY,
    criticalMs: 5 * DAY,
    source:
      'get-siem-logs: "logs available up to 7 days", "Mimecast stores them 7 days" (MC-SIEM, §3.1); batch files (/siem/v1/batch/events/cg): same 7-day look-back (§2.4)',
  },
  threat_intel: {
    name: 'threat-intel feed (7 days)',
    retentionMs: 7 * DAY,
    warnMs: 3 * DAY,
    criticalMs: 5 * DAY,
    source: 'get-feed: start/end default to the last 7 days (MC-TIFEED, §7)',
  },
  audit: {
    name: 'audit events (60 days)',
    retentionMs: 60 * DAY,
    warnMs: 14 * DAY,
    criticalMs: 30 * DAY,
    source: 'get-audit-events: "Historical lookup is restricted to last 60 days" (MC-AUDIT, §6)',
  },
  paged: {
    name: 'logs by time window (30 days)',
    retentionMs: 30 * DAY,
    warnMs: 7 * DAY,
    criticalMs: 14 * DAY,
    source: 'TTP, DLP, held-release, archive-search logs: Mimecast documents no limit; the collector asks at most 30 days back (sources/paged/specs.ts)',
  },
} as const satisfies Record<string, RetentionLimit>;

/** The limit that applies to a source, by its stream and key (`account/siem/stream...` reads the stream endpoint). */
export function retentionFor(source: Pick<SourceStatus, 'key' | 'stream'>): RetentionLimit {
  switch (source.stream) {
    case 'siem':
      return source.key.split('/')[2] === 'stream' ? RETENTION_LIMITS.siem_stream : RETENTION_LIMITS.siem_files;
    case 'threat_intel':
      return RETENTION_LIMITS.threat_intel;
    case 'audit':
      return RETENTION_LIMITS.audit;
    default:
      return RETENTION_LIMITS.paged;
  }
}

export type RetentionLevel = 'ok' | 'warn' | 'critical' | 'expired';

/** What /status says about a source's cursor against its retention. */
export interface CursorRetention {
  /** How old the data at the cursor is (ms); absent before anything is known. */
  cursor_age_ms?: number;
  /** What the age is measured from: `collected` (newest event or last caught-up time of this run) or `journal` (when the cursor was last stored). */
  cursor_age_from?: 'collected' | 'journal';
  retention: { name: string; limit_ms: number; warn_ms: number; critical_ms: number; level: RetentionLevel; source: string };
}

/**
 * The cursor's age: how far back the data the stream still has to read begins. The cursor covers at least up to
 * the newest event collected, and up to the last time the source caught up; before this run knows either, the time
 * the cursor was last stored is used (a lower bound: the cursor cannot point past the moment it was written).
 */
export function cursorRetention(s: SourceStatus, storedAt: number | undefined, now: number): CursorRetention {
  const limit = retentionFor(s);
  const newest = s.lastEventTime !== undefined ? Date.parse(s.lastEventTime) : Number.NaN;
  const collected = Math.max(Number.isFinite(newest) ? newest : 0, s.lastCaughtUpAt ?? 0);
  let age: number | undefined;
  let from: CursorRetention['cursor_age_from'];
  if (collected > 0) {
    age = Math.max(0, now - collected);
    from = 'collected';
  } else if (storedAt !== undefined) {
    age = Math.max(0, now - storedAt);
    from = 'journal';
  }
  const level: RetentionLevel =
    age === undefined || s.state === 'disabled'
      ? 'ok'
      : age >= limit.retentionMs
        ? 'expired'
        : age >= limit.criticalMs
          ? 'critical'
          : age >= limit.warnMs
            ? 'warn'
            : 'ok';
  return {
    ...(age === undefined ? {} : { cursor_age_ms: age }),
    ...(from === undefined ? {} : { cursor_age_from: from }),
    retention: { name: limit.name, limit_ms: limit.retentionMs, warn_ms: limit.warnMs, critical_ms: limit.criticalMs, level, source: limit.source },
  };
}
