// Parsing and normalization off the main thread: a small pool of worker threads, inline when none can run.
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Quarantined } from './contracts.js';
import { CollectorError } from './errors.js';
import { parseLines, unpackEvents, type PackedEvents, type ParseJob, type ParsedLines } from './parse-lines.js';

interface Pending {
  resolve: (r: ParsedLines) => void;
  reject: (e: unknown) => void;
  /** What unpacking the reply needs; not the job itself, so its text is freed once it has been posted. */
  stream: ParseJob['stream'];
  account: string;
}

interface Reply {
  id: number;
  packed?: PackedEvents;
  quarantined?: Quarantined[];
  error?: string;
}

/** Jobs queued per worker before the pool counts as saturated: enough that the worker never waits for work. */
const JOBS_PER_WORKER = 8;

const WORKER_FILE = fileURLToPath(new URL('./parse-worker.js', import.meta.url));

export interface ParsePoolOptions {
  /** Worker threads; 0 parses on the calling thread. Default: one less than the CPUs, at least 1, at most 4. */
  workers?: number;
  /** The compiled worker script; defaults to the one beside this module (absent when running from sources). */
  workerFile?: string;
}

export class ParsePool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly owner = new Map<number, Worker>();
  private nextId = 1;
  private next = 0;
  private closed = false;
  private readonly workerFile: string;

  constructor(options: ParsePoolOptions = {}) {
    const want = options.workers ?? Math.max(1, Math.min(4, availableParallelism() - 1));
    this.workerFile = options.workerFile ?? WORKER_FILE;
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
   * the worker instead of copied: the caller must not touch it afterwards.
   */
  run(job: ParseJob, handOver = false): Promise<ParsedLines> {
    if (this.closed) return Promise.reject(new CollectorError('ABORTED', 'parse pool closed'));
    if (this.workers.length === 0) {
      try {
        return Promise.resolve(parseLines(job));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const worker = this.workers[this.next++ % this.workers.length] as Worker;
    const id = this.nextId++;
    return new Promise<ParsedLines>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, stream: job.stream, account: job.account });
      this.owner.set(id, worker);
      const t = job.text;
      const movable = handOver && t instanceof Uint8Array && t.byteOffset === 0 && t.byteLength === t.buffer.byteLength && t.buffer instanceof ArrayBuffer;
      worker.postMessage({ id, job }, movable ? [t.buffer] : []);
    });
  }

  private spawn(): Worker {
    // A worker holds only the groups in flight: a small old generation keeps the process's memory flat. The
    // young generation is sized for its garbage (each record's parsed object and intermediate text): at 4 MB
    // scavenges took a fifth of the worker's time; 12 MB cut its CPU per event by ~10 % at no RSS cost.
    const worker = new Worker(this.workerFile, { resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 12 } });
    worker.on('message', (msg: Reply) => {
      const p = this.pending.get(msg.id);
      if (p === undefined) return;
      this.pending.delete(msg.id);
      this.owner.delete(msg.id);
      if (msg.error !== undefined) p.reject(new CollectorError('NORMALIZE_FAILED', msg.error, { retryable: true }));
      else p.resolve({ events: msg.packed === undefined ? [] : unpackEvents(msg.packed, p.stream, p.account), quarantined: msg.quarantined ?? [] });
    });
    const fail = (err: unknown): void => {
      // The worker died: fail its jobs (the source retries from its cursor) and start a fresh one.
      for (const [id, w] of this.owner) {
        if (w !== worker) continue;
        const p = this.pending.get(id);
        this.pending.delete(id);
        this.owner.delete(id);
        p?.reject(new CollectorError('NORMALIZE_FAILED', `parse worker failed: ${err instanceof Error ? err.message : String(err)}`, { retryable: true, cause: err }));
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
