// The collector against an API that asks for absurd waits: it must wait (clamped), not hammer the API, and say why.
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildCollector, type Collector } from '../src/app.js';
import { parseConfigText } from '../src/config/load.js';
import type { RunningSimulator } from '../src/simulator/index.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { collectorYaml } from './helpers/harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe('an API that asks for a wait of 999999999 seconds', () => {
  for (const status of [503, 429]) {
    it(`HTTP ${status} Retry-After: 999999999 → the collector waits the clamped maximum instead of a hot loop`, async () => {
      let apiRequests = 0;
      const server = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          if ((req.url ?? '').startsWith('/oauth/token')) {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: 't', expires_in: 1799 }));
            return;
          }
          apiRequests++;
          res.writeHead(status, { 'retry-after': '999999999', 'content-type': 'application/json' }).end('{"fail":[{"code":"busy","message":"come back later"}]}');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      cleanups.push(
        () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      );
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const dir = mkdtempSync(join(tmpdir(), 'mc-hostile-'));
      const fake = { url, clientId: 'id', clientSecret: 'secret' } as RunningSimulator;
      const { config } = parseConfigText(collectorYaml(fake, { dataDir: join(dir, 'data'), output: join(dir, 'out.ndjson'), types: ['receipt', 'delivery'] }), {});
      if (config === undefined) throw new Error('config');
      const collector: Collector = buildCollector(config, silentLogger());
      cleanups.push(() => collector.stop());
      collector.start();
      await new Promise((r) => setTimeout(r, 3_000));
      // Before: the 999999999 s wait overflowed Node's timer to 1 ms; the sources sent hundreds of requests here.
      // Now each of the two sources asks once at most; the first answer pauses the whole credential for 5 minutes.
      expect(apiRequests).toBeGreaterThanOrEqual(1);
      expect(apiRequests).toBeLessThanOrEqual(2);
      const [account] = collector.accountStatus();
      expect(account?.rate_limit).toMatchObject({ paused: true, reason: `HTTP ${status} Retry-After=999999999 (clamped to 300000 ms)` });
      expect(account?.rate_limit.paused_for_ms).toBeGreaterThan(290_000);
      expect(account?.rate_limit.clamped).toBe(apiRequests);
    });
  }
});
