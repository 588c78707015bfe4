// The supervisor: one source runner per source into the journal, one sink runner per sink out of it.
import { setMaxListeners } from 'node:events';
import { describeError } from './errors.js';
import { SinkRunner, type SinkBinding, type SinkStatus } from './sink-runner.js';
import { Slots, SourceRunner, type SourceBinding, type SourceStatus } from './source-runner.js';
import { safeTimeout, Wakeup } from './util.js';
import type { Journal } from '../journal/journal.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';

export type { SinkBinding, SinkState, SinkStatus } from './sink-runner.js';
export { SINK_PROBE_INTERVAL_MS } from './sink-runner.js';
export type { SourceBinding, SourceState, SourceStatus } from './source-runner.js';

export interface PipelineOptions {
  journal: Journal;
  sources: readonly SourceBinding[];
  sinks: readonly SinkBinding[];
  logger: Logger;
  /** How long in-flight deliveries may take once stop() is called. */
  shutdownTimeoutMs?: number;
  /** Pause before the first poll of each source, spread so many sources don't start at once. */
  startSpreadMs?: number;
  /** How many sources may build a batch at the same time. Parsing is CPU-bound on one thread, so more
   *  only holds more half-built batches in memory; fewer than the sources still interleaves them batch by batch. */
  maxConcurrentBatches?: number;
  /** Told when a sink stops for a configuration problem (once per sink). */
  onSinkStopped?: (sink: string, message: string) => void;
  /** Where sources and sinks count what they do (the collector's /metrics); nothing is counted when absent. */
  metrics?: Metrics;
}

/** What /readyz reports: ready unless a sink stopped or has failed for too long, or a source keeps failing. */
export interface Readiness {
  ready: boolean;
  /** Sinks stopped for a configuration problem (their backlog is kept). */
  failed_sinks: string[];
  /** Sinks whose deliveries have failed for longer than the threshold, with how long and the last error. */
  failing_sinks: { name: string; failing_for_ms: number; error?: string }[];
  failing_sources: string[];
  disabled_sources: string[];
}

/** Default `http.unready_after`: a sink failing this long makes the collector unready. */
export const DEFAULT_UNREADY_AFTER_MS = 60_000;

export class Pipeline {
  private readonly opts: PipelineOptions;
  private readonly log: Logger;
  private readonly sourceAbort = new AbortController();
  private readonly sinkAbort = new AbortController();
  private readonly sourceRunners: SourceRunner[];
  private readonly sinkRunners: SinkRunner[];
  private readonly loops: Promise<void>[] = [];
  private sourceLoops: Promise<void>[] = [];
  private stopping = false;
  private sinksStarted = false;
  private sourcesStarted = false;
  private stopPromise: Promise<void> | undefined;
  private maintenance: NodeJS.Timeout | undefined;

  constructor(opts: PipelineOptions) {
    this.opts = opts;
    this.log = opts.logger;
    const newEvents = new Wakeup();
    const acked = new Wakeup();
    // Every source waits on these signals (sleeps, slots, HTTP calls): many listeners are expected, not a leak.
    const listeners = Math.max(50, opts.sources.length * 8 + opts.sinks.length * 8);
    setMaxListeners(listeners, this.sourceAbort.signal);
    setMaxListeners(listeners, this.sinkAbort.signal);
    const stopSignal = AbortSignal.any([this.sinkAbort.signal, this.sourceAbort.signal]);
    setMaxListeners(listeners, stopSignal);
    const slots = new Slots(opts.maxConcurrentBatches ?? 8);
    this.sourceRunners = opts.sources.map(
      (b) => new SourceRunner(b, { journal: opts.journal, logger: opts.logger, slots, newEvents, acked, signal: this.sourceAbort.signal, metrics: opts.metrics }),
    );
    this.sinkRunners = opts.sinks.map(
      (b) =>
        new SinkRunner(b, {
          journal: opts.journal,
          logger: opts.logger,
          newEvents,
          acked,
          stopping: () => this.stopping,
          stopSignal,
          hardSignal: this.sinkAbort.signal,
          onStopped: opts.onSinkStopped,
          metrics: opts.metrics,
        }),
    );
  }

  /** Starts the sinks, then the sources. */
  start(): void {
    this.startSinks();
    this.startSources();
  }

  /**
   * Starts delivering what the journal holds. Sinks need nothing from Mimecast, so `run` starts them before its
   * credential check: a slow or unreachable API does not hold up a backlog.
   */
  startSinks(): void {
    if (this.sinksStarted || this.stopping) return;
    this.sinksStarted = true;
    const dropped = this.opts.journal.setSinks(this.opts.sinks.map((s) => s.sink.name));
    for (const name of dropped) this.log.warn({ sink: name }, 'sink no longer configured: its delivery offset was dropped');
    for (const r of this.sinkRunners) this.loops.push(r.run());
    this.maintenance = setInterval(() => {
      try {
        const removed = this.opts.journal.pruneDedup();
        if (removed > 0) this.log.debug({ removed }, 'pruned old dedup ids');
      } catch (err) {
        this.log.error({ err: describeError(err) }, 'dedup pruning failed');
      }
    }, 10 * 60_000);
    this.maintenance.unref();
  }

  /** Starts polling Mimecast (the sinks first, if they are not running yet). */
  startSources(): void {
    this.startSinks();
    if (this.sourcesStarted || this.stopping) return;
    this.sourcesStarted = true;
    const spread = this.opts.startSpreadMs ?? 0;
    const n = Math.max(1, this.sourceRunners.length);
    this.sourceLoops = this.sourceRunners.map((r, i) => r.run(spread > 0 ? Math.round((spread * i) / n) : 0));
    this.loops.push(...this.sourceLoops);
  }

  /** Stop polling, let in-flight deliveries finish within the shutdown timeout, close sinks. Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    if (this.maintenance !== undefined) clearInterval(this.maintenance);
    this.sourceAbort.abort();
    await Promise.allSettled(this.sourceLoops);
    const timeout = this.opts.shutdownTimeoutMs ?? 30_000;
    const timer = safeTimeout(() => this.sinkAbort.abort(), timeout);
    await Promise.allSettled(this.loops);
    timer.clear();
    await Promise.allSettled(this.opts.sinks.map((b) => b.sink.close()));
  }

  /** Resolves when every loop has ended (after stop()). */
  done(): Promise<void> {
    return Promise.allSettled(this.loops).then(() => undefined);
  }

  sources(): SourceStatus[] {
    return this.sourceRunners.map((r) => ({ ...r.status, counters: { ...r.status.counters } }));
  }

  sinks(): SinkStatus[] {
    return this.sinkRunners.map((r) => ({ ...r.status }));
  }

  /**
   * Ready unless a sink stopped (configuration), a sink's deliveries have failed for longer than `unreadyAfterMs`,
   * or a source failed 3 times in a row. A stream the account is not licensed for is listed but keeps it ready.
   */
  readiness(unreadyAfterMs: number = DEFAULT_UNREADY_AFTER_MS, now: number = Date.now()): Readiness {
    const sinks = this.sinkRunners.map((r) => r.status);
    const failedSinks = sinks.filter((s) => s.state === 'failed').map((s) => s.name);
    const failingSinks = sinks
      .filter((s) => s.state !== 'failed' && s.failingSince !== undefined && now - s.failingSince >= unreadyAfterMs)
      .map((s) => ({ name: s.name, failing_for_ms: now - (s.failingSince ?? now), ...(s.lastError === undefined ? {} : { error: s.lastError.message }) }));
    const sources = this.sourceRunners.map((r) => r.status);
    const failingSources = sources.filter((s) => s.state !== 'disabled' && s.consecutiveFailures >= 3).map((s) => s.key);
    const disabled = sources.filter((s) => s.state === 'disabled').map((s) => s.key);
    return {
      ready: failedSinks.length === 0 && failingSinks.length === 0 && failingSources.length === 0,
      failed_sinks: failedSinks,
      failing_sinks: failingSinks,
      failing_sources: failingSources,
      disabled_sources: disabled,
    };
  }
}
