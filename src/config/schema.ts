// The config schema: every key, its default and its documentation. Unknown keys are errors.
import { shardingSchema } from './sharding.js';
import { z } from 'zod';
import { SINK_SCHEMA } from '../sinks/registry.js';
import { STREAMS_SCHEMA, streamApiIssues } from '../sources/registry.js';
import { durationIn, httpUrl, name, sizeIn } from './common.js';

const tls = z.strictObject({
  /** Verify the server certificate (keep on; off only for a lab). */
  verify: z.boolean().default(true),
  /** Extra CA bundle (PEM) to trust. */
  ca_file: z.string().optional(),
});

const accountCommon = {
  /** Names the tenant in cursors, metrics and `mimecast.account`. */
  name,
  /**
   * The account `mimecast-collector api` uses when no `--profile` is given and the config holds several accounts
   * (at most one may say true). Ignored by the collector itself. Default false.
   */
  default: z.boolean().default(false),
  /**
   * First run only: how far back to start; clamped to what each stream retains (7 days for SIEM). 0s–60d (audit,
   * the longest-kept log, goes back 60 days), default 24h.
   */
  start_from: durationIn('0s', '60d').prefault('24h'),
  /** Pause between polls once a stream is caught up. 1s–1d, default 60s. */
  poll_interval: durationIn('1s', '1d').prefault('60s'),
  /** Longest silence allowed within an API call or file download (an inactivity timeout). 1s–10m, default 60s. */
  request_timeout: durationIn('1s', '10m').prefault('60s'),
  /**
   * Total time for one API call attempt, request to last byte of the reply (request_timeout only measures silence,
   * so a server sending a byte every few seconds would hold a call forever). A call past it is aborted, logged,
   * counted and retried. 10s–1h, default 2m.
   */
  call_deadline: durationIn('10s', '1h').prefault('2m'),
  /**
   * Total time for one file transfer (a SIEM batch file, an API 1.0 get-siem-logs file, a threat-intel feed), request
   * to last byte, including the time the collector takes to process what it reads. Past it the transfer is aborted,
   * logged, counted and the file retried. 1m–24h, default 30m (a 1 GB file needs ~0.6 MB/s).
   */
  download_deadline: durationIn('1m', '24h').prefault('30m'),
  tls: tls.prefault({}),
  /** Which streams to collect, each with its own block (see each source's config.ts). */
  streams: STREAMS_SCHEMA.refine((s) => Object.values(s).some((v) => v !== undefined), 'enable at least one stream, e.g. siem: {}'),
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
    for (const { path, message } of streamApiIssues('v2', a.streams)) ctx.addIssue({ code: 'custom', path: ['streams', ...path], message });
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
    for (const { path, message } of streamApiIssues('v1', a.streams)) ctx.addIssue({ code: 'custom', path: ['streams', ...path], message });
  });

const account = z.discriminatedUnion('api', [accountV2, accountV1], {
  error: 'expected "v2" (OAuth2 client credentials) or "v1" (API 1.0 HMAC keys)',
});

const journal = z.strictObject({
  /** Backpressure: a batch is journaled only if the journal then holds at most this many undelivered events… 1000–1000000000, default 1000000. */
  max_events: z.number().int().min(1000).max(1_000_000_000).default(1_000_000),
  /** …and at most this many bytes of event rows (documents + per-row overhead). 1MB–64TB, default 1GB. */
  max_bytes: sizeIn('1MB', '64TB').prefault('1GB'),
  /** How long an event.id is remembered to drop duplicates (longer than the API's 7-day retention). 1h–90d, default 8d. */
  dedup_window: durationIn('1h', '90d').prefault('8d'),
  /**
   * Event ids the dedup store keeps at most (~32 bytes each on disk, not part of max_bytes). Past it the ids with
   * the oldest event times are forgotten early: a replay of those records is delivered again (same event.id), never lost.
   * 10000–1000000000, default 10000000.
   */
  dedup_max_ids: z.number().int().min(10_000).max(1_000_000_000).default(10_000_000),
});

const http = z.strictObject({
  /** host:port for /healthz, /readyz and /status; port 0–65535 (0: any free port). */
  listen: z
    .string()
    .regex(/^[^:]*:\d{1,5}$/, 'expected host:port, e.g. 0.0.0.0:9090')
    .refine((l) => Number(l.slice(l.lastIndexOf(':') + 1)) <= 65_535, 'port must be 0-65535'),
  /** /readyz answers 503 once a sink's deliveries have failed for this long. 1s–1d, default 1m. */
  unready_after: durationIn('1s', '1d').prefault('1m'),
});

const configShape = {
    /** Where the SQLite journal lives. */
    data_dir: z.string().min(1).default('./data'),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    http: http.optional(),
    /** Split the accounts between several collectors (a StatefulSet's pods), each collecting its share: src/config/sharding.ts. */
    sharding: shardingSchema.optional(),
    journal: journal.prefault({}),
    /** How long in-flight deliveries may take to finish on SIGTERM. 1s–1h, default 30s. */
    shutdown_timeout: durationIn('1s', '1h').prefault('30s'),
    /** 1–500 Mimecast accounts. */
    accounts: z.array(account).min(1, 'configure at least one Mimecast account').max(500, 'at most 500 accounts in one collector'),
};

const MAX_SINKS = 64;

function checkNames(cfg: { accounts: readonly { name: string; default: boolean }[]; sinks: readonly { name: string }[] }, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  cfg.accounts.forEach((a, i) => {
    const prev = seen.get(a.name);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['accounts', i, 'name'], message: `duplicate account name "${a.name}" (also accounts[${prev}])` });
    seen.set(a.name, i);
  });
  const defaults = cfg.accounts.flatMap((a, i) => (a.default ? [i] : []));
  for (const i of defaults.slice(1)) {
    ctx.addIssue({ code: 'custom', path: ['accounts', i, 'default'], message: `only one account may be the default (also accounts[${defaults[0] ?? 0}])` });
  }
  const sinks = new Map<string, number>();
  cfg.sinks.forEach((s, i) => {
    const prev = sinks.get(s.name);
    if (prev !== undefined) ctx.addIssue({ code: 'custom', path: ['sinks', i, 'name'], message: `duplicate sink name "${s.name}" (also sinks[${prev}])` });
    sinks.set(s.name, i);
  });
}

/** The daemon's config: `run`, `validate`, `fetch` and the rest read this. */
export const configSchema = z
  .strictObject({
    ...configShape,
    /** 1–64 sinks. */
    sinks: z.array(SINK_SCHEMA).min(1, 'configure at least one sink').max(MAX_SINKS, `at most ${MAX_SINKS} sinks in one collector`),
  })
  .superRefine(checkNames);

/**
 * The same config as the `api` admin commands read it: they only call Mimecast, so an admin-only file may leave
 * `sinks` out (sinks given are still checked in full).
 */
export const adminConfigSchema = z
  .strictObject({
    ...configShape,
    sinks: z.array(SINK_SCHEMA).max(MAX_SINKS, `at most ${MAX_SINKS} sinks in one collector`).default([]),
  })
  .superRefine(checkNames);

export type Config = z.output<typeof configSchema>;
export type AccountConfig = Config['accounts'][number];
export type SinkConfig = Config['sinks'][number];
export type AccountV1Config = Extract<AccountConfig, { api: 'v1' }>;
export type AccountV2Config = Extract<AccountConfig, { api: 'v2' }>;
export type StreamsConfig = AccountConfig['streams'];

/** Keys whose values are secrets: masked in every output, and each also accepted as `<key>_file`. */
export const SECRET_KEYS = ['client_secret', 'secret_key', 'access_key', 'app_key', 'token', 'password', 'api_key'] as const;

/** Keys whose every value is a secret (a map such as an http sink's `headers`); `<key>_file` holds `Name: value` lines. */
export const SECRET_MAP_KEYS = ['headers'] as const;
