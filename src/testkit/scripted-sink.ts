// An in-memory sink whose answers are scripted per send: for testing the sink runner and the pipeline around it.
import type { OutEvent, SendResult, Sink } from '../core/contracts.js';
import { SinkError, type SinkErrorCode } from '../core/errors.js';

/** One scripted answer: return a verdict (or nothing: all delivered), or throw. Gets the ids it was sent. */
export type SendStep = (ids: readonly string[], signal: AbortSignal) => SendResult | void | Promise<SendResult | void>;

/** Steps for the usual answers. */
export const step = {
  deliver: (): SendStep => () => undefined,
  fail: (code: SinkErrorCode, message = `scripted ${code}`, retryAfterMs?: number): SendStep => () => {
    throw new SinkError(code, message, 'scripted', retryAfterMs === undefined ? {} : { retryAfterMs });
  },
  /** Rejects the events at these positions, retries those at others, delivers the rest. */
  verdicts: (v: { retry?: readonly number[]; rejected?: readonly number[]; retryAfterMs?: number }): SendStep => () => ({
    retry: (v.retry ?? []).map((index) => ({ index, reason: `busy (item ${index})` })),
    rejected: (v.rejected ?? []).map((index) => ({ index, reason: `bad data (item ${index})` })),
    ...(v.retryAfterMs === undefined ? {} : { retryAfterMs: v.retryAfterMs }),
  }),
  /** Never answers until the send is aborted. */
  hang: (): SendStep => (_ids, signal) =>
    new Promise((_resolve, reject) => {
      signal.addEventListener('abort', () => reject(new SinkError('SINK_RETRYABLE', 'aborted while sending', 'scripted')), { once: true });
    }),
};

export interface SendCall {
  ids: string[];
  /** The first bytes of each event as sent (to check rendering). */
  texts: string[];
}

/**
 * Answers each send with the next scripted step (`script`, or `byCall(n)` when set), delivering everything once
 * the script runs out. Records every call and every event it counted as delivered, in order.
 */
export class ScriptedSink implements Sink {
  readonly calls: SendCall[] = [];
  /** Ids of delivered events, in delivery order (repeats kept: a resend shows up twice). */
  readonly delivered: string[] = [];
  readonly script: SendStep[] = [];
  byCall: ((n: number) => SendStep | undefined) | undefined;
  checkStep: (() => void | Promise<void>) | undefined;
  probeUp = false;
  closed = false;

  constructor(readonly name = 'scripted') {}

  async send(events: readonly OutEvent[], signal: AbortSignal): Promise<SendResult | void> {
    const ids = events.map((e) => e.id);
    // Copies: the events' bytes are only the sink's until the send settles.
    this.calls.push({ ids, texts: events.map((e) => e.json) });
    const next = this.byCall?.(this.calls.length) ?? this.script.shift() ?? step.deliver();
    const result = await next(ids, signal);
    const notDelivered = new Set<number>([...(result?.retry ?? []), ...(result?.rejected ?? [])].map((v) => v.index));
    ids.forEach((id, i) => {
      if (!notDelivered.has(i)) this.delivered.push(id);
    });
    return result;
  }

  async check(): Promise<void> {
    await this.checkStep?.();
  }

  probe(): Promise<boolean> {
    return Promise.resolve(this.probeUp);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}
