// The simulator's published data: per-type lists of immutable blobs, each kept as a few numbers and rendered to gzip on demand.
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { constants as zlibConstants, gzip, gzipSync } from 'node:zlib';
import { Rng, mix } from './prng.js';
import { RecordFactory, type RecordModel } from './records.js';

const gzipAsync = promisify(gzip);
const GZIP_OPTIONS = { level: zlibConstants.Z_BEST_SPEED };

/**
 * One published blob. Its records are those of type `t` found between global record positions `startG` (which is
 * slot `startS` of message `startM`) and `endG`; that is enough to regenerate them byte for byte.
 */
export interface BlobDesc {
  readonly t: number;
  readonly index: number;
  readonly startM: number;
  readonly startS: number;
  readonly startG: number;
  readonly endG: number;
  readonly count: number;
  readonly firstOffset: number;
  readonly tMin: number;
  readonly tMax: number;
  /** Junk (non-JSON) lines inserted at fixed places; 0 for a clean blob. */
  readonly junk: number;
  /** How many trailing records of the previous blob of this type are repeated at the start. */
  readonly replay: number;
  /** Gzip size once rendered, -1 before. */
  size: number;
}

export interface PublishFaults {
  nonJsonLines: number;
  replayRecords: number;
}

export interface CatalogOptions {
  seedH: number;
  accountCode: string;
  recordsPerBlob: number;
  manifestPath?: string | undefined;
  cacheDir?: string | undefined;
  /** Bytes of rendered gzip kept in memory when there is no cacheDir. */
  memoryCacheBytes?: number;
  /** The records published (default: the Cloud Gateway SIEM types). */
  model?: RecordModel;
}

interface OpenBlob {
  startM: number;
  startS: number;
  startG: number;
  count: number;
  firstOffset: number;
  tMin: number;
  tMax: number;
}

const JUNK_LINES = [
  '<html><body><h1>502 Bad Gateway</h1></body></html>',
  '{"_offset":',
  'this is not json',
  '{"type":"receipt","subtype":"Acc",}',
  'NaN',
  '\u0000\u0001\u0002 binary garbage \u00ff',
  "{'single':'quotes'}",
];

export interface CatalogCounters {
  records: number[];
  blobs: number[];
  duplicateRecords: number;
  junkLines: number;
  junkBlobs: number;
  replayBlobs: number;
}

export class Catalog {
  readonly factory: RecordModel;
  /** Number of record types (the model's). */
  readonly typeCount: number;
  /** Per type index, the published blobs in publication (= time) order. */
  readonly blobs: BlobDesc[][];
  readonly counters: CatalogCounters;
  private readonly seedH: number;
  private readonly recordsPerBlob: number;
  private readonly manifestPath: string | undefined;
  private readonly cacheDir: string | undefined;
  private manifestFd: number | undefined;
  private closed = false;
  // Publication table: publication i covers global positions pubG[i] .. pubG[i+1]-1, spread from pubT0[i] by pubStep[i].
  private readonly pubG: number[] = [];
  private readonly pubT0: number[] = [];
  private readonly pubStep: number[] = [];
  private lastPub = 0;
  private nextM = 0;
  private nextS = 0;
  private g = 0;
  private readonly typeOffset: number[];
  private readonly memory = new Map<string, Buffer>();
  private memoryBytes = 0;
  private readonly memoryLimit: number;
  private readonly inflight = new Map<string, Promise<Buffer>>();
  private tmpCounter = 0;

  constructor(options: CatalogOptions) {
    this.seedH = options.seedH;
    this.recordsPerBlob = Math.max(1, Math.floor(options.recordsPerBlob));
    this.manifestPath = options.manifestPath;
    this.cacheDir = options.cacheDir;
    this.memoryLimit = options.memoryCacheBytes ?? 64 * 1024 * 1024;
    this.factory = options.model ?? new RecordFactory(options.seedH, options.accountCode);
    const types = (this.typeCount = this.factory.typeNames.length);
    this.blobs = Array.from({ length: types }, () => []);
    this.typeOffset = Array.from({ length: types }, (_, t) => 1000 + (mix(options.seedH, 0x0ff5, t) % 50000));
    this.counters = {
      records: new Array<number>(types).fill(0),
      blobs: new Array<number>(types).fill(0),
      duplicateRecords: 0,
      junkLines: 0,
      junkBlobs: 0,
      replayBlobs: 0,
    };
    if (this.cacheDir !== undefined) mkdirSync(this.cacheDir, { recursive: true });
  }

  /** Distinct records published so far. */
  get published(): number {
    return this.g;
  }

  /** The record time of global position g: spread evenly over its publication's window, with seeded jitter. */
  timeOf(g: number): number {
    let i = this.lastPub;
    const starts = this.pubG;
    if (!((starts[i] ?? Infinity) <= g && g < (starts[i + 1] ?? Infinity))) {
      let lo = 0;
      let hi = starts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((starts[mid] as number) <= g) lo = mid;
        else hi = mid - 1;
      }
      i = lo;
      this.lastPub = i;
    }
    const step = this.pubStep[i] as number;
    const base = (this.pubT0[i] as number) + Math.floor((g - (starts[i] as number)) * step);
    const span = Math.floor(step);
    return span >= 2 ? base + (mix(this.seedH, 0x717e, g) % span) : base;
  }

  /**
   * Publishes the next `n` records of the message flow with times spread over [t0, t1]. Manifest lines are written
   * before any new blob becomes listable. Calls must not overlap (the simulator serialises them).
   */
  async publish(n: number, t0: number, t1: number, faults: PublishFaults): Promise<BlobDesc[]> {
    n = Math.floor(n);
    if (n <= 0 || this.closed) return [];
    const gStart = this.g;
    this.pubG.push(gStart);
    this.pubT0.push(t0);
    this.pubStep.push(Math.max(0, t1 - t0) / n);
    const open: (OpenBlob | undefined)[] = new Array<OpenBlob | undefined>(this.typeCount).fill(undefined);
    const pending: BlobDesc[] = [];
    const pendingPerType = new Array<number>(this.typeCount).fill(0);
    const lastCount = this.blobs.map((list) => list[list.length - 1]?.count ?? 0);
    const closeBlob = (t: number, ob: OpenBlob, endG: number): void => {
      const index = (this.blobs[t] as BlobDesc[]).length + (pendingPerType[t] as number);
      const r = new Rng(mix(this.seedH, 0xfa17, t, index));
      const junk = r.chance(faults.nonJsonLines) ? r.range(1, 3) : 0;
      const prevCount = lastCount[t] as number;
      const replay = r.chance(faults.replayRecords) && prevCount > 0 ? r.range(1, Math.min(5, prevCount)) : 0;
      pending.push({ t, index, ...ob, endG, junk, replay, size: -1 });
      pendingPerType[t] = (pendingPerType[t] as number) + 1;
      lastCount[t] = ob.count;
    };
    const manifest: string[] | undefined = this.manifestPath === undefined ? undefined : [];
    const factory = this.factory;
    let m = this.nextM;
    let s = this.nextS;
    let slots = factory.slots(factory.mask(m));
    for (let i = 0; i < n; i++) {
      const g = gStart + i;
      const t = slots[s] as number;
      const ts = this.timeOf(g);
      let ob = open[t];
      if (ob === undefined) {
        ob = { startM: m, startS: s, startG: g, count: 0, firstOffset: this.typeOffset[t] as number, tMin: ts, tMax: ts };
        open[t] = ob;
      }
      const offset = ob.firstOffset + ob.count;
      ob.count++;
      if (ts < ob.tMin) ob.tMin = ts;
      if (ts > ob.tMax) ob.tMax = ts;
      if (manifest !== undefined) {
        manifest.push(JSON.stringify(sortedKeys(factory.record(m, t, offset, ts, this.timeOf(g - s)))));
        if (manifest.length >= 4096) {
          this.writeManifest(manifest);
          manifest.length = 0;
          // Big publications yield so the HTTP side stays responsive.
          await new Promise<void>((resolve) => setImmediate(resolve));
          if (this.closed) return [];
        }
      }
      if (ob.count >= this.recordsPerBlob) {
        closeBlob(t, ob, g + 1);
        this.typeOffset[t] = ob.firstOffset + ob.count;
        open[t] = undefined;
      }
      s++;
      if (s >= slots.length) {
        m++;
        s = 0;
        slots = factory.slots(factory.mask(m));
      }
    }
    for (let t = 0; t < this.typeCount; t++) {
      const ob = open[t];
      if (ob === undefined) continue;
      closeBlob(t, ob, gStart + n);
      this.typeOffset[t] = ob.firstOffset + ob.count;
    }
    if (manifest !== undefined && manifest.length > 0) this.writeManifest(manifest);
    this.nextM = m;
    this.nextS = s;
    this.g = gStart + n;
    for (const desc of pending) {
      (this.blobs[desc.t] as BlobDesc[]).push(desc);
      const c = this.counters;
      c.records[desc.t] = (c.records[desc.t] as number) + desc.count;
      c.blobs[desc.t] = (c.blobs[desc.t] as number) + 1;
      c.duplicateRecords += desc.replay;
      c.junkLines += desc.junk;
      if (desc.junk > 0) c.junkBlobs++;
      if (desc.replay > 0) c.replayBlobs++;
    }
    return pending;
  }

  private writeManifest(lines: string[]): void {
    if (this.manifestPath === undefined) return;
    this.manifestFd ??= openSync(this.manifestPath, 'a');
    writeSync(this.manifestFd, lines.join('\n') + '\n');
  }

  get(t: number, index: number): BlobDesc | undefined {
    return this.blobs[t]?.[index];
  }

  /** Index of the first blob of type t whose newest record is at or after `ms` (list length if none). */
  firstIndexFrom(t: number, ms: number): number {
    const list = this.blobs[t] as BlobDesc[];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((list[mid] as BlobDesc).tMax < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The JSON lines of a blob's own records, regenerated from its description. */
  recordLines(desc: BlobDesc): string[] {
    const factory = this.factory;
    const bit = 1 << desc.t;
    const out: string[] = [];
    let m = desc.startM;
    let s = desc.startS;
    let g = desc.startG;
    let offset = desc.firstOffset;
    let mask = factory.mask(m);
    let slots = factory.slots(mask);
    while (g < desc.endG && out.length < desc.count) {
      if (s === 0 && (mask & bit) === 0) {
        g += slots.length;
      } else {
        for (; s < slots.length && g < desc.endG; s++, g++) {
          if (slots[s] === desc.t) {
            out.push(JSON.stringify(sortedKeys(factory.record(m, desc.t, offset++, this.timeOf(g), this.timeOf(g - s)))));
          }
        }
      }
      m++;
      s = 0;
      mask = factory.mask(m);
      slots = factory.slots(mask);
    }
    return out;
  }

  /** The NDJSON text of a blob as served: replayed records of the previous blob, its records, and any junk lines. */
  content(desc: BlobDesc): string {
    let lines = this.recordLines(desc);
    if (desc.replay > 0) {
      const prev = this.get(desc.t, desc.index - 1);
      if (prev !== undefined) lines = this.recordLines(prev).slice(-desc.replay).concat(lines);
    }
    if (desc.junk > 0) {
      const r = new Rng(mix(this.seedH, 0x7a4c, desc.t, desc.index));
      for (let j = 0; j < desc.junk; j++) lines.splice(r.int(lines.length + 1), 0, r.pick(JUNK_LINES));
    }
    return lines.join('\n') + '\n';
  }

  private key(desc: BlobDesc): string {
    return `${desc.t}/${desc.index}`;
  }

  /** File name of a blob in the cache directory (and the last part of its URL path). */
  fileName(desc: BlobDesc): string {
    return `${this.typeName(desc.t)}_${String(desc.index).padStart(6, '0')}_${desc.firstOffset}.json.gz`;
  }

  typeName(t: number): string {
    const name = this.factory.typeNames[t];
    if (name === undefined) throw new RangeError(`no record type at index ${t}`);
    return name;
  }

  /** The index of a type name, or -1. */
  typeIndex(name: string): number {
    return this.factory.typeNames.indexOf(name);
  }

  filePath(desc: BlobDesc): string | undefined {
    return this.cacheDir === undefined ? undefined : join(this.cacheDir, this.fileName(desc));
  }

  /** The blob's gzip bytes: from the cache directory or memory when rendered before, else rendered now. */
  bytes(desc: BlobDesc): Promise<Buffer> {
    const key = this.key(desc);
    const path = this.filePath(desc);
    if (path !== undefined && desc.size >= 0) return readFile(path);
    const hit = this.memory.get(key);
    if (hit !== undefined) {
      this.memory.delete(key);
      this.memory.set(key, hit);
      return Promise.resolve(hit);
    }
    const running = this.inflight.get(key);
    if (running !== undefined) return running;
    const job = (async (): Promise<Buffer> => {
      const buf = await gzipAsync(Buffer.from(this.content(desc), 'utf8'), GZIP_OPTIONS);
      if (path !== undefined) {
        const tmp = `${path}.${process.pid}.${++this.tmpCounter}.tmp`;
        await writeFile(tmp, buf);
        await rename(tmp, path);
      } else {
        this.remember(key, buf);
      }
      desc.size = buf.length;
      return buf;
    })();
    this.inflight.set(key, job);
    const clear = (): void => {
      this.inflight.delete(key);
    };
    job.then(clear, clear);
    return job;
  }

  private remember(key: string, buf: Buffer): void {
    if (buf.length > this.memoryLimit) return;
    this.memory.set(key, buf);
    this.memoryBytes += buf.length;
    for (const [k, b] of this.memory) {
      if (this.memoryBytes <= this.memoryLimit) break;
      this.memory.delete(k);
      this.memoryBytes -= b.length;
    }
  }

  /** Renders a blob to the cache directory synchronously (if not done yet) and returns its path. */
  renderToDisk(desc: BlobDesc): string {
    const path = this.filePath(desc);
    if (path === undefined) throw new Error('renderToDisk needs a cacheDir');
    if (desc.size >= 0) return path;
    const buf = gzipSync(Buffer.from(this.content(desc), 'utf8'), GZIP_OPTIONS);
    const tmp = `${path}.${process.pid}.${++this.tmpCounter}.tmp`;
    writeFileSync(tmp, buf);
    renameSync(tmp, path);
    desc.size = buf.length;
    return path;
  }

  close(): void {
    this.closed = true;
    if (this.manifestFd !== undefined) {
      closeSync(this.manifestFd);
      this.manifestFd = undefined;
    }
    this.memory.clear();
    this.memoryBytes = 0;
  }
}

/** The API 2.0 serves batch records with their keys in sorted order; so does the simulator. */
function sortedKeys(r: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(r).sort()) out[k] = (r as Record<string, unknown>)[k];
  return out;
}
