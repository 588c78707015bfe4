// Worker thread entry: copies the journal's WAL into the database file on a connection of its own (see checkpointer.ts).
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import type { CheckpointReply, CheckpointRequest } from './checkpointer.js';

const port = parentPort;
const file = (workerData as { file?: unknown } | null)?.file;
if (port !== null && typeof file === 'string') {
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    // What makes the copy safe against a power cut: the WAL is synced before pages are copied, the file after.
    db.pragma('synchronous = NORMAL');
    db.pragma('wal_autocheckpoint = 0');
    port.postMessage({ type: 'ready' } satisfies CheckpointReply);
  } catch (err) {
    port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies CheckpointReply);
    db = undefined;
  }
  port.on('message', (msg: CheckpointRequest) => {
    if (db === undefined) return;
    if (msg.type === 'close') {
      db.close();
      db = undefined;
      port.close();
      return;
    }
    try {
      // PASSIVE: copies the WAL as it was when the round began, without waiting for or blocking the writer.
      db.pragma('wal_checkpoint(PASSIVE)');
      port.postMessage({ type: 'done' } satisfies CheckpointReply);
    } catch (err) {
      port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) } satisfies CheckpointReply);
    }
  });
}
