// The status page's rolling history: a bounded ring sampled on a timer, rates per minute from counters.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Ring, StatusHistory, type HistoryReading } from './history.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Ring', () => {
  it('keeps the newest `capacity` entries, oldest first', () => {
    const r = new Ring<number>(3);
    expect(r.toArray()).toEqual([]);
    expect(r.last()).toBeUndefined();
    for (let i = 1; i <= 7; i++) r.push(i);
    expect(r.size).toBe(3);
    expect(r.toArray()).toEqual([5, 6, 7]);
    expect(r.last()).toBe(7);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new Ring(0)).toThrow(RangeError);
    expect(() => new Ring(1.5)).toThrow(RangeError);
  });
});

describe('StatusHistory', () => {
  it('samples once a minute on its timer, stays bounded, and turns counters into per-minute rates', () => {
    vi.useFakeTimers();
    vi.setSystemTime(Date.parse('2026-12-06T10:00:00Z'));
    let events = 0;
    let delivered = 0;
    let lag: number | undefined;
    const read = (): HistoryReading => ({
      sources: [{ key: 'corp/audit', events, lag_ms: lag }],
      sinks: [{ name: 'hec', backlog: events - delivered, delivered }],
    });
    const h = new StatusHistory({ read, intervalMs: 60_000, capacity: 5 });
    h.start();
    h.start(); // idempotent: one timer only
    expect(h.snapshot().t).toHaveLength(1);
    expect(h.snapshot().sources['corp/audit']).toEqual({ lag_ms: [null], events_per_min: [null] });

    // 120 events in the first minute, 30 in the second, none after; lag known from the first batch on.
    events = 120;
    lag = 5_000;
    vi.advanceTimersByTime(60_000);
    events = 150;
    delivered = 100;
    lag = 7_000;
    vi.advanceTimersByTime(60_000);
    let snap = h.snapshot();
    expect(snap.t).toEqual([0, 1, 2].map((i) => Date.parse('2026-12-06T10:00:00Z') + i * 60_000));
    expect(snap.sources['corp/audit']).toEqual({ lag_ms: [null, 5_000, 7_000], events_per_min: [null, 120, 30] });
    expect(snap.sinks['hec']).toEqual({ backlog: [0, 120, 50], delivered_per_min: [null, 0, 100] });

    // Hours later: still only `capacity` samples, the newest ones.
    vi.advanceTimersByTime(10 * 60_000);
    snap = h.snapshot();
    expect(snap.t).toHaveLength(5);
    expect(snap.t.at(-1)).toBe(Date.parse('2026-12-06T10:12:00Z'));
    expect(snap.sources['corp/audit']?.events_per_min).toEqual([0, 0, 0, 0, 0]);
    expect(snap.capacity).toBe(5);
    expect(snap.interval_ms).toBe(60_000);

    h.stop();
    vi.advanceTimersByTime(5 * 60_000);
    expect(h.snapshot().t.at(-1)).toBe(Date.parse('2026-12-06T10:12:00Z'));
  });

  it('a rate over a gap that is not one minute is still per minute; a counter that went back gives no rate', () => {
    let now = 0;
    let events = 0;
    const h = new StatusHistory({ read: () => ({ sources: [{ key: 's', events }], sinks: [] }), now: () => now });
    h.sample();
    now = 30_000;
    events = 50;
    h.sample();
    now = 90_000;
    events = 10;
    h.sample();
    expect(h.snapshot().sources['s']?.events_per_min).toEqual([null, 100, null]);
  });

  it('a source that appears later has nulls before it', () => {
    let keys = ['a'];
    const h = new StatusHistory({ read: () => ({ sources: keys.map((key) => ({ key, events: 1, lag_ms: 1 })), sinks: [] }), now: () => 0 });
    h.sample();
    keys = ['a', 'b'];
    h.sample();
    expect(h.snapshot().sources['b']).toEqual({ lag_ms: [null, 1], events_per_min: [null, null] });
  });
});
