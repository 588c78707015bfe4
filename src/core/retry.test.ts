// Tests for the shared retry helper: which errors are retried, how long it waits, and that it stops.
import { describe, expect, it } from 'vitest';
import { CollectorError, ApiError } from './errors.js';
import { API_RETRY, FILE_RETRY, FileRetryBudget, MIN_FILE_ATTEMPTS, SINK_RETRY, backoffDelay, retryCall, type RetryPolicy } from './retry.js';

const FAST: RetryPolicy = { retries: 3, minDelayMs: 1, maxDelayMs: 5, factor: 2 };

function retryable(msg = 'flaky', retryAfterMs?: number): CollectorError {
  return new CollectorError('API_SERVER_ERROR', msg, { retryable: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
}

describe('backoffDelay', () => {
  it('stays within the exponential ceiling and never exceeds maxDelayMs', () => {
    const policy: RetryPolicy = { retries: 10, minDelayMs: 100, maxDelayMs: 1_000, factor: 2 };
    for (let i = 0; i < 200; i++) {
      expect(backoffDelay(1, policy)).toBeLessThanOrEqual(100);
      expect(backoffDelay(3, policy)).toBeLessThanOrEqual(400);
      const late = backoffDelay(20, policy);
      expect(late).toBeGreaterThanOrEqual(0);
      expect(late).toBeLessThanOrEqual(1_000);
    }
  });

  it('spreads delays (full jitter) rather than returning a constant', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(backoffDelay(4, { retries: 5, minDelayMs: 1_000, maxDelayMs: 60_000, factor: 2 }));
    expect(seen.size).toBeGreaterThan(10);
  });

  it('never waits less than retryAfterMs, even above maxDelayMs', () => {
    for (let i = 0; i < 50; i++) {
      expect(backoffDelay(1, FAST, 250)).toBeGreaterThanOrEqual(250);
      expect(backoffDelay(1, API_RETRY, 45_000)).toBeGreaterThanOrEqual(45_000);
    }
  });

  it('has sane shipped policies', () => {
    expect(API_RETRY.retries).toBeGreaterThan(0);
    expect(Number.isFinite(API_RETRY.retries)).toBe(true);
    expect(SINK_RETRY.minDelayMs).toBe(1_000);
    expect(SINK_RETRY.maxDelayMs).toBe(30_000);
  });
});

describe('retryCall', () => {
  it('retries retryable errors and returns the eventual result', async () => {
    const attempts: number[] = [];
    const retries: number[] = [];
    const result = await retryCall(
      async (attempt) => {
        attempts.push(attempt);
        if (attempt < 3) throw retryable();
        return 'ok';
      },
      FAST,
      { onRetry: (_err, attempt) => retries.push(attempt) },
    );
    expect(result).toBe('ok');
    expect(attempts).toEqual([1, 2, 3]);
    expect(retries).toEqual([1, 2]);
  });

  it('stops after policy.retries and rethrows the last error', async () => {
    let calls = 0;
    const err = await retryCall(async () => {
      calls++;
      throw retryable(`fail ${calls}`);
    }, FAST).catch((e: unknown) => e);
    expect(calls).toBe(FAST.retries + 1);
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as Error).message).toBe(`fail ${FAST.retries + 1}`);
  });

  it('does not retry non-retryable CollectorErrors or foreign errors', async () => {
    let calls = 0;
    const permanent = new ApiError('API_BAD_REQUEST', 'bad', 'GET /x', { status: 400 });
    await expect(
      retryCall(async () => {
        calls++;
        throw permanent;
      }, FAST),
    ).rejects.toBe(permanent);
    expect(calls).toBe(1);

    calls = 0;
    await expect(
      retryCall(async () => {
        calls++;
        throw new Error('plain');
      }, FAST),
    ).rejects.toThrow('plain');
    expect(calls).toBe(1);
  });

  it('waits at least retryAfterMs before the next attempt', async () => {
    const times: number[] = [];
    const delays: number[] = [];
    await retryCall(
      async (attempt) => {
        times.push(performance.now());
        if (attempt === 1) throw retryable('slow down', 150);
        return 1;
      },
      FAST,
      { onRetry: (_e, _a, d) => delays.push(d) },
    );
    expect(delays[0]).toBeGreaterThanOrEqual(150);
    const gap = (times[1] ?? 0) - (times[0] ?? 0);
    expect(gap).toBeGreaterThanOrEqual(140);
  });

  it('stops a long wait promptly on abort with ABORTED', async () => {
    const ac = new AbortController();
    let calls = 0;
    const started = performance.now();
    setTimeout(() => ac.abort(), 30).unref();
    const err = await retryCall(
      async () => {
        calls++;
        throw retryable('wait long', 10_000);
      },
      FAST,
      { signal: ac.signal },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as CollectorError).code).toBe('ABORTED');
    expect(calls).toBe(1);
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('does not start at all when the signal is already aborted', async () => {
    let calls = 0;
    const err = await retryCall(
      async () => {
        calls++;
        return 1;
      },
      FAST,
      { signal: AbortSignal.abort() },
    ).catch((e: unknown) => e);
    expect(calls).toBe(0);
    expect((err as CollectorError).code).toBe('ABORTED');
  });

  it('refuses an unbounded policy', async () => {
    await expect(retryCall(async () => 1, { ...FAST, retries: Number.POSITIVE_INFINITY })).rejects.toThrow(RangeError);
  });
});

describe('FileRetryBudget', () => {
  it('keeps a failing file going for the whole span, then gives it up', () => {
    let now = 1_000_000;
    const budget = new FileRetryBudget(10 * 60_000, () => now);
    let tries = 0;
    for (;;) {
      const wait = budget.fail();
      if (wait === undefined) break;
      tries += 1;
      expect(wait).toBeGreaterThanOrEqual(0);
      expect(wait).toBeLessThanOrEqual(FILE_RETRY.maxDelayMs);
      now += Math.max(wait, 1); // the attempt itself takes a little time
      expect(tries).toBeLessThan(10_000);
    }
    // Given up only after the span: 150 ms of failures (the old behaviour) is nowhere near it.
    expect(budget.elapsedMs()).toBeGreaterThanOrEqual(10 * 60_000);
    expect(budget.attempts).toBeGreaterThanOrEqual(MIN_FILE_ATTEMPTS);
  });

  it('tries at least a few times even with a zero span', () => {
    const budget = new FileRetryBudget(0, () => 5);
    expect(budget.fail()).toBeDefined();
    expect(budget.fail()).toBeDefined();
    expect(budget.fail()).toBeUndefined();
  });

  it('starts over after a success', () => {
    let now = 0;
    const budget = new FileRetryBudget(1_000, () => now);
    budget.fail();
    now = 5_000;
    budget.reset();
    expect(budget.fail()).toBeDefined();
    expect(budget.attempts).toBe(1);
  });

  it('honours a server-asked pause, but not past the end of the span', () => {
    const budget = new FileRetryBudget(60_000, () => 0);
    expect(budget.fail(30_000)).toBeGreaterThanOrEqual(30_000);
    expect(budget.fail(10 * 60_000)).toBeLessThanOrEqual(60_000);
  });
});
