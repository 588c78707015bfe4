// Reused buffers for what a sink sends (request bodies, syslog batches): one per send, lent and given back.
/**
 * Buffers the size of a batch (MBs) that live as long as their send: long enough for V8 to promote them, so a new
 * one per send was freed only by a full collection — and the memory they hold counts against the old generation's
 * limit, so they brought those collections on every few sends. Lent by `take`, given back by `give` once nothing
 * reads them any more (the caller knows when: a request answered, a socket write called back); one never given back
 * is simply left to V8. The spare buffers are bounded by `max`.
 */
export class BufferPool {
  private readonly spare: Buffer[] = [];
  /** The memory of the buffers lent out (allocUnsafeSlow: each its own, never the shared pool's). */
  private readonly lent = new WeakSet<ArrayBuffer>();

  /** `step`: buffers are made in multiples of it, so batches of slightly different sizes share them. */
  constructor(
    private readonly max: number,
    private readonly step = 256 * 1024,
  ) {}

  /** A buffer of `size` bytes (a view of a spare, or of a new one). */
  take(size: number): Buffer {
    // The smallest spare that fits: a compressed body is a fraction of a plain one.
    let i = -1;
    for (let k = 0; k < this.spare.length; k++) {
      const len = (this.spare[k] as Buffer).length;
      if (len >= size && (i < 0 || len < (this.spare[i] as Buffer).length)) i = k;
    }
    const whole = i >= 0 ? (this.spare.splice(i, 1)[0] as Buffer) : Buffer.allocUnsafeSlow(Math.ceil(Math.max(size, 1) / this.step) * this.step);
    this.lent.add(whole.buffer as ArrayBuffer);
    return whole.subarray(0, size);
  }

  /** Takes back the buffer under a view `take` lent (anything else is left alone); `view` must not be used after. */
  give(view: Buffer): void {
    const memory = view.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.lent.has(memory)) return;
    this.lent.delete(memory);
    if (this.spare.length < this.max) this.spare.push(Buffer.from(memory, 0, memory.byteLength));
  }
}
