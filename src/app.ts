// Wires a validated config into a running collector: API clients, sources, journal, sinks, pipeline.
import { readFileSync } from 'node:fs';
import type { Config } from './config/schema.js';
import type { Source } from './core/contracts.js';
import { Pipeline, type SinkBinding, type SourceBinding } from './core/pipeline.js';
import { Journal } from './journal/journal.js';
import { createHttpAgent } from './mimecast/http.js';
import { CredentialLimiter } from './mimecast/limiter.js';
import { MimecastV2Client } from './mimecast/v2client.js';
import { createSink } from './sinks/index.js';
import { SiemBatchSource } from './sources/siem/batch.js';
import type { Logger } from './telemetry/logger.js';

export interface Collector {
  readonly config: Config;
  readonly journal: Journal;
  readonly pipeline: Pipeline;
  readonly clients: ReadonlyMap<string, MimecastV2Client>;
  /** Checks every account's credentials once (fail fast at start-up). */
  verifyCredentials(signal: AbortSignal): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function buildCollector(config: Config, logger: Logger): Collector {
  const journal = Journal.open({
    dir: config.data_dir,
    maxEvents: config.journal.max_events,
    maxBytes: config.journal.max_bytes,
    dedupWindowMs: config.journal.dedup_window,
    logger: logger.child({ component: 'journal' }),
  });
  const clients = new Map<string, MimecastV2Client>();
  const sources: SourceBinding[] = [];
  const agents: { close(): Promise<void> }[] = [];
  for (const account of config.accounts) {
    const ca = account.tls.ca_file !== undefined ? readFileSync(account.tls.ca_file, 'utf8') : undefined;
    const agent = createHttpAgent({
      rejectUnauthorized: account.tls.verify,
      ...(ca !== undefined ? { ca } : {}),
      bodyTimeoutMs: account.request_timeout,
      headersTimeoutMs: account.request_timeout,
    });
    agents.push(agent);
    const client = new MimecastV2Client({
      baseUrl: account.base_url,
      clientId: account.client_id,
      clientSecret: account.client_secret,
      agent,
      limiter: new CredentialLimiter(),
      logger: logger.child({ account: account.name }),
    });
    clients.set(account.name, client);
    const siem = account.streams.siem;
    if (siem !== undefined) {
      for (const type of siem.types) {
        const source: Source = new SiemBatchSource({
          account: account.name,
          type,
          api: client,
          startFromMs: account.start_from,
          pageSize: siem.page_size,
          chunkEvents: siem.chunk_events,
          logger,
        });
        sources.push({ source, pollIntervalMs: account.poll_interval });
      }
    }
  }
  const sinks: SinkBinding[] = config.sinks.map((s) => ({ sink: createSink(s, logger), streams: s.streams, batch: s.batch }));
  const pipeline = new Pipeline({
    journal,
    sources,
    sinks,
    logger,
    shutdownTimeoutMs: config.shutdown_timeout,
    startSpreadMs: 2000,
  });
  let stopped: Promise<void> | undefined;
  return {
    config,
    journal,
    pipeline,
    clients,
    async verifyCredentials(signal) {
      for (const [name, client] of clients) {
        try {
          await client.tokens.getToken(signal);
        } catch (err) {
          logger.error({ account: name }, 'credential check failed');
          throw err;
        }
      }
    },
    start() {
      pipeline.start();
    },
    stop() {
      stopped ??= (async () => {
        await pipeline.stop();
        journal.close();
        await Promise.allSettled(agents.map((a) => a.close()));
      })();
      return stopped;
    },
  };
}
