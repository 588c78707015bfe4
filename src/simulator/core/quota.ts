// The API quota (a fixed window per caller, as Mimecast counts it) and the injected 429/500 every API call passes.
import { HttpReply, failReply, type Headers } from '../http.js';
import type { Faults } from './faults.js';

export interface QuotaOptions {
  rateLimit: { limit: number; windowMs: number } | undefined;
}

export class Quota {
  private readonly buckets = new Map<string, { windowStart: number; count: number }>();
  private limited = 0;

  constructor(
    private readonly opts: QuotaOptions,
    private readonly faults: Faults,
  ) {}

  /** Calls refused by the real quota (not the injected 429s). */
  get rateLimited(): number {
    return this.limited;
  }

  /** Shared gate for API calls: the real quota first, then the injected 429 and 500. */
  gate(owner: string): { reply?: HttpReply; headers: Headers } {
    const headers: Headers = {};
    const rl = this.opts.rateLimit;
    if (rl !== undefined) {
      const now = Date.now();
      let b = this.buckets.get(owner);
      if (b === undefined || now >= b.windowStart + rl.windowMs) {
        b = { windowStart: now, count: 0 };
        this.buckets.set(owner, b);
      }
      const reset = Math.max(1, b.windowStart + rl.windowMs - now);
      if (b.count >= rl.limit) {
        this.limited++;
        return { reply: tooMany(rl.limit, reset), headers };
      }
      b.count++;
      headers['X-RateLimit-Limit'] = rl.limit;
      headers['X-RateLimit-Remaining'] = rl.limit - b.count;
      headers['X-RateLimit-Reset'] = reset;
    }
    const f = this.faults.current();
    if (this.faults.roll(f.rateLimit429)) {
      this.faults.count('rateLimit429');
      return { reply: tooMany(rl?.limit ?? 100, 200 + this.faults.rng.int(1301)), headers };
    }
    if (this.faults.roll(f.serverError500)) {
      this.faults.count('serverError500');
      return { reply: failReply(500, 'internal_server_error', 'An internal error occurred (simulated)'), headers };
    }
    return { headers };
  }
}

function tooMany(limit: number, resetMs: number): HttpReply {
  return failReply(429, 'rate_limit_exceeded', 'Too many requests, quota exceeded; retry after X-RateLimit-Reset ms', {
    'X-RateLimit-Limit': limit,
    'X-RateLimit-Remaining': 0,
    'X-RateLimit-Reset': resetMs,
  });
}
