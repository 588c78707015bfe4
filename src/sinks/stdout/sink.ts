// Stdout sink: one JSON line per event on standard output, delivered once the stream has taken the bytes.
import type { Writable } from 'node:stream';
import type { OutEvent, Sink } from '../../core/contracts.js';
import { SinkError } from '../../core/errors.js';
import { ndjsonLines } from '../ndjson.js';

export class StdoutSink implements Sink {
  readonly name: string;
  private readonly out: Writable;

  constructor(name: string, out: Writable = process.stdout) {
    this.name = name;
    this.out = out;
  }

  send(events: readonly OutEvent[], _signal: AbortSignal): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const data = ndjsonLines(events);
    return new Promise((resolve, reject) => {
      this.out.write(data, (err) => {
        if (err) reject(new SinkError('SINK_RETRYABLE', `stdout sink ${this.name}: ${err.message}`, this.name, { cause: err }));
        else resolve();
      });
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
