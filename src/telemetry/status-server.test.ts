// The operator endpoints over real HTTP: /status dead letters, /healthz failures, the page itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoredEvent } from '../core/contracts.js';
import { Pipeline } from '../core/pipeline.js';
import { Journal } from '../journal/journal.js';
import { ScriptedSink } from '../testkit/scripted-sink.js';
import { silentLogger } from './logger.js';
import { startStatusServer, type StatusServer } from './status-server.js';

const BATCH = { max_events: 10, max_bytes: 1 << 20, max_wait: 0 };

let journal: Journal | undefined;
let server: StatusServer | undefined;

afterEach(async () => {
  await server?.close();
  journal?.close();
});

function event(n: number): StoredEvent {
  return new StoredEvent(n, `e${n}`, 'siem', 'corp', 't', Buffer.from('{}'), 'receipt');
}

describe('/status dead letters', () => {
  it('per sink: how many are kept and the newest distinct reasons with counts; journal-wide: all of them', async () => {
    let clock = Date.parse('2026-06-01T00:00:00Z');
    const j = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-status-dl-')), checkpointWorker: false, now: () => clock });
    journal = j;
    j.setSinks(['hec', 'archive']);
    j.deadLetterEach('hec', [1, 2].map((n) => ({ event: event(n), reason: 'HEC code 6: Invalid data format' })));
    for (let n = 3; n <= 9; n++) {
      clock += 1000;
      j.deadLetterEach('hec', [{ event: event(n), reason: `HEC code 12: event field ${n % 3} is required` }]);
    }
    j.deadLetterEach('gone', [{ event: event(10), reason: 'MESSAGE_TOO_LARGE' }]);
    const pipeline = new Pipeline({
      journal: j,
      sources: [],
      sinks: [
        { sink: new ScriptedSink('hec'), batch: BATCH },
        { sink: new ScriptedSink('archive'), batch: BATCH },
      ],
      logger: silentLogger(),
    });
    server = await startStatusServer('127.0.0.1:0', pipeline, j, silentLogger());
    const body = (await (await fetch(`${server.url}/status`)).json()) as {
      journal: { dead_letters: number };
      sinks: { name: string; dead_letters: { count: number; reasons: { reason: string; count: number; last_at: number }[] } }[];
    };
    expect(body.journal.dead_letters).toBe(10);
    const hec = body.sinks.find((s) => s.name === 'hec')?.dead_letters;
    expect(hec?.count).toBe(9);
    expect(hec?.reasons.map((r) => [r.reason, r.count])).toEqual([
      ['HEC code 12: event field 0 is required', 3],
      ['HEC code 12: event field 2 is required', 2],
      ['HEC code 12: event field 1 is required', 2],
      ['HEC code 6: Invalid data format', 2],
    ]);
    expect(hec?.reasons[0]?.last_at).toBe(clock);
    expect(body.sinks.find((s) => s.name === 'archive')?.dead_letters).toEqual({ count: 0, reasons: [] });
  });
});

describe('/healthz', () => {
  async function serve(loop?: { intervalMs: number; limitMs: number; windowMs: number }): Promise<{ url: string; dir: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'mc-healthz-'));
    const j = Journal.open({ dir, checkpointWorker: false });
    journal = j;
    const pipeline = new Pipeline({ journal: j, sources: [], sinks: [{ sink: new ScriptedSink('hec'), batch: BATCH }], logger: silentLogger() });
    server = await startStatusServer('127.0.0.1:0', pipeline, j, silentLogger(), loop === undefined ? {} : { loop });
    return { url: server.url, dir };
  }
  type Health = { status: string; checks: Record<string, { ok: boolean; detail: string }>; failing: string[] };

  it('200 while the loop runs and the journal directory takes a write; 503 naming the directory once it is gone', async () => {
    const { url, dir } = await serve();
    let res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    const ok = (await res.json()) as Health;
    expect(ok.status).toBe('ok');
    expect(ok.checks['journal']).toEqual({ ok: true, detail: `journal directory ${dir} writable` });
    expect(ok.checks['event_loop']?.ok).toBe(true);

    // The volume went away under the running collector: SQLite would go on writing to its open (deleted) files.
    rmSync(dir, { recursive: true });
    res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    const bad = (await res.json()) as Health;
    expect(bad.status).toBe('failing');
    expect(bad.failing).toHaveLength(1);
    expect(bad.failing[0]).toContain(`journal directory ${dir} is not writable`);
    expect(bad.failing[0]).toContain('ENOENT');
  });

  it('503 saying how long the event loop was blocked, after it was', async () => {
    const { url } = await serve({ intervalMs: 20, limitMs: 1_000, windowMs: 60_000 });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // Block the loop (a synchronous busy wait, as a runaway computation would).
    const until = Date.now() + 2_000;
    while (Date.now() < until) {
      // spin
    }
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as Health;
    expect(body.checks['event_loop']?.ok).toBe(false);
    expect(body.failing[0]).toMatch(/^event loop blocked for [1-9]\.\d s within the last 60 s \(limit 1 s\)$/);
  });
});

describe('the status page', () => {
  it('/ is one self-contained HTML page; /status stays JSON with the chart history', async () => {
    const j = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-page-')), checkpointWorker: false });
    journal = j;
    const pipeline = new Pipeline({ journal: j, sources: [], sinks: [{ sink: new ScriptedSink('hec'), batch: BATCH }], logger: silentLogger() });
    server = await startStatusServer('127.0.0.1:0', pipeline, j, silentLogger());
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    // Nothing loaded from elsewhere: no src=/href= to another place, no @import, no external URL but the SVG namespace.
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["'](?!data:)/i);
    expect(html).not.toMatch(/@import|url\(/i);
    expect(html.match(/https?:\/\/[^\s"']+/g) ?? []).toEqual(['http://www.w3.org/2000/svg']);
    expect(html).not.toContain('innerHTML');
    const status = (await (await fetch(`${server.url}/status`)).json()) as { history: { interval_ms: number; t: number[]; sinks: Record<string, unknown> } };
    expect(status.history.interval_ms).toBe(60_000);
    expect(status.history.t).toHaveLength(1);
    expect(Object.keys(status.history.sinks)).toEqual(['hec']);
  });
});
