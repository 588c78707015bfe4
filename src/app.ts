// Wires a validated config into a running collector: API clients, sources, journal, sinks, pipeline.
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { AccountConfig, AccountV1Config, Config } from './config/schema.js';
import type { Source } from './core/contracts.js';
import { CollectorError, describeError, isAbort, isCollectorError } from './core/errors.js';
import { Pipeline, type SinkBinding, type SourceBinding } from './core/pipeline.js';
import { Journal } from './journal/journal.js';
import { acquireDaemonLock } from './journal/lock.js';
import type { MimecastApi, RawResponse, ReplyReader } from './mimecast/api.js';
import { discoverRegion } from './mimecast/discover.js';
import { HttpStats, createHttpAgent } from './mimecast/http.js';
import { CredentialLimiter } from './mimecast/limiter.js';
import { MimecastV1Client } from './mimecast/v1client.js';
import { MimecastV2Client } from './mimecast/v2client.js';
import { formatMimecastDate } from './normalize/time.js';
import { buildSink } from './sinks/registry.js';
import { isUnavailable } from './sources/paged/shared.js';
import { PAGED_SPECS, PAGED_STREAMS } from './sources/paged/specs.js';
import { ParsePool } from './sources/parse/parse-pool.js';
import { buildStreamSources } from './sources/registry.js';
import { DEFAULT_MAX_RECORD_BYTES } from './sources/siem/batch.js';
import type { Logger } from './telemetry/logger.js';
import { collectorMetrics, NOOP_METRICS, sourceLogType, type CollectorMetrics, type Metrics, type MetricsSnapshot } from './telemetry/metrics.js';

/** What /status shows per account: the credential's rate-limit pauses and its HTTP trouble counters. */
export interface AccountStatus {
  name: string;
  api: 'v1' | 'v2';
  rate_limit: {
    /** Whether every call of this credential is being held now, and for how much longer. */
    paused: boolean;
    paused_for_ms: number;
    /** Why the current pause was asked for, e.g. `HTTP 429 X-RateLimit-Reset=1200`. */
    reason?: string;
    /** Why the last pause (current or over) was asked for. */
    last_reason?: string;
    /** Server-asked pauses so far, and the time calls spent waiting for the credential. */
    pauses: number;
    waited_ms: number;
    /** Server-given waits that were out of bounds and clamped (each logged at warn). */
    clamped: number;
  };
  http: {
    /** Calls and downloads aborted at call_deadline / download_deadline (each logged at warn, then retried). */
    deadlines_hit: number;
    /** Storage redirects followed by file downloads. */
    redirects_followed: number;
  };
  /** The start-up credential check: `unchecked` until it answered (a network failure leaves it so, with the error). */
  credentials: { state: 'accepted' | 'rejected' | 'unchecked'; error?: string };
}

/** One account's API client, whichever generation, plus its start-up check. */
export interface AccountClient {
  readonly account: AccountConfig;
  readonly api: MimecastApi;
  /** The account's rate-limit pause and HTTP counters, for /status. */
  status(): AccountStatus;
  /** Fails fast on credentials Mimecast rejects (API_AUTH_FAILED); an unlicensed product is not a credential problem. */
  verify(signal: AbortSignal): Promise<void>;
  /** Closes the client and its HTTP agent. Idempotent. */
  close(): Promise<void>;
}

/**
 * An API 1.0 client whose regional host is looked up (discover-authentication) on first use, so the collector can
 * be built synchronously and the lookup happens inside the start-up check.
 */
class DiscoveringV1Api implements MimecastApi {
  readonly generation = 'v1' as const;
  #client: Promise<MimecastV1Client> | undefined;
  #made: MimecastV1Client | undefined;
  #closed = false;

  constructor(
    private readonly account: AccountV1Config,
    private readonly shared: SharedHttp,
    private readonly logger: Logger,
  ) {}

  client(signal: AbortSignal): Promise<MimecastV1Client> {
    if (this.#closed) return Promise.reject(new CollectorError('ABORTED', 'Mimecast client is closed'));
    const email = this.account.discover_email ?? '';
    this.#client ??= discoverRegion(email, {
      appId: this.account.app_id,
      agent: this.shared.agent,
      signal,
      deadlineMs: this.account.call_deadline,
      logger: this.logger.child({ account: this.account.name }),
      stats: this.shared.stats,
      ...(this.account.discover_url === undefined ? {} : { baseUrl: this.account.discover_url }),
    }).then(
      (baseUrl) => {
        this.logger.info({ account: this.account.name, base_url: baseUrl }, 'API 1.0 region discovered');
        this.#made = newV1Client(this.account, baseUrl, this.shared, this.logger);
        return this.#made;
      },
      (err: unknown) => {
        // A failed lookup is retried by the next caller instead of being remembered.
        this.#client = undefined;
        throw err;
      },
    );
    return this.#client;
  }

  async postJson(path: string, body: unknown, signal: AbortSignal): Promise<unknown> {
    return (await this.client(signal)).postJson(path, body, signal);
  }
  async postJsonWith<T>(path: string, body: unknown, signal: AbortSignal, reader: ReplyReader<T>): Promise<T> {
    return (await this.client(signal)).postJsonWith(path, body, signal, reader);
  }
  async postRaw(path: string, body: unknown, signal: AbortSignal): Promise<RawResponse> {
    return (await this.client(signal)).postRaw(path, body, signal);
  }
  async getJson(path: string, query: Record<string, string | number | undefined>, signal: AbortSignal): Promise<unknown> {
    return (await this.client(signal)).getJson(path, query, signal);
  }
  async openDownload(url: string, signal: AbortSignal): Promise<{ body: Readable; size?: number }> {
    return (await this.client(signal)).openDownload(url, signal);
  }
  async close(): Promise<void> {
    this.#closed = true;
    await this.#made?.close();
  }
}

/** What every client of one account shares: the HTTP agent, the credential's limiter and the HTTP counters. */
interface SharedHttp {
  agent: Dispatcher;
  limiter: CredentialLimiter;
  stats: HttpStats;
}

function newV1Client(account: AccountV1Config, baseUrl: string, shared: SharedHttp, logger: Logger): MimecastV1Client {
  return new MimecastV1Client({
    baseUrl,
    appId: account.app_id,
    appKey: account.app_key,
    accessKey: account.access_key,
    secretKey: account.secret_key,
    agent: shared.agent,
    limiter: shared.limiter,
    stats: shared.stats,
    callDeadlineMs: account.call_deadline,
    downloadDeadlineMs: account.download_deadline,
    logger: logger.child({ account: account.name }),
    ...(account.discover_email === undefined ? {} : { discoveryEmail: account.discover_email }),
    ...(account.discover_url === undefined ? {} : { discoveryBaseUrl: account.discover_url }),
  });
}

/** A short window of the first configured paged stream (audit otherwise): the cheapest signed 1.0 call. */
async function verifyV1(account: AccountV1Config, api: MimecastApi, signal: AbortSignal): Promise<void> {
  const stream = PAGED_STREAMS.find((s) => account.streams[s] !== undefined) ?? 'audit';
  const spec = PAGED_SPECS[stream];
  const now = Date.now();
  const item = {
    ...spec.extra,
    [spec.window.from]: formatMimecastDate(new Date(now - 60_000)),
    [spec.window.to]: formatMimecastDate(new Date(now)),
  };
  try {
    await api.postJson(spec.path, { meta: { pagination: { pageSize: 1 } }, data: [item] }, signal);
  } catch (err) {
    // The keys were accepted; the product behind this function is simply not there (its source says so once).
    if (isUnavailable(err)) return;
    throw err;
  }
}

/** The account's client: API 2.0 (OAuth) or 1.0 (HMAC), each with its own HTTP agent and credential limiter. */
export function createAccountClient(account: AccountConfig, logger: Logger, metrics: Metrics = NOOP_METRICS): AccountClient {
  const ca = account.tls.ca_file !== undefined ? readFileSync(account.tls.ca_file, 'utf8') : undefined;
  const agent = createHttpAgent({
    rejectUnauthorized: account.tls.verify,
    ...(ca !== undefined ? { ca } : {}),
    bodyTimeoutMs: account.request_timeout,
    headersTimeoutMs: account.request_timeout,
  });
  const shared: SharedHttp = { agent, limiter: new CredentialLimiter(), stats: new HttpStats(metrics.api(account.name)) };
  let api: MimecastApi;
  let verify: (signal: AbortSignal) => Promise<void>;
  if (account.api === 'v2') {
    const client = new MimecastV2Client({
      baseUrl: account.base_url,
      clientId: account.client_id,
      clientSecret: account.client_secret,
      agent,
      limiter: shared.limiter,
      stats: shared.stats,
      callDeadlineMs: account.call_deadline,
      downloadDeadlineMs: account.download_deadline,
      logger: logger.child({ account: account.name }),
    });
    api = client;
    verify = async (signal) => {
      await client.tokens.getToken(signal);
    };
  } else {
    api = account.base_url !== undefined ? newV1Client(account, account.base_url, shared, logger) : new DiscoveringV1Api(account, shared, logger);
    const v1 = api;
    verify = (signal) => verifyV1(account, v1, signal);
  }
  let closing: Promise<void> | undefined;
  let credentials: AccountStatus['credentials'] = { state: 'unchecked' };
  return {
    account,
    api,
    async verify(signal) {
      try {
        await verify(signal);
        credentials = { state: 'accepted' };
      } catch (err) {
        if (!isAbort(err, signal)) {
          const refused = isCollectorError(err) && (err.code === 'API_AUTH_FAILED' || err.code === 'API_PERMISSION_DENIED');
          credentials = { state: refused ? 'rejected' : 'unchecked', error: describeError(err) };
        }
        throw err;
      }
    },
    status() {
      const l = shared.limiter.stats();
      const h = shared.stats.snapshot();
      return {
        name: account.name,
        api: account.api,
        rate_limit: {
          paused: l.paused,
          paused_for_ms: l.pausedForMs,
          ...(l.reason === undefined ? {} : { reason: l.reason }),
          ...(l.lastReason === undefined ? {} : { last_reason: l.lastReason }),
          pauses: l.pauses,
          waited_ms: l.waitedMs,
          clamped: h.waits_clamped,
        },
        http: { deadlines_hit: h.deadlines_hit, redirects_followed: h.redirects_followed },
        credentials,
      };
    },
    close() {
      closing ??= (async () => {
        await api.close();
        shared.limiter.close();
        // Whoever called has stopped by now. A request still in flight is one no caller waits for any more (the
        // shared OAuth token request, which callers only race, hanging on a silent server): close() would wait
        // for it up to call_deadline, so a stop during a hung credential check took minutes. End it instead.
        await agent.destroy();
      })();
      return closing;
    },
  };
}

/** Overrides for one-shot use (`fetch`): a fixed "now", a start, and no settle delay. */
export interface SourceOverrides {
  now?: () => number;
  startFromMs?: number;
  settleMs?: number;
  /** Worker threads that parse and normalize SIEM files; inline when absent. */
  pool?: ParsePool;
}

/** Every source the account's config asks for, in a stable order (the source registry's). */
export function buildSources(account: AccountConfig, api: MimecastApi, logger: Logger, overrides: SourceOverrides = {}): Source[] {
  return buildStreamSources({ name: account.name, api: account.api }, account.streams, api, {
    logger,
    startFromMs: overrides.startFromMs ?? account.start_from,
    ...(overrides.now === undefined ? {} : { now: overrides.now }),
    ...(overrides.settleMs === undefined ? {} : { settleMs: overrides.settleMs }),
    ...(overrides.pool === undefined ? {} : { pool: overrides.pool }),
  });
}

export interface Collector {
  readonly config: Config;
  readonly journal: Journal;
  readonly pipeline: Pipeline;
  readonly clients: ReadonlyMap<string, AccountClient>;
  /** The collector's instruments and their Prometheus exposition (GET /metrics). */
  readonly metrics: CollectorMetrics;
  /** Per account: rate-limit pause and HTTP counters (for /status). */
  accountStatus(): AccountStatus[];
  /** Checks every account's credentials once (fail fast at start-up); API 1.0 regions are discovered here. */
  verifyCredentials(signal: AbortSignal): Promise<void>;
  /** Starts delivering the journal's backlog to the sinks; start() starts the sources too. */
  startSinks(): void;
  start(): void;
  stop(): Promise<void>;
}

export interface CollectorHooks {
  /** A sink stopped for a configuration problem (at its start-up check or later). */
  onSinkStopped?: (sink: string, message: string) => void;
  /** The command building the collector, written into the journal's lock for `checkpoints` to name (default `run`). */
  command?: string;
}

export function buildCollector(config: Config, logger: Logger, hooks: CollectorHooks = {}): Collector {
  // One collector per journal: a second one would read the same cursors and deliver everything twice, and the
  // `checkpoints` commands that move cursors refuse while this lock is held (src/journal/lock.ts).
  const lock = acquireDaemonLock(config.data_dir, { command: hooks.command ?? 'run', ...(config.http === undefined ? {} : { http: config.http.listen }) });
  let journal: Journal;
  try {
    journal = Journal.open({
      dir: config.data_dir,
      maxEvents: config.journal.max_events,
      maxBytes: config.journal.max_bytes,
      dedupWindowMs: config.journal.dedup_window,
      dedupMaxIds: config.journal.dedup_max_ids,
      logger: logger.child({ component: 'journal' }),
    });
  } catch (err) {
    lock.release();
    throw err;
  }
  const startedAt = Date.now();
  const metrics = collectorMetrics();
  const clients = new Map<string, AccountClient>();
  const sources: SourceBinding[] = [];
  // Parsing and normalization run on worker threads, so the main thread is free for the journal and the sinks.
  // Its workers' heap must hold the largest record any account lets through.
  const pool = new ParsePool({ maxRecordBytes: Math.max(DEFAULT_MAX_RECORD_BYTES, ...config.accounts.map((a) => a.streams.siem?.max_record_size ?? 0)) });
  try {
    for (const account of config.accounts) {
      const client = createAccountClient(account, logger, metrics.metrics);
      clients.set(account.name, client);
      for (const source of buildSources(account, client.api, logger, { pool })) sources.push({ source, pollIntervalMs: account.poll_interval });
    }
  } catch (err) {
    void Promise.allSettled([...clients.values()].map((c) => c.close()));
    void pool.close();
    void metrics.close();
    journal.close();
    lock.release();
    throw err;
  }
  const sinks: SinkBinding[] = config.sinks.map((s) => buildSink(s, logger));
  const pipeline = new Pipeline({
    journal,
    sources,
    sinks,
    logger,
    shutdownTimeoutMs: config.shutdown_timeout,
    startSpreadMs: 2000,
    metrics: metrics.metrics,
    ...(hooks.onSinkStopped === undefined ? {} : { onSinkStopped: hooks.onSinkStopped }),
  });
  metrics.metrics.observe(() => metricsSnapshot(pipeline, journal, clients, startedAt));
  let stopped: Promise<void> | undefined;
  return {
    config,
    journal,
    pipeline,
    clients,
    metrics,
    accountStatus() {
      return [...clients.values()].map((c) => c.status());
    },
    async verifyCredentials(signal) {
      for (const [name, client] of clients) {
        try {
          await client.verify(signal);
        } catch (err) {
          if (!isAbort(err, signal)) logger.error({ account: name, api: client.account.api, err: describeError(err) }, 'credential check failed');
          // So the one-line message on stderr can say which account it is about.
          if (err instanceof CollectorError) err.details['account'] ??= name;
          throw err;
        }
      }
    },
    startSinks() {
      pipeline.startSinks();
    },
    start() {
      pipeline.start();
    },
    stop() {
      stopped ??= (async () => {
        await pipeline.stop();
        journal.close();
        await Promise.allSettled([...clients.values()].map((c) => c.close()));
        await pool.close();
        await metrics.close();
        lock.release();
      })();
      return stopped;
    },
  };
}

/** What the metrics' gauges read at a scrape: sources' lag and cursor age, sinks' backlog, the journal's use. */
function metricsSnapshot(pipeline: Pipeline, journal: Journal, clients: ReadonlyMap<string, AccountClient>, startedAt: number): MetricsSnapshot {
  const now = Date.now();
  // A scrape while the collector stops (journal closed) or while the journal fails still answers, without the series
  // read from the journal: the failure itself is logged where it happens.
  let open = journal.isOpen();
  let committed = new Map<string, number>();
  let dead = new Map<string, number>();
  let quarantined: number | undefined;
  try {
    if (open) {
      committed = new Map(journal.listCursors().map((c) => [c.key, c.updatedAt]));
      dead = new Map(journal.deadLetterSummary(0).map((d) => [d.sink, d.count]));
      quarantined = journal.quarantineCount();
    }
  } catch {
    open = false;
  }
  const usage = journal.usage();
  return {
    now,
    startedAt,
    sources: pipeline.sources().map((s) => {
      const newest = s.lastEventTime === undefined ? Number.NaN : Date.parse(s.lastEventTime);
      return {
        account: s.account,
        stream: s.stream,
        logType: sourceLogType(s.key, s.account, s.stream),
        newestEventAt: Number.isNaN(newest) ? undefined : newest,
        cursorAt: s.lastCaughtUpAt ?? committed.get(s.key),
        consecutiveFailures: s.consecutiveFailures,
      };
    }),
    sinks: pipeline.sinks().map((k) => ({
      name: k.name,
      backlog: open ? backlogOf(journal, k.name) : undefined,
      inFlight: k.inFlight,
      lastDeliveryAt: k.lastDeliveryAt,
      failing: k.state === 'failed' || k.failingSince !== undefined,
      deadLetters: open ? (dead.get(k.name) ?? 0) : undefined,
    })),
    accounts: [...clients.values()].map((c) => {
      const st = c.status();
      return { name: st.name, pauses: st.rate_limit.pauses, waitedMs: st.rate_limit.waited_ms };
    }),
    journal: { events: usage.events, bytes: usage.bytes, maxEvents: usage.max_events, maxBytes: usage.max_bytes, quarantined },
  };
}

function backlogOf(journal: Journal, sink: string): number | undefined {
  try {
    return journal.backlog(sink).events;
  } catch {
    return undefined;
  }
}
