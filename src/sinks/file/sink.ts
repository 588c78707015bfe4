// File sink: NDJSON lines, size-based rotation keeping N files, fsync before a batch counts as delivered.
import { mkdir, open, rename, rm, stat, statfs, type FileHandle } from 'node:fs/promises';
import { dirname, parse } from 'node:path';
import type { OutEvent, Sink } from '../../core/contracts.js';
import { NdjsonFramer } from '../ndjson.js';
import { SinkError } from '../../core/errors.js';
import type { FileSinkConfig } from './config.js';
import type { Logger } from '../../telemetry/logger.js';

const FS_HINTS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  ENOTDIR: 'a parent of the path is not a directory',
  EISDIR: 'the path is a directory',
  EDQUOT: 'disk quota exceeded',
};

/** How much of the file's end is read at a time when looking for the end of its last whole line. */
const TAIL_BLOCK = 64 * 1024;

/** A sink path's parent that exists but is not a directory, e.g. a file named like the folder meant to hold the output. */
class NotADirectoryError extends Error {
  readonly code = 'ENOTDIR';
  constructor(readonly component: string, options: { cause: unknown }) {
    super(`${component} is not a directory`, options);
  }
}

/** The nearest ancestor of `dir` (itself included) that exists as something other than a directory. */
async function fileInTheWay(dir: string): Promise<string | undefined> {
  const root = parse(dir).root;
  // Walk up to the first thing that exists: a file there is what blocks mkdir; a directory means the problem is elsewhere.
  for (let d = dir; ; d = dirname(d)) {
    const st = await stat(d).catch(() => undefined);
    if (st !== undefined) return st.isDirectory() ? undefined : d;
    if (d === root || dirname(d) === d) return undefined;
  }
}

/**
 * Offset just past the last newline in the first `size` bytes of `handle` (0 when there is none), reading
 * backwards one block at a time so a large file is never read whole.
 */
async function endOfLastLine(handle: FileHandle, size: number): Promise<number> {
  const buf = Buffer.allocUnsafe(Math.min(TAIL_BLOCK, size));
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - buf.length);
    const want = end - start;
    let got = 0;
    while (got < want) {
      const { bytesRead } = await handle.read(buf, got, want - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    const nl = buf.subarray(0, got).lastIndexOf(10);
    if (nl >= 0) return start + nl + 1;
    end = start;
  }
  return 0;
}

/** Free room a full disk must have again before the probe says a retry is worth it. */
const PROBE_FREE_BYTES = 16 * 1024 * 1024;

export class FileSink implements Sink {
  readonly name: string;
  private readonly path: string;
  private readonly maxSize: number;
  private readonly maxFiles: number;
  private readonly fsync: boolean;
  private readonly logger: Logger;
  private handle: FileHandle | undefined;
  private ino = 0;
  private size = 0;
  private closed = false;
  /** What the last failed write ran into, and how big that batch was (for probe()). */
  private lastErrno: string | undefined;
  private lastBatchBytes = 0;
  private readonly framer = new NdjsonFramer();

  constructor(cfg: Pick<FileSinkConfig, 'name' | 'path' | 'max_size' | 'max_files' | 'fsync'>, logger: Logger) {
    this.name = cfg.name;
    this.path = cfg.path;
    this.maxSize = cfg.max_size;
    this.maxFiles = cfg.max_files;
    this.fsync = cfg.fsync;
    this.logger = logger;
  }

  async send(events: readonly OutEvent[], _signal: AbortSignal): Promise<void> {
    if (events.length === 0) return;
    if (this.closed) throw new SinkError('SINK_RETRYABLE', `sink ${this.name} is closed`, this.name);
    const framed = this.framer.frame(events);
    const data = framed.data;
    try {
      await this.ensureOpen();
      if (this.size > 0 && this.size + data.length > this.maxSize) await this.rotate();
      const handle = await this.ensureOpen();
      const before = this.size;
      try {
        let off = 0;
        while (off < data.length) {
          const { bytesWritten } = await handle.write(data, off, data.length - off);
          off += bytesWritten;
        }
        if (this.fsync) await handle.sync();
        this.size += data.length;
        this.lastErrno = undefined;
      } catch (err) {
        // Leave no half-written line behind: the whole batch is retried.
        await handle.truncate(before).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      await this.dropHandle();
      const wrapped = this.wrap(err);
      const errno = wrapped.details['errno'];
      this.lastErrno = typeof errno === 'string' ? errno : undefined;
      this.lastBatchBytes = data.length;
      throw wrapped;
    } finally {
      framed.release();
    }
  }

  /** Opens the file (creating directories), reopening when it was moved or deleted underneath us. */
  private async ensureOpen(): Promise<FileHandle> {
    if (this.handle !== undefined) {
      const current = await stat(this.path).catch(() => undefined);
      if (current !== undefined && current.ino === this.ino) return this.handle;
      this.logger.info({ sink: this.name, path: this.path }, 'output file was moved or deleted; reopening');
      await this.dropHandle();
    }
    const dir = dirname(this.path);
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      // mkdir reports a file in the way as EEXIST (or ENOTDIR), naming neither the file nor the real problem.
      const code = (err as NodeJS.ErrnoException).code;
      const blocker = code === 'EEXIST' || code === 'ENOTDIR' ? await fileInTheWay(dir) : undefined;
      throw blocker === undefined ? err : new NotADirectoryError(blocker, { cause: err });
    }
    // Read access too: the end of the file is checked for a line cut short by a crash.
    const handle = await open(this.path, 'a+', 0o640);
    try {
      const st = await handle.stat();
      this.size = await this.cutTornLine(handle, st.size);
      this.ino = st.ino;
    } catch (err) {
      this.size = 0;
      await handle.close().catch(() => undefined);
      throw err;
    }
    this.handle = handle;
    return handle;
  }

  /**
   * A process killed in the middle of a write leaves part of a line at the end of the file. That batch was never
   * acknowledged, so it is sent again in full: the part is cut off so the next append starts on a line of its own
   * and every line stays valid JSON. Returns the file's size afterwards.
   */
  private async cutTornLine(handle: FileHandle, size: number): Promise<number> {
    if (size === 0) return 0;
    const last = Buffer.alloc(1);
    const { bytesRead } = await handle.read(last, 0, 1, size - 1);
    if (bytesRead === 1 && last[0] === 10) return size;
    const keep = await endOfLastLine(handle, size);
    await handle.truncate(keep);
    if (this.fsync) await handle.sync();
    this.logger.warn(
      { sink: this.name, path: this.path, bytes: size - keep, kept: keep },
      'output file ends in a partial line (the last write was cut short); removed it before appending',
    );
    return keep;
  }

  private async rotate(): Promise<void> {
    await this.dropHandle();
    if (this.maxFiles === 0) {
      await rm(this.path, { force: true });
    } else {
      await rm(`${this.path}.${this.maxFiles}`, { force: true });
      for (let i = this.maxFiles - 1; i >= 1; i--) {
        await rename(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'ENOENT') throw err;
        });
      }
      await rename(this.path, `${this.path}.1`);
    }
    this.logger.info({ sink: this.name, path: this.path, keep: this.maxFiles }, 'rotated output file');
  }

  private async dropHandle(): Promise<void> {
    const h = this.handle;
    this.handle = undefined;
    this.ino = 0;
    this.size = 0;
    if (h !== undefined) await h.close().catch(() => undefined);
  }

  private wrap(err: unknown): SinkError {
    if (err instanceof SinkError) return err;
    if (err instanceof NotADirectoryError) {
      // An operator can move the file away or fix the path: retryable like the other filesystem problems.
      return new SinkError('SINK_RETRYABLE', `file sink ${this.name} cannot write ${this.path}: ${err.message} (${err.code})`, this.name, {
        cause: err,
        details: { path: this.path, errno: err.code, notDirectory: err.component },
      });
    }
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const hint = FS_HINTS[code] ?? (err instanceof Error ? err.message : String(err));
    // Filesystem problems are usually fixed by an operator (permissions, space): keep the backlog and retry.
    return new SinkError('SINK_RETRYABLE', `file sink ${this.name} cannot write ${this.path}: ${hint} (${code})`, this.name, {
      cause: err,
      details: { path: this.path, errno: code },
    });
  }

  /** The file can be opened for appending again (its directory exists or can be made, permissions allow it). */
  /**
   * Whether a retry now has a chance, by what failed last: a full disk needs free room for the batch (and some to
   * spare), a path or permission problem needs the file to open again. An I/O error is left to the backoff: no cheap
   * check can tell it is gone, and retrying every probe would rewrite and cut the batch over and over.
   */
  async probe(_signal: AbortSignal): Promise<boolean> {
    if (this.closed) return false;
    try {
      if (this.lastErrno === 'ENOSPC' || this.lastErrno === 'EDQUOT') {
        const fs = await statfs(dirname(this.path));
        return fs.bavail * fs.bsize > Math.max(PROBE_FREE_BYTES, 2 * this.lastBatchBytes);
      }
      if (this.lastErrno === 'EIO') return false;
      await mkdir(dirname(this.path), { recursive: true });
      const handle = await open(this.path, 'a', 0o640);
      await handle.close();
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.dropHandle();
  }
}
