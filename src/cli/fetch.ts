// `fetch STREAM --since T`: a one-shot pull printed to stdout — no journal, no checkpoint, the daemon's cursors untouched.
import type { Writable } from 'node:stream';
import type { MimecastApi } from '../mimecast/api.js';
import { buildSources, createAccountClient, type AccountClient } from '../app.js';
import { loadConfig } from '../config/load.js';
import type { AccountConfig, Config } from '../config/schema.js';
import { parseDuration } from '../config/units.js';
import { SIEM_TYPES, STREAM_NAMES, type NormalizedEvent, type StreamName } from '../core/contracts.js';
import { ConfigError, describeError, isAbort, isCollectorError } from '../core/errors.js';
import { DEFAULT_FILE_RETRY_SPAN_MS } from '../core/retry.js';
import { sleep } from '../core/util.js';
import { pick, text } from '../normalize/ecs.js';
import { parseTime } from '../normalize/time.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { println, type CommandIo } from './io.js';
import { printConfigError } from './validate.js';

export const FETCH_OUTPUTS = ['ndjson', 'json', 'table'] as const;
export type FetchOutput = (typeof FETCH_OUTPUTS)[number];

export interface FetchOptions {
  stream: string;
  config: string;
  account?: string;
  since: string;
  until?: string;
  output: string;
}

/** `24h` (that long before now) or an ISO 8601 time → epoch ms. */
export function parseWhen(value: string, now: number): number | undefined {
  const d = parseDuration(value.trim());
  if (d !== undefined) return now - d;
  if (!/^\d{4}-\d{2}-\d{2}/.test(value.trim())) return undefined;
  return parseTime(value)?.getTime();
}

/** The account as configured, with only `stream` enabled (`override` merged over its config, or over its defaults when the config does not list it). */
export function withOnly(account: AccountConfig, stream: StreamName, override: Readonly<Record<string, unknown>> = {}): AccountConfig {
  const configured = account.streams[stream];
  let cfg: unknown = configured;
  if (cfg === undefined) {
    if (stream === 'siem') cfg = { types: [...SIEM_TYPES], mode: 'batch', chunk_events: 5000, file_retry_span: DEFAULT_FILE_RETRY_SPAN_MS };
    else if (stream === 'threat_intel') cfg = { feeds: ['malware_customer'] };
    else cfg = { overlap: 0, settle: 0, page_size: 500, max_window: 86_400_000 };
  }
  return { ...account, streams: { [stream]: { ...(cfg as Record<string, unknown>), ...override } } } as AccountConfig;
}

/** The columns a one-line view of an event shows (fetch's table, `api reports siem`'s table). */
export interface EventSummary {
  time: string;
  account: string;
  type: string;
  action: string;
  outcome: string;
  summary: string;
}

export function summarizeEvent(ev: NormalizedEvent): EventSummary {
  const d = ev.doc;
  const logType = text(pick(d, 'mimecast.log_type'));
  return {
    time: ev.time,
    account: ev.account,
    type: `${ev.stream}${logType !== undefined && logType !== ev.stream ? `/${logType}` : ''}`,
    action: text(pick(d, 'event.action')) ?? '-',
    outcome: text(pick(d, 'event.outcome')) ?? '-',
    summary: text(pick(d, 'email.subject')) ?? text(pick(d, 'url.original')) ?? text(pick(d, 'message')) ?? text(pick(d, 'threat.indicator.name')) ?? ev.id,
  };
}

export interface PullOptions {
  since: number;
  until: number;
  signal: AbortSignal;
  /** Where quarantined records and disabled streams are reported. */
  stderr: Writable;
  logger: Logger;
  /** Merged over the stream's config (e.g. one SIEM type, a file format). */
  override?: Readonly<Record<string, unknown>>;
  /** A source failed: fetch reports it and goes on with the next; a caller that throws ends the pull. */
  onFailure: (source: string, err: unknown) => void;
}

/**
 * The events of one stream of one account within [since, until], each once, read by the collector's own sources
 * (no journal, no cursor kept): the one-shot pull `fetch` prints and `api reports` shows. Returns how many records
 * were quarantined as unusable (each reported on stderr).
 */
export async function* pullEvents(account: AccountConfig, stream: StreamName, api: MimecastApi, o: PullOptions): AsyncGenerator<NormalizedEvent, number> {
  const seen = new Set<string>();
  let quarantined = 0;
  const sources = buildSources(withOnly(account, stream, o.override), api, o.logger, { now: () => o.until, startFromMs: o.until - o.since, settleMs: 0 });
  for (const source of sources) {
    try {
      for await (const batch of source.pull(undefined, o.signal)) {
        // A file being fetched again: wait as the daemon would before the next attempt.
        if (batch.pauseMs !== undefined && batch.pauseMs > 0) await sleep(batch.pauseMs, o.signal);
        quarantined += batch.quarantined?.length ?? 0;
        for (const q of batch.quarantined ?? []) println(o.stderr, `quarantined (${q.reason}) at ${q.location}: ${q.detail}`);
        for (const ev of batch.events) {
          const t = Date.parse(ev.time);
          // A record without a time of its own cannot be placed in the window: it is shown (the API served it).
          if ((ev.timeMissing !== true && (t < o.since || t > o.until)) || seen.has(ev.id)) continue;
          seen.add(ev.id);
          yield ev;
        }
      }
    } catch (err) {
      if (isAbort(err, o.signal)) throw err;
      if (isCollectorError(err) && err.details['disabled'] === true) {
        println(o.stderr, `warning: ${describeError(err)}`);
        continue;
      }
      o.onFailure(source.key, err);
    }
  }
  return quarantined;
}

class Printer {
  private count = 0;
  constructor(
    private readonly out: Writable,
    private readonly format: FetchOutput,
  ) {}

  private async line(s: string): Promise<void> {
    if (!this.out.write(s + '\n')) await new Promise<void>((resolve) => this.out.once('drain', resolve));
  }

  async start(): Promise<void> {
    if (this.format === 'table') await this.line(['@timestamp'.padEnd(24), 'account'.padEnd(12), 'type'.padEnd(24), 'action'.padEnd(16), 'outcome'.padEnd(8), 'summary'].join(' '));
  }

  async event(ev: NormalizedEvent): Promise<void> {
    const json = ev.json ?? JSON.stringify(ev.doc);
    if (this.format === 'ndjson') await this.line(json);
    else if (this.format === 'json') await this.line(`${this.count === 0 ? '[' : ','}${json}`);
    else {
      const e = summarizeEvent(ev);
      const cells = [e.time.padEnd(24), e.account.padEnd(12), e.type.padEnd(24), e.action.padEnd(16), e.outcome.padEnd(8), e.summary.replace(/\s+/g, ' ').slice(0, 100)];
      await this.line(cells.join(' '));
    }
    this.count += 1;
  }

  async end(): Promise<void> {
    if (this.format === 'json') await this.line(this.count === 0 ? '[]' : ']');
  }

  get events(): number {
    return this.count;
  }
}

export async function fetchCommand(opts: FetchOptions, io: CommandIo): Promise<number> {
  const stream = STREAM_NAMES.find((s) => s === opts.stream);
  if (stream === undefined) {
    println(io.stderr, `error: STREAM "${opts.stream}" is not one of: ${STREAM_NAMES.join(', ')}`);
    return 2;
  }
  const output = FETCH_OUTPUTS.find((f) => f === opts.output);
  if (output === undefined) {
    println(io.stderr, `error: --output "${opts.output}" is not one of: ${FETCH_OUTPUTS.join(', ')}`);
    return 2;
  }
  const now = Date.now();
  const since = parseWhen(opts.since, now);
  const until = opts.until === undefined ? now : parseWhen(opts.until, now);
  if (since === undefined || until === undefined) {
    println(io.stderr, `error: --since/--until take a duration before now (24h, 30m) or an ISO time (2024-05-01T00:00:00Z)`);
    return 2;
  }
  if (since >= until) {
    println(io.stderr, 'error: --since must be before --until');
    return 2;
  }
  let config: Config;
  try {
    config = loadConfig(opts.config, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      printConfigError(err, io);
      return 1;
    }
    throw err;
  }
  const accounts = opts.account === undefined ? config.accounts : config.accounts.filter((a) => a.name === opts.account);
  if (accounts.length === 0) {
    println(io.stderr, `error: no account named "${opts.account ?? ''}" in ${opts.config} (accounts: ${config.accounts.map((a) => a.name).join(', ')})`);
    return 1;
  }
  // Logs (retries, warnings) go to stderr; only warnings and worse, so they don't drown the data.
  const logger = createLogger({ level: config.log_level === 'info' || config.log_level === 'debug' || config.log_level === 'trace' ? 'warn' : config.log_level });
  const printer = new Printer(io.stdout, output);
  let quarantined = 0;
  let failures = 0;
  // Internal timers are unref()ed; this keeps the process alive while a call waits out a 429.
  const alive = setInterval(() => undefined, 1 << 30);
  const clients: AccountClient[] = [];
  try {
    await printer.start();
    for (const account of accounts) {
      if (stream === 'siem' && account.api === 'v1') {
        println(io.stderr, `note: account ${account.name} uses API 1.0: get-siem-logs cannot be asked for a time range, so every retained file is read and filtered`);
      }
      const client = createAccountClient(account, logger);
      clients.push(client);
      const events = pullEvents(account, stream, client.api, {
        since,
        until,
        signal: io.signal,
        stderr: io.stderr,
        logger,
        onFailure: (key, err) => {
          failures += 1;
          println(io.stderr, `error: ${key}: ${describeError(err)}`);
        },
      });
      for (;;) {
        const next = await events.next();
        if (next.done === true) {
          quarantined += next.value;
          break;
        }
        await printer.event(next.value);
      }
    }
    await printer.end();
  } catch (err) {
    if (!isAbort(err, io.signal)) throw err;
    await printer.end();
    println(io.stderr, 'interrupted');
    return 130;
  } finally {
    clearInterval(alive);
    await Promise.allSettled(clients.map((c) => c.close()));
  }
  println(
    io.stderr,
    `fetch ${stream}: ${printer.events} event${printer.events === 1 ? '' : 's'} from ${new Date(since).toISOString()} to ${new Date(until).toISOString()}` +
      `${quarantined > 0 ? `, ${quarantined} unusable record${quarantined === 1 ? '' : 's'} reported above` : ''}`,
  );
  return failures > 0 ? 1 : 0;
}
