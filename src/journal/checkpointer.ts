// WAL checkpoints off the collector's thread. A checkpoint syncs the WAL, copies its pages into the database
// file and syncs that: with SQLite's automatic checkpoints all of it ran inside an append, and the thread that
// feeds the parse worker and the sinks sat waiting for the disk (synchronous=OFF, which skips those syncs, was
// 14 % faster in the 1M-record benchmark; that is what was lost). Here a second connection on a worker thread
// does the copy and the syncs; the collector's own connection then checkpoints only the few pages appended
// meanwhile, so that the WAL is complete in the file and the next transaction starts it over from the beginning.
// Durability is SQLite's, unchanged: the same syncs happen, in the same order, on another thread.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';
import type { Logger } from '../telemetry/logger.js';

export type CheckpointRequest = { type: 'checkpoint' } | { type: 'close' };
export type CheckpointReply = { type: 'ready' } | { type: 'done' } | { type: 'failed'; message: string };

const WORKER_FILE = fileURLToPath(new URL('./checkpoint-worker.js', import.meta.url));

/**
 * Rounds on the thread before the writer's connection finishes the job: while the thread copies, the writer keeps
 * appending; each round copies what came in during the previous one, so what is left for the writer shrinks.
 */
const MAX_ROUNDS = 3;

/** SQLite's own trigger, in pages, used when no checkpoint thread runs (32 KiB pages: about every 16 MiB of WAL). */
export const AUTOCHECKPOINT_PAGES = 512;

/**
 * While the thread does the checkpoints, SQLite's own stays armed as a backstop at this many times `everyBytes` of
 * WAL: a thread that falls behind (starved of CPU, a slow disk) would otherwise let the WAL grow without bound while
 * the writer goes on. Normally the thread is far ahead of it and it never fires.
 */
const BACKSTOP_FACTOR = 3;

export interface CheckpointerOptions {
  /** Bytes written to the WAL (as estimated by the caller) after which a checkpoint starts. */
  everyBytes: number;
  logger: Logger;
  /** The compiled worker script; defaults to the one beside this module (absent when running from sources). */
  workerFile?: string;
}

export class Checkpointer {
  private readonly db: Database.Database;
  private readonly log: Logger;
  private readonly everyBytes: number;
  private worker: Worker | undefined;
  private written = 0;
  /** The thread has its connection open; until then SQLite's automatic checkpoints stay on. */
  private ready = false;
  private running = false;
  private rounds = 0;
  private closed = false;
  /** Rounds completed on the thread, and how often the writer finished the job: status and tests. */
  readonly stats = { thread: 0, writer: 0 };

  private constructor(db: Database.Database, worker: Worker, opts: CheckpointerOptions) {
    this.db = db;
    this.worker = worker;
    this.log = opts.logger;
    this.everyBytes = opts.everyBytes;
    worker.unref();
    worker.on('message', (msg: CheckpointReply) => this.onReply(msg));
    worker.on('error', (err) => this.fallBack(err.message));
    worker.on('exit', (code) => {
      if (!this.closed) this.fallBack(`checkpoint thread exited (code ${code})`);
    });
  }

  /**
   * Starts the checkpoint thread for the database `file` that `db` (the writer's connection, in WAL mode) has
   * open; the writer's automatic checkpoints move back to a backstop once the thread is ready. Undefined when no thread
   * can run (running from sources): the caller keeps SQLite's automatic checkpoints.
   */
  static start(file: string, db: Database.Database, opts: CheckpointerOptions): Checkpointer | undefined {
    const script = opts.workerFile ?? WORKER_FILE;
    if (!existsSync(script)) return undefined;
    let worker: Worker;
    try {
      // Small heaps: the thread holds nothing but a connection.
      worker = new Worker(script, { workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 } });
    } catch (err) {
      opts.logger.warn({ reason: err instanceof Error ? err.message : String(err) }, 'journal checkpoint thread failed; checkpointing on the collector thread instead');
      return undefined;
    }
    return new Checkpointer(db, worker, opts);
  }

  /** True while the thread does the checkpoints: not before it is ready, nor after it failed. */
  get threaded(): boolean {
    return this.ready && this.worker !== undefined;
  }

  /** Counts bytes the writer has just committed; starts a checkpoint once enough have accumulated. */
  noteWritten(bytes: number): void {
    this.written += bytes;
    if (!this.ready || this.running || this.written < this.everyBytes) return;
    this.rounds = 0;
    this.kick();
  }

  private kick(): void {
    if (this.worker === undefined) return;
    this.running = true;
    this.rounds += 1;
    this.written = 0;
    this.worker.postMessage({ type: 'checkpoint' } satisfies CheckpointRequest);
  }

  private onReply(msg: CheckpointReply): void {
    if (this.closed) return;
    if (msg.type === 'ready') {
      try {
        const pageSize = Number(this.db.pragma('page_size', { simple: true })) || 4096;
        this.db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.ceil((this.everyBytes * BACKSTOP_FACTOR) / pageSize))}`);
        this.ready = true;
        this.written = 0;
      } catch (err) {
        this.fallBack(err instanceof Error ? err.message : String(err));
      }
      return;
    }
    this.running = false;
    if (msg.type === 'failed') {
      this.fallBack(msg.message);
      return;
    }
    this.stats.thread += 1;
    // Much was appended during that round: copy it on the thread too.
    if (this.written > this.everyBytes / 8 && this.rounds < MAX_ROUNDS) {
      this.kick();
      return;
    }
    try {
      // The pages appended since: a short checkpoint here, with no writer in between, leaves the WAL fully
      // copied, so the next transaction starts it over (the thread alone never catches up with a busy writer,
      // and the WAL would only grow).
      this.db.pragma('wal_checkpoint(PASSIVE)');
      this.stats.writer += 1;
    } catch (err) {
      this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'journal checkpoint failed; retried after the next writes');
    }
  }

  /** The thread is gone: SQLite's automatic checkpoints take over again, on the writer's thread. */
  private fallBack(reason: string): void {
    if (this.closed || this.worker === undefined) return;
    const w = this.worker;
    this.worker = undefined;
    this.running = false;
    this.ready = false;
    w.removeAllListeners();
    w.on('error', () => undefined);
    void w.terminate();
    this.log.warn({ reason }, 'journal checkpoint thread failed; checkpointing on the collector thread instead');
    try {
      this.db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    } catch {
      // The writer's connection is closing or broken: its own errors will say so.
    }
  }

  /**
   * Asks the thread to close its connection and end. Whichever connection closes last checkpoints and removes the
   * WAL; one left behind (the process ended first) is simply read back on the next open.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    if (w === undefined) return;
    w.removeAllListeners();
    w.on('error', () => undefined);
    w.postMessage({ type: 'close' } satisfies CheckpointRequest);
  }
}
