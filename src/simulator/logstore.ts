// Time-indexed published records of one non-batch stream, kept as a publication table and regenerated on demand.
import { closeSync, openSync, writeSync } from 'node:fs';
import { mix } from './prng.js';

export const LOG_STREAMS = [
  'siem_v1',
  'ttp_url',
  'ttp_attachment',
  'ttp_impersonation',
  'audit',
  'dlp',
  'held_release',
  'archive_search',
  'threat_intel',
] as const;
export type LogStreamName = (typeof LOG_STREAMS)[number];

export interface LogStoreOptions {
  seedH: number;
  name: LogStreamName;
  manifestPath?: string | undefined;
  /** Late arrival: a share of records becomes visible only [lateMs/2, lateMs] after its own time (0 = off). */
  lateArrivalMs: number;
  lateShare: number;
}

/**
 * Record i of a stream has a time (whole seconds, non-decreasing in i) from its publication's window; the record
 * itself is a pure function of (seed, stream, i, time), so only the publication table is kept.
 */
export class LogStore {
  readonly name: LogStreamName;
  private readonly salt: number;
  private readonly seedH: number;
  private readonly manifestPath: string | undefined;
  private manifestFd: number | undefined;
  private readonly lateMs: number;
  private readonly lateShare: number;
  private readonly pubG: number[] = [];
  private readonly pubT0: number[] = [];
  private readonly pubStep: number[] = [];
  private lastPub = 0;
  private n = 0;
  /** Records written by an action on the account (a release, an admin change) rather than generated from the seed. */
  private readonly written = new Map<number, Record<string, unknown>>();
  private closed = false;

  constructor(o: LogStoreOptions) {
    this.name = o.name;
    this.seedH = o.seedH;
    this.salt = mix(o.seedH, 0x10657, LOG_STREAMS.indexOf(o.name));
    this.manifestPath = o.manifestPath;
    this.lateMs = o.lateArrivalMs;
    this.lateShare = o.lateShare;
  }

  get count(): number {
    return this.n;
  }

  /** A per-record seed for the record factory. */
  seedOf(i: number): number {
    return mix(this.salt, i);
  }

  timeOf(i: number): number {
    let p = this.lastPub;
    const starts = this.pubG;
    if (!((starts[p] ?? Infinity) <= i && i < (starts[p + 1] ?? Infinity))) {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((starts[mid] as number) <= i) lo = mid;
        else hi = mid - 1;
      }
      p = lo;
      this.lastPub = p;
    }
    const t = (this.pubT0[p] as number) + Math.floor((i - (starts[p] as number)) * (this.pubStep[p] as number));
    return Math.floor(t / 1000) * 1000;
  }

  /** First index whose time is >= ms (count if none). */
  lowerBound(ms: number): number {
    let lo = 0;
    let hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.timeOf(mid) < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Record i when an action wrote it; undefined for a record generated from the seed. */
  writtenAt(i: number): Record<string, unknown> | undefined {
    return this.written.get(i);
  }

  /** When record i becomes visible to readers (its own time unless it is a late arrival). */
  visibleAt(i: number): number {
    const t = this.timeOf(i);
    if (this.lateMs <= 0 || this.written.has(i)) return t;
    const h = mix(this.seedH, 0x1a7e, i, LOG_STREAMS.indexOf(this.name));
    if ((h % 10_000) / 10_000 >= this.lateShare) return t;
    const half = Math.floor(this.lateMs / 2);
    return t + half + ((h >>> 14) % Math.max(1, this.lateMs - half + 1));
  }

  /**
   * Appends `count` records timed over [t0, t1]; `render` gives each record's manifest line(s). Big publications yield
   * now and then so the HTTP side stays responsive. Returns the first new index.
   */
  async publish(count: number, t0: number, t1: number, render?: (i: number, t: number) => string | undefined): Promise<number> {
    const first = this.n;
    count = Math.floor(count);
    if (count <= 0 || this.closed) return first;
    // Times are floored to seconds; a strictly later window start keeps times non-decreasing across publications.
    this.pubG.push(first);
    this.pubT0.push(t0);
    this.pubStep.push(Math.max(0, t1 - t0) / count);
    // Manifest lines are written before the records become readable (n moves last).
    if (this.manifestPath === undefined || render === undefined) {
      this.n = first + count;
      return first;
    }
    const lines: string[] = [];
    for (let i = first; i < first + count; i++) {
      const line = render(i, this.timeOf(i));
      if (line !== undefined) lines.push(line);
      if (lines.length >= 2048) {
        this.writeManifest(lines);
        lines.length = 0;
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.closed) return first;
      }
    }
    this.writeManifest(lines);
    this.n = first + count;
    return first;
  }

  /**
   * Appends one record an action wrote, timed `t` (the caller keeps times non-decreasing); it goes to the manifest
   * like any other. Returns its index.
   */
  append(record: Record<string, unknown>, t: number): number {
    const i = this.n;
    if (this.closed) return i;
    this.pubG.push(i);
    this.pubT0.push(t);
    this.pubStep.push(0);
    this.written.set(i, record);
    this.writeManifest([JSON.stringify(record)]);
    this.n = i + 1;
    return i;
  }

  private writeManifest(lines: string[]): void {
    if (this.manifestPath === undefined || lines.length === 0 || this.closed) return;
    this.manifestFd ??= openSync(this.manifestPath, 'a');
    writeSync(this.manifestFd, lines.join('\n') + '\n');
  }

  close(): void {
    this.closed = true;
    if (this.manifestFd !== undefined) closeSync(this.manifestFd);
    this.manifestFd = undefined;
  }
}
