// Stdout sink: one JSON line per event on standard output, delivered once the stream has taken the bytes.
import type { Writable } from 'node:stream';
import type { OutEvent, Sink } from '../../core/contracts.js';
import { SinkError } from '../../core/errors.js';
import { NdjsonFramer } from '../ndjson.js';

export class StdoutSink implements Sink {
  readonly name: string;
  private readonly out: Writable;
  private readonly framer = new NdjsonFramer();

  constructor(name: string, out: Writable = process.stdout) {
    this.name = name;
    this.out = out;
  }

  send(events: readonly OutEvent[], _signal: AbortSignal): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const framed = this.framer.frame(events);
    return new Promise((resolve, reject) => {
      // The stream may keep the buffer queued until it has been flushed: the framer's buffer is reused only then.
      this.out.write(framed.data, (err) => {
        framed.release();
        if (err) reject(new SinkError('SINK_RETRYABLE', `stdout sink ${this.name}: ${err.message}`, this.name, { cause: err }));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
