// The supervisor: one polling loop per source into the journal, one drain loop per sink out of it.
import { setMaxListeners } from 'node:events';
import type { Batch, OutEvent, Sink, Source, StreamName } from './contracts.js';
import { CollectorError, describeError, isAbort, isCollectorError, SinkError } from './errors.js';
import { API_RETRY, SINK_RETRY, backoffDelay } from './retry.js';
import { safeTimeout, sleep, withJitter } from './util.js';
import type { AppendResult, Journal } from '../journal/journal.js';
import type { Logger } from '../telemetry/logger.js';

export interface SinkBinding {
  sink: Sink;
  /** Streams routed to this sink; all when undefined. */
  streams?: readonly StreamName[] | undefined;
  batch: { max_events: number; max_bytes: number; max_wait: number };
}

export interface SourceBinding {
  source: Source;
  pollIntervalMs: number;
}

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
}

/** A counting semaphore with a FIFO queue, so sources take turns batch by batch. */
class Slots {
  private free: number;
  private readonly queue: (() => void)[] = [];
  constructor(n: number) {
    this.free = Math.max(1, n);
  }
  async acquire(signal: AbortSignal): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        reject(new CollectorError('ABORTED', 'aborted'));
      };
      this.queue.push(grant);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
  release(): void {
    const next = this.queue.shift();
    if (next !== undefined) next();
    else this.free += 1;
  }
}

export type SourceState = 'starting' | 'polling' | 'idle' | 'paused' | 'backoff' | 'disabled' | 'stopped';
export type SinkState = 'starting' | 'delivering' | 'idle' | 'retrying' | 'failed' | 'stopped';

export interface SourceStatus {
  key: string;
  account: string;
  stream: StreamName;
  state: SourceState;
  events: number;
  duplicates: number;
  quarantined: number;
  batches: number;
  counters: Record<string, number>;
  lastPollAt?: number;
  lastCaughtUpAt?: number;
  /** The newest event time collected (ISO 8601); lag is measured from it. */
  lastEventTime?: string;
  lastError?: { at: number; code?: string; message: string };
  consecutiveFailures: number;
}

export interface SinkStatus {
  name: string;
  state: SinkState;
  delivered: number;
  batches: number;
  deadLettered: number;
  retries: number;
  lastDeliveryAt?: number;
  lastError?: { at: number; code?: string; message: string };
  /** When the current run of failed deliveries began; absent while deliveries succeed. */
  failingSince?: number;
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
/** How often a sink waiting to retry is probed (when it can be): delivery resumes this soon after a fix. */
export const SINK_PROBE_INTERVAL_MS = 2_000;

/** A wake-up flag: waiters resolve on notify() or after their timeout, whichever is first. */
class Wakeup {
  private waiters = new Set<() => void>();
  notify(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        timer.clear();
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = safeTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

export class Pipeline {
  private readonly opts: PipelineOptions;
  private readonly log: Logger;
  private readonly sourceAbort = new AbortController();
  private readonly sinkAbort = new AbortController();
  private readonly newEvents = new Wakeup();
  private readonly acked = new Wakeup();
  private readonly slots: Slots;
  private drainStop: AbortSignal | undefined;
  private readonly sourceStatus = new Map<string, SourceStatus>();
  private readonly sinkStatus = new Map<string, SinkStatus>();
  private readonly loops: Promise<void>[] = [];
  private sourceLoops: Promise<void>[] = [];
  private stopping = false;
  private started = false;
  private stopPromise: Promise<void> | undefined;
  private maintenance: NodeJS.Timeout | undefined;

  constructor(opts: PipelineOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.slots = new Slots(opts.maxConcurrentBatches ?? 8);
    // Every source waits on these signals (sleeps, slots, HTTP calls): many listeners are expected, not a leak.
    const listeners = Math.max(50, opts.sources.length * 8 + opts.sinks.length * 8);
    setMaxListeners(listeners, this.sourceAbort.signal);
    setMaxListeners(listeners, this.sinkAbort.signal);
    for (const { source } of opts.sources) {
      this.sourceStatus.set(source.key, {
        key: source.key,
        account: source.account,
        stream: source.stream,
        state: 'starting',
        events: 0,
        duplicates: 0,
        quarantined: 0,
        batches: 0,
        counters: {},
        consecutiveFailures: 0,
      });
    }
    for (const { sink } of opts.sinks) {
      this.sinkStatus.set(sink.name, { name: sink.name, state: 'starting', delivered: 0, batches: 0, deadLettered: 0, retries: 0 });
    }
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    const dropped = this.opts.journal.setSinks(this.opts.sinks.map((s) => s.sink.name));
    for (const name of dropped) this.log.warn({ sink: name }, 'sink no longer configured: its delivery offset was dropped');
    const spread = this.opts.startSpreadMs ?? 0;
    this.sourceLoops = this.opts.sources.map((b, i) =>
      this.sourceLoop(b, spread > 0 ? Math.round((spread * i) / Math.max(1, this.opts.sources.length)) : 0),
    );
    this.loops.push(...this.sourceLoops);
    for (const b of this.opts.sinks) this.loops.push(this.drainLoop(b));
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

  /** Stop polling, let in-flight deliveries finish within the shutdown timeout, close sinks. Idempotent. */
  stop(): Promise<void> {
    this.stopPromise ??= this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.stopping = true;
    if (this.maintenance !== undefined) clearInterval(this.maintenance);
    this.sourceAbort.abort();
    this.newEvents.notify();
    this.acked.notify();
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
    return [...this.sourceStatus.values()].map((s) => ({ ...s, counters: { ...s.counters } }));
  }

  sinks(): SinkStatus[] {
    return [...this.sinkStatus.values()].map((s) => ({ ...s }));
  }

  /**
   * Ready unless a sink stopped (configuration), a sink's deliveries have failed for longer than `unreadyAfterMs`,
   * or a source failed 3 times in a row. A stream the account is not licensed for is listed but keeps it ready.
   */
  readiness(unreadyAfterMs: number = DEFAULT_UNREADY_AFTER_MS, now: number = Date.now()): Readiness {
    const sinks = [...this.sinkStatus.values()];
    const failedSinks = sinks.filter((s) => s.state === 'failed').map((s) => s.name);
    const failingSinks = sinks
      .filter((s) => s.state !== 'failed' && s.failingSince !== undefined && now - s.failingSince >= unreadyAfterMs)
      .map((s) => ({ name: s.name, failing_for_ms: now - (s.failingSince ?? now), ...(s.lastError === undefined ? {} : { error: s.lastError.message }) }));
    const sources = [...this.sourceStatus.values()];
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

  private async waitForBudget(st: SourceStatus, signal: AbortSignal): Promise<void> {
    let logged = false;
    while (!signal.aborted && !this.opts.journal.hasRoom(st.key)) {
      if (!logged) {
        const usage = this.opts.journal.usage();
        this.log.warn(
          { source: st.key, journal_events: usage.events, journal_bytes: usage.bytes, max_events: usage.max_events, max_bytes: usage.max_bytes },
          'journal over budget: pausing source until sinks catch up',
        );
        logged = true;
      }
      st.state = 'paused';
      await this.acked.wait(1000, signal);
    }
    if (logged && !signal.aborted) this.log.info({ source: st.key }, 'journal under budget again: resuming source');
  }

  private async sourceLoop(binding: SourceBinding, initialDelayMs: number): Promise<void> {
    const { source } = binding;
    const signal = this.sourceAbort.signal;
    const st = this.sourceStatus.get(source.key);
    if (st === undefined) return;
    const log = this.log.child({ source: source.key });
    try {
      if (initialDelayMs > 0) await sleep(initialDelayMs, signal);
      while (!signal.aborted) {
        await this.waitForBudget(st, signal);
        if (signal.aborted) break;
        st.state = 'polling';
        st.lastPollAt = Date.now();
        try {
          await this.retryQuarantined(source, st, log, signal);
          const pausedForBudget = await this.pullOnce(source, st, log, signal);
          if (st.consecutiveFailures > 0) log.info({ after_failures: st.consecutiveFailures }, 'source recovered');
          st.consecutiveFailures = 0;
          if (pausedForBudget) continue;
          st.lastCaughtUpAt = Date.now();
          st.state = 'idle';
          await sleep(withJitter(binding.pollIntervalMs), signal);
        } catch (err) {
          if (isAbort(err, signal)) break;
          const code = isCollectorError(err) ? err.code : undefined;
          st.lastError = { at: Date.now(), message: describeError(err), ...(code !== undefined ? { code } : {}) };
          if (isCollectorError(err) && err.details['disabled'] === true) {
            // An unlicensed product: say so once and stop asking until the next restart.
            st.state = 'disabled';
            log.warn({ account: source.account, stream: source.stream, code, err: describeError(err) }, 'stream disabled: the account does not have it');
            return;
          }
          st.consecutiveFailures += 1;
          const retryable = isCollectorError(err) ? err.retryable : true;
          const retryAfter = isCollectorError(err) ? err.retryAfterMs : undefined;
          // Permanent problems (bad credentials, no permission) are retried at the poll interval, not hammered.
          const delay = retryable
            ? backoffDelay(st.consecutiveFailures, API_RETRY, retryAfter)
            : Math.max(binding.pollIntervalMs, backoffDelay(st.consecutiveFailures, API_RETRY, retryAfter));
          st.state = 'backoff';
          const logFn = retryable && st.consecutiveFailures < 3 ? log.warn.bind(log) : log.error.bind(log);
          logFn({ code, err: describeError(err), attempt: st.consecutiveFailures, retry_in_ms: delay }, 'source failed; will retry from its last committed cursor');
          await sleep(delay, signal);
        }
      }
    } catch (err) {
      if (!isAbort(err, signal)) log.error({ err: describeError(err) }, 'source loop ended unexpectedly');
    } finally {
      if (st.state !== 'disabled') st.state = 'stopped';
    }
  }

  /**
   * Reads again the quarantined inputs of this source an operator asked for (`quarantine retry`), before its next
   * pull. Their events are journaled (duplicates dropped) without moving the cursor; each request ends `done` or
   * `failed` with a note, and a failed one stays in quarantine to be asked for again.
   */
  private async retryQuarantined(source: Source, st: SourceStatus, log: Logger, signal: AbortSignal): Promise<void> {
    if (source.refetch === undefined) return;
    const journal = this.opts.journal;
    for (const req of journal.retryRequests(source.key)) {
      if (signal.aborted) return;
      const got = { inserted: 0, duplicates: 0, quarantined: 0 };
      try {
        for await (const b of source.refetch(req.refetch, signal)) {
          const res = journal.appendRefetched(source.key, b.events, b.quarantined ?? []);
          got.inserted += res.inserted;
          got.duplicates += res.duplicates;
          got.quarantined += res.quarantined;
          if (res.inserted > 0) this.newEvents.notify();
        }
      } catch (err) {
        if (isAbort(err, signal)) throw err;
        const code = isCollectorError(err) ? err.code : undefined;
        journal.settleRetry(req.id, 'failed', describeError(err));
        log.warn({ quarantine_id: req.id, code, err: describeError(err) }, 'quarantined input still cannot be read; it stays in quarantine');
        continue;
      } finally {
        st.events += got.inserted;
        st.duplicates += got.duplicates;
        st.quarantined += got.quarantined;
      }
      journal.settleRetry(req.id, 'done', `read again: ${got.inserted} events journaled, ${got.duplicates} already there, ${got.quarantined} still unusable`);
      log.info({ quarantine_id: req.id, ...got }, 'quarantined input read again');
    }
  }

  /** Pulls one source until it is caught up (false) or the journal went over budget (true). */
  private async pullOnce(source: Source, st: SourceStatus, log: Logger, signal: AbortSignal): Promise<boolean> {
    const cursor = this.opts.journal.getCursor(source.key);
    const it = source.pull(cursor, signal)[Symbol.asyncIterator]();
    // A batch that does not fit the budget is dropped unwritten (its cursor with it) and pulled again once there
    // is room: the source stays in the journal's line until then (as it does when its next batch would not fit).
    let waiting = false;
    try {
      for (;;) {
        await this.slots.acquire(signal);
        let step: IteratorResult<Batch>;
        let res: AppendResult | undefined;
        try {
          step = await it.next();
          if (step.done === true) return false;
          res = this.opts.journal.tryAppend(source.key, step.value);
          waiting = res === undefined;
        } finally {
          this.slots.release();
        }
        if (res === undefined) return true;
        const batch = step.value;
        st.events += res.inserted;
        st.duplicates += res.duplicates;
        st.quarantined += res.quarantined;
        st.batches += 1;
        for (const [k, v] of Object.entries(batch.counters ?? {})) st.counters[k] = (st.counters[k] ?? 0) + v;
        // The newest event time seen, whatever order the API pages in (audit pages come newest first); a collection
        // time stamped on a record without one says nothing about how far behind the stream is.
        for (const e of batch.events) if (e.timeMissing !== true && (st.lastEventTime === undefined || e.time > st.lastEventTime)) st.lastEventTime = e.time;
        if (res.quarantined > 0) {
          for (const q of batch.quarantined ?? []) log.warn({ reason: q.reason, location: q.location, detail: q.detail }, 'record quarantined');
        }
        if (res.inserted > 0) this.newEvents.notify();
        // Only a batch with events tells whether the next one would fit; a cursor step or a retry's counters never wait.
        waiting = batch.events.length > 0 && !this.opts.journal.hasRoom(source.key);
        if (waiting) return true;
        if (batch.pauseMs !== undefined && batch.pauseMs > 0) {
          // The source waits before its next try (a file being fetched again): here, holding no slot, so the
          // other sources go on building batches meanwhile.
          st.state = 'backoff';
          await sleep(batch.pauseMs, signal);
          st.state = 'polling';
        }
      }
    } finally {
      if (!waiting) this.opts.journal.withdraw(source.key);
      await it.return?.();
    }
  }

  private async drainLoop(binding: SinkBinding): Promise<void> {
    const { sink, batch } = binding;
    const st = this.sinkStatus.get(sink.name);
    if (st === undefined) return;
    const log = this.log.child({ sink: sink.name });
    const journal = this.opts.journal;
    const signal = this.sinkAbort.signal;
    let firstSeenAt = 0;
    try {
      while (!signal.aborted) {
        if (this.stopping) break;
        const { events, lastSeq } = journal.read(sink.name, batch.max_events, batch.max_bytes, binding.streams);
        if (lastSeq <= journal.offset(sink.name)) {
          st.state = 'idle';
          firstSeenAt = 0;
          await this.newEvents.wait(1000, this.stopSignal(signal));
          continue;
        }
        if (events.length === 0) {
          journal.ack(sink.name, lastSeq);
          this.acked.notify();
          continue;
        }
        // Give a small batch up to max_wait to fill, unless more is already waiting.
        const full = events.length >= batch.max_events || this.approxBytes(events) >= batch.max_bytes;
        if (!full && !this.stopping) {
          if (firstSeenAt === 0) firstSeenAt = Date.now();
          const waited = Date.now() - firstSeenAt;
          if (waited < batch.max_wait) {
            await this.newEvents.wait(batch.max_wait - waited, this.stopSignal(signal));
            if (!this.stopping) continue;
          }
        }
        firstSeenAt = 0;
        const delivered = await this.deliver(binding, st, log, events, signal);
        if (!delivered) break;
        journal.ack(sink.name, lastSeq);
        this.acked.notify();
      }
    } catch (err) {
      if (!isAbort(err, signal)) {
        st.state = 'failed';
        st.lastError = { at: Date.now(), message: describeError(err) };
        log.error({ err: describeError(err) }, 'sink drain ended unexpectedly; its backlog is kept');
      }
    } finally {
      if (st.state !== 'failed') st.state = 'stopped';
    }
  }

  private approxBytes(events: readonly OutEvent[]): number {
    let n = 0;
    for (const e of events) n += e.bytes.length + 1;
    return n;
  }

  /** Fires when the pipeline starts stopping (to cut idle waits short) or on the hard abort; built once. */
  private stopSignal(_hard: AbortSignal): AbortSignal {
    if (this.drainStop === undefined) {
      this.drainStop = AbortSignal.any([this.sinkAbort.signal, this.sourceAbort.signal]);
      setMaxListeners(50, this.drainStop);
    }
    return this.drainStop;
  }

  /**
   * Waits `delayMs` before a retry, cut short when the sink's probe says its receiver is back (probed every
   * SINK_PROBE_INTERVAL_MS). Rejects with ABORTED on `signal`.
   */
  private async waitToRetry(sink: Sink, delayMs: number, signal: AbortSignal): Promise<void> {
    const end = Date.now() + delayMs;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) return;
      if (sink.probe === undefined) {
        await sleep(left, signal);
        return;
      }
      await sleep(Math.min(left, SINK_PROBE_INTERVAL_MS), signal);
      if (end - Date.now() <= 0) return;
      const up = await sink.probe(signal).catch(() => false);
      if (signal.aborted) throw new CollectorError('ABORTED', 'aborted');
      if (up) return;
    }
  }

  /** Sends one batch until delivered. Returns false when the sink must stop (config error or shutdown timeout). */
  private async deliver(binding: SinkBinding, st: SinkStatus, log: Logger, events: OutEvent[], signal: AbortSignal): Promise<boolean> {
    let attempt = 0;
    for (;;) {
      try {
        st.state = 'delivering';
        await binding.sink.send(events, signal);
        st.delivered += events.length;
        st.batches += 1;
        st.lastDeliveryAt = Date.now();
        delete st.failingSince;
        if (attempt > 0) log.info({ after_attempts: attempt }, 'sink recovered; delivery resumed');
        return true;
      } catch (err) {
        if (signal.aborted) return false;
        const code = isCollectorError(err) ? err.code : undefined;
        st.lastError = { at: Date.now(), message: describeError(err), ...(code !== undefined ? { code } : {}) };
        st.failingSince ??= st.lastError.at;
        if (err instanceof SinkError && err.code === 'SINK_PERMANENT') {
          this.opts.journal.deadLetter(binding.sink.name, events, describeError(err));
          st.deadLettered += events.length;
          log.error({ code, err: describeError(err), events: events.length }, 'sink rejected the batch permanently: moved to the dead-letter table');
          return true;
        }
        if (err instanceof SinkError && err.code === 'SINK_CONFIG') {
          st.state = 'failed';
          log.error({ code, err: describeError(err) }, 'sink stopped: fix its configuration; its backlog is kept in the journal');
          return false;
        }
        attempt += 1;
        st.retries += 1;
        st.state = 'retrying';
        const delay = backoffDelay(attempt, SINK_RETRY, isCollectorError(err) ? err.retryAfterMs : undefined);
        const logFn = attempt <= 3 ? log.warn.bind(log) : log.error.bind(log);
        logFn({ code, err: describeError(err), attempt, retry_in_ms: delay }, 'sink delivery failed; retrying the same batch');
        if (this.stopping) return false;
        try {
          await this.waitToRetry(binding.sink, delay, this.stopSignal(signal));
        } catch {
          return false;
        }
      }
    }
  }
}
