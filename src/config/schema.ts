// The config schema: every key, its default and its documentation. Unknown keys are errors.
import { z } from 'zod';
import { CI_TYPES, SIEM_TYPES, STREAM_NAMES, isCiType } from '../core/contracts.js';
import { parseDuration, parseSize } from './units.js';

/** A duration in human units (`30s`, `5m`, `24h`, `7d`), parsed to milliseconds. */
const duration = z.string({ error: 'expected a duration such as 30s, 5m, 24h' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 30s, 5m, 24h, 7d)` });
    return z.NEVER;
  }
  return ms;
});

/** A size in human units (`10MB`, `512KB`; binary multiples), parsed to bytes. */
const size = z.union([z.number().int().nonnegative(), z.string()], { error: 'expected a size such as 10MB' }).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  const bytes = parseSize(v);
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a size (use e.g. 512KB, 10MB, 1GB)` });
    return z.NEVER;
  }
  return bytes;
});

const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lower-case letters, digits, "_" or "-" (it keys cursors and offsets)')
  .max(64);

const streamName = z.enum(STREAM_NAMES, { error: `expected one of: ${STREAM_NAMES.join(', ')}` });
const siemType = z.enum([...SIEM_TYPES, ...CI_TYPES], {
  error: `expected one of: ${SIEM_TYPES.join(', ')}; or a Cloud Integrated type: ${CI_TYPES.join(', ')}`,
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

/** The SIEM stream. API 2.0: batch files (one cursor per type) or the stream endpoint; API 1.0: get-siem-logs files. */
const siemStream = z.strictObject({
  /**
   * Which SIEM log types to collect: the ten Cloud Gateway types by default. The Cloud Integrated types (entities,
   * mailflow, urlclick; API 2.0, read from the `ci` batch endpoint) are collected only when listed.
   */
  types: z.array(siemType).min(1).default([...SIEM_TYPES]),
  /** API 2.0 only: `batch` (files per type, the default) or `stream` (inline events, 24-hour look-back). */
  mode: z.enum(['batch', 'stream'], { error: 'expected batch or stream' }).default('batch'),
  /** API 2.0 only. Batch mode: files listed per page (1–100, default 100); stream mode: events per page (1–1000, default 100). */
  page_size: z.number().int().min(1).max(1000).optional(),
  /** Events per journal transaction inside a file: bounds memory and how much a restart re-reads. */
  chunk_events: z.number().int().min(1).max(100_000).default(500),
  /**
   * How long a SIEM file that fails to download or arrives cut is tried again (fresh URLs, backoff from 1 s to a
   * minute) before it is quarantined: transient storage and network faults are ridden out. 1m–7d, default 10m.
   */
  file_retry_span: duration
    .prefault('10m')
    .refine((ms) => ms >= 60_000 && ms <= 7 * 86_400_000, 'file_retry_span must be between 1m and 7d'),
  /**
   * API 2.0 batch files: the longest line (one record) read, decompressed. A longer line is quarantined
   * (`record_too_large`, with its first 4 KiB and its line number) and skipped as it streams; the rest of the file
   * flows. The parse workers' heap is sized from it. 64KB–64MB, default 1MB (real records are a few KB).
   */
  max_record_size: size
    .prefault('1MB')
    .refine((b) => b >= 64 * 1024 && b <= 64 * 1024 * 1024, 'max_record_size must be between 64KB and 64MB'),
  /**
   * API 2.0 batch files: the most bytes read from one file, decompressed (a gzip bomb of newlines, a runaway
   * file). The rest is quarantined (`file_too_large`, with the line it starts at) and the stream moves on.
   * 1MB–64GB, default 1GB.
   */
  max_file_size: size
    .prefault('1GB')
    .refine((b) => b >= 1024 * 1024 && b <= 64 * 1024 ** 3, 'max_file_size must be between 1MB and 64GB'),
  /** API 1.0 only: the get-siem-logs file format, `json` (default) or `key_value`. */
  file_format: z.enum(['json', 'key_value'], { error: 'expected json or key_value' }).optional(),
  /** API 1.0 only: ask for zip-compressed files (default true). */
  compress: z.boolean().optional(),
});

/** The time-window functions (TTP, audit, DLP, held release, archive search): one cursor per stream. */
const pagedStream = z.strictObject({
  /** Each cycle re-reads this much before the last window's end, so records the API indexes late are caught. */
  overlap: duration.prefault('10m'),
  /** The newest part of the timeline left for the next cycle, so a window is only read once the API has filled it. */
  settle: duration.prefault('1m'),
  /** Records per API page (1–500). */
  page_size: z.number().int().min(1).max(500).default(500),
  /** Longest time window asked for in one paginated walk (at least 1m). */
  max_window: duration.prefault('1d').refine((ms) => ms >= 60_000, 'max_window must be at least 1m'),
});

export const THREAT_FEEDS = ['malware_customer', 'malware_grid'] as const;

const threatIntelStream = z.strictObject({
  /** Which feeds to collect: malware_customer (seen in this account) and/or malware_grid (seen across Mimecast). */
  feeds: z
    .array(z.enum(THREAT_FEEDS, { error: `expected one of: ${THREAT_FEEDS.join(', ')}` }))
    .min(1)
    .default(['malware_customer'])
    .refine((f) => new Set(f).size === f.length, 'a feed is listed twice'),
});

const streams = z.strictObject({
  siem: siemStream.optional(),
  ttp_url: pagedStream.optional(),
  ttp_attachment: pagedStream.optional(),
  ttp_impersonation: pagedStream.optional(),
  audit: pagedStream.optional(),
  dlp: pagedStream.optional(),
  held_release: pagedStream.optional(),
  archive_search: pagedStream.optional(),
  threat_intel: threatIntelStream.optional(),
});

const tls = z.strictObject({
  /** Verify the server certificate (keep on; off only for a lab). */
  verify: z.boolean().default(true),
  /** Extra CA bundle (PEM) to trust. */
  ca_file: z.string().optional(),
});

const accountCommon = {
  /** Names the tenant in cursors, metrics and `mimecast.account`. */
  name,
  /** First run only: how far back to start; clamped to what the API retains (7 days for SIEM). */
  start_from: duration.prefault('24h'),
  /** Pause between polls once a stream is caught up. */
  poll_interval: duration.prefault('60s'),
  /** Per-request timeout for API calls. */
  request_timeout: duration.prefault('60s'),
  tls: tls.prefault({}),
  streams: streams.refine((s) => Object.values(s).some((v) => v !== undefined), 'enable at least one stream, e.g. siem: {}'),
};

/** API 2.0: OAuth2 client credentials, one global host. */
const accountV2 = z
  .strictObject({
    ...accountCommon,
    api: z.literal('v2').default('v2'),
    base_url: httpUrl.default('https://api.services.mimecast.com'),
    client_id: z.string().min(1),
    /** Secret inline (prefer `client_secret_file` or `${ENV}`). */
    client_secret: z.string().min(1),
  })
  .superRefine((a, ctx) => {
    const siem = a.streams.siem;
    if (siem === undefined) return;
    for (const key of ['file_format', 'compress'] as const) {
      if (siem[key] !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['streams', 'siem', key], message: `${key} applies to API 1.0 accounts only (api: v1)` });
      }
    }
    if (siem.mode === 'batch' && siem.page_size !== undefined && siem.page_size > 100) {
      ctx.addIssue({ code: 'custom', path: ['streams', 'siem', 'page_size'], message: 'batch mode lists at most 100 files per page' });
    }
  });

/** API 1.0: HMAC-signed calls to the account's regional host (legacy keys, until Mimecast retires them). */
const accountV1 = z
  .strictObject({
    ...accountCommon,
    api: z.literal('v1'),
    /** The regional API host, e.g. https://eu-api.mimecast.com; or give discover_email to look it up at start-up. */
    base_url: httpUrl.optional(),
    /** An address in the account: its region is discovered at start-up (when base_url is absent) and named in wrong-region errors. */
    discover_email: z.email({ error: 'expected an email address in the account' }).optional(),
    /** Where discovery is asked (default https://api.mimecast.com). */
    discover_url: httpUrl.optional(),
    app_id: z.string().min(1),
    app_key: z.string().min(1),
    access_key: z.string().min(1),
    /** Base64, as issued. */
    secret_key: z.string().min(1),
  })
  .superRefine((a, ctx) => {
    if (a.base_url === undefined && a.discover_email === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['base_url'],
        message: 'API 1.0 needs the regional host (e.g. https://eu-api.mimecast.com), or discover_email to look it up',
      });
    }
    const siem = a.streams.siem;
    if (siem === undefined) return;
    if (siem.mode === 'stream') {
      ctx.addIssue({ code: 'custom', path: ['streams', 'siem', 'mode'], message: 'the stream endpoint needs API 2.0; API 1.0 accounts read get-siem-logs files (leave mode out)' });
    }
    if (siem.page_size !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['streams', 'siem', 'page_size'], message: 'page_size applies to API 2.0 only (get-siem-logs returns one file per call)' });
    }
    const ci = siem.types.filter(isCiType);
    if (ci.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['streams', 'siem', 'types'], message: `${ci.join(', ')}: Cloud Integrated logs need API 2.0 (api: v2)` });
    }
  });

const account = z.discriminatedUnion('api', [accountV2, accountV1], {
  error: 'expected "v2" (OAuth2 client credentials) or "v1" (API 1.0 HMAC keys)',
});

/** How a sink groups events into one delivery. */
const batch = z.strictObject({
  max_events: z.number().int().min(1).max(100_000).default(1000),
  max_bytes: size.prefault('4MB'),
  max_wait: duration.prefault('1s'),
});

const sinkCommon = {
  name,
  /** Streams routed to this sink; all when absent. */
  streams: z.array(streamName).min(1).optional(),
  batch: batch.prefault({}),
};

const fileSink = z.strictObject({
  ...sinkCommon,
  type: z.literal('file'),
  /** NDJSON output file; missing directories are created. */
  path: z.string().min(1),
  /** Rotate when the file would grow past this size. */
  max_size: size.prefault('100MB'),
  /** Rotated files kept (`events.ndjson.1` … `.N`). */
  max_files: z.number().int().min(0).max(1000).default(5),
  /** fsync before a batch counts as delivered. */
  fsync: z.boolean().default(true),
});

const stdoutSink = z.strictObject({
  ...sinkCommon,
  type: z.literal('stdout'),
});

const sink = z.discriminatedUnion('type', [fileSink, stdoutSink], {
  error: 'unknown sink type (this version supports: file, stdout)',
});

const journal = z.strictObject({
  /** Backpressure: sources pause while the journal holds more than this many undelivered events… */
  max_events: z.number().int().min(1000).default(1_000_000),
  /** …or more than this many bytes. */
  max_bytes: size.prefault('1GB'),
  /** How long an event.id is remembered to drop duplicates (longer than the API's 7-day retention). */
  dedup_window: duration.prefault('8d'),
});

const http = z.strictObject({
  /** host:port for /healthz, /readyz and /status. */
  listen: z.string().regex(/^[^:]*:\d+$/, 'expected host:port, e.g. 0.0.0.0:9090'),
});

export const configSchema = z
  .strictObject({
    /** Where the SQLite journal lives. */
    data_dir: z.string().min(1).default('./data'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    http: http.optional(),
    journal: journal.prefault({}),
    /** How long in-flight deliveries may take to finish on SIGTERM. */
    shutdown_timeout: duration.prefault('30s'),
    accounts: z.array(account).min(1, 'configure at least one Mimecast account'),
    sinks: z.array(sink).min(1, 'configure at least one sink'),
  })
  .superRefine((cfg, ctx) => {
    const seen = new Map<string, number>();
    cfg.accounts.forEach((a, i) => {
      const prev = seen.get(a.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['accounts', i, 'name'], message: `duplicate account name "${a.name}" (also accounts[${prev}])` });
      seen.set(a.name, i);
    });
    const sinks = new Map<string, number>();
    cfg.sinks.forEach((s, i) => {
      const prev = sinks.get(s.name);
      if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['sinks', i, 'name'], message: `duplicate sink name "${s.name}" (also sinks[${prev}])` });
      sinks.set(s.name, i);
    });
  });

export type Config = z.output<typeof configSchema>;
export type AccountConfig = Config['accounts'][number];
export type SinkConfig = Config['sinks'][number];
export type FileSinkConfig = Extract<SinkConfig, { type: 'file' }>;
export type AccountV1Config = Extract<AccountConfig, { api: 'v1' }>;
export type AccountV2Config = Extract<AccountConfig, { api: 'v2' }>;
export type StreamsConfig = AccountConfig['streams'];
export type SiemStreamConfig = z.output<typeof siemStream>;
export type PagedStreamConfig = z.output<typeof pagedStream>;
export type ThreatIntelStreamConfig = z.output<typeof threatIntelStream>;

/** Keys whose values are secrets: masked in every output, and each also accepted as `<key>_file`. */
export const SECRET_KEYS = ['client_secret', 'secret_key', 'access_key', 'app_key', 'token', 'password'] as const;
