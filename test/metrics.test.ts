// /metrics scraped from the `run` command during a simulator run: the counters add up, per stream and per sink route,
// and agree with what the simulator published and what each receiver holds; the Grafana files only name metrics
// that a real scrape exposes.
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { freePort } from '../src/testkit/free-port.js';
import { jsonReply } from '../src/testkit/receiver-server.js';
import { startNdjsonReceiver, type NdjsonReceiver } from '../src/testkit/ndjson-receiver.js';
import { readManifest, readOutput, REPO, sleepMs, spawnCli, writeConfig, type Child } from './helpers/harness.js';
import { exposedNames, labelValues, parsePrometheus, sumOf, type Scrape } from './helpers/prometheus.js';

const STREAMS = ['siem', 'ttp_url'] as const;
const P = 'mimecast_collector_';

describe('/metrics during a simulator run', () => {
  let sim: RunningSimulator | undefined;
  let receiver: NdjsonReceiver | undefined;
  let child: Child | undefined;
  let dir = '';
  let base = '';
  let log = '';
  /** The scrape once every sink caught up and nothing moved between two scrapes. */
  let settled: Scrape = new Map();

  const scrape = async (): Promise<Scrape> => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return parsePrometheus(await res.text());
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mc-metrics-'));
    mkdirSync(join(dir, 'manifests'));
    // Junk lines (quarantined), records repeated from the previous file (dropped by dedup) and 429s, so every term
    // of the sums and the API counters are exercised.
    sim = await startSimulator({
      seed: 'metrics',
      backlogRecords: 3000,
      publishIntervalMs: 3_600_000,
      manifestDir: join(dir, 'manifests'),
      // ttp_url's backlog only: records published now would wait out the paged source's settle delay (a minute).
      streamRecords: { ttp_url: 600 },
      streamShare: { ttp_url: 0 },
      faults: { nonJsonLines: 0.3, replayRecords: 0.3, rateLimit429: 0.08 },
    });
    // Files published after the start repeat records of the file before (the backlog's do not): duplicates to drop.
    for (let i = 0; i < 4; i++) await sim.publish(200);
    receiver = await startNdjsonReceiver();
    // The filtered sink's receiver: busy once (a retry), then refuses one batch for good (dead letters).
    receiver.setFault((n) => (n === 1 ? jsonReply(503, { error: 'busy' }, { 'Retry-After': '0' }) : n === 2 ? jsonReply(400, { error: 'refused' }) : undefined));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    log = join(dir, 'collector.log');
    const config = writeConfig(
      join(dir, 'config.yaml'),
      [
        `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
        'log_level: info',
        'shutdown_timeout: 5s',
        `http: { listen: 127.0.0.1:${port} }`,
        'accounts:',
        '  - name: sim',
        `    base_url: ${sim.url}`,
        `    client_id: ${JSON.stringify(sim.clientId)}`,
        `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
        // The simulator's backlog spans its last 24 hours: fewer empty days to list.
        '    start_from: 2d',
        '    poll_interval: 1s',
        '    streams:',
        '      siem: { chunk_events: 200 }',
        '      ttp_url: {}',
        'sinks:',
        '  - name: file',
        '    type: file',
        `    path: ${JSON.stringify(join(dir, 'out', 'events.ndjson'))}`,
        '    batch: { max_events: 200, max_wait: 50ms }',
        '  - name: siem_only',
        '    type: http',
        '    preset: ndjson',
        `    url: ${receiver.url}/ingest`,
        '    streams: [siem]',
        '    batch: { max_events: 200, max_wait: 50ms }',
        '',
      ].join('\n'),
    );
    child = spawnCli(['run', '--config', config], log);
    // Caught up: both sinks' backlogs empty, every stream journaled something, and two scrapes a poll apart agree.
    const until = Date.now() + 150_000;
    let last = '';
    for (;;) {
      if (Date.now() > until) throw new Error(`no settled scrape within 150 s; last:\n${last}\nlog:\n${readFileSync(log, 'utf8').slice(-3000)}`);
      await sleepMs(1500);
      let s: Scrape;
      try {
        s = await scrape();
      } catch {
        continue; // not listening yet
      }
      // Counters that move only with new data: API calls go on at every poll, and a paged stream reads the overlap of
      // its time window again each time (fetched and deduplicated grow). All counters of a scrape are read in one pass,
      // so the sums hold in any scrape; "caught up" needs the gauges, read just before, to agree with them.
      const moving = new Set(['events_journaled_total', 'events_delivered_total', 'events_dead_lettered_total', 'events_quarantined_total'].map((n) => P + n));
      const key = JSON.stringify([...s.values()].filter((f) => moving.has(f.name)).map((f) => f.samples));
      const caughtUp =
        labelValues(s, `${P}sink_backlog_events`, 'sink').length === 2 &&
        sumOf(s, `${P}sink_backlog_events`) === 0 &&
        STREAMS.every((stream) => sumOf(s, `${P}events_journaled_total`, { stream }) > 0) &&
        sumOf(s, `${P}events_dead_lettered_total`) > 0;
      if (caughtUp && key === last) {
        settled = s;
        break;
      }
      last = caughtUp ? key : '';
    }
  }, 180_000);

  afterAll(async () => {
    child?.proc.kill('SIGTERM');
    await child?.exited;
    await receiver?.close();
    await sim?.close();
  });

  it('fetched = journaled + deduplicated + quarantined, per stream, with every term at work', () => {
    const s = settled;
    for (const stream of STREAMS) {
      const m = { account: 'sim', stream };
      const fetched = sumOf(s, `${P}events_fetched_total`, m);
      const journaled = sumOf(s, `${P}events_journaled_total`, m);
      const dedup = sumOf(s, `${P}events_deduplicated_total`, m);
      const quarantined = sumOf(s, `${P}events_quarantined_total`, m);
      expect({ stream, fetched }).toEqual({ stream, fetched: journaled + dedup + quarantined });
      // Every record the simulator published is journaled once.
      expect({ stream, journaled }).toEqual({ stream, journaled: readManifest(join(dir, 'manifests', `${stream}.ndjson`)).length });
    }
    // Every record the simulator repeated is dropped as a duplicate, every junk line it put in a file is quarantined.
    expect(sim?.stats().duplicateRecords).toBeGreaterThan(0);
    expect(sumOf(s, `${P}events_deduplicated_total`, { stream: 'siem' })).toBe(sim?.stats().duplicateRecords);
    expect(sim?.stats().junkLines).toBeGreaterThan(0);
    expect(sumOf(s, `${P}events_quarantined_total`, { stream: 'siem', reason: 'bad_json' })).toBe(sim?.stats().junkLines);
    // SIEM's sources are one per log type; ttp_url has one source, labelled with the stream's name as its events are.
    expect(labelValues(s, `${P}events_journaled_total`, 'log_type')).toEqual(expect.arrayContaining(['delivery', 'process', 'receipt', 'ttp_url']));
    expect(labelValues(s, `${P}events_journaled_total`, 'log_type')).toEqual(labelValues(s, `${P}events_delivered_total`, 'log_type'));
  });

  it('delivered per sink = journaled for its routes; the filtered sink delivers only its streams', () => {
    const s = settled;
    for (const stream of STREAMS) {
      const journaled = sumOf(s, `${P}events_journaled_total`, { stream });
      expect({ stream, delivered: sumOf(s, `${P}events_delivered_total`, { sink: 'file', stream }) }).toEqual({ stream, delivered: journaled });
    }
    // siem_only: its delivered and dead-lettered events make up the siem stream; nothing of ttp_url reached it.
    const siem = sumOf(s, `${P}events_journaled_total`, { stream: 'siem' });
    const delivered = sumOf(s, `${P}events_delivered_total`, { sink: 'siem_only', stream: 'siem' });
    const dead = sumOf(s, `${P}events_dead_lettered_total`, { sink: 'siem_only', stream: 'siem' });
    expect(delivered + dead).toBe(siem);
    expect(labelValues(s, `${P}events_delivered_total`, 'stream').length).toBe(2);
    expect(sumOf(s, `${P}events_delivered_total`, { sink: 'siem_only', stream: 'ttp_url' })).toBe(0);
    expect(sumOf(s, `${P}events_dead_lettered_total`, { sink: 'siem_only' })).toBe(sumOf(s, `${P}sink_dead_letters`, { sink: 'siem_only' }));
    // Per log type, delivered adds up to the same (the label is the event's mimecast.log_type).
    expect(labelValues(s, `${P}events_delivered_total`, 'log_type').filter((t) => t !== '')).toEqual(expect.arrayContaining(['delivery', 'receipt']));
    // What the receivers hold is what the counters say.
    expect(readOutput(join(dir, 'out', 'events.ndjson')).length).toBe(sumOf(s, `${P}events_delivered_total`, { sink: 'file' }));
    expect(receiver?.docs.length).toBe(delivered);
    // The 503 was retried, the 400 dead-lettered a batch; the file sink never needed a retry.
    expect(sumOf(s, `${P}sink_retries_total`, { sink: 'siem_only' })).toBeGreaterThanOrEqual(1);
    expect(sumOf(s, `${P}events_retried_total`, { sink: 'siem_only' })).toBeGreaterThan(0);
    expect(sumOf(s, `${P}sink_retries_total`, { sink: 'file' })).toBe(0);
    expect(sumOf(s, `${P}sink_send_duration_seconds_count`, { sink: 'file' })).toBeGreaterThan(0);
    expect(sumOf(s, `${P}sink_batches_total`, { sink: 'file' })).toBe(sumOf(s, `${P}sink_send_duration_seconds_count`, { sink: 'file', outcome: 'ok' }));
  });

  it('counts API calls by endpoint and status, 429s, token requests; shows lag, cursor age and the journal', () => {
    const s = settled;
    const endpoints = labelValues(s, `${P}api_requests_total`, 'endpoint');
    expect(endpoints).toEqual(expect.arrayContaining(['/oauth/token', 'download']));
    // No pre-signed URL, query string or id in a label: endpoints are API paths or `download`.
    for (const e of endpoints) expect(e).toMatch(/^(download|\/[a-z0-9/_-]+)$/i);
    // One in 12 calls is answered 429 (a 1 in 10^4 chance of none over the run's ~150 calls); the simulator's count,
    // read after the scrape, can only be higher (the polls go on).
    const throttled = sumOf(s, `${P}api_requests_total`, { status: '429' });
    expect(throttled).toBeGreaterThan(0);
    expect(throttled).toBeLessThanOrEqual(sim?.stats().responses['429'] ?? 0);
    expect(sumOf(s, `${P}api_throttled_total`, { account: 'sim' })).toBe(sumOf(s, `${P}api_requests_total`, { status: '429' }));
    expect(sumOf(s, `${P}api_rate_limit_pauses_total`, { account: 'sim' })).toBeGreaterThan(0);
    expect(sumOf(s, `${P}token_refreshes_total`, { account: 'sim', outcome: 'ok' })).toBe(sim?.stats().tokensIssued);
    expect(sumOf(s, `${P}api_request_duration_seconds_count`)).toBe(sumOf(s, `${P}api_requests_total`));
    for (const stream of STREAMS) {
      const lag = settled.get(`${P}stream_lag_seconds`)?.samples.filter((x) => x.labels['stream'] === stream) ?? [];
      expect(lag.length).toBeGreaterThan(0);
      // The backlog spans the simulator's last 24 hours: the newest event is recent.
      for (const x of lag) expect(x.value).toBeLessThan(24 * 3600);
      expect(settled.get(`${P}cursor_age_seconds`)?.samples.some((x) => x.labels['stream'] === stream)).toBe(true);
    }
    expect(sumOf(s, `${P}journal_max_events`)).toBeGreaterThan(0);
    expect(sumOf(s, `${P}journal_events`)).toBe(0); // both sinks caught up: every row was delivered and deleted
    expect(sumOf(s, `${P}sink_failing`)).toBe(0);
  });

  it('the Grafana dashboard and the alert rules name only metrics the collector exposes', () => {
    const exposed = exposedNames(settled);
    const dashboard = JSON.parse(readFileSync(join(REPO, 'deploy/grafana/mimecast-collector.json'), 'utf8')) as unknown;
    const exprs: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (typeof v === 'object' && v !== null) {
        for (const [k, x] of Object.entries(v)) {
          if ((k === 'expr' || k === 'query') && typeof x === 'string') exprs.push(x);
          else walk(x);
        }
      }
    };
    walk(dashboard);
    const rules = parseYaml(readFileSync(join(REPO, 'deploy/grafana/alerts.yaml'), 'utf8')) as unknown;
    const ruleExprs = alertExprs(rules);
    expect(exprs.length).toBeGreaterThanOrEqual(6);
    expect(ruleExprs.length).toBeGreaterThanOrEqual(5);
    const named = new Set<string>();
    for (const e of [...exprs, ...ruleExprs]) for (const m of e.matchAll(/\bmimecast_collector_[a-z0-9_]+/g)) named.add(m[0]);
    expect(named.size).toBeGreaterThan(8);
    expect([...named].filter((n) => !exposed.has(n))).toEqual([]);
  });
});

/** The `expr` of every alerting rule in a Prometheus rules file, checking the file's structure on the way. */
function alertExprs(doc: unknown): string[] {
  const groups = (doc as { groups?: unknown }).groups;
  expect(Array.isArray(groups)).toBe(true);
  const out: string[] = [];
  const alerts: string[] = [];
  for (const g of groups as unknown[]) {
    const group = g as { name?: unknown; rules?: unknown };
    expect(typeof group.name).toBe('string');
    expect(Array.isArray(group.rules)).toBe(true);
    for (const r of group.rules as unknown[]) {
      const rule = r as { alert?: unknown; expr?: unknown; for?: unknown; labels?: { severity?: unknown }; annotations?: { summary?: unknown; description?: unknown } };
      expect(typeof rule.alert).toBe('string');
      expect(typeof rule.expr).toBe('string');
      if (rule.for !== undefined) expect(rule.for).toMatch(/^\d+[smhd]$/);
      expect(['warning', 'critical']).toContain(rule.labels?.severity);
      expect(typeof rule.annotations?.summary).toBe('string');
      expect(typeof rule.annotations?.description).toBe('string');
      alerts.push(rule.alert as string);
      out.push(rule.expr as string);
    }
  }
  // The alerts the runbook in docs/operations.md explains.
  expect(alerts).toEqual(
    expect.arrayContaining([
      'MimecastCollectorStreamLagging',
      'MimecastCollectorCursorNearRetention',
      'MimecastCollectorSinkFailing',
      'MimecastCollectorJournalNearBudget',
      'MimecastCollectorDeadLettersGrowing',
    ]),
  );
  return out;
}
