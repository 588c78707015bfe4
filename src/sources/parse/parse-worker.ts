// Worker thread entry: parses and normalizes line batches sent by the ParsePool (the only module that runs on load).
import { parentPort } from 'node:worker_threads';
import { describeError } from '../../core/errors.js';
import { SpareBuffers, parseAndPack, type ParseJob } from './parse-lines.js';

type Request = { id: number; job: ParseJob } | { recycle: ArrayBuffer[] };

/** Document buffers handed back by the main thread, kept for the next replies. */
const spare = new SpareBuffers(16);

const port = parentPort;
if (port !== null) {
  port.on('message', (msg: Request) => {
    if ('recycle' in msg) {
      for (const b of msg.recycle) spare.put(b);
      return;
    }
    try {
      const id = msg.id;
      const { packed, quarantined, reply } = parseAndPack(
        msg.job,
        (n) => spare.take(n),
        (head) => {
          if (head.kind === 'page' && head.next !== undefined) port.postMessage({ id, head });
        },
      );
      // The text is decoded into strings by now: its buffer goes back to be filled with a later group.
      const t = msg.job.text;
      const text = t !== undefined && t.buffer instanceof ArrayBuffer && t.buffer.byteLength > 0 ? t.buffer : undefined;
      const transfer = [packed.docs.buffer as ArrayBuffer];
      if (text !== undefined && text !== packed.docs.buffer) transfer.push(text);
      port.postMessage({ id: msg.id, packed, quarantined, ...(text === undefined ? {} : { text }), ...(reply === undefined ? {} : { reply }) }, transfer);
    } catch (err) {
      port.postMessage({ id: msg.id, error: describeError(err) });
    }
  });
}
