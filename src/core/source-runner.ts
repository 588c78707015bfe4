// One source's polling loop into the journal: budget, slots, quarantine retries, backoff and its status.
import type { Batch, Quarantined, Source, StreamName } from './contracts.js';
import { CollectorError, describeError, isAbort, isCollectorError } from './errors.js';
import { API_RETRY, backoffDelay } from './retry.js';
import { sleep, withJitter, type Wakeup } from './util.js';
import type { AppendResult, Journal } from '../journal/journal.js';
import type { Logger } from '../telemetry/logger.js';
import { NOOP_METRICS, sourceLogType, type Metrics, type SourceMetrics } from '../telemetry/metrics.js';

export interface SourceBinding {
  source: Source;
  pollIntervalMs: number;
}

/** A counting semaphore with a FIFO queue, so sources take turns batch by batch. */
export class Slots {
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

const NO_REASONS: readonly string[] = [];

/** The reasons of a batch's quarantined records (usually none). */
function reasonsOf(quarantined: readonly Quarantined[] | undefined): readonly string[] {
  return quarantined === undefined || quarantined.length === 0 ? NO_REASONS : quarantined.map((q) => q.reason);
}

export type SourceState = 'starting' | 'polling' | 'idle' | 'paused' | 'backoff' | 'disabled' | 'stopped';

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

/** What a runner shares with the pipeline around it. */
export interface SourceRunnerContext {
  journal: Journal;
  logger: Logger;
  /** Batches being built at once, across sources. */
  slots: Slots;
  /** Notified here when events were journaled (sinks listen). */
  newEvents: Wakeup;
  /** Notified when a sink's offset moved (the journal may have room again). */
  acked: Wakeup;
  /** Fires when the pipeline stops. */
  signal: AbortSignal;
  /** Where batches and failures are counted; none when absent. */
  metrics?: Metrics | undefined;
}

/**
 * Polls one source: pulls batches from its cursor into the journal until caught up, waits its poll interval, and
 * again. Waits while the journal is over budget; retries a failing source from its last committed cursor with the
 * API backoff; an unlicensed stream is disabled until the next restart.
 */
export class SourceRunner {
  readonly status: SourceStatus;
  private readonly log: Logger;
  private readonly metrics: SourceMetrics;

  constructor(
    private readonly binding: SourceBinding,
    private readonly ctx: SourceRunnerContext,
  ) {
    const { source } = binding;
    this.log = ctx.logger.child({ source: source.key });
    this.metrics = (ctx.metrics ?? NOOP_METRICS).source(source.account, source.stream, sourceLogType(source.key, source.account, source.stream));
    this.status = {
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
    };
  }

  private async waitForBudget(st: SourceStatus, signal: AbortSignal): Promise<void> {
    let logged = false;
    while (!signal.aborted && !this.ctx.journal.hasRoom(st.key)) {
      if (!logged) {
        const usage = this.ctx.journal.usage();
        this.log.warn(
          { journal_events: usage.events, journal_bytes: usage.bytes, max_events: usage.max_events, max_bytes: usage.max_bytes },
          'journal over budget: pausing source until sinks catch up',
        );
        logged = true;
      }
      st.state = 'paused';
      await this.ctx.acked.wait(1000, signal);
    }
    if (logged && !signal.aborted) this.log.info('journal under budget again: resuming source');
  }

  /** Polls the source until the pipeline stops (or the stream turns out not licensed). */
  async run(initialDelayMs: number): Promise<void> {
    const binding = this.binding;
    const { source } = binding;
    const signal = this.ctx.signal;
    const st = this.status;
    const log = this.log;
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
          this.metrics.failed(code);
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
    const journal = this.ctx.journal;
    for (const req of journal.retryRequests(source.key)) {
      if (signal.aborted) return;
      const got = { inserted: 0, duplicates: 0, quarantined: 0 };
      try {
        for await (const b of source.refetch(req.refetch, signal)) {
          const res = journal.appendRefetched(source.key, b.events, b.quarantined ?? []);
          this.metrics.batch(b.events.length, reasonsOf(b.quarantined), res);
          got.inserted += res.inserted;
          got.duplicates += res.duplicates;
          got.quarantined += res.quarantined;
          if (res.inserted > 0) this.ctx.newEvents.notify();
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
    const cursor = this.ctx.journal.getCursor(source.key);
    const it = source.pull(cursor, signal)[Symbol.asyncIterator]();
    // A batch that does not fit the budget is dropped unwritten (its cursor with it) and pulled again once there
    // is room: the source stays in the journal's line until then (as it does when its next batch would not fit).
    let waiting = false;
    try {
      for (;;) {
        await this.ctx.slots.acquire(signal);
        let step: IteratorResult<Batch>;
        let res: AppendResult | undefined;
        try {
          step = await it.next();
          if (step.done === true) return false;
          res = this.ctx.journal.tryAppend(source.key, step.value);
          waiting = res === undefined;
        } finally {
          this.ctx.slots.release();
        }
        if (res === undefined) return true;
        const batch = step.value;
        this.metrics.batch(batch.events.length, reasonsOf(batch.quarantined), res);
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
        if (res.inserted > 0) this.ctx.newEvents.notify();
        // Only a batch with events tells whether the next one would fit; a cursor step or a retry's counters never wait.
        waiting = batch.events.length > 0 && !this.ctx.journal.hasRoom(source.key);
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
      if (!waiting) this.ctx.journal.withdraw(source.key);
      await it.return?.();
    }
  }
}
