// Per-credential gate shared by every stream of one Mimecast account: caps concurrency and holds everyone during a 429 pause.
import { CollectorError } from '../core/errors.js';
import { safeTimeout, type SafeTimer } from '../core/util.js';

export interface CredentialLimiterOptions {
  /** Requests in flight at once for this credential. Default 4. */
  maxConcurrent?: number;
  /** Clock in ms; injectable for tests. Defaults to a monotonic clock. */
  now?: () => number;
}

export interface LimiterStats {
  /** Times pause() was called (every 429). */
  pauses: number;
  /** Sum over all callers of the time spent waiting in acquire(). */
  waitedMs: number;
  active: number;
  waiting: number;
  /** Whether callers are being held right now. */
  paused: boolean;
  /** Time left in the current pause, 0 when not paused. */
  pausedForMs: number;
  /** Why the current pause was asked for (e.g. `HTTP 429 X-RateLimit-Reset=1200`); absent when not paused. */
  reason?: string;
  /** Why the last pause (current or over) was asked for. */
  lastReason?: string;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  since: number;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

export class CredentialLimiter {
  readonly maxConcurrent: number;
  readonly #now: () => number;
  #active = 0;
  #pausedUntil = 0;
  #queue: Waiter[] = [];
  #timer: SafeTimer | undefined;
  #reason: string | undefined;
  #pauses = 0;
  #waitedMs = 0;
  #closed = false;

  constructor(opts: CredentialLimiterOptions = {}) {
    const max = opts.maxConcurrent ?? 4;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxConcurrent must be a positive integer, got ${max}`);
    this.maxConcurrent = max;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Resolves when the caller may send one request; pair every success with exactly one release(). */
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.#closed) return Promise.reject(new CollectorError('ABORTED', 'credential limiter closed'));
    if (signal?.aborted === true) return Promise.reject(new CollectorError('ABORTED', 'aborted'));
    // FIFO: a newcomer never overtakes queued callers.
    if (this.#queue.length === 0 && !this.#isPaused() && this.#active < this.maxConcurrent) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, since: this.#now(), signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          this.#waitedMs += this.#now() - waiter.since;
          reject(new CollectorError('ABORTED', 'aborted'));
        };
        signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      this.#queue.push(waiter);
      this.#drain();
    });
  }

  release(): void {
    if (this.#active > 0) this.#active--;
    this.#drain();
  }

  /**
   * Holds every caller (queued and future) for `ms` milliseconds; overlapping pauses keep the later end (and its
   * reason). Callers bound `ms` (see waits.ts); a non-finite value is taken as no pause.
   */
  pause(ms: number, reason?: string): void {
    this.#pauses++;
    const until = this.#now() + Math.max(0, Number.isFinite(ms) ? ms : 0);
    if (until > this.#pausedUntil) {
      this.#pausedUntil = until;
      this.#reason = reason;
    }
    this.#drain();
  }

  stats(): LimiterStats {
    const left = Math.max(0, Math.round(this.#pausedUntil - this.#now()));
    const paused = this.#isPaused();
    return {
      pauses: this.#pauses,
      waitedMs: Math.round(this.#waitedMs),
      active: this.#active,
      waiting: this.#queue.length,
      paused,
      pausedForMs: paused ? left : 0,
      ...(paused && this.#reason !== undefined ? { reason: this.#reason } : {}),
      ...(this.#reason !== undefined ? { lastReason: this.#reason } : {}),
    };
  }

  /** Rejects every waiting caller with ABORTED and refuses new ones. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clearTimer();
    const waiting = this.#queue;
    this.#queue = [];
    for (const w of waiting) {
      this.#detach(w);
      w.reject(new CollectorError('ABORTED', 'credential limiter closed'));
    }
  }

  #isPaused(): boolean {
    return this.#now() < this.#pausedUntil;
  }

  #drain(): void {
    if (this.#closed) return;
    const left = this.#pausedUntil - this.#now();
    if (left > 0) {
      // One timer for the end of the pause; re-armed if a later pause extends it.
      this.#clearTimer();
      if (this.#queue.length > 0) {
        this.#timer = safeTimeout(() => {
          this.#timer = undefined;
          this.#drain();
        }, Math.ceil(left));
      }
      return;
    }
    while (this.#queue.length > 0 && this.#active < this.maxConcurrent) {
      const w = this.#queue.shift();
      if (w === undefined) break;
      this.#detach(w);
      this.#active++;
      this.#waitedMs += this.#now() - w.since;
      w.resolve();
    }
  }

  #detach(w: Waiter): void {
    if (w.signal !== undefined && w.onAbort !== undefined) w.signal.removeEventListener('abort', w.onAbort);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) {
      this.#timer.clear();
      this.#timer = undefined;
    }
  }
}
