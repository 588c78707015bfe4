// The HTTP endpoints for operators: /healthz (loop alive, journal writable), /readyz (config, credentials, sinks), /status (JSON), / (the page), /metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AccountStatus } from '../app.js';
import { DEFAULT_UNREADY_AFTER_MS, type Pipeline, type Readiness } from '../core/pipeline.js';
import type { Journal } from '../journal/journal.js';
import { accountCredentials, checkJournalWritable, LoopMonitor, readyChecks, sourceHealth, type CredentialState, type ReadyCheck } from './health.js';
import { StatusHistory } from './history.js';
import type { Logger } from './logger.js';
import { redactText } from './redact.js';
import { cursorRetention } from './retention.js';
import { STATUS_PAGE_HTML } from './status-page.js';

/** Distinct dead-letter reasons shown per sink, newest first. */
const DEAD_LETTER_REASONS = 5;
/** Newest quarantine entries shown (reason, source, where). */
const QUARANTINE_LATEST = 5;

export interface StatusServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Per account: the credential's rate-limit pause (and why) and its HTTP counters; `Collector.accountStatus`. */
export type AccountStatusSource = () => readonly AccountStatus[];

/** What /status adds when the server has it: the charts' history, and `http.unready_after` for its `ready` block. */
export interface SnapshotExtras {
  history?: StatusHistory;
  unreadyAfterMs?: number;
}

export function statusSnapshot(pipeline: Pipeline, journal: Journal, accounts: AccountStatusSource = () => [], extras: SnapshotExtras = {}): Record<string, unknown> {
  const now = Date.now();
  const dead = new Map(journal.deadLetterSummary(DEAD_LETTER_REASONS).map((d) => [d.sink, d]));
  let deadTotal = 0;
  for (const d of dead.values()) deadTotal += d.count;
  const sources = pipeline.sources();
  const stored = new Map(journal.listCursors().map((c) => [c.key, c.updatedAt]));
  const accountList = accounts().map((a) => ({ ...a, credentials: accountCredentials(a, sources) }));
  const credentialsOf = new Map<string, CredentialState>(accountList.map((a) => [a.name, a.credentials.state]));
  const [, ready] = readyz(pipeline, accounts, extras.unreadyAfterMs ?? DEFAULT_UNREADY_AFTER_MS);
  return {
    time: new Date(now).toISOString(),
    // The /readyz answer, so the page and the `status` command show what the probe sees.
    ready,
    journal: {
      ...journal.usage(),
      over_budget: journal.overBudget(),
      quarantined: journal.quarantineCount(),
      quarantine_latest: journal.quarantine(QUARANTINE_LATEST).map((q) => ({ key: q.key, reason: q.reason, detail: q.detail, location: q.location, at: q.at })),
      // Every sink's, those no longer configured included (`dead-letters list`).
      dead_letters: deadTotal,
      tail_cache: journal.tailCache(),
      checkpoints: journal.checkpoints(),
    },
    sources: sources.map((s) => ({
      ...s,
      ...sourceHealth(s, credentialsOf.get(s.account) ?? 'unchecked'),
      lag_ms: s.lastEventTime !== undefined ? now - Date.parse(s.lastEventTime) : undefined,
      ...cursorRetention(s, stored.get(s.key), now),
    })),
    sinks: pipeline.sinks().map((s) => ({
      ...s,
      backlog: journal.backlog(s.name).events,
      dead_letters: { count: dead.get(s.name)?.count ?? 0, reasons: dead.get(s.name)?.reasons ?? [] },
    })),
    accounts: accountList,
    ...(extras.history === undefined ? {} : { history: extras.history.snapshot() }),
  };
}

/** The status page's chart history, sampled from the pipeline and the journal. */
export function pipelineHistory(pipeline: Pipeline, journal: Journal, opts: { intervalMs?: number; capacity?: number } = {}): StatusHistory {
  return new StatusHistory({
    ...opts,
    read: () => {
      const now = Date.now();
      return {
        sources: pipeline.sources().map((s) => ({ key: s.key, events: s.events, lag_ms: s.lastEventTime !== undefined ? now - Date.parse(s.lastEventTime) : undefined })),
        sinks: pipeline.sinks().map((s) => ({ name: s.name, backlog: journal.backlog(s.name).events, delivered: s.delivered })),
      };
    },
  });
}

export interface StatusServerOptions {
  /** A sink whose deliveries have failed this long makes /readyz answer 503 (`http.unready_after`). */
  unreadyAfterMs?: number;
  /** Per-account API state for /status (rate-limit pauses, HTTP counters, credentials). */
  accounts?: AccountStatusSource;
  /** The charts' sampling (default one a minute, 240 kept); tests sample faster. */
  history?: { intervalMs?: number; capacity?: number };
  /** The event-loop monitor's limits (defaults in health.ts); tests use shorter ones. */
  loop?: { intervalMs?: number; limitMs?: number; windowMs?: number };
  /** Answers GET /metrics (Prometheus text, `Collector.metrics.handle`); 404 when absent. */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

export async function startStatusServer(listen: string, pipeline: Pipeline, journal: Journal, logger: Logger, options: StatusServerOptions = {}): Promise<StatusServer> {
  const accounts = options.accounts ?? ((): ReturnType<AccountStatusSource> => []);
  const history = pipelineHistory(pipeline, journal, options.history);
  history.start();
  const loop = new LoopMonitor(options.loop);
  loop.start();
  const unreadyAfter = options.unreadyAfterMs ?? DEFAULT_UNREADY_AFTER_MS;
  const idx = listen.lastIndexOf(':');
  const host = listen.slice(0, idx) || '0.0.0.0';
  const port = Number(listen.slice(idx + 1));
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: unknown): void => {
      // lastError texts come from API replies, which may quote the request (and so a configured secret).
      const text = redactText(JSON.stringify(body, null, 2));
      res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const failed = (err: unknown): void => {
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'status endpoint failed');
      send(500, { error: 'internal error' });
    };
    try {
      if (path === '/healthz') {
        void healthz(loop, journal).then((h) => send(h.status === 'ok' ? 200 : 503, h), failed);
        return;
      }
      if (path === '/metrics' && options.metrics !== undefined) return options.metrics(req, res);
      if (path === '/readyz') return send(...readyz(pipeline, accounts, unreadyAfter));
      if (path === '/status') return send(200, statusSnapshot(pipeline, journal, accounts, { history, unreadyAfterMs: unreadyAfter }));
      if (path === '/') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(STATUS_PAGE_HTML), 'cache-control': 'no-store' });
        return res.end(STATUS_PAGE_HTML);
      }
      return send(404, { error: 'not found', endpoints: ['/', '/healthz', '/readyz', '/status', ...(options.metrics === undefined ? [] : ['/metrics'])] });
    } catch (err) {
      return failed(err);
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const boundPort = addr !== null && typeof addr === 'object' ? addr.port : port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${boundPort}`,
    close() {
      history.stop();
      loop.stop();
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

/** /healthz: the event loop is not stuck and the journal's directory takes a write; the failing check named. */
async function healthz(loop: LoopMonitor, journal: Journal): Promise<{ status: 'ok' | 'failing'; checks: Record<string, { ok: boolean; detail: string }>; failing: string[] }> {
  const checks = { event_loop: loop.check(), journal: await checkJournalWritable(journal.file) };
  const failing = Object.values(checks).filter((c) => !c.ok).map((c) => c.detail);
  return { status: failing.length === 0 ? 'ok' : 'failing', checks, failing };
}

/** The /readyz body (also `ready` in /status). */
export type ReadyBody = { status: 'ready' | 'degraded'; failing: string[]; checks: ReadyCheck[] } & Omit<Readiness, 'ready'>;

/** /readyz: the pipeline's readiness plus one check per item (config, each account's credentials, each sink). */
function readyz(pipeline: Pipeline, accounts: AccountStatusSource, unreadyAfterMs: number): [number, ReadyBody] {
  const readiness = pipeline.readiness(unreadyAfterMs);
  const checks = readyChecks(readiness, pipeline.sinks(), accounts(), pipeline.sources(), unreadyAfterMs);
  const failing = checks.filter((c) => !c.ok).map((c) => `${c.item}: ${c.detail}`);
  const { ready: pipelineReady, ...detail } = readiness;
  const ready = pipelineReady && failing.length === 0;
  return [ready ? 200 : 503, { status: ready ? 'ready' : 'degraded', failing, checks, ...detail }];
}
