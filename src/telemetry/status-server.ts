// The HTTP endpoints for operators: /healthz (process alive), /readyz (sources and sinks working), /status (JSON), /metrics.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AccountStatus } from '../app.js';
import type { Pipeline } from '../core/pipeline.js';
import type { Journal } from '../journal/journal.js';
import type { Logger } from './logger.js';
import { redactText } from './redact.js';

/** Distinct dead-letter reasons shown per sink, newest first. */
const DEAD_LETTER_REASONS = 5;

export interface StatusServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Per account: the credential's rate-limit pause (and why) and its HTTP counters; `Collector.accountStatus`. */
export type AccountStatusSource = () => readonly AccountStatus[];

export function statusSnapshot(pipeline: Pipeline, journal: Journal, accounts: AccountStatusSource = () => []): Record<string, unknown> {
  const now = Date.now();
  const dead = new Map(journal.deadLetterSummary(DEAD_LETTER_REASONS).map((d) => [d.sink, d]));
  let deadTotal = 0;
  for (const d of dead.values()) deadTotal += d.count;
  return {
    time: new Date(now).toISOString(),
    journal: {
      ...journal.usage(),
      over_budget: journal.overBudget(),
      quarantined: journal.quarantineCount(),
      // Every sink's, those no longer configured included (`dead-letters list`).
      dead_letters: deadTotal,
      tail_cache: journal.tailCache(),
      checkpoints: journal.checkpoints(),
    },
    sources: pipeline.sources().map((s) => ({
      ...s,
      lag_ms: s.lastEventTime !== undefined ? now - Date.parse(s.lastEventTime) : undefined,
    })),
    sinks: pipeline.sinks().map((s) => ({
      ...s,
      backlog: journal.backlog(s.name).events,
      dead_letters: { count: dead.get(s.name)?.count ?? 0, reasons: dead.get(s.name)?.reasons ?? [] },
    })),
    accounts: accounts(),
  };
}

export interface StatusServerOptions {
  /** A sink whose deliveries have failed this long makes /readyz answer 503 (`http.unready_after`). */
  unreadyAfterMs?: number;
  /** Per-account API state for /status (rate-limit pauses, HTTP counters). */
  accounts?: AccountStatusSource;
  /** Answers GET /metrics (Prometheus text, `Collector.metrics.handle`); 404 when absent. */
  metrics?: (req: IncomingMessage, res: ServerResponse) => void;
}

export async function startStatusServer(listen: string, pipeline: Pipeline, journal: Journal, logger: Logger, options: StatusServerOptions = {}): Promise<StatusServer> {
  const accounts = options.accounts ?? ((): ReturnType<AccountStatusSource> => []);
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
    try {
      if (path === '/healthz') return send(200, { status: 'ok' });
      if (path === '/metrics' && options.metrics !== undefined) return options.metrics(req, res);
      if (path === '/readyz') {
        const { ready, ...detail } = pipeline.readiness(options.unreadyAfterMs);
        return send(ready ? 200 : 503, { status: ready ? 'ready' : 'degraded', ...detail });
      }
      if (path === '/status' || path === '/') return send(200, statusSnapshot(pipeline, journal, accounts));
      return send(404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/status', ...(options.metrics === undefined ? [] : ['/metrics'])] });
    } catch (err) {
      logger.error({ err: err instanceof Error ? err.message : String(err) }, 'status endpoint failed');
      return send(500, { error: 'internal error' });
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
      closing ??= new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
