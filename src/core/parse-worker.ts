// Worker thread entry: parses and normalizes line batches sent by the ParsePool (the only module that runs on load).
import { parentPort } from 'node:worker_threads';
import { describeError } from './errors.js';
import { packEvents, parseLines, type ParseJob } from './parse-lines.js';

interface Request {
  id: number;
  job: ParseJob;
}

const port = parentPort;
if (port !== null) {
  port.on('message', (msg: Request) => {
    try {
      const { events, quarantined } = parseLines(msg.job);
      const packed = packEvents(events);
      port.postMessage({ id: msg.id, packed, quarantined }, [packed.docs.buffer as ArrayBuffer]);
    } catch (err) {
      port.postMessage({ id: msg.id, error: describeError(err) });
    }
  });
}
