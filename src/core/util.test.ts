// Tests for the timer helpers: no wait, however long or strange, may reach setTimeout as more than 2^31-1 ms.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CollectorError } from './errors.js';
import { MAX_TIMER_MS, raceAbort, safeTimeout, sleep } from './util.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('safeTimeout', () => {
  it('fires after a wait longer than Node can hold in one timer, not 1 ms later', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    safeTimeout(fired, MAX_TIMER_MS + 5_000);
    vi.advanceTimersByTime(1_000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MAX_TIMER_MS - 1_000);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(5_000);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('every single setTimeout it makes stays within 2^31-1 ms', () => {
    vi.useFakeTimers();
    const spy = vi.spyOn(globalThis, 'setTimeout');
    safeTimeout(() => undefined, 1e15);
    vi.advanceTimersByTime(3 * MAX_TIMER_MS);
    for (const call of spy.mock.calls) expect(call[1]).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(spy.mock.calls.length).toBeGreaterThanOrEqual(4);
  });

  it('treats NaN and negative waits as 0 and can be cleared mid-chain', () => {
    vi.useFakeTimers();
    const a = vi.fn();
    const b = vi.fn();
    safeTimeout(a, Number.NaN);
    safeTimeout(b, -5);
    vi.advanceTimersByTime(0);
    expect(a).toHaveBeenCalledTimes(1);
    expect(b).toHaveBeenCalledTimes(1);
    const c = vi.fn();
    const t = safeTimeout(c, 2 * MAX_TIMER_MS);
    vi.advanceTimersByTime(MAX_TIMER_MS + 10);
    t.clear();
    vi.advanceTimersByTime(2 * MAX_TIMER_MS);
    expect(c).not.toHaveBeenCalled();
  });
});

describe('sleep', () => {
  it('a wait of 999999999 s does not end after 1 ms (timer overflow)', async () => {
    vi.useFakeTimers();
    let done = false;
    void sleep(999_999_999_000).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(done).toBe(false);
  });

  it('still rejects with ABORTED when its signal fires during a long wait', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const p = sleep(10 * MAX_TIMER_MS, ac.signal);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS + 1);
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(CollectorError);
  });
});

describe('raceAbort', () => {
  it('gives the promise\'s value or error, or ABORTED as soon as the signal fires (before or during the wait)', async () => {
    await expect(raceAbort(Promise.resolve(7), new AbortController().signal)).resolves.toBe(7);
    await expect(raceAbort(Promise.reject(new Error('boom')), undefined)).rejects.toThrow('boom');
    const before = new AbortController();
    before.abort();
    await expect(raceAbort(Promise.resolve(1), before.signal)).rejects.toMatchObject({ code: 'ABORTED' });
    const during = new AbortController();
    const waiting = raceAbort(new Promise<never>(() => undefined), during.signal);
    during.abort();
    await expect(waiting).rejects.toBeInstanceOf(CollectorError);
  });
});
