// The daemon's lock on a data_dir: held while the holder lives, named to whoever asks, gone with the process.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CollectorError } from '../core/errors.js';
import { acquireDaemonLock, journalHolder, refuseWhileHeld } from './lock.js';

describe('daemon lock', () => {
  it('is held until released, names its holder, and refuses a second holder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-lock-'));
    expect(journalHolder(dir)).toBeUndefined();
    const lock = acquireDaemonLock(dir, { command: 'run', http: '127.0.0.1:9090' });
    expect(journalHolder(dir)?.holder).toMatchObject({ pid: process.pid, command: 'run', http: '127.0.0.1:9090' });
    let err: unknown;
    try {
      acquireDaemonLock(dir, { command: 'run' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollectorError);
    expect((err as CollectorError).code).toBe('JOURNAL_LOCKED');
    expect((err as CollectorError).message).toContain(`a collector (pid ${process.pid} on `);
    expect(() => refuseWhileHeld(dir)).toThrow(/holds the journal/);
    lock.release();
    lock.release();
    expect(journalHolder(dir)).toBeUndefined();
    acquireDaemonLock(dir, { command: 'run' }).release();
  });

  it('is gone the moment its process is killed (SIGKILL): never stale', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-lock-'));
    // The compiled module (npm run build), so the child takes the lock exactly as the daemon does.
    const lockModule = join(import.meta.dirname, '../../dist/journal/lock.js');
    // The lock is kept referenced, as the daemon keeps it; a collection first (a dropped lock object is closed by
    // its finalizer and the lock goes with it: Node 24 collected one while this test looked).
    const script = `
      const { acquireDaemonLock } = await import(${JSON.stringify(lockModule)});
      globalThis.heldLock = acquireDaemonLock(${JSON.stringify(dir)}, { command: 'run' });
      globalThis.gc();
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    expect(journalHolder(dir)?.holder?.pid).toBe(child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    expect(journalHolder(dir)).toBeUndefined();
  });
});
