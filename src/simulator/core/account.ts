// The one simulated Mimecast account every endpoint reads: its published SIEM files and log streams, and the publisher.
import { join } from 'node:path';
import type { Logger } from '../../telemetry/logger.js';
import { Catalog, type PublishFaults } from '../catalog.js';
import { CiRecordFactory } from '../ci-records.js';
import { LOG_STREAMS, LogStore, type LogStreamName } from '../logstore.js';
import { logRecord } from '../logrecords.js';
import { mix } from '../prng.js';
import { SiemV1Files, siemV1ManifestLine } from '../siemv1files.js';
import type { Faults } from './faults.js';
import { CI_SHARE, type ResolvedOptions } from './options.js';

export class Account {
  readonly accountCode: string;
  readonly catalog: Catalog;
  /** Cloud Integrated files; only when the account has that product (option `cloudIntegrated`). */
  readonly ciCatalog: Catalog | undefined;
  readonly stores: Record<LogStreamName, LogStore>;
  readonly siemV1: SiemV1Files;
  private readonly carry = new Map<LogStreamName | 'cloud_integrated', number>();
  private publishChain: Promise<void> = Promise.resolve();
  private publishTimer: NodeJS.Timeout | undefined;
  private lastPublishEnd: number;
  private closed = false;

  constructor(
    private readonly opts: ResolvedOptions,
    private readonly faults: Faults,
  ) {
    const o = opts;
    this.accountCode = o.accountCode;
    this.lastPublishEnd = o.startTime;
    this.catalog = new Catalog({
      seedH: o.seedH,
      accountCode: o.accountCode,
      recordsPerBlob: o.recordsPerBlob,
      manifestPath: o.manifestPath,
      cacheDir: o.cacheDir,
    });
    this.ciCatalog = o.cloudIntegrated
      ? new Catalog({
          // Its own seed for offsets, record times and blob faults, so ci files do not mirror the cg ones.
          seedH: mix(o.seedH, 0xc1c1),
          accountCode: o.accountCode,
          recordsPerBlob: o.recordsPerBlob,
          // The same manifest as the Cloud Gateway records: both are the siem stream.
          manifestPath: o.manifestPath,
          cacheDir: o.cacheDir,
          model: new CiRecordFactory(o.seedH, o.accountCode),
        })
      : undefined;
    const stores = {} as Record<LogStreamName, LogStore>;
    for (const name of LOG_STREAMS) {
      stores[name] = new LogStore({
        seedH: o.seedH,
        name,
        manifestPath: o.manifestDir === undefined ? undefined : join(o.manifestDir, `${name}.ndjson`),
        // Late arrival concerns the paged functions that collectors read by time window.
        lateArrivalMs: name === 'siem_v1' || name === 'threat_intel' ? 0 : o.lateArrivalMs,
        lateShare: o.lateArrivalShare,
      });
    }
    this.stores = stores;
    this.siemV1 = new SiemV1Files(stores.siem_v1, o.siemV1RecordsPerFile, o.siemV1FileMs);
  }

  /** Publishes the backlog: `backlogRecords` spread over the `backlogHours` before the start time. */
  async publishBacklog(): Promise<void> {
    const { backlogRecords, backlogHours, startTime } = this.opts;
    const t0 = startTime - backlogHours * 3_600_000;
    if (backlogRecords > 0) await this.catalog.publish(backlogRecords, t0, startTime, this.publishFaults());
    // One Cloud Integrated record per five SIEM records, over the same window.
    await this.ciCatalog?.publish(Math.round(backlogRecords * CI_SHARE), t0, startTime, this.publishFaults());
    for (const name of LOG_STREAMS) await this.publishInto(name, this.opts.streamRecords[name], t0, startTime);
  }

  /** Keeps publishing `recordsPerInterval` every `publishIntervalMs` (when both are set). */
  startPublishing(): void {
    const log: Logger = this.opts.logger;
    if (this.opts.publishIntervalMs <= 0 || this.opts.recordsPerInterval <= 0) return;
    this.publishTimer = setInterval(() => {
      void this.publish(this.opts.recordsPerInterval).catch((err: unknown) => {
        log.error({ err }, 'simulator publish failed');
      });
    }, this.opts.publishIntervalMs);
    this.publishTimer.unref();
  }

  stopPublishing(): void {
    if (this.publishTimer !== undefined) clearInterval(this.publishTimer);
    this.publishTimer = undefined;
  }

  private async publishInto(name: LogStreamName, n: number, t0: number, t1: number): Promise<void> {
    if (n <= 0) return;
    const store = this.stores[name];
    const o = this.opts;
    const render =
      name === 'siem_v1'
        ? (i: number, t: number): string => siemV1ManifestLine(store, i, t, o.accountCode, o.accountOffsetMin, o.manifestSiemV1As)
        : (i: number, t: number): string => JSON.stringify(logRecord(name, store.seedOf(i), t));
    const first = await store.publish(n, t0, t1, render);
    if (name === 'siem_v1') this.siemV1.addRange(first, store.count);
  }

  /** Records of `key` to go with `records` new SIEM records at `share` per record; the fraction is carried over. */
  private shareOf(key: LogStreamName | 'cloud_integrated', records: number, share: number): number {
    const want = (this.carry.get(key) ?? 0) + records * share;
    // The epsilon keeps float error (7 × 0.2 five times is 1.9999999999999996) from holding a record back.
    const n = Math.floor(want + 1e-9);
    this.carry.set(key, Math.max(0, want - n));
    return n;
  }

  /** The window [t0, t1] of the next publication; t0 is the end of the previous one so times never go back. */
  private window(): [number, number] {
    const now = Date.now();
    const t0 = Math.min(this.lastPublishEnd, now);
    return [t0, Math.max(now, t0)];
  }

  publish(records: number): Promise<void> {
    return this.chain(async () => {
      if (this.closed) return;
      const [t0, t1] = this.window();
      const blobs = await this.catalog.publish(records, t0, t1, this.publishFaults());
      const ci = this.ciCatalog === undefined ? 0 : this.shareOf('cloud_integrated', records, CI_SHARE);
      if (ci > 0) await this.ciCatalog?.publish(ci, t0, t1, this.publishFaults());
      for (const name of LOG_STREAMS) await this.publishInto(name, this.shareOf(name, records, this.opts.streamShare[name]), t0, t1);
      this.lastPublishEnd = t1;
      this.opts.logger.debug({ records, blobs: blobs.length }, 'simulator published records');
    });
  }

  publishStream(name: LogStreamName, records: number): Promise<void> {
    return this.chain(async () => {
      if (this.closed) return;
      const [t0, t1] = this.window();
      await this.publishInto(name, records, t0, t1);
      this.lastPublishEnd = t1;
    });
  }

  /**
   * Appends a record an action on the account wrote (a release, an admin change) to a stream, timed now (never
   * before the last publication, so a stream's times stay in order); `build` gets that time.
   */
  appendRecord(name: LogStreamName, build: (t: number) => Record<string, unknown>): Promise<void> {
    return this.chain(async () => {
      if (this.closed) return;
      const t = Math.floor(Math.max(Date.now(), this.lastPublishEnd) / 1000) * 1000;
      this.stores[name].append(build(t), t);
      this.lastPublishEnd = Math.max(this.lastPublishEnd, t);
      await Promise.resolve();
    });
  }

  private chain(run: () => Promise<void>): Promise<void> {
    const p = this.publishChain.then(run);
    this.publishChain = p.catch(() => undefined);
    return p;
  }

  private publishFaults(): PublishFaults {
    const f = this.faults.current();
    return { nonJsonLines: f.nonJsonLines ?? 0, replayRecords: f.replayRecords ?? 0 };
  }

  /** Stops publishing; a large publication in progress stops at its next yield. */
  close(): void {
    this.closed = true;
    this.stopPublishing();
    this.catalog.close();
    this.ciCatalog?.close();
    for (const name of LOG_STREAMS) this.stores[name].close();
  }

  /** Settles once the publication in progress (if any) has stopped. */
  drained(): Promise<void> {
    return this.publishChain;
  }
}
