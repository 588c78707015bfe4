// Tests for the per-credential limiter: concurrency cap, shared 429 pauses, aborts, close.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS } from '../core/util.js';
import { CollectorError } from '../core/errors.js';
import { CredentialLimiter } from './limiter.js';

function settled(p: Promise<unknown>): { done: () => boolean } {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  return { done: () => done };
}

const tick = (ms = 10): Promise<void> => new Promise((r) => setTimeout(r, ms));

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('CredentialLimiter', () => {
  it('caps concurrency and hands slots out in FIFO order', async () => {
    const limiter = new CredentialLimiter({ maxConcurrent: 2 });
    await limiter.acquire();
    await limiter.acquire();
    const order: number[] = [];
    const third = limiter.acquire().then(() => order.push(3));
    const fourth = limiter.acquire().then(() => order.push(4));
    await tick();
    expect(order).toEqual([]);
    expect(limiter.stats()).toMatchObject({ active: 2, waiting: 2 });
    limiter.release();
    await third;
    expect(order).toEqual([3]);
    limiter.release();
    await fourth;
    expect(order).toEqual([3, 4]);
    expect(limiter.stats()).toMatchObject({ active: 2, waiting: 0 });
  });

  it('holds every caller, waiting and new, until a pause ends', async () => {
    const limiter = new CredentialLimiter({ maxConcurrent: 4 });
    const pausedAt = performance.now();
    limiter.pause(200);
    const times: number[] = [];
    const all = Promise.all([1, 2, 3].map(() => limiter.acquire().then(() => times.push(performance.now()))));
    await all;
    expect(times).toHaveLength(3);
    for (const t of times) expect(t - pausedAt).toBeGreaterThanOrEqual(190);
    const stats = limiter.stats();
    expect(stats.pauses).toBe(1);
    expect(stats.waitedMs).toBeGreaterThanOrEqual(3 * 180);
    expect(stats.pausedForMs).toBe(0);
  });

  it('a later, longer pause extends a running one; a shorter one does not shorten it', async () => {
    const limiter = new CredentialLimiter();
    const start = performance.now();
    limiter.pause(100);
    const waiter = limiter.acquire();
    limiter.pause(250);
    limiter.pause(10);
    await waiter;
    expect(performance.now() - start).toBeGreaterThanOrEqual(240);
    expect(limiter.stats().pauses).toBe(3);
  });

  it('an aborted waiter leaves the queue at once with ABORTED and does not take a slot', async () => {
    const limiter = new CredentialLimiter({ maxConcurrent: 1 });
    await limiter.acquire();
    const ac = new AbortController();
    const waiting = limiter.acquire(ac.signal);
    const s = settled(waiting);
    await tick();
    expect(s.done()).toBe(false);
    ac.abort();
    const err = await waiting.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as CollectorError).code).toBe('ABORTED');
    expect(limiter.stats().waiting).toBe(0);
    limiter.release();
    await limiter.acquire();
    expect(limiter.stats().active).toBe(1);
  });

  it('rejects an already-aborted signal and, after close(), all waiters', async () => {
    const limiter = new CredentialLimiter({ maxConcurrent: 1 });
    await expect(limiter.acquire(AbortSignal.abort())).rejects.toMatchObject({ code: 'ABORTED' });
    await limiter.acquire();
    const waiting = limiter.acquire();
    limiter.close();
    limiter.close();
    await expect(waiting).rejects.toMatchObject({ code: 'ABORTED' });
    await expect(limiter.acquire()).rejects.toMatchObject({ code: 'ABORTED' });
  });

  it('a pause longer than one Node timer holds keeps everyone waiting, with no 1 ms timer loop', async () => {
    vi.useFakeTimers();
    let clock = 0;
    const limiter = new CredentialLimiter({ now: () => clock });
    const spy = vi.spyOn(globalThis, 'setTimeout');
    limiter.pause(1e12, 'HTTP 429 test');
    const s = settled(limiter.acquire());
    clock += 60_000;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.done()).toBe(false);
    // Before: a 1e12 ms timer became a 1 ms one that re-armed itself every millisecond.
    expect(spy.mock.calls.length).toBeLessThan(5);
    for (const call of spy.mock.calls) expect(call[1]).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(limiter.stats()).toMatchObject({ paused: true, reason: 'HTTP 429 test' });
    limiter.close();
  });

  it('reports the reason of the pause in force, and none once it is over', async () => {
    let clock = 0;
    const limiter = new CredentialLimiter({ now: () => clock });
    limiter.pause(1_000, 'HTTP 429 X-RateLimit-Reset=1000');
    expect(limiter.stats()).toMatchObject({ paused: true, pausedForMs: 1_000, reason: 'HTTP 429 X-RateLimit-Reset=1000' });
    limiter.pause(10, 'shorter');
    expect(limiter.stats().reason).toBe('HTTP 429 X-RateLimit-Reset=1000');
    clock = 1_001;
    expect(limiter.stats()).toMatchObject({ paused: false, pausedForMs: 0, pauses: 2 });
    expect(limiter.stats().reason).toBeUndefined();
    expect(limiter.stats().lastReason).toBe('HTTP 429 X-RateLimit-Reset=1000');
    limiter.close();
  });

  it('rejects a nonsensical concurrency', () => {
    expect(() => new CredentialLimiter({ maxConcurrent: 0 })).toThrow(RangeError);
  });
});
