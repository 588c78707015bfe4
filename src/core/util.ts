// Small shared helpers: abortable sleep, jitter.
import { CollectorError } from './errors.js';

/** Waits `ms`, or rejects with ABORTED as soon as `signal` fires. The timer never keeps the process alive. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new CollectorError('ABORTED', 'aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CollectorError('ABORTED', 'aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** `ms` spread by ±`fraction` at random, so many loops started together do not poll in lock-step. */
export function withJitter(ms: number, fraction = 0.1): number {
  return Math.max(0, Math.round(ms * (1 + (Math.random() * 2 - 1) * fraction)));
}
