// Small shared helpers: overflow-safe timers, abortable sleep and waits, jitter.
import { StringDecoder } from 'node:string_decoder';
import { CollectorError } from './errors.js';

/**
 * Longest delay one Node timer holds: setTimeout turns anything above it into 1 ms (with a TimeoutOverflowWarning),
 * so a server asking for "999999999 seconds" would become a hot loop.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending safeTimeout; clear() is idempotent. */
export interface SafeTimer {
  clear(): void;
}

/**
 * setTimeout for any delay: waits longer than MAX_TIMER_MS are chained from several timers, NaN and negative waits
 * fire at once (as with setTimeout), and the timers never keep the process alive unless `ref` is true.
 */
export function safeTimeout(fn: () => void, ms: number, ref = false): SafeTimer {
  let left = Number.isNaN(ms) ? 0 : Math.max(0, ms);
  let handle: NodeJS.Timeout | undefined;
  let cleared = false;
  const arm = (): void => {
    const step = Math.min(left, MAX_TIMER_MS);
    left -= step;
    handle = setTimeout(() => {
      if (cleared) return;
      if (left > 0) arm();
      else fn();
    }, step);
    if (!ref) handle.unref();
  };
  arm();
  return {
    clear() {
      cleared = true;
      if (handle !== undefined) clearTimeout(handle);
    },
  };
}

/** Waits `ms`, or rejects with ABORTED as soon as `signal` fires. Any `ms` is safe; the timer never keeps the process alive. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new CollectorError('ABORTED', 'aborted'));
      return;
    }
    const onAbort = (): void => {
      timer.clear();
      reject(new CollectorError('ABORTED', 'aborted'));
    };
    const timer = safeTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits for `promise` unless `signal` fires first (then rejects with ABORTED, as sleep does); the work behind the
 * promise carries on either way.
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(new CollectorError('ABORTED', 'aborted'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new CollectorError('ABORTED', 'aborted'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** `ms` spread by ±`fraction` at random, so many loops started together do not poll in lock-step. */
export function withJitter(ms: number, fraction = 0.1): number {
  return Math.max(0, Math.round(ms * (1 + (Math.random() * 2 - 1) * fraction)));
}

/** A wake-up flag: waiters resolve on notify() or after their timeout, whichever is first (never rejects). */
export class Wakeup {
  private waiters = new Set<() => void>();
  notify(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        timer.clear();
        this.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = safeTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * The lines of a byte stream, split on `\n` only (a `\r` before it is dropped): what NDJSON means by a line.
 * node:readline is not that: it also ends a line at a lone `\r`, and since Node 22 at U+2028 and U+2029, which
 * JSON allows unescaped inside strings. The last line is given even without its `\n`.
 */
export async function* ndjsonLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  for await (const chunk of input) {
    const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
    let start = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
      yield text.charCodeAt(nl - 1) === 0x0d && nl > start ? text.slice(start, nl - 1) : text.slice(start, nl);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  rest += decoder.end();
  if (rest !== '') yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
}

/** A plain object (not null, not an array): what a parsed JSON value must be to be read as a record. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
