// The status page in a real browser (Debian's headless Chromium via playwright-core) during a simulator run with a failing sink.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import type { Collector } from '../src/app.js';
import { StoredEvent } from '../src/core/contracts.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { startStatusServer, type StatusServer } from '../src/telemetry/status-server.js';
import { freePort } from '../src/testkit/free-port.js';
import { REPO, waitFor } from './helpers/harness.js';
import { startCollectorFrom } from './helpers/sink-e2e.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(REPO, 'docs', 'status-page.png');
/** UPDATE_SCREENSHOT=1 rewrites docs/status-page.png from this run; otherwise it goes to a temporary folder. */
const UPDATE = process.env['UPDATE_SCREENSHOT'] === '1';
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const INJECTED = '<script>window.__injected = 1</script><img src=x onerror="window.__injected = 2">HEC code 6: Invalid data format';

interface StatusJson {
  time: string;
  sources: { key: string; state: string; health: string; lag_ms?: number; lastCaughtUpAt?: number; retention: { level: string } }[];
  sinks: { name: string; state: string; backlog: number; delivered: number; lastError?: { message: string }; failingSince?: number }[];
  journal: { events: number };
  history: { t: number[] };
}

/** The page's duration text back to ms, with the precision its unit allows. */
function parseDuration(text: string): { ms: number; precision: number } {
  const m = /^(\d+) (d|h|min|s)(?: (\d+) (h|min|s))?$/.exec(text.trim());
  if (m === null) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  const unit: Record<string, number> = { d: 86_400_000, h: 3_600_000, min: 60_000, s: 1000 };
  const small = m[4] ?? m[2] ?? 's';
  return { ms: Number(m[1]) * (unit[m[2] ?? 's'] ?? 0) + Number(m[3] ?? 0) * (unit[m[4] ?? 's'] ?? 0), precision: unit[small] ?? 1000 };
}

const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? '';

/** Opens the page and returns it with the /status answer its current rendering was made from. */
async function openPage(browser: Browser, url: string, viewport: { width: number; height: number }, mobile = false): Promise<{ page: Page; shown: StatusJson }> {
  const context = await browser.newContext({ viewport, ...(mobile ? { isMobile: true, hasTouch: true, deviceScaleFactor: 2 } : {}) });
  const page = await context.newPage();
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/status');
  // refresh=60: the page keeps what it rendered while the test reads it.
  await page.goto(`${url}/?refresh=60`);
  const shown = (await (await answer).json()) as StatusJson;
  await page.waitForSelector('body[data-rendered]');
  return { page, shown };
}

describe('status page in Chromium', () => {
  let sim: RunningSimulator | undefined;
  let collector: Collector | undefined;
  let server: StatusServer | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await collector?.stop();
    await sim?.close();
  });

  it('shows the lag, the backlog and the failing sink\'s error as /status has them, on a laptop and on a phone', async () => {
    // Not skipped: .ci/run installs Chromium (test/install-receivers.sh); without it this evidence is missing.
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install Debian's chromium package (bash test/install-receivers.sh does)`);
    const dir = mkdtempSync(join(tmpdir(), 'mc-status-page-'));
    const closed = await freePort();
    sim = await startSimulator({ seed: 'status-page', backlogRecords: 4000, backlogHours: 6, publishIntervalMs: 1000, recordsPerInterval: 20, unlicensed: ['ttp_attachment'] });
    collector = startCollectorFrom(
      [
        `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
        'log_level: silent',
        'shutdown_timeout: 2s',
        'accounts:',
        '  - name: corp',
        `    base_url: ${sim.url}`,
        `    client_id: ${JSON.stringify(sim.clientId)}`,
        `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
        '    start_from: 6h',
        '    poll_interval: 1s',
        '    streams: { siem: { types: [receipt, delivery] }, ttp_url: {}, ttp_attachment: {}, audit: {} }',
        'sinks:',
        '  - name: splunk',
        '    type: http',
        '    preset: splunk_hec',
        `    url: http://127.0.0.1:${closed}`,
        '    token: 00000000-0000-0000-0000-000000000000',
        '  - name: archive',
        '    type: file',
        `    path: ${JSON.stringify(join(dir, 'out', 'events.ndjson'))}`,
        '    batch: { max_events: 500, max_wait: 50ms }',
        '',
      ].join('\n'),
    );
    const c = collector;
    server = await startStatusServer('127.0.0.1:0', c.pipeline, c.journal, silentLogger(), {
      accounts: () => c.accountStatus(),
      unreadyAfterMs: 1_000,
      history: { intervalMs: 250 },
    });
    const url = server.url;
    await waitFor(
      () => {
        const sources = c.pipeline.sources();
        const splunk = c.pipeline.sinks().find((s) => s.name === 'splunk');
        return (
          sources.every((s) => s.state === 'disabled' || s.lastCaughtUpAt !== undefined) &&
          sources.some((s) => s.state === 'disabled') &&
          (c.pipeline.sinks().find((s) => s.name === 'archive')?.delivered ?? 0) > 0 &&
          splunk?.lastError !== undefined &&
          Date.now() - (splunk.failingSince ?? Date.now()) > 1_500
        );
      },
      60_000,
      'sources caught up, the file sink delivering, the HEC sink failing',
    );
    // A few more samples for the charts.
    await new Promise((r) => setTimeout(r, 2_500));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });

    // Laptop.
    const { page, shown } = await openPage(browser, url, { width: 1280, height: 900 });
    expect(shown.history.t.length).toBeGreaterThan(5);
    for (const s of shown.sources) {
      const card = `[data-source="${s.key}"]`;
      expect(await text(page, `${card} [data-field="health"]`)).toBe(s.health);
      if (s.lag_ms === undefined) continue;
      const lag = parseDuration(await text(page, `${card} [data-field="lag"]`));
      expect(Math.abs(lag.ms - s.lag_ms)).toBeLessThan(lag.precision);
      expect(await page.locator(`${card} [data-chart="lag"] polyline`).count()).toBeGreaterThan(0);
    }
    expect(shown.sources.find((s) => s.key === 'corp/ttp_attachment')).toMatchObject({ state: 'disabled', health: 'disabled: not licensed' });
    expect(shown.sources.filter((s) => s.key !== 'corp/ttp_attachment').every((s) => ['caught_up', 'collecting'].includes(s.health))).toBe(true);
    const splunk = shown.sinks.find((s) => s.name === 'splunk');
    expect(splunk?.lastError?.message).toMatch(/ECONNREFUSED|refused/);
    for (const s of shown.sinks) {
      const card = `[data-sink="${s.name}"]`;
      expect(Number((await text(page, `${card} [data-field="backlog"]`)).replace(/,/g, ''))).toBe(s.backlog);
      expect(await text(page, `${card} [data-field="state"]`)).toBe(s.state);
      if (s.lastError !== undefined) expect(await text(page, `${card} [data-field="error"]`)).toBe(s.lastError.message);
    }
    expect(splunk?.backlog).toBeGreaterThan(0);
    expect(await page.locator('[data-sink="splunk"].card.bad').count()).toBe(1);
    expect(await text(page, '#overall')).toBe('problem');
    expect(await text(page, '[data-field="journal-events"]')).toContain(shown.journal.events.toLocaleString('en-US'));

    // The screenshot shows this run's data; the committed one is only replaced on request.
    const shot = await page.screenshot({ fullPage: true });
    expect(shot.subarray(0, 8).equals(PNG_MAGIC)).toBe(true);
    if (UPDATE) writeFileSync(SCREENSHOT, shot);
    else writeFileSync(join(dir, 'status-page.png'), shot);
    expect(readFileSync(SCREENSHOT).subarray(0, 8).equals(PNG_MAGIC)).toBe(true);

    // /readyz says the same thing the page does, naming the sink.
    const ready = (await (await fetch(`${url}/readyz`)).json()) as { failing: string[] };
    expect(ready.failing.some((f) => f.startsWith('sink splunk: not reachable for') && f.includes(splunk?.lastError?.message ?? '?'))).toBe(true);

    // It refreshes itself.
    const live = await browser.newPage();
    let fetched = 0;
    live.on('response', (r) => {
      if (new URL(r.url()).pathname === '/status') fetched += 1;
    });
    await live.goto(`${url}/?refresh=1`);
    await waitFor(() => fetched >= 3, 10_000, 'the page fetching /status again by itself');
    await live.close();

    // A reason text holding markup is shown as text and runs nothing.
    c.journal.deadLetterEach('splunk', [{ event: new StoredEvent(1, 'evil', 'audit', 'corp', new Date().toISOString(), Buffer.from('{}'), 'audit'), reason: INJECTED }]);
    const evil = await openPage(browser, url, { width: 1280, height: 900 });
    expect(await text(evil.page, '[data-sink="splunk"] [data-field="dead-reason"]')).toBe(`${INJECTED} ×1`);
    expect(await evil.page.evaluate('typeof window.__injected')).toBe('undefined');
    expect(await evil.page.locator('main img, main script').count()).toBe(0);

    // Phone: one column, nothing wider than the screen, the same numbers.
    const phone = await openPage(browser, url, { width: 390, height: 844 }, true);
    const widths = (await phone.page.evaluate('({ doc: document.documentElement.scrollWidth, view: window.innerWidth })')) as { doc: number; view: number };
    expect(widths.doc).toBeLessThanOrEqual(widths.view);
    const box = await phone.page.locator('[data-sink="splunk"]').boundingBox();
    expect(box?.width).toBeGreaterThan(300);
    expect(box?.width).toBeLessThanOrEqual(390);
    const phoneSplunk = phone.shown.sinks.find((s) => s.name === 'splunk');
    expect(Number((await text(phone.page, '[data-sink="splunk"] [data-field="backlog"]')).replace(/,/g, ''))).toBe(phoneSplunk?.backlog);
    expect(await text(phone.page, '[data-sink="splunk"] [data-field="error"]')).toBe(phoneSplunk?.lastError?.message);
    const fontPx = Number(await phone.page.evaluate('parseFloat(getComputedStyle(document.querySelector(\'[data-sink="splunk"] [data-field="backlog"]\')).fontSize)'));
    expect(fontPx).toBeGreaterThanOrEqual(16);
  }, 120_000);
});
