// The project's one retry policy: exponential backoff with full jitter, run through p-retry, honouring retryAfterMs.
import pRetry from 'p-retry';
import { CollectorError } from './errors.js';
import { sleep } from './util.js';

export interface RetryPolicy {
  /** Retries after the first attempt; always finite. */
  retries: number;
  minDelayMs: number;
  maxDelayMs: number;
  factor: number;
}

/** For calls to the Mimecast API: a handful of tries spread over about a minute. */
export const API_RETRY: RetryPolicy = Object.freeze({ retries: 5, minDelayMs: 500, maxDelayMs: 30_000, factor: 2 });

/**
 * For sink drains: the drain decides whether to keep going forever; this only shapes the waits. Capped at 30 s, and
 * a sink that can probe its receiver is probed every few seconds meanwhile (Pipeline), so a fix is noticed quickly.
 */
export const SINK_RETRY: RetryPolicy = Object.freeze({ retries: 10, minDelayMs: 1_000, maxDelayMs: 30_000, factor: 2 });

/**
 * For a SIEM file that fails to download or arrives cut (either generation): waits from 1 s growing to a minute,
 * fresh URLs each time. How long a file keeps being tried is a span of time (FileRetryBudget), not this count.
 */
export const FILE_RETRY: RetryPolicy = Object.freeze({ retries: 1_000, minDelayMs: 1_000, maxDelayMs: 60_000, factor: 2 });

/** Default `streams.siem.file_retry_span`: how long a failing file is tried again before it is quarantined. */
export const DEFAULT_FILE_RETRY_SPAN_MS = 10 * 60_000;
/** A file is quarantined only after at least this many failed attempts, however short the span. */
export const MIN_FILE_ATTEMPTS = 3;

/**
 * Decides, for one file, whether another attempt follows a failure and how long to wait before it. Transient faults
 * (a storage redirect storm, a proxy cutting downloads for a while) are ridden out: the file is given up only when
 * it has failed at least MIN_FILE_ATTEMPTS times and for longer than `spanMs` since its first failure.
 */
export class FileRetryBudget {
  private first: number | undefined;
  private failures = 0;

  constructor(
    private readonly spanMs: number = DEFAULT_FILE_RETRY_SPAN_MS,
    private readonly now: () => number = Date.now,
    private readonly policy: RetryPolicy = FILE_RETRY,
  ) {}

  /** Failed attempts so far. */
  get attempts(): number {
    return this.failures;
  }

  /** Time since the first failure, 0 before any. */
  elapsedMs(): number {
    return this.first === undefined ? 0 : Math.max(0, this.now() - this.first);
  }

  /**
   * Records a failure. Returns the wait before the next attempt, or undefined when the file should be given up
   * (quarantined). `retryAfterMs` (the server asked for a pause) raises the wait, bounded by what is left of the span.
   */
  fail(retryAfterMs?: number): number | undefined {
    const t = this.now();
    this.first ??= t;
    this.failures += 1;
    const elapsed = t - this.first;
    if (this.failures >= MIN_FILE_ATTEMPTS && elapsed >= this.spanMs) return undefined;
    const wait = backoffDelay(this.failures, this.policy, retryAfterMs);
    // Never wait far past the span's end only to give up then: the last attempt comes when the span is over.
    const left = Math.max(this.policy.minDelayMs, this.spanMs - elapsed);
    return Math.min(wait, left);
  }

  /** A success: the next failure starts a new span. */
  reset(): void {
    this.first = undefined;
    this.failures = 0;
  }
}

/**
 * Delay before the retry that follows failed attempt number `attempt` (1-based: after the first failure
 * pass 1). Full jitter: uniform in [0, min(maxDelayMs, minDelayMs * factor^(attempt-1))], so many callers
 * failing together spread out; never less than `retryAfterMs` because the other side asked for that.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  const factor = policy.factor > 0 ? policy.factor : 1;
  const ceiling = Math.min(policy.maxDelayMs, policy.minDelayMs * factor ** (n - 1));
  const jittered = Math.round(Math.random() * Math.max(0, ceiling));
  const floor = retryAfterMs !== undefined && Number.isFinite(retryAfterMs) ? Math.max(0, retryAfterMs) : 0;
  return Math.max(jittered, Math.ceil(floor));
}

export interface RetryCallOptions {
  signal?: AbortSignal;
  /** Called before each wait with the error, the attempt that failed (1-based) and the wait. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

function isRetryable(err: unknown): err is CollectorError {
  return err instanceof CollectorError && err.retryable && err.code !== 'ABORTED';
}

/**
 * Runs `fn` until it succeeds, retrying only CollectorErrors marked `retryable`, at most `policy.retries`
 * times. Any other error, or an abort, ends it at once; an abort rejects with CollectorError ABORTED.
 */
export async function retryCall<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy,
  opts: RetryCallOptions = {},
): Promise<T> {
  if (!Number.isFinite(policy.retries) || policy.retries < 0) {
    throw new RangeError(`retry policy needs a finite, non-negative retries count, got ${policy.retries}`);
  }
  const { signal, onRetry } = opts;
  try {
    return await pRetry(fn, {
      retries: Math.floor(policy.retries),
      // p-retry's own delay ignores retryAfterMs, so it is switched off and the wait happens in
      // onFailedAttempt, which p-retry awaits before the next attempt.
      minTimeout: 0,
      factor: 1,
      randomize: false,
      unref: true,
      ...(signal === undefined ? {} : { signal }),
      shouldRetry: ({ error }) => isRetryable(error),
      onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
        // p-retry calls this before deciding, so only wait when a retry will really follow.
        if (!isRetryable(error) || retriesLeft <= 0) return;
        const delayMs = backoffDelay(attemptNumber, policy, error.retryAfterMs);
        onRetry?.(error, attemptNumber, delayMs);
        await sleep(delayMs, signal);
      },
    });
  } catch (err) {
    if (signal?.aborted === true && !(err instanceof CollectorError && err.code === 'ABORTED')) {
      throw new CollectorError('ABORTED', 'aborted', { cause: err });
    }
    throw err;
  }
}
