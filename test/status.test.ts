// The operator endpoints over real HTTP: /healthz, /readyz and /status of a collector that is working, or refused.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCollector, type Collector } from '../src/app.js';
import { parseConfigText } from '../src/config/load.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { startStatusServer, type StatusServer } from '../src/telemetry/status-server.js';
import { collectorYaml, waitFor } from './helpers/harness.js';

describe('status endpoints', () => {
  let sim: RunningSimulator | undefined;
  let collector: Collector | undefined;
  let server: StatusServer | undefined;
  afterAll(async () => {
    await server?.close();
    await collector?.stop();
    await sim?.close();
  });

  it('answer health, readiness and per-stream status', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-status-'));
    sim = await startSimulator({ seed: 'status', backlogRecords: 2000, publishIntervalMs: 0 });
    const { config } = parseConfigText(collectorYaml(sim, { dataDir: join(dir, 'data'), output: join(dir, 'out.ndjson'), types: ['receipt', 'delivery'] }), {});
    if (config === undefined) throw new Error('config');
    collector = buildCollector(config, silentLogger());
    collector.start();
    const running = collector;
    server = await startStatusServer('127.0.0.1:0', collector.pipeline, collector.journal, silentLogger(), { accounts: () => running.accountStatus() });
    const get = async (path: string): Promise<{ status: number; body: Record<string, unknown> }> => {
      const res = await fetch(`${server?.url ?? ''}${path}`);
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    expect((await get('/healthz')).status).toBe(200);
    const c = collector;
    await waitFor(() => (c.pipeline.sinks()[0]?.delivered ?? 0) > 0, 30_000, 'a delivery');
    const status = await get('/status');
    expect(status.status).toBe(200);
    const sources = status.body['sources'] as { key: string; events: number; lag_ms?: number }[];
    expect(sources.map((s) => s.key).sort()).toEqual(['sim/siem/delivery', 'sim/siem/receipt']);
    expect(sources.some((s) => s.events > 0 && typeof s.lag_ms === 'number')).toBe(true);
    const sinks = status.body['sinks'] as { name: string; delivered: number; backlog: number }[];
    expect(sinks[0]?.name).toBe('file');
    expect(sinks[0]?.delivered).toBeGreaterThan(0);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body['status']).toBe('ready');
    const accounts = status.body['accounts'] as { name: string; rate_limit: Record<string, unknown>; http: Record<string, unknown> }[];
    expect(accounts).toEqual([
      {
        name: 'sim',
        api: 'v2',
        rate_limit: { paused: false, paused_for_ms: 0, pauses: 0, waited_ms: expect.any(Number) as number, clamped: 0 },
        http: { deadlines_hit: 0, redirects_followed: 0 },
        // Not checked at start-up here (buildCollector alone), but a source has pulled with them since.
        credentials: { state: 'accepted' },
      },
    ]);
    expect((await get('/nope')).status).toBe(404);
  });

  it('/readyz names the account whose credentials Mimecast refused; /status says the same in words', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-status-cred-'));
    const bad = await startSimulator({ seed: 'status-cred', backlogRecords: 50, publishIntervalMs: 0 });
    const yaml = collectorYaml(bad, { dataDir: join(dir, 'data'), output: join(dir, 'out.ndjson'), types: ['receipt'] }).replace(JSON.stringify(bad.clientSecret), '"not-the-secret"');
    const { config } = parseConfigText(yaml, {});
    if (config === undefined) throw new Error('config');
    const c = buildCollector(config, silentLogger());
    const s = await startStatusServer('127.0.0.1:0', c.pipeline, c.journal, silentLogger(), { accounts: () => c.accountStatus() });
    try {
      await expect(c.verifyCredentials(AbortSignal.timeout(10_000))).rejects.toMatchObject({ code: 'API_AUTH_FAILED' });
      const res = await fetch(`${s.url}/readyz`);
      expect(res.status).toBe(503);
      const ready = (await res.json()) as { status: string; failing: string[]; checks: { item: string; ok: boolean }[] };
      expect(ready.failing).toHaveLength(1);
      expect(ready.failing[0]).toMatch(/^account sim: credentials: rejected: .+/);
      expect(ready.checks.map((k) => [k.item, k.ok])).toEqual([
        ['config', true],
        ['account sim: credentials', false],
        ['sink file', true],
      ]);
      const status = (await (await fetch(`${s.url}/status`)).json()) as { accounts: { credentials: { state: string } }[]; sources: { health: string }[] };
      expect(status.accounts[0]?.credentials.state).toBe('rejected');
      expect(status.sources.map((x) => x.health)).toEqual(['starting']);
    } finally {
      await s.close();
      await c.stop();
      await bad.close();
    }
  });

  it('shows a rate-limit pause, and why, while Mimecast holds the account back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-status-rl-'));
    // A quota of three calls a minute is soon used up; then every call is told to wait.
    const rl = await startSimulator({ seed: 'status-rl', backlogRecords: 200, publishIntervalMs: 0, rateLimit: { limit: 3, windowMs: 60_000 } });
    const { config } = parseConfigText(collectorYaml(rl, { dataDir: join(dir, 'data'), output: join(dir, 'out.ndjson'), types: ['receipt', 'delivery'] }), {});
    if (config === undefined) throw new Error('config');
    const c = buildCollector(config, silentLogger());
    const s = await startStatusServer('127.0.0.1:0', c.pipeline, c.journal, silentLogger(), { accounts: () => c.accountStatus() });
    try {
      c.start();
      type Account = { rate_limit: { paused: boolean; paused_for_ms: number; reason?: string; pauses: number } };
      let account: Account | undefined;
      const until = Date.now() + 20_000;
      for (;;) {
        const body = (await (await fetch(`${s.url}/status`)).json()) as { accounts: Account[] };
        account = body.accounts[0];
        if (account?.rate_limit.paused === true) break;
        if (Date.now() > until) throw new Error(`no rate-limit pause in /status: ${JSON.stringify(body.accounts)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(account?.rate_limit.reason).toMatch(/^HTTP 429 X-RateLimit-Reset=\d+$/);
      expect(account?.rate_limit.paused_for_ms).toBeGreaterThan(0);
      expect(account?.rate_limit.pauses).toBeGreaterThan(0);
    } finally {
      await s.close();
      await c.stop();
      await rl.close();
    }
  });
});
