// Parsing and normalization off the main thread: a small pool of worker threads, inline when none can run.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Quarantined } from '../../core/contracts.js';
import { CollectorError, describeError } from '../../core/errors.js';
import type { PagedReplyInfo } from '../paged/reply.js';
import { SpareBuffers, blockSize, parseLines, unpackEvents, type PackedEvents, type ParseJob, type ParsedLines } from './parse-lines.js';

interface Pending {
  resolve: (r: ParsedLines) => void;
  reject: (e: unknown) => void;
  /** What unpacking the reply needs; not the job itself, so its text is freed once it has been posted. */
  stream: ParseJob['stream'];
  account: string;
  onHead: ((head: PagedReplyInfo) => void) | undefined;
}

interface Reply {
  id: number;
  packed?: PackedEvents;
  quarantined?: Quarantined[];
  error?: string;
  /** The job's text buffer, handed back to be filled again (see textBuffer). */
  text?: ArrayBuffer;
  reply?: PagedReplyInfo;
  /** A paged reply's facts, sent ahead of its events (the job is still running). */
  head?: PagedReplyInfo;
}

/**
 * Jobs queued per worker before the pool counts as saturated: enough that the worker never waits for work.
 * In the 1M/2M-record benchmarks 6 was as fast as 8 with ~5 MB less at the peak; 4 cost ~6 % of the throughput.
 */
const JOBS_PER_WORKER = 6;
/** Text buffers kept for reuse, at most; and the smallest worth keeping. */
const MAX_SPARE_TEXT = 12;
const MIN_SPARE_TEXT = 16 * 1024;

const WORKER_FILE = fileURLToPath(new URL('./parse-worker.js', import.meta.url));

export interface ParsePoolOptions {
  /** Worker threads; 0 parses on the calling thread. Default: one less than the CPUs, at least 1, at most 4. */
  workers?: number;
  /** The compiled worker script; defaults to the one beside this module (absent when running from sources). */
  workerFile?: string;
  /**
   * The largest record (line) any source sends, in bytes: the workers' heap is sized so that one such record
   * parses with room to spare. A worker whose heap runs out on one big allocation does not just end: V8 aborts the
   * whole process. Default 1 MiB (`streams.siem.max_record_size`).
   */
  maxRecordBytes?: number;
  /** Overrides the old-generation limit computed from maxRecordBytes (tests make a worker run out of memory). */
  workerHeapMb?: number;
}

/** Old generation of a worker, MB: 32 covers groups of ordinary records; a record needs up to ~16x its size. */
export function workerHeapMb(maxRecordBytes: number): number {
  return Math.max(32, Math.ceil((16 * maxRecordBytes) / (1024 * 1024)));
}

export class ParsePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly owner = new Map<number, Worker>();
  private nextId = 1;
  private next = 0;
  private recycleNext = 0;
  /** Text buffers the workers handed back, ready to be filled again. */
  private readonly spareText = new SpareBuffers(MAX_SPARE_TEXT, MIN_SPARE_TEXT);
  /** Buffers handed out by textBuffer() and not yet moved: only these (and buffers a view spans whole) may be moved. */
  private readonly owned = new WeakSet<ArrayBuffer>();
  private closed = false;
  private readonly workerFile: string;
  private readonly heapMb: number;

  constructor(options: ParsePoolOptions = {}) {
    const want = options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    this.workerFile = options.workerFile ?? WORKER_FILE;
    this.heapMb = options.workerHeapMb ?? workerHeapMb(options.maxRecordBytes ?? 1024 * 1024);
    // Running from TypeScript sources (tests) there is no compiled worker file: parse inline.
    if (want > 0 && existsSync(this.workerFile)) {
      for (let i = 0; i < want; i++) this.workers.push(this.spawn());
    }
  }

  /** Stops one worker as if it had crashed (tests). */
  killOne(): Promise<number> {
    const w = this.workers[0];
    return w === undefined ? Promise.resolve(0) : w.terminate();
  }

  /**
   * The largest job text a worker is given, in bytes: a sixteenth of its heap, as for one record (workerHeapMb). A
   * larger text (a whole paged reply of unusual size) is parsed by its caller on its own thread instead.
   */
  get maxJobBytes(): number {
    return Math.floor((this.heapMb * 1024 * 1024) / 16);
  }

  /** True when jobs run on worker threads. */
  get threaded(): boolean {
    return this.workers.length > 0;
  }

  /**
   * True when the workers already have enough jobs queued to stay busy. Sources with a job of their own in
   * flight wait for it before reading further, so the bytes in flight are bounded for the whole process,
   * not per source (ten busy SIEM types would otherwise hold ten times as much).
   */
  get saturated(): boolean {
    return this.workers.length > 0 && this.pending.size >= this.workers.length * JOBS_PER_WORKER;
  }

  /**
   * Parses `job` on a worker (or inline). With `handOver`, a job text that owns its whole ArrayBuffer is moved to
   * the worker instead of copied: the caller must not touch it afterwards. For a paged `reply` job on a worker,
   * `onHead` is told the page's token and record count as soon as the reply is parsed, before its records are
   * normalized (never when parsing inline: the result itself comes as soon).
   */
  run(job: ParseJob, handOver = false, onHead?: (head: PagedReplyInfo) => void): Promise<ParsedLines> {
    if (this.closed) return Promise.reject(new CollectorError('ABORTED', 'parse pool closed'));
    if (this.workers.length === 0) {
      try {
        return Promise.resolve(parseLines(job));
      } catch (err) {
        return Promise.reject(new CollectorError('NORMALIZE_FAILED', `parsing failed: ${describeError(err)}`, { retryable: true, cause: err, details: { culprit: true } }));
      }
    }
    const worker = this.workers[this.next++ % this.workers.length] as Worker;
    const id = this.nextId++;
    return new Promise<ParsedLines>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, stream: job.stream, account: job.account, onHead });
      this.owner.set(id, worker);
      const t = job.text;
      const movable =
        handOver && t instanceof Uint8Array && t.buffer instanceof ArrayBuffer && t.byteOffset === 0 && (t.byteLength === t.buffer.byteLength || this.owned.has(t.buffer));
      if (movable) this.owned.delete(t.buffer);
      worker.postMessage({ id, job }, movable ? [t.buffer] : []);
    });
  }

  /**
   * Hands document buffers (`ParsedLines.block`) back to the workers to be filled again. The caller promises that
   * nothing will read the bytes of those events any more: the journal has copied them (SQLite and its tail cache
   * keep their own copies). Buffers already handed back or detached are skipped.
   */
  recycle(blocks: readonly ArrayBuffer[]): void {
    if (this.closed || this.workers.length === 0) return;
    const live = [...new Set(blocks)].filter((b) => b.byteLength > 0);
    if (live.length === 0) return;
    const worker = this.workers[this.recycleNext++ % this.workers.length] as Worker;
    worker.postMessage({ recycle: live }, live);
  }

  /**
   * A buffer of `size` bytes to build a job's text in: a view over a buffer a worker handed back after parsing
   * an earlier job, or over a new one a little larger than asked. Passed to run() with `handOver`, it is moved
   * to the worker and comes back with the reply, so group texts circulate instead of being allocated and freed
   * by the thousand (freed memory the allocator tends to keep, fragmented).
   */
  textBuffer(size: number): Buffer {
    const ab = this.spareText.take(size) ?? (Buffer.allocUnsafeSlow(Math.max(1, blockSize(size))).buffer as ArrayBuffer);
    this.owned.add(ab);
    return Buffer.from(ab, 0, size);
  }

  private spawn(): Worker {
    // A worker holds only the groups in flight: a small old generation keeps the process's memory flat. The
    // young generation is sized for its garbage (each record's parsed object and intermediate text): at 4 MB
    // scavenges took a fifth of the worker's time; 12 MB cut its CPU per event by ~10 % at no RSS cost.
    const worker = new Worker(this.workerFile, { resourceLimits: { maxOldGenerationSizeMb: this.heapMb, maxYoungGenerationSizeMb: 12 } });
    worker.on('message', (msg: Reply) => {
      if (msg.text !== undefined && !this.closed) this.spareText.put(msg.text);
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      if (msg.head !== undefined) {
        p.onHead?.(msg.head);
        return;
      }
      this.pending.delete(msg.id);
      this.owner.delete(msg.id);
      if (msg.error !== undefined) {
        p.reject(new CollectorError('NORMALIZE_FAILED', msg.error, { retryable: true, details: { culprit: true } }));
        return;
      }
      const out: ParsedLines = { events: [], quarantined: msg.quarantined ?? [] };
      if (msg.reply !== undefined) out.reply = msg.reply;
      if (msg.packed !== undefined) {
        const block = msg.packed.docs.buffer;
        out.events = unpackEvents(msg.packed, p.stream, p.account);
        if (block instanceof ArrayBuffer && block.byteLength > 0) out.block = block;
      }
      p.resolve(out);
    });
    const fail = (err: unknown): void => {
      // The worker died: fail its jobs (the source retries from its cursor) and start a fresh one. A worker takes
      // its jobs one at a time in the order they were posted, so its oldest pending job is the one it was running
      // (`details.culprit`: the job that may have killed it); the others only waited behind it.
      let first = true;
      for (const [id, w] of this.owner) {
        if (w !== worker) continue;
        const p = this.pending.get(id);
        this.pending.delete(id);
        this.owner.delete(id);
        const why = err instanceof Error ? err.message : String(err);
        p?.reject(new CollectorError('NORMALIZE_FAILED', `parse worker failed: ${why}`, { retryable: true, cause: err, details: { workerDied: true, culprit: first } }));
        first = false;
      }
      const i = this.workers.indexOf(worker);
      if (i >= 0 && !this.closed) this.workers[i] = this.spawn();
      worker.removeAllListeners();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`worker exited (code ${code})`));
    });
    return worker;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.pending.values()) p.reject(new CollectorError('ABORTED', 'parse pool closed'));
    this.pending.clear();
    this.owner.clear();
    await Promise.allSettled(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
