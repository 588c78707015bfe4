// One sink's drain out of the journal: routing, batching, sends in flight, per-event outcomes, retries, dead letters.
import { setMaxListeners } from 'node:events';
import type { EventVerdict, OutEvent, SendResult, Sink, StreamName } from './contracts.js';
import { CollectorError, describeError, isAbort, isCollectorError } from './errors.js';
import { SINK_RETRY, backoffDelay } from './retry.js';
import { sleep, type Wakeup } from './util.js';
import type { DeadLetterRow, Journal } from '../journal/journal.js';
import type { Logger } from '../telemetry/logger.js';
import { NOOP_METRICS, type Metrics, type SinkMetrics } from '../telemetry/metrics.js';

/** How a sink groups events into one send (`batch` in its config). */
export interface BatchLimits {
  /** Events in one send at most. */
  max_events: number;
  /** About this many bytes of rendered events in one send (before the sink's framing and compression). */
  max_bytes: number;
  /** How long a batch that is not full waits for more events, ms. */
  max_wait: number;
}

export interface SinkBinding {
  sink: Sink;
  /** Streams routed to this sink; all when undefined. */
  streams?: readonly StreamName[] | undefined;
  /** `mimecast.log_type` values routed to this sink; all when undefined. */
  logTypes?: readonly string[] | undefined;
  /**
   * Turns a journaled event (its ECS document) into what this sink sends (the sink's `format`); absent: the document
   * as journaled. A throw dead-letters that event alone.
   */
  render?: ((event: OutEvent) => OutEvent) | undefined;
  batch: BatchLimits;
  /** Sends in flight at once; the sink's offset still moves in journal order. Default 1. */
  concurrency?: number | undefined;
}

export type SinkState = 'starting' | 'delivering' | 'idle' | 'retrying' | 'failed' | 'stopped';

export interface SinkStatus {
  name: string;
  state: SinkState;
  /** Events the receiver confirmed. */
  delivered: number;
  /** Sends that ended with every event delivered or dead-lettered. */
  batches: number;
  deadLettered: number;
  /** Sends tried again (whole or in part). */
  retries: number;
  /** Sends in flight now. */
  inFlight: number;
  lastDeliveryAt?: number;
  lastError?: { at: number; code?: string; message: string };
  /** The newest dead letter's reason. */
  lastDeadLetter?: { at: number; reason: string };
  /** When the current run of failed deliveries began; absent while deliveries succeed. */
  failingSince?: number;
}

/**
 * A batch's documents read from SQLite are copied into a buffer of the runner's (Journal.read's `into`) of up to
 * this many bytes; past it (a larger `batch.max_bytes`) they stay ranges of the journal's blocks.
 */
export const BATCH_BUFFER_MAX_BYTES = 4 * 1024 * 1024;

/** How often a sink waiting to retry is probed (when it can be): delivery resumes this soon after a fix. */
export const SINK_PROBE_INTERVAL_MS = 2_000;

/** Dead letters an operator asked to send again (`dead-letters retry`) taken in one round, between two batches. */
export const DEAD_LETTER_RETRY_ROUND = 500;
/** How often the runner looks for such requests: they are sent within about this long of the command. */
export const DEAD_LETTER_RETRY_CHECK_MS = 1_000;

/** What a runner shares with the pipeline around it. */
export interface SinkRunnerContext {
  journal: Journal;
  logger: Logger;
  /** Notified when events were journaled. */
  newEvents: Wakeup;
  /** Notified here whenever the sink's offset moved (sources waiting for journal room listen). */
  acked: Wakeup;
  /** True once the pipeline is stopping: no new batch is read, retries are given up (the batch is resent after restart). */
  stopping: () => boolean;
  /** Fires when stopping starts or on the hard abort: cuts idle waits and retry waits short. */
  stopSignal: AbortSignal;
  /** Fires when in-flight sends must give up (the shutdown timeout passed). */
  hardSignal: AbortSignal;
  /** Told once when the sink stops for a configuration problem (the `run` command says so on stderr). */
  onStopped?: ((sink: string, message: string) => void) | undefined;
  /** Where sends and their outcomes are counted; none when absent. */
  metrics?: Metrics | undefined;
}

/** A batch handed to the sink, in journal order: its offset is acknowledged once it and every batch before it settled. */
interface InFlight {
  /** The highest seq the batch covers (filtered-out rows included). */
  readonly lastSeq: number;
  /** true: every event delivered or dead-lettered; false: given up (shutdown, the sink stopped). */
  ok: boolean | undefined;
  readonly done: Promise<void>;
}

/** The completions still to come in the window (a settled batch's would resolve a race at once). */
function unsettled(window: readonly InFlight[]): Promise<void>[] {
  const out: Promise<void>[] = [];
  for (const w of window) if (w.ok === undefined) out.push(w.done);
  return out;
}

/** `mimecast.log_type` of an event journaled before the journal kept it beside the document. */
function logTypeOf(e: OutEvent): string {
  if (e.logType !== '') return e.logType;
  try {
    const doc = JSON.parse(e.json) as { mimecast?: { log_type?: unknown } };
    const t = doc.mimecast?.log_type;
    return typeof t === 'string' ? t : '';
  } catch {
    return '';
  }
}

/**
 * Drains one sink: reads the events routed to it after its offset, renders them in its format, and sends batches
 * (up to `concurrency` at once). Per send, the sink's verdict decides: delivered events are done, rejected ones go
 * to the dead-letter table, the rest is sent again after a backoff (the one sink retry policy, SINK_RETRY, probing
 * the receiver meanwhile). The offset moves past a batch only when every event in it is delivered or dead-lettered
 * and every batch before it is too. A configuration error stops this sink alone, keeping its backlog.
 */
export class SinkRunner {
  readonly status: SinkStatus;
  private readonly sink: Sink;
  private readonly log: Logger;
  private readonly metrics: SinkMetrics;
  private readonly logTypes: ReadonlySet<string> | undefined;
  private readonly concurrency: number;
  /** Fires when the sink stops for good (configuration) or on the hard abort: in-flight sends give up. */
  private readonly own = new AbortController();
  private readonly sendSignal: AbortSignal;
  private readonly retrySignal: AbortSignal;
  /**
   * Events being sent again from the dead-letter table, with their row and where the round collects the rows
   * rejected again: such an event updates its row instead of adding another.
   */
  private readonly resent = new WeakMap<OutEvent, { id: number; rejected: Map<number, string> }>();
  private deadLettersCheckedAt = Number.NEGATIVE_INFINITY;
  /** Batches waiting out a backoff now. */
  private backingOff = 0;
  /** The probe in progress, and the last answer with when it came (see probeReceiver). */
  private probing: Promise<boolean> | undefined;
  private probedAt = Number.NEGATIVE_INFINITY;
  private probedUp = false;
  /**
   * Batch buffers (see BATCH_BUFFER_MAX_BYTES) no batch holds: one is lent to each read and kept by its batch until
   * the batch settled (its events' bytes are in it), then given back. At most `concurrency` are in use at once.
   */
  private readonly spareBuffers: Buffer[] = [];

  constructor(
    private readonly binding: SinkBinding,
    private readonly ctx: SinkRunnerContext,
  ) {
    this.sink = binding.sink;
    this.log = ctx.logger.child({ sink: binding.sink.name });
    this.metrics = (ctx.metrics ?? NOOP_METRICS).sink(binding.sink.name);
    this.logTypes = binding.logTypes === undefined ? undefined : new Set(binding.logTypes);
    this.concurrency = Math.max(1, Math.floor(binding.concurrency ?? 1));
    this.sendSignal = AbortSignal.any([ctx.hardSignal, this.own.signal]);
    this.retrySignal = AbortSignal.any([ctx.stopSignal, this.own.signal]);
    // Every batch in flight listens on these (its send, its backoff): up to `concurrency` at once is expected.
    setMaxListeners(this.concurrency * 2 + 10, this.sendSignal, this.retrySignal);
    this.status = { name: binding.sink.name, state: 'starting', delivered: 0, batches: 0, deadLettered: 0, retries: 0, inFlight: 0 };
  }

  private get failed(): boolean {
    return this.status.state === 'failed';
  }

  async run(): Promise<void> {
    const st = this.status;
    const window: InFlight[] = [];
    try {
      await this.checkReceiver();
      const { journal } = this.ctx;
      const { batch } = this.binding;
      let readPos = journal.offset(this.sink.name);
      let firstSeenAt = 0;
      while (!this.failed && !this.ctx.hardSignal.aborted && !this.ctx.stopping()) {
        this.ackSettled(window);
        // Batches settled behind an unsettled one count too: the window bounds what a restart would send again.
        if (window.length >= this.concurrency) {
          const waiting = unsettled(window);
          if (waiting.length === 0) break;
          await Promise.race(waiting);
          continue;
        }
        if (Date.now() - this.deadLettersCheckedAt >= DEAD_LETTER_RETRY_CHECK_MS) {
          this.deadLettersCheckedAt = Date.now();
          await this.resendDeadLetters();
          continue;
        }
        const buffer = this.spareBuffers.pop() ?? Buffer.allocUnsafeSlow(Math.min(batch.max_bytes, BATCH_BUFFER_MAX_BYTES));
        const { events, lastSeq } = journal.read(this.sink.name, batch.max_events, batch.max_bytes, this.binding.streams, readPos, buffer);
        // The buffer goes with the batch launched from this read; a read not launched (nothing new, a batch left to
        // fill) gives it back at once.
        if (lastSeq <= readPos) {
          this.spareBuffers.push(buffer);
          if (window.length === 0 && st.state !== 'retrying') st.state = 'idle';
          firstSeenAt = 0;
          await Promise.race([this.ctx.newEvents.wait(1000, this.ctx.stopSignal), ...unsettled(window)]);
          continue;
        }
        const mine = this.logTypes === undefined ? events : events.filter((e) => this.logTypes?.has(logTypeOf(e)) === true);
        if (mine.length > 0) {
          // Give a small batch up to max_wait to fill, unless more is already waiting: a read that stopped before the
          // journal's head stopped at a limit (events, bytes, or the rows a filtered read may scan), so it is full.
          const full = events.length >= batch.max_events || lastSeq < journal.headSeq();
          if (!full) {
            if (firstSeenAt === 0) firstSeenAt = Date.now();
            const waited = Date.now() - firstSeenAt;
            if (waited < batch.max_wait) {
              await Promise.race([this.ctx.newEvents.wait(batch.max_wait - waited, this.ctx.stopSignal), ...unsettled(window)]);
              if (!this.ctx.stopping()) {
                this.spareBuffers.push(buffer);
                continue;
              }
            }
          }
        }
        firstSeenAt = 0;
        readPos = lastSeq;
        window.push(this.launch(mine, lastSeq, buffer));
      }
      // Stopping: what is in flight finishes (the hard abort bounds it), and what finished in order is acknowledged.
      await Promise.allSettled(window.map((w) => w.done));
      this.ackSettled(window);
    } catch (err) {
      if (!isAbort(err, this.ctx.hardSignal)) {
        st.state = 'failed';
        st.lastError = { at: Date.now(), message: describeError(err), ...(isCollectorError(err) ? { code: err.code } : {}) };
        this.log.error({ err: describeError(err) }, 'sink drain ended unexpectedly; its backlog is kept');
        this.own.abort();
        await Promise.allSettled(window.map((w) => w.done));
      }
    } finally {
      if (st.state !== 'failed') st.state = 'stopped';
      st.inFlight = 0;
    }
  }

  /** Gives up in-flight sends at once (the pipeline's hard stop does the same for every sink). */
  abort(): void {
    this.own.abort();
  }

  /** The receiver's start-up check: a configuration problem stops the sink now, anything else is left to delivery. */
  private async checkReceiver(): Promise<void> {
    if (this.sink.check === undefined) return;
    try {
      await this.sink.check(this.sendSignal);
      this.log.info('sink receiver checked: reachable and accepting this sink\'s credentials');
    } catch (err) {
      if (isAbort(err, this.sendSignal)) throw err;
      if (isCollectorError(err) && err.code === 'SINK_CONFIG') {
        this.fail(err);
        return;
      }
      this.log.warn({ code: isCollectorError(err) ? err.code : undefined, err: describeError(err) }, 'sink receiver not reachable at start-up; events are kept in the journal and delivery is retried');
    }
  }

  /** Moves the offset past the longest run of settled batches at the front of the window. */
  private ackSettled(window: InFlight[]): void {
    let upTo: number | undefined;
    while (window[0]?.ok === true) upTo = window.shift()?.lastSeq;
    if (upTo === undefined) return;
    this.ctx.journal.ack(this.sink.name, upTo);
    this.ctx.acked.notify();
  }

  /** Starts delivering a batch read into `buffer`, which is given back once the batch settled. */
  private launch(events: readonly OutEvent[], lastSeq: number, buffer: Buffer): InFlight {
    const entry: { lastSeq: number; ok: boolean | undefined; done: Promise<void> } = { lastSeq, ok: undefined, done: Promise.resolve() };
    if (events.length === 0) {
      entry.ok = true;
      this.spareBuffers.push(buffer);
      return entry;
    }
    this.status.inFlight += 1;
    entry.done = this.deliverBatch(events).then(
      (ok) => {
        entry.ok = ok;
      },
      (err: unknown) => {
        entry.ok = false;
        if (!isAbort(err, this.sendSignal)) this.fail(err);
      },
    ).finally(() => {
      this.status.inFlight -= 1;
      this.spareBuffers.push(buffer);
    });
    return entry;
  }

  /** Renders the batch and sends it until every event is delivered or dead-lettered (true), or it is given up (false). */
  private async deliverBatch(events: readonly OutEvent[]): Promise<boolean> {
    const render = this.binding.render;
    if (render === undefined) return this.deliver(events, events);
    const out: OutEvent[] = [];
    const origin: OutEvent[] = [];
    const bad: { event: OutEvent; reason: string }[] = [];
    for (const e of events) {
      try {
        out.push(render(e));
        origin.push(e);
      } catch (err) {
        bad.push({ event: e, reason: `cannot render the event in this sink's format: ${describeError(err)}` });
      }
    }
    this.deadLetter(bad);
    return out.length === 0 ? true : this.deliver(out, origin);
  }

  /**
   * Sends `out` (rendered; `origin[i]` is the journaled event behind `out[i]`) until settled. A receiver refusing the
   * size gets the halves, one after the other.
   */
  private async deliver(out: readonly OutEvent[], origin: readonly OutEvent[]): Promise<boolean> {
    const st = this.status;
    let pending = out;
    let from = origin;
    let attempt = 0;
    while (pending.length > 0) {
      if (this.failed || this.sendSignal.aborted) return false;
      let result: SendResult | void;
      const started = performance.now();
      try {
        if (st.state !== 'retrying') st.state = 'delivering';
        result = await this.sink.send(pending, this.sendSignal);
      } catch (err) {
        if (isAbort(err, this.sendSignal)) return false;
        this.metrics.sendTime((performance.now() - started) / 1000, 'error');
        const code = isCollectorError(err) ? err.code : undefined;
        if (code === 'SINK_TOO_LARGE') {
          if (pending.length === 1) {
            this.deadLetter([{ event: from[0] as OutEvent, reason: `too large for the receiver: ${describeError(err)}` }]);
            return true;
          }
          const mid = Math.ceil(pending.length / 2);
          this.log.info({ events: pending.length, err: describeError(err) }, 'receiver refused the request size: sending the batch in halves');
          return (await this.deliver(pending.slice(0, mid), from.slice(0, mid))) && (await this.deliver(pending.slice(mid), from.slice(mid)));
        }
        if (code === 'SINK_PERMANENT') {
          const reason = describeError(err);
          this.deadLetter(from.map((event) => ({ event, reason })));
          this.noteSettled(attempt);
          return true;
        }
        if (code === 'SINK_CONFIG') {
          this.fail(err);
          return false;
        }
        attempt += 1;
        const retryAfter = isCollectorError(err) ? err.retryAfterMs : undefined;
        if (!(await this.backoff(attempt, retryAfter, code, describeError(err), pending.length, 'sink delivery failed; sending the same events again'))) return false;
        continue;
      }
      const verdict = this.verdicts(result, pending.length);
      const whole = verdict.retry.length === 0 && verdict.rejected.length === 0;
      this.metrics.sendTime((performance.now() - started) / 1000, whole ? 'ok' : 'partial');
      this.metrics.delivered(from, whole ? undefined : new Set([...verdict.retry, ...verdict.rejected].map((v) => v.index)));
      st.delivered += pending.length - verdict.retry.length - verdict.rejected.length;
      if (verdict.rejected.length > 0) this.deadLetter(verdict.rejected.map((v) => ({ event: from[v.index] as OutEvent, reason: v.reason })));
      if (verdict.retry.length === 0) {
        this.noteSettled(attempt);
        return true;
      }
      attempt += 1;
      const retryIdx = verdict.retry.map((v) => v.index);
      const first = verdict.retry[0]?.reason ?? '';
      pending = retryIdx.map((i) => pending[i] as OutEvent);
      from = retryIdx.map((i) => from[i] as OutEvent);
      if (!(await this.backoff(attempt, result?.retryAfterMs, 'SINK_RETRYABLE', `${retryIdx.length} events to send again: ${first}`, retryIdx.length, 'receiver took part of the batch; sending the rest again'))) return false;
    }
    return true;
  }

  /** The sink's verdicts, checked: a position out of range or listed twice is the sink's bug, logged and ignored. */
  private verdicts(result: SendResult | void, n: number): { retry: EventVerdict[]; rejected: EventVerdict[] } {
    if (result === undefined || (result.retry === undefined && result.rejected === undefined)) return { retry: [], rejected: [] };
    const seen = new Set<number>();
    const keep = (vs: readonly EventVerdict[] | undefined): EventVerdict[] => {
      const out: EventVerdict[] = [];
      for (const v of vs ?? []) {
        if (!Number.isInteger(v.index) || v.index < 0 || v.index >= n || seen.has(v.index)) {
          this.log.error({ index: v.index, events: n }, 'sink reported a verdict for an event it was not given (ignored: the event counts as delivered)');
          continue;
        }
        seen.add(v.index);
        out.push(v);
      }
      return out;
    };
    const rejected = keep(result.rejected);
    return { retry: keep(result.retry), rejected };
  }

  /** A send ended with nothing left to send again. */
  private noteSettled(attempts: number): void {
    const st = this.status;
    st.batches += 1;
    this.metrics.settled();
    st.lastDeliveryAt = Date.now();
    if (st.failingSince !== undefined || attempts > 0) {
      if (st.failingSince !== undefined) this.log.info({ after_attempts: attempts }, 'sink recovered; delivery resumed');
      delete st.failingSince;
    }
    if (st.inFlight <= 1) st.state = 'idle';
    else st.state = 'delivering';
  }

  /**
   * Records a failed attempt and waits before the next one (probing the receiver meanwhile). False when the
   * events must be given up: the pipeline is stopping (they are sent again after the restart) or the sink stopped.
   */
  private async backoff(attempt: number, retryAfterMs: number | undefined, code: string | undefined, message: string, events: number, what: string): Promise<boolean> {
    const st = this.status;
    st.retries += 1;
    this.metrics.retried(events, code);
    st.state = 'retrying';
    st.lastError = { at: Date.now(), message, ...(code !== undefined ? { code } : {}) };
    st.failingSince ??= st.lastError.at;
    const delay = backoffDelay(attempt, SINK_RETRY, retryAfterMs);
    // With several batches in flight, one outage fails them all: the batch that found it says so, the others
    // (waiting for the same receiver) at debug, so an outage is a few lines, not one per batch and attempt.
    const logFn = this.backingOff > 0 ? this.log.debug.bind(this.log) : attempt <= 3 ? this.log.warn.bind(this.log) : this.log.error.bind(this.log);
    logFn({ code, err: message, events, attempt, retry_in_ms: delay, ...(this.backingOff > 0 ? { batches_waiting: this.backingOff + 1 } : {}) }, what);
    if (this.ctx.stopping() || this.failed) return false;
    this.backingOff += 1;
    try {
      await this.waitToRetry(delay);
    } catch {
      return false;
    } finally {
      this.backingOff -= 1;
    }
    return !this.ctx.stopping() && !this.failed;
  }

  /**
   * The sink's probe, shared by the batches waiting to retry: one probe at a time, and its answer reused for a
   * while, so a receiver that is down is not asked once per batch in flight.
   */
  private probeReceiver(probe: (signal: AbortSignal) => Promise<boolean>, signal: AbortSignal): Promise<boolean> {
    if (this.probing !== undefined) return this.probing;
    if (Date.now() - this.probedAt < SINK_PROBE_INTERVAL_MS / 2) return Promise.resolve(this.probedUp);
    const p = probe(signal)
      .catch(() => false)
      .then((up) => {
        this.probedAt = Date.now();
        this.probedUp = up;
        this.probing = undefined;
        return up;
      });
    this.probing = p;
    return p;
  }

  /** Waits `delayMs`, cut short when the sink's probe says its receiver is back. Rejects with ABORTED on stop. */
  private async waitToRetry(delayMs: number): Promise<void> {
    const signal = this.retrySignal;
    const end = Date.now() + delayMs;
    for (;;) {
      const left = end - Date.now();
      if (left <= 0) return;
      if (this.sink.probe === undefined) {
        await sleep(left, signal);
        return;
      }
      await sleep(Math.min(left, SINK_PROBE_INTERVAL_MS), signal);
      if (end - Date.now() <= 0) return;
      const up = await this.probeReceiver(this.sink.probe.bind(this.sink), signal);
      if (signal.aborted) throw new CollectorError('ABORTED', 'aborted');
      if (up) return;
    }
  }

  /**
   * Sends again, through the same render and send path, the dead letters of this sink an operator asked for (a
   * bounded round, in batches of this sink's limits). Delivered rows are deleted, rows rejected again keep the new
   * reason; the events never go back into the events table (the other sinks had them already). A round given up
   * (stopping, the sink stopped) leaves the rest requested, for the next start.
   */
  private async resendDeadLetters(): Promise<void> {
    const rows = this.ctx.journal.deadLetterRetries(this.sink.name, DEAD_LETTER_RETRY_ROUND);
    if (rows.length === 0) return;
    const { max_events: maxEvents, max_bytes: maxBytes } = this.binding.batch;
    let delivered = 0;
    let again = 0;
    let given = false;
    for (let i = 0; i < rows.length && !given; ) {
      const chunk: DeadLetterRow[] = [];
      let bytes = 0;
      for (let r = rows[i]; r !== undefined && chunk.length < maxEvents; r = rows[i]) {
        if (chunk.length > 0 && bytes + r.event.size + 1 > maxBytes) break;
        bytes += r.event.size + 1;
        chunk.push(r);
        i += 1;
      }
      const rejected = new Map<number, string>();
      for (const r of chunk) this.resent.set(r.event, { id: r.id, rejected });
      if (!(await this.deliverBatch(chunk.map((r) => r.event)))) {
        given = true;
        break;
      }
      const done = chunk.filter((r) => !rejected.has(r.id)).map((r) => r.id);
      this.ctx.journal.settleDeadLetterRetries(done, [...rejected].map(([id, reason]) => ({ id, reason })));
      delivered += done.length;
      again += rejected.size;
    }
    this.log.info({ delivered, rejected_again: again, given_up: given ? rows.length - delivered - again : 0 }, 'dead letters sent again on request');
  }

  private deadLetter(all: readonly { event: OutEvent; reason: string }[]): void {
    // An event sent again from the dead-letter table keeps its row (its round records the new reason).
    const items = all.filter(({ event, reason }) => {
      const from = this.resent.get(event);
      from?.rejected.set(from.id, reason);
      return from === undefined;
    });
    if (items.length === 0) return;
    this.ctx.journal.deadLetterEach(this.sink.name, items);
    this.metrics.deadLettered(items.map((i) => i.event));
    const st = this.status;
    st.deadLettered += items.length;
    const reason = items[items.length - 1]?.reason ?? '';
    st.lastDeadLetter = { at: Date.now(), reason };
    this.log.error({ events: items.length, reason: items[0]?.reason }, 'receiver rejected events for good: moved to the dead-letter table (see `dead-letters list`)');
  }

  /** Stops this sink for a problem only the operator can fix; its backlog stays in the journal. */
  private fail(err: unknown): void {
    if (this.failed) return;
    const st = this.status;
    const code = isCollectorError(err) ? err.code : undefined;
    st.state = 'failed';
    st.lastError = { at: Date.now(), message: describeError(err), ...(code !== undefined ? { code } : {}) };
    st.failingSince ??= st.lastError.at;
    this.log.error({ code, err: describeError(err) }, 'sink stopped: fix its configuration and restart; its backlog is kept in the journal and the other sinks go on');
    this.ctx.onStopped?.(this.sink.name, describeError(err));
    this.own.abort();
  }
}
