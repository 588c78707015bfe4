// HTTP for every Mimecast call and blob download: the shared client setup (core/http-agent.ts), total deadlines, counters.
import { ApiError } from '../core/errors.js';
import { safeTimeout, type SafeTimer } from '../core/util.js';
import type { Logger } from '../telemetry/logger.js';
import { NOOP_METRICS, type ApiMetrics } from '../telemetry/metrics.js';

export { createHttpAgent, HTTP_DEFAULTS, type HttpAgentOptions } from '../core/http-agent.js';

/** Default `call_deadline`: one API call attempt, request to last byte of the reply. */
export const DEFAULT_CALL_DEADLINE_MS = 2 * 60_000;
/** Default `download_deadline`: one file transfer, request to last byte (1 GB fits at ~0.6 MB/s). */
export const DEFAULT_DOWNLOAD_DEADLINE_MS = 30 * 60_000;

/** What one account's HTTP traffic has met, for /status: transfers cut at their deadline, server waits clamped, redirects. */
export interface HttpStatsSnapshot {
  deadlines_hit: number;
  waits_clamped: number;
  redirects_followed: number;
}

/** Counters shared by every client of one account (the API client, its token provider, blob downloads). */
export class HttpStats {
  deadlinesHit = 0;
  waitsClamped = 0;
  redirectsFollowed = 0;

  /** `metrics`: where every exchange and token request of the account is counted (/metrics); nowhere by default. */
  constructor(readonly metrics: ApiMetrics = NOOP_METRICS.api('')) {}

  snapshot(): HttpStatsSnapshot {
    return { deadlines_hit: this.deadlinesHit, waits_clamped: this.waitsClamped, redirects_followed: this.redirectsFollowed };
  }
}

function formatMs(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1_000 === 0) return `${ms / 1_000}s`;
  return `${ms}ms`;
}

export interface DeadlineOptions {
  /** The call as messages name it. */
  call: string;
  ms: number;
  /** The config key that sets `ms`, named in the error so an operator knows what to raise. */
  key: string;
  /** The caller's stop signal: it still aborts the transfer, as ABORTED, not as a deadline. */
  signal?: AbortSignal | undefined;
  /** Called once if the deadline passes (log and count it there). */
  onExpire?: (err: ApiError) => void;
}

/**
 * A total time limit for one transfer. undici's timeouts only measure silence, so a server that sends a byte every
 * few seconds would hold a transfer forever; this aborts it when its time is up and turns what the abort throws into
 * a retryable API_TIMEOUT naming the call and the limit, while the caller's own abort stays ABORTED.
 */
export class Deadline {
  readonly call: string;
  readonly #controller = new AbortController();
  readonly #parent: AbortSignal | undefined;
  readonly #started = performance.now();
  readonly #onParentAbort = (): void => this.#controller.abort(this.#parent?.reason);
  readonly #listeners: ((err: ApiError) => void)[] = [];
  #ms: number;
  #key: string;
  #timer: SafeTimer | undefined;
  #error: ApiError | undefined;

  constructor(opts: DeadlineOptions) {
    this.call = opts.call;
    this.#ms = opts.ms;
    this.#key = opts.key;
    this.#parent = opts.signal;
    if (opts.onExpire !== undefined) this.#listeners.push(opts.onExpire);
    if (this.#parent?.aborted === true) this.#controller.abort(this.#parent.reason);
    else this.#parent?.addEventListener('abort', this.#onParentAbort, { once: true });
    this.#arm();
  }

  /** Aborts when the deadline passes or the caller's signal fires; hand it to undici. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#error !== undefined;
  }

  /** Also call `fn` when the deadline passes (e.g. to end a stream handed to the caller). */
  onExpire(fn: (err: ApiError) => void): void {
    if (this.#error !== undefined) fn(this.#error);
    else this.#listeners.push(fn);
  }

  /** Moves the end to `ms` after the start, under config key `key` (a call whose reply turned out to be a file). */
  extend(ms: number, key: string): void {
    if (this.#error !== undefined || this.#timer === undefined) return;
    this.#ms = ms;
    this.#key = key;
    this.#timer.clear();
    this.#arm();
  }

  /** The error to throw for anything that failed because the deadline passed; `err` unchanged otherwise. */
  map(err: unknown): unknown {
    if (this.#error === undefined || this.#parent?.aborted === true) return err;
    return this.#error;
  }

  /** Throws the deadline's API_TIMEOUT if it has passed (after a step that swallows errors, like reading an error body). */
  throwIfExpired(): void {
    if (this.#error !== undefined && this.#parent?.aborted !== true) throw this.#error;
  }

  /** Stops the timer and lets go of the caller's signal. Idempotent. */
  clear(): void {
    this.#timer?.clear();
    this.#timer = undefined;
    this.#parent?.removeEventListener('abort', this.#onParentAbort);
  }

  #arm(): void {
    const left = this.#ms - (performance.now() - this.#started);
    this.#timer = safeTimeout(() => this.#expire(), left);
  }

  #expire(): void {
    this.#timer = undefined;
    if (this.#parent?.aborted === true || this.#error !== undefined) return;
    const err = new ApiError(
      'API_TIMEOUT',
      `${this.call} did not finish within ${formatMs(this.#ms)} (${this.#key}); aborted it, it will be retried`,
      this.call,
      { retryable: true, details: { deadlineMs: this.#ms, key: this.#key } },
    );
    this.#error = err;
    this.#parent?.removeEventListener('abort', this.#onParentAbort);
    this.#controller.abort(err);
    for (const fn of this.#listeners.splice(0)) fn(err);
  }
}

/** Deadlines and counters every transfer of one account shares; built once per client from its options. */
export interface TransferRules {
  callDeadlineMs: number;
  downloadDeadlineMs: number;
  stats: HttpStats;
  logger: Logger;
}

/** A Deadline for one transfer that, when it passes, logs at warn once and counts it. */
export function transferDeadline(rules: TransferRules, call: string, signal: AbortSignal | undefined, kind: 'call' | 'download'): Deadline {
  const download = kind === 'download';
  return new Deadline({
    call,
    ms: download ? rules.downloadDeadlineMs : rules.callDeadlineMs,
    key: download ? 'download_deadline' : 'call_deadline',
    signal,
    onExpire: (err) => {
      rules.stats.deadlinesHit++;
      rules.logger.warn({ call, ...err.details, err: err.message }, 'mimecast transfer passed its deadline; aborted');
    },
  });
}
