// NDJSON framing shared by the byte-oriented sinks: each event's stored bytes, one per line.
import type { OutEvent } from '../core/contracts.js';

/** Batches larger than this get a buffer of their own instead of growing the reused one. */
const MAX_KEPT_BYTES = 16 * 1024 * 1024;

/** One framed batch: `data` stays valid until `release()`. */
export interface Framed {
  readonly data: Buffer;
  release(): void;
}

/**
 * Frames batches as NDJSON into one buffer reused from batch to batch. A new buffer per batch is garbage the
 * moment the write completes, yet V8 frees it only at its next collection: at tens of MB/s of events that
 * lag alone held tens of MB. Batches overlap only by mistake; an overlapping one gets a buffer of its own so
 * bytes still being written are never overwritten.
 */
export class NdjsonFramer {
  #buf: Buffer = Buffer.alloc(0);
  #lent = false;

  frame(events: readonly OutEvent[]): Framed {
    let total = 0;
    for (const e of events) total += e.size + 1;
    const reuse = !this.#lent && total <= MAX_KEPT_BYTES;
    if (reuse && this.#buf.length < total) this.#buf = Buffer.allocUnsafeSlow(Math.max(total, 64 * 1024));
    const target = reuse ? this.#buf : Buffer.allocUnsafeSlow(total);
    let off = 0;
    for (const e of events) {
      off += e.writeTo(target, off);
      target[off++] = 0x0a;
    }
    if (!reuse) return { data: target, release: () => undefined };
    this.#lent = true;
    let released = false;
    return {
      data: target.subarray(0, total),
      release: () => {
        if (released) return;
        released = true;
        this.#lent = false;
      },
    };
  }
}
