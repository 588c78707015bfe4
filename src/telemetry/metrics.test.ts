// The metrics of a pipeline run against a scripted sink (partial verdicts, a whole-send failure), read back from the
// exporter's Prometheus text; the log_type label of sources; the no-op instruments.
import { mkdtempSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parsePrometheus, sumOf, type Scrape } from '../../test/helpers/prometheus.js';
import type { NormalizedEvent, StreamName } from '../core/contracts.js';
import { Pipeline } from '../core/pipeline.js';
import { Journal } from '../journal/journal.js';
import { onceSource } from '../testkit/once-source.js';
import { ScriptedSink, step } from '../testkit/scripted-sink.js';
import { collectorMetrics, NOOP_METRICS, sourceLogType, type CollectorMetrics } from './metrics.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const P = 'mimecast_collector_';

function ev(n: number, stream: StreamName, logType: string): NormalizedEvent {
  const id = `e${n}`;
  const time = new Date(T0 + n * 1000).toISOString();
  return { id, stream, account: 'corp', time, logType, doc: { '@timestamp': time, event: { id }, mimecast: { log_type: logType } } };
}

/** The exporter's answer to GET /metrics, through its request handler, without a socket. */
function scrape(m: CollectorMetrics): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    const res = {
      statusCode: 0,
      setHeader: () => res,
      end: (text: string) => {
        if (res.statusCode !== 200) reject(new Error(`status ${res.statusCode}`));
        else resolve(parsePrometheus(text));
      },
    };
    m.handle({} as IncomingMessage, res as unknown as ServerResponse);
  });
}

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await cleanup?.();
  cleanup = undefined;
});

describe('pipeline metrics', () => {
  it('count delivered, retried and dead-lettered events per route from partial verdicts, per send not per event', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const m = collectorMetrics();
    const journal = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-metrics-unit-')), checkpointWorker: false });
    const sink = new ScriptedSink();
    // First send: event 1 retried, event 2 rejected, the rest delivered; second (the retry) fails whole once.
    sink.script.push(step.verdicts({ retry: [1], rejected: [2], retryAfterMs: 100 }), step.fail('SINK_RETRYABLE', 'busy', 100));
    const events = [...[1, 2, 3, 4].map((n) => ev(n, 'siem', 'receipt')), ...[5, 6].map((n) => ev(n, 'siem', 'delivery'))];
    const pipeline = new Pipeline({
      journal,
      sources: [
        { source: onceSource(events, { per: 6 }), pollIntervalMs: 3_600_000 },
        { source: onceSource([ev(7, 'ttp_url', 'ttp_url'), ev(7, 'ttp_url', 'ttp_url')], { stream: 'ttp_url' }), pollIntervalMs: 3_600_000 },
      ],
      sinks: [{ sink, batch: { max_events: 100, max_bytes: 1 << 20, max_wait: 0 } }],
      logger: pino({ level: 'silent' }),
      metrics: m.metrics,
    });
    cleanup = async () => {
      await pipeline.stop();
      journal.close();
      await m.close();
    };
    pipeline.start();
    await vi.advanceTimersByTimeAsync(5_000);
    expect(journal.backlog('scripted').events).toBe(0);
    const s = await scrape(m);
    // The same event twice in one batch: journaled once, the other a duplicate.
    expect(sumOf(s, `${P}events_fetched_total`, { stream: 'ttp_url', log_type: 'ttp_url' })).toBe(2);
    expect(sumOf(s, `${P}events_journaled_total`, { stream: 'ttp_url' })).toBe(1);
    expect(sumOf(s, `${P}events_deduplicated_total`, { stream: 'ttp_url' })).toBe(1);
    expect(sumOf(s, `${P}events_delivered_total`, { sink: 'scripted', stream: 'siem', log_type: 'receipt' })).toBe(3);
    expect(sumOf(s, `${P}events_delivered_total`, { sink: 'scripted', stream: 'siem', log_type: 'delivery' })).toBe(2);
    expect(sumOf(s, `${P}events_delivered_total`, { sink: 'scripted', stream: 'ttp_url', log_type: 'ttp_url' })).toBe(1);
    expect(sumOf(s, `${P}events_dead_lettered_total`, { sink: 'scripted', stream: 'siem', log_type: 'receipt' })).toBe(1);
    expect(sumOf(s, `${P}events_retried_total`, { sink: 'scripted' })).toBe(2);
    expect(sumOf(s, `${P}sink_retries_total`, { sink: 'scripted', code: 'SINK_RETRYABLE' })).toBe(2);
    expect(sumOf(s, `${P}sink_send_duration_seconds_count`, { sink: 'scripted', outcome: 'partial' })).toBe(1);
    expect(sumOf(s, `${P}sink_send_duration_seconds_count`, { sink: 'scripted', outcome: 'error' })).toBe(1);
    // One add per route and send: the sample count does not grow with the events.
    expect(s.get(`${P}events_delivered_total`)?.samples).toHaveLength(3);
  });

  it('the gauges read the snapshot at each scrape', async () => {
    const m = collectorMetrics();
    cleanup = () => m.close();
    let backlog = 5;
    m.metrics.observe(() => ({
      now: 100_000,
      startedAt: 40_000,
      sources: [{ account: 'corp', stream: 'siem', logType: 'receipt', newestEventAt: 70_000, cursorAt: undefined, consecutiveFailures: 2 }],
      sinks: [{ name: 'out', backlog, inFlight: 1, lastDeliveryAt: 90_000, failing: true, deadLetters: 3 }],
      accounts: [{ name: 'corp', pauses: 4, waitedMs: 2500 }],
      journal: { events: 10, bytes: 2048, maxEvents: 100, maxBytes: 4096 },
    }));
    let s = await scrape(m);
    expect(sumOf(s, `${P}stream_lag_seconds`, { account: 'corp', stream: 'siem', log_type: 'receipt' })).toBe(30);
    expect(sumOf(s, `${P}cursor_age_seconds`, { log_type: 'receipt' })).toBe(60); // never caught up: since start
    expect(sumOf(s, `${P}source_consecutive_failures`)).toBe(2);
    expect(sumOf(s, `${P}sink_backlog_events`, { sink: 'out' })).toBe(5);
    expect(sumOf(s, `${P}sink_last_delivery_age_seconds`, { sink: 'out' })).toBe(10);
    expect(sumOf(s, `${P}sink_failing`, { sink: 'out' })).toBe(1);
    expect(sumOf(s, `${P}sink_dead_letters`, { sink: 'out' })).toBe(3);
    expect(sumOf(s, `${P}api_rate_limit_pauses_total`, { account: 'corp' })).toBe(4);
    expect(sumOf(s, `${P}api_rate_limit_wait_seconds_total`, { account: 'corp' })).toBe(2.5);
    expect(sumOf(s, `${P}journal_bytes`) / sumOf(s, `${P}journal_max_bytes`)).toBe(0.5);
    expect(s.has(`${P}quarantine_records`)).toBe(false); // the journal could not be read: left out, not 0
    expect(s.get(`${P}api_rate_limit_pauses_total`)?.type).toBe('counter');
    backlog = 0;
    s = await scrape(m);
    expect(sumOf(s, `${P}sink_backlog_events`, { sink: 'out' })).toBe(0);
  });
});

describe('labels', () => {
  it('log_type of a source: its key\'s own part, else the stream', () => {
    expect(sourceLogType('corp/siem/receipt', 'corp', 'siem')).toBe('receipt');
    expect(sourceLogType('corp/siem/v1', 'corp', 'siem')).toBe('v1');
    expect(sourceLogType('corp/siem/stream/receipt+delivery', 'corp', 'siem')).toBe('stream');
    expect(sourceLogType('corp/threat_intel/malware_grid', 'corp', 'threat_intel')).toBe('malware_grid');
    expect(sourceLogType('corp/ttp_url', 'corp', 'ttp_url')).toBe('ttp_url');
  });

  it('API exchanges: endpoint and status, 429s and token requests; the no-op instruments take anything', async () => {
    const m = collectorMetrics();
    cleanup = () => m.close();
    const api = m.metrics.api('corp');
    api.call('/siem/v1/batch/events/cg', 200, 0.02);
    api.call('/siem/v1/batch/events/cg', 429, 0.01);
    api.call('download', 0, 1.5);
    api.tokenRefresh(true);
    api.tokenRefresh(false);
    const s = await scrape(m);
    expect(sumOf(s, `${P}api_requests_total`, { endpoint: '/siem/v1/batch/events/cg' })).toBe(2);
    expect(sumOf(s, `${P}api_requests_total`, { endpoint: 'download', status: '0' })).toBe(1);
    expect(sumOf(s, `${P}api_throttled_total`, { account: 'corp' })).toBe(1);
    expect(sumOf(s, `${P}token_refreshes_total`, { outcome: 'error' })).toBe(1);
    expect(sumOf(s, `${P}api_request_duration_seconds_bucket`, { endpoint: 'download', le: '2.5' })).toBe(1);
    expect(sumOf(s, `${P}api_request_duration_seconds_bucket`, { endpoint: 'download', le: '1' })).toBe(0);
    expect(() => {
      NOOP_METRICS.api('x').call('/p', 200, 1);
      NOOP_METRICS.sink('x').delivered([{ account: 'a', stream: 'siem', logType: 'receipt' }]);
      NOOP_METRICS.source('a', 'siem', 'receipt').batch(1, ['bad_json'], { inserted: 0, duplicates: 0 });
    }).not.toThrow();
  });
});
