// Worker thread entry: parses and normalizes line batches sent by the ParsePool (the only module that runs on load).
import { parentPort } from 'node:worker_threads';
import { describeError } from './errors.js';
import { packEvents, parseLines, type ParseJob } from './parse-lines.js';

type Request = { id: number; job: ParseJob } | { recycle: ArrayBuffer[] };

/** Document buffers handed back by the main thread, kept for the next replies; beyond this many they are dropped. */
const MAX_SPARE = 16;
const spare: ArrayBuffer[] = [];

/** A spare buffer of at least `minBytes` (the first that fits), or undefined. */
function takeSpare(minBytes: number): ArrayBuffer | undefined {
  for (let i = 0; i < spare.length; i++) {
    const b = spare[i] as ArrayBuffer;
    if (b.byteLength >= minBytes) {
      spare[i] = spare[spare.length - 1] as ArrayBuffer;
      spare.pop();
      return b;
    }
  }
  return undefined;
}

const port = parentPort;
if (port !== null) {
  port.on('message', (msg: Request) => {
    if ('recycle' in msg) {
      for (const b of msg.recycle) {
        // The smallest go first when full, so the spares keep fitting the largest groups.
        if (spare.length < MAX_SPARE) spare.push(b);
        else {
          let min = 0;
          for (let i = 1; i < spare.length; i++) if ((spare[i] as ArrayBuffer).byteLength < (spare[min] as ArrayBuffer).byteLength) min = i;
          if ((spare[min] as ArrayBuffer).byteLength < b.byteLength) spare[min] = b;
        }
      }
      return;
    }
    try {
      const { events, quarantined } = parseLines(msg.job);
      const packed = packEvents(events, takeSpare);
      // The text is decoded into strings by now: its buffer goes back to be filled with a later group.
      const t = msg.job.text;
      const text = t !== undefined && t.buffer instanceof ArrayBuffer && t.buffer.byteLength > 0 ? t.buffer : undefined;
      const transfer = [packed.docs.buffer as ArrayBuffer];
      if (text !== undefined && text !== packed.docs.buffer) transfer.push(text);
      port.postMessage(text === undefined ? { id: msg.id, packed, quarantined } : { id: msg.id, packed, quarantined, text }, transfer);
    } catch (err) {
      port.postMessage({ id: msg.id, error: describeError(err) });
    }
  });
}
