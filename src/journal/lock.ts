// The daemon's hold on a data_dir: a lock the operating system drops with the process, so it never goes stale.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { CollectorError } from '../core/errors.js';

/*
 * `<data_dir>/collector.lock` is a tiny SQLite database (rollback journal, not WAL). The daemon writes who it is into
 * it, then opens a write transaction and keeps it open for its lifetime: SQLite takes an fcntl RESERVED lock on the
 * file, which the kernel releases when the process ends in any way (SIGKILL, OOM, power loss on restart). Another
 * process can still read who holds it (RESERVED allows readers) and finds out whether it is held by trying to take
 * the same lock without waiting. A PID file would outlive a killed daemon and name a process that may since be
 * something else; this lock cannot.
 */

const LOCK_FILE = 'collector.lock';
/** How long a starting daemon waits for the lock (a command may be holding it for a moment to look). */
const ACQUIRE_WAIT_MS = 2000;
/** How long a command looking for a holder waits: another command looking at the same moment holds it that long. */
const PROBE_WAIT_MS = 250;

/** Who holds the journal, as written by the holder when it took the lock. */
export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string;
  /** The command holding it: `run`, `demo`. */
  command: string;
  /** The holder's status endpoint address when it serves one (`http.listen`). */
  http?: string;
}

/** The daemon's lock; released by release() or by the process ending. */
export interface DaemonLock {
  readonly file: string;
  release(): void;
}

function lockPath(dir: string): string {
  return path.join(path.resolve(dir), LOCK_FILE);
}

/** "pid 123 on host x (run, started 2026-…, status at http://…)" */
export function describeHolder(h: LockHolder | undefined): string {
  if (h === undefined) return 'a collector (it did not say which)';
  return `a collector (pid ${h.pid} on ${h.host}, \`${h.command}\` started ${h.startedAt}${h.http === undefined ? '' : `, status at ${h.http}`})`;
}

function readHolder(db: Database.Database): LockHolder | undefined {
  try {
    const v: unknown = db.prepare('SELECT info FROM holder WHERE one = 1').pluck().get();
    if (typeof v !== 'string') return undefined;
    const o: unknown = JSON.parse(v);
    if (o === null || typeof o !== 'object') return undefined;
    const r = o as Record<string, unknown>;
    const pid = r['pid'];
    if (typeof pid !== 'number') return undefined;
    return {
      pid,
      host: typeof r['host'] === 'string' ? r['host'] : '?',
      startedAt: typeof r['startedAt'] === 'string' ? r['startedAt'] : '?',
      command: typeof r['command'] === 'string' ? r['command'] : '?',
      ...(typeof r['http'] === 'string' ? { http: r['http'] } : {}),
    };
  } catch {
    // The table may not exist yet (a holder between creating the file and writing it): no name to give.
    return undefined;
  }
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

function lockError(file: string, holder: LockHolder | undefined): CollectorError {
  return new CollectorError('JOURNAL_LOCKED', `${describeHolder(holder)} holds the journal in ${path.dirname(file)} (lock ${file})`, {
    details: { path: file, ...(holder === undefined ? {} : { pid: holder.pid, host: holder.host }) },
  });
}

/**
 * Takes the daemon's lock on `dir` (creating the directory and the lock file as needed). Throws JOURNAL_LOCKED,
 * naming the holder, when another process (or another collector in this one) already holds it.
 */
export function acquireDaemonLock(dir: string, who: { command: string; http?: string }): DaemonLock {
  const file = lockPath(dir);
  let db: Database.Database;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file);
  } catch (err) {
    throw new CollectorError('JOURNAL_FAILED', `cannot open the lock file ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  try {
    // A command checking for a holder takes the lock for a moment: wait that out rather than fail.
    db.pragma(`busy_timeout = ${ACQUIRE_WAIT_MS}`);
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      if (isBusy(err)) throw lockError(file, readHolder(db));
      throw err;
    }
    // Written inside the transaction that is then committed; the lock is taken again at once. Between the two,
    // another daemon could slip in: it would then hold the lock and this one fails below, which is what we want.
    const holder: LockHolder = { pid: process.pid, host: os.hostname(), startedAt: new Date().toISOString(), command: who.command, ...(who.http === undefined ? {} : { http: who.http }) };
    db.exec('CREATE TABLE IF NOT EXISTS holder (one INTEGER PRIMARY KEY CHECK (one = 1), info TEXT NOT NULL)');
    db.prepare('INSERT OR REPLACE INTO holder (one, info) VALUES (1, ?)').run(JSON.stringify(holder));
    db.exec('COMMIT');
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      if (isBusy(err)) throw lockError(file, readHolder(db));
      throw err;
    }
  } catch (err) {
    db.close();
    if (err instanceof CollectorError) throw err;
    throw new CollectorError('JOURNAL_FAILED', `cannot take the lock ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      try {
        db.exec('ROLLBACK');
      } finally {
        db.close();
      }
    },
  };
}

/** The collector holding `dir`'s journal now, or undefined when none does (never a stale answer: see above). */
export function journalHolder(dir: string): { holder: LockHolder | undefined } | undefined {
  const file = lockPath(dir);
  if (!fs.existsSync(file)) return undefined;
  let db: Database.Database;
  try {
    db = new Database(file, { fileMustExist: true });
  } catch (err) {
    throw new CollectorError('JOURNAL_FAILED', `cannot open the lock file ${file}: ${(err as Error).message}`, { cause: err, details: { path: file } });
  }
  try {
    db.pragma(`busy_timeout = ${PROBE_WAIT_MS}`);
    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (err) {
      if (isBusy(err)) return { holder: readHolder(db) };
      throw err;
    }
    db.exec('ROLLBACK');
    return undefined;
  } finally {
    db.close();
  }
}

/** Throws JOURNAL_LOCKED naming the running collector when one holds `dir`'s journal. */
export function refuseWhileHeld(dir: string): void {
  const held = journalHolder(dir);
  if (held !== undefined) throw lockError(lockPath(dir), held.holder);
}
