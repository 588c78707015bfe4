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

/** For sink drains: the drain decides whether to keep going forever; this only shapes the waits. */
export const SINK_RETRY: RetryPolicy = Object.freeze({ retries: 10, minDelayMs: 1_000, maxDelayMs: 60_000, factor: 2 });

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
