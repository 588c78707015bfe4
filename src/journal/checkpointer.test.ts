// WAL checkpoints on a thread of their own: the WAL stays bounded under a steady writer, nothing is lost, and a
// thread that cannot run leaves SQLite's own checkpoints in place.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick, setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SerializedEvent, type NormalizedEvent } from '../core/contracts.js';
import { captureLogger } from '../sources/paged/testkit.js';
import { Journal, type JournalOptions } from './journal.js';

const WORKER = path.join(import.meta.dirname, '../../dist/journal/checkpoint-worker.js');
const BODY = Buffer.from(JSON.stringify({ message: 'x'.repeat(2000) }));

let dir: string;
const open: Journal[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mc-ckpt-'));
});

afterEach(() => {
  for (const j of open.splice(0)) j.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function openJournal(opts: Partial<JournalOptions>): Journal {
  const j = Journal.open({ dir, ...opts });
  open.push(j);
  return j;
}

function batchOf(from: number, n: number): NormalizedEvent[] {
  const time = new Date(Date.now() - 60_000).toISOString();
  return Array.from({ length: n }, (_, i) => new SerializedEvent(`e${from + i}`, 'siem', 'acme', time, BODY));
}

function walBytes(): number {
  try {
    return fs.statSync(path.join(dir, 'journal.sqlite-wal')).size;
  } catch {
    return 0;
  }
}

const PER_BATCH = 500;

/**
 * Appends `batches` batches of 500 events (~1 MB each), acking every other one, letting replies arrive between.
 * `paceEvery`: after that many batches, wait (bounded) until a checkpoint cycle has finished since the last wait, so
 * the writer never runs more than a few cycles ahead of the thread. Without it the test measured a race: on a loaded
 * machine the thread gets little CPU while this loop writes as fast as it can, and the WAL grew to ~47 MB once.
 */
async function writeSteadily(j: Journal, batches: number, paceEvery?: number): Promise<{ maxWal: number }> {
  let maxWal = 0;
  let finishes = j.checkpoints().writer_finishes;
  for (let b = 0; b < batches; b++) {
    j.append('acme/siem/receipt', { events: batchOf(b * PER_BATCH, PER_BATCH), cursor: `c${b}` });
    if (b % 2 === 1) j.ack('file', j.headSeq());
    maxWal = Math.max(maxWal, walBytes());
    await tick();
    if (paceEvery !== undefined && b % paceEvery === paceEvery - 1) {
      for (let i = 0; i < 2000 && j.checkpoints().writer_finishes === finishes; i++) await sleep(5);
      expect(j.checkpoints().writer_finishes, 'a checkpoint cycle finishes within 10 s').toBeGreaterThan(finishes);
      finishes = j.checkpoints().writer_finishes;
    }
  }
  return { maxWal };
}

describe('journal checkpoints on their own thread', () => {
  it('keeps the WAL bounded under a steady writer and loses nothing across a reopen', async () => {
    expect(fs.existsSync(WORKER), 'npm test builds dist/ first').toBe(true);
    const j = openJournal({ checkpointWorker: WORKER, checkpointEveryBytes: 2 * 1024 * 1024 });
    j.setSinks(['file']);
    for (let i = 0; i < 400 && !j.checkpoints().threaded; i++) await sleep(5);
    expect(j.checkpoints().threaded).toBe(true);
    // ~60 MB of documents: without checkpoints that complete, the WAL would hold all of it. A checkpoint starts
    // every 2 MB; the writer is kept within ~4 MB of the last finished cycle.
    const { maxWal } = await writeSteadily(j, 60, 4);
    // A loaded machine may give the thread little time: wait (bounded) for its rounds to come back.
    for (let i = 0; i < 1000 && j.checkpoints().writer_finishes === 0; i++) await sleep(5);
    const c = j.checkpoints();
    expect(c.threaded).toBe(true);
    expect(c.thread_rounds).toBeGreaterThan(0);
    expect(c.writer_finishes).toBeGreaterThan(0);
    expect(maxWal).toBeLessThan(32 * 1024 * 1024);
    // The last batches were not acked: they and every cursor must survive closing and reopening.
    j.append('acme/siem/receipt', { events: batchOf(1_000_000, 50), cursor: 'last' });
    const head = j.headSeq();
    j.close();
    const again = openJournal({ checkpointWorker: false });
    expect(again.headSeq()).toBe(head);
    expect(again.getCursor('acme/siem/receipt')).toBe('last');
    const { events } = again.read('file', 1000, 64 * 1024 * 1024);
    expect(events.length).toBe(head - again.offset('file'));
    expect(events.at(-1)?.id).toBe('e1000049');
    expect(Buffer.compare(events.at(-1)?.bytes ?? Buffer.alloc(0), BODY)).toBe(0);
    const db = new Database(path.join(dir, 'journal.sqlite'), { readonly: true });
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });

  it('keeps the WAL bounded even when the thread falls behind (a round that never ends)', async () => {
    // The thread says it is ready, then never finishes a checkpoint: a starved or stuck thread, as under heavy load.
    const stuck = path.join(dir, 'stuck-worker.mjs');
    fs.writeFileSync(stuck, "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage({ type: 'ready' });\nparentPort.on('message', () => undefined);\n");
    const j = openJournal({ checkpointWorker: stuck, checkpointEveryBytes: 2 * 1024 * 1024 });
    j.setSinks(['file']);
    for (let i = 0; i < 400 && !j.checkpoints().threaded; i++) await sleep(5);
    expect(j.checkpoints().threaded).toBe(true);
    const { maxWal } = await writeSteadily(j, 60);
    expect(j.checkpoints().thread_rounds).toBe(0);
    // SQLite's own checkpoint stays armed as a backstop at a few rounds' worth of WAL.
    expect(maxWal).toBeLessThan(12 * 1024 * 1024);
    expect(j.headSeq()).toBe(60 * PER_BATCH);
  });

  it('leaves checkpoints to SQLite when the thread script is not there (running from sources)', async () => {
    const j = openJournal({ checkpointWorker: path.join(dir, 'missing.js') });
    j.setSinks(['file']);
    const { maxWal } = await writeSteadily(j, 60);
    expect(j.checkpoints()).toEqual({ threaded: false, thread_rounds: 0, writer_finishes: 0 });
    // SQLite's own trigger (512 pages of 32 KiB) keeps it near 16 MiB.
    expect(maxWal).toBeLessThan(24 * 1024 * 1024);
  });

  it('says so and falls back to SQLite checkpoints when the thread fails', async () => {
    const broken = path.join(dir, 'broken-worker.mjs');
    fs.writeFileSync(broken, "throw new Error('checkpoint thread cannot start');\n");
    const { logger, lines } = captureLogger();
    const j = openJournal({ checkpointWorker: broken, checkpointEveryBytes: 2 * 1024 * 1024, logger });
    j.setSinks(['file']);
    const failed = (): { [k: string]: unknown } | undefined => lines().find((l) => l.msg.includes('checkpoint thread failed'));
    for (let i = 0; i < 400 && failed() === undefined; i++) await sleep(5);
    expect(j.checkpoints().threaded).toBe(false);
    const warning = failed();
    expect(warning?.['reason']).toContain('checkpoint thread cannot start');
    const { maxWal } = await writeSteadily(j, 60);
    expect(maxWal).toBeLessThan(24 * 1024 * 1024);
    expect(j.headSeq()).toBe(60 * PER_BATCH);
  });
});
