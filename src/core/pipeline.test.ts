// The supervisor's handling of an unlicensed stream: one warning, state `disabled`, never polled again; others flow.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Journal } from '../journal/journal.js';
import { ApiError, SinkError } from './errors.js';
import type { Batch, NormalizedEvent, OutEvent, Sink, Source } from './contracts.js';
import { Pipeline } from './pipeline.js';
import { disabledError } from '../sources/paged/shared.js';

class MemorySink implements Sink {
  readonly name = 'mem';
  readonly got: OutEvent[] = [];
  send(events: readonly OutEvent[]): Promise<void> {
    this.got.push(...events);
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

function logCapture(): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, dest), lines };
}

describe('Pipeline: a disabled (unlicensed) stream', () => {
  let pipeline: Pipeline | undefined;
  let journal: Journal | undefined;
  afterEach(async () => {
    await pipeline?.stop();
    journal?.close();
  });

  it('warns once naming the account, stream and the API words, is never polled again, and the others flow', async () => {
    journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-pipe-')) });
    let dlpPulls = 0;
    const dlp: Source = {
      key: 'corp/dlp',
      account: 'corp',
      stream: 'dlp',
      // eslint-disable-next-line require-yield
      async *pull(): AsyncGenerator<Batch> {
        dlpPulls += 1;
        const cause = new ApiError('API_PERMISSION_DENIED', 'POST /api/dlp/get-logs failed with HTTP 403: The account is not licensed for this product', 'POST /api/dlp/get-logs', {
          status: 403,
        });
        throw disabledError('dlp', 'corp', cause);
      },
    };
    let auditPulls = 0;
    const audit: Source = {
      key: 'corp/audit',
      account: 'corp',
      stream: 'audit',
      async *pull(cursor): AsyncGenerator<Batch> {
        auditPulls += 1;
        await Promise.resolve();
        const n = Number(cursor ?? '0') + 1;
        yield {
          cursor: String(n),
          events: [{ id: `a${n}`, stream: 'audit', account: 'corp', time: new Date(0).toISOString(), doc: { event: { id: `a${n}` } } }],
        };
      },
    };
    const sink = new MemorySink();
    const { logger, lines } = logCapture();
    pipeline = new Pipeline({
      journal,
      sources: [
        { source: dlp, pollIntervalMs: 10 },
        { source: audit, pollIntervalMs: 10 },
      ],
      sinks: [{ sink, batch: { max_events: 100, max_bytes: 1 << 20, max_wait: 0 } }],
      logger,
    });
    pipeline.start();
    const deadline = Date.now() + 10_000;
    while (auditPulls < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(auditPulls).toBeGreaterThanOrEqual(5);
    expect(dlpPulls).toBe(1);
    const st = pipeline.sources().find((s) => s.key === 'corp/dlp');
    expect(st?.state).toBe('disabled');
    expect(st?.lastError?.message).toMatch(/stream dlp disabled for account corp: .*not licensed for this product/);
    const warnings = lines.filter((l) => l['msg'] === 'stream disabled: the account does not have it');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, account: 'corp', stream: 'dlp' });
    expect(String(warnings[0]?.['err'])).toContain('The account is not licensed for this product');
    expect(lines.filter((l) => Number(l['level']) >= 50)).toEqual([]);
    while (sink.got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sink.got.length).toBeGreaterThan(0);
    await pipeline.stop();
    expect(pipeline.sources().find((s) => s.key === 'corp/dlp')?.state).toBe('disabled');
  });
});

/** A sink whose receiver is down until `up` is set; counts deliveries tried and probes. */
class OutageSink implements Sink {
  readonly name = 'down';
  up = false;
  sends = 0;
  probes = 0;
  readonly got: OutEvent[] = [];
  send(events: readonly OutEvent[]): Promise<void> {
    this.sends += 1;
    if (!this.up) return Promise.reject(new SinkError('SINK_RETRYABLE', 'receiver unreachable (ECONNREFUSED)', this.name));
    this.got.push(...events);
    return Promise.resolve();
  }
  probe(): Promise<boolean> {
    this.probes += 1;
    return Promise.resolve(this.up);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

describe('Pipeline: a sink that keeps failing', () => {
  let pipeline: Pipeline | undefined;
  let journal: Journal | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await pipeline?.stop();
    journal?.close();
  });

  it('makes the collector unready after unready_after, names it, and delivers within seconds of the fix', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-pipe-')) });
    const source: Source = {
      key: 'corp/audit',
      account: 'corp',
      stream: 'audit',
      async *pull(cursor): AsyncGenerator<Batch> {
        await Promise.resolve();
        if (cursor !== undefined) return;
        yield {
          cursor: '1',
          events: [1, 2, 3].map((n) => ({ id: `e${n}`, stream: 'audit' as const, account: 'corp', time: new Date(0).toISOString(), doc: { event: { id: `e${n}` } } })),
        };
      },
    };
    const sink = new OutageSink();
    pipeline = new Pipeline({
      journal,
      sources: [{ source, pollIntervalMs: 3_600_000 }],
      sinks: [{ sink, batch: { max_events: 100, max_bytes: 1 << 20, max_wait: 0 } }],
      logger: pino({ level: 'silent' }),
    });
    pipeline.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.sends).toBeGreaterThan(0);
    // Failing, but not for long yet: still ready.
    expect(pipeline.readiness(60_000).ready).toBe(true);

    await vi.advanceTimersByTimeAsync(61_000);
    const r = pipeline.readiness(60_000);
    expect(r.ready).toBe(false);
    expect(r.failing_sinks).toEqual([{ name: 'down', failing_for_ms: expect.any(Number) as number, error: 'receiver unreachable (ECONNREFUSED)' }]);
    expect(r.failing_sinks[0]?.failing_for_ms).toBeGreaterThanOrEqual(60_000);

    // Ten minutes of outage: the backoff has grown to its cap; sends stay few (no hot loop), probes keep watch.
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    const sendsDuringOutage = sink.sends;
    expect(sendsDuringOutage).toBeLessThan(200);
    expect(sink.probes).toBeGreaterThan(100);

    sink.up = true;
    await vi.advanceTimersByTimeAsync(2_500);
    expect(sink.got.map((e) => e.id)).toEqual(['e1', 'e2', 'e3']);
    expect(pipeline.readiness(60_000).ready).toBe(true);
    expect(pipeline.sinks()[0]?.failingSince).toBeUndefined();
  });
});

describe('Pipeline: a source pausing between attempts at a file', () => {
  let pipeline: Pipeline | undefined;
  let journal: Journal | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await pipeline?.stop();
    journal?.close();
  });

  it('waits out pauseMs holding no slot, and the journal being full never cuts the file attempts short', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    // A small budget that the first source fills; nothing drains it (the sink is down).
    journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-pipe-')), maxEvents: 1000 });
    const ev = (key: string, n: number): NormalizedEvent => ({ id: `${key}${n}`, stream: 'audit', account: 'corp', time: new Date(0).toISOString(), doc: { event: { id: `${key}${n}` } } });
    let fillerPulls = 0;
    const filler: Source = {
      key: 'corp/audit',
      account: 'corp',
      stream: 'audit',
      async *pull(cursor): AsyncGenerator<Batch> {
        fillerPulls += 1;
        for (let b = Number(cursor ?? '0'); ; b++) {
          await Promise.resolve();
          yield { cursor: String(b + 1), events: Array.from({ length: 600 }, (_, i) => ev('f', b * 600 + i)) };
        }
      },
    };
    // A file failing five times: each attempt reports a retry and asks for a pause, then it is given up.
    let filePulls = 0;
    let attempts = 0;
    const failing: Source = {
      key: 'corp/siem/receipt',
      account: 'corp',
      stream: 'siem',
      async *pull(): AsyncGenerator<Batch> {
        filePulls += 1;
        for (;;) {
          await Promise.resolve();
          attempts += 1;
          if (attempts > 5) {
            yield { cursor: 'past-the-file', events: [], quarantined: [{ reason: 'blob_corrupt', detail: 'cut every time', location: 'blob=0', raw: '' }] };
            return;
          }
          yield { cursor: 'at-the-file', events: [], counters: { blob_retry: 1 }, pauseMs: 30_000 };
        }
      },
    };
    const sink = new OutageSink();
    pipeline = new Pipeline({
      journal,
      sources: [
        { source: filler, pollIntervalMs: 3_600_000 },
        { source: failing, pollIntervalMs: 3_600_000 },
      ],
      sinks: [{ sink, batch: { max_events: 100, max_bytes: 1 << 20, max_wait: 0 } }],
      logger: pino({ level: 'silent' }),
      // One slot: a source sleeping while it held it would stop the other one.
      maxConcurrentBatches: 1,
    });
    pipeline.start();
    await vi.advanceTimersByTimeAsync(10_000);
    // The failing source is waiting (state backoff) and the filler got its turn meanwhile (the journal is full now).
    expect(pipeline.sources().find((s) => s.key === 'corp/siem/receipt')?.state).toBe('backoff');
    expect(journal.usage().events).toBeGreaterThan(0);
    await vi.advanceTimersByTimeAsync(5 * 30_000);
    // Every attempt was spaced by its pause, in one pull: the full journal did not restart it.
    expect(attempts).toBe(6);
    expect(filePulls).toBe(1);
    expect(journal.getCursor('corp/siem/receipt')).toBe('past-the-file');
    expect(journal.quarantineCount()).toBe(1);
    expect(pipeline.sources().find((s) => s.key === 'corp/siem/receipt')?.counters['blob_retry']).toBe(5);
    expect(fillerPulls).toBeGreaterThanOrEqual(1);
  });
});
