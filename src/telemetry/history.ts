// A small rolling history for the status page's charts: one sample per interval in a fixed-size ring, in memory.

/** Default sampling: one sample a minute, four hours kept (240 samples, a few tens of KB whatever the uptime). */
export const HISTORY_INTERVAL_MS = 60_000;
export const HISTORY_SAMPLES = 240;

/** A fixed-capacity ring: pushing past the capacity overwrites the oldest entry. */
export class Ring<T> {
  private readonly items: (T | undefined)[];
  private next = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity).fill(undefined);
  }

  push(item: T): void {
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  get size(): number {
    return this.count;
  }

  /** The newest entry, if any. */
  last(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.next - 1 + this.capacity) % this.capacity];
  }

  /** Oldest first. */
  toArray(): T[] {
    const out: T[] = [];
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let i = 0; i < this.count; i++) {
      const v = this.items[(start + i) % this.capacity];
      if (v !== undefined) out.push(v);
    }
    return out;
  }
}

/** What one sample reads: per source its event counter and lag, per sink its backlog and delivered counter. */
export interface HistoryReading {
  sources: readonly { key: string; events: number; lag_ms?: number | undefined }[];
  sinks: readonly { name: string; backlog: number; delivered: number }[];
}

/** Rates are worked out when the sample is taken, so the oldest sample keeps its rate once the ring wraps. */
interface Sample {
  at: number;
  sources: Map<string, { events: number; lag: number | null; perMin: number | null }>;
  sinks: Map<string, { backlog: number; delivered: number; perMin: number | null }>;
}

/** The history as /status shows it: a shared time axis and, per source and sink, one value per sample (null: unknown). */
export interface HistorySnapshot {
  interval_ms: number;
  capacity: number;
  /** Sample times (epoch ms), oldest first. */
  t: number[];
  sources: Record<string, { lag_ms: (number | null)[]; events_per_min: (number | null)[] }>;
  sinks: Record<string, { backlog: (number | null)[]; delivered_per_min: (number | null)[] }>;
}

export interface StatusHistoryOptions {
  read: () => HistoryReading;
  intervalMs?: number;
  capacity?: number;
  now?: () => number;
}

/** Per-minute rate between two counter readings; null when there is no earlier reading or the counter went back. */
function perMinute(prev: number | undefined, cur: number, dtMs: number): number | null {
  if (prev === undefined || dtMs <= 0 || cur < prev) return null;
  return Math.round(((cur - prev) * 60_000) / dtMs);
}

/** Samples `read()` every interval (first at start()) into a ring; the timer is unref()ed and stop() is idempotent. */
export class StatusHistory {
  readonly intervalMs: number;
  private readonly ring: Ring<Sample>;
  private readonly read: () => HistoryReading;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: StatusHistoryOptions) {
    this.intervalMs = opts.intervalMs ?? HISTORY_INTERVAL_MS;
    this.ring = new Ring(opts.capacity ?? HISTORY_SAMPLES);
    this.read = opts.read;
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  sample(): void {
    const r = this.read();
    const at = this.now();
    const prev = this.ring.last();
    const dt = prev === undefined ? 0 : at - prev.at;
    this.ring.push({
      at,
      sources: new Map(
        r.sources.map((s) => [s.key, { events: s.events, lag: s.lag_ms ?? null, perMin: perMinute(prev?.sources.get(s.key)?.events, s.events, dt) }]),
      ),
      sinks: new Map(
        r.sinks.map((s) => [s.name, { backlog: s.backlog, delivered: s.delivered, perMin: perMinute(prev?.sinks.get(s.name)?.delivered, s.delivered, dt) }]),
      ),
    });
  }

  snapshot(): HistorySnapshot {
    const samples = this.ring.toArray();
    const sources: HistorySnapshot['sources'] = {};
    const sinks: HistorySnapshot['sinks'] = {};
    for (const s of samples) {
      for (const key of s.sources.keys()) sources[key] ??= { lag_ms: [], events_per_min: [] };
      for (const name of s.sinks.keys()) sinks[name] ??= { backlog: [], delivered_per_min: [] };
    }
    for (const s of samples) {
      for (const [key, series] of Object.entries(sources)) {
        const cur = s.sources.get(key);
        series.lag_ms.push(cur?.lag ?? null);
        series.events_per_min.push(cur?.perMin ?? null);
      }
      for (const [name, series] of Object.entries(sinks)) {
        const cur = s.sinks.get(name);
        series.backlog.push(cur?.backlog ?? null);
        series.delivered_per_min.push(cur?.perMin ?? null);
      }
    }
    return { interval_ms: this.intervalMs, capacity: this.ring.capacity, t: samples.map((s) => s.at), sources, sinks };
  }
}
