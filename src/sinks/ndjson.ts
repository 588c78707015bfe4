// NDJSON framing shared by the byte-oriented sinks: each event's stored bytes, one per line.
import type { OutEvent } from '../core/contracts.js';

const NEWLINE = Buffer.from('\n');

/** The events as one buffer of NDJSON lines (each line ends with `\n`), copied once from the journal's bytes. */
export function ndjsonLines(events: readonly OutEvent[]): Buffer {
  const parts: Buffer[] = new Array<Buffer>(events.length * 2);
  let total = 0;
  let i = 0;
  for (const e of events) {
    parts[i++] = e.bytes;
    parts[i++] = NEWLINE;
    total += e.bytes.length + 1;
  }
  return Buffer.concat(parts, total);
}
