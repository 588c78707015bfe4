// File sink: NDJSON lines, size-based rotation keeping N files, fsync before a batch counts as delivered.
import { mkdir, open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { OutEvent, Sink } from '../../core/contracts.js';
import { NdjsonFramer } from '../ndjson.js';
import { SinkError } from '../../core/errors.js';
import type { FileSinkConfig } from '../../config/schema.js';
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
      } catch (err) {
        // Leave no half-written line behind: the whole batch is retried.
        await handle.truncate(before).catch(() => undefined);
        throw err;
      }
    } catch (err) {
      await this.dropHandle();
      throw this.wrap(err);
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
    await mkdir(dirname(this.path), { recursive: true });
    const handle = await open(this.path, 'a', 0o640);
    const st = await handle.stat();
    this.handle = handle;
    this.ino = st.ino;
    this.size = st.size;
    return handle;
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
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const hint = FS_HINTS[code] ?? (err instanceof Error ? err.message : String(err));
    // Filesystem problems are usually fixed by an operator (permissions, space): keep the backlog and retry.
    return new SinkError('SINK_RETRYABLE', `file sink ${this.name} cannot write ${this.path}: ${hint} (${code})`, this.name, {
      cause: err,
      details: { path: this.path, errno: code },
    });
  }

  /** The file can be opened for appending again (its directory exists or can be made, permissions allow it). */
  async probe(_signal: AbortSignal): Promise<boolean> {
    if (this.closed) return false;
    try {
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
