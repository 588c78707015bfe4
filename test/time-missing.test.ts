// A record without a time, as a user meets it: `fetch` over a past window still shows it, stamped and tagged.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, writeConfig } from './helpers/harness.js';
import { gzipLines, hostileYaml, receiptRecord, startHostileServer, type HostileServer } from './helpers/hostile.js';

let server: HostileServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('fetch with a record that has no time', () => {
  it('prints it with the window it was asked for (the API served it), tagged mimecast_time_missing', async () => {
    const now = Date.now();
    const inWindow = [receiptRecord(now - 90 * 60_000), receiptRecord(now - 80 * 60_000)];
    const outside = receiptRecord(now - 10 * 3_600_000);
    const undated = receiptRecord(0, { subject: 'no time at all' });
    delete undated['timestamp'];
    server = await startHostileServer({
      blobs: [{ name: 'receipt_1.json.gz', gz: gzipLines([...inWindow, outside, undated].map((r) => JSON.stringify(r))), script: [{ kind: 'file' }] }],
    });
    const dir = mkdtempSync(join(tmpdir(), 'mc-timeless-'));
    const config = writeConfig(join(dir, 'collector.yaml'), hostileYaml(server, { dataDir: join(dir, 'data'), output: join(dir, 'out.ndjson') }));
    const r = await runCli(['fetch', 'siem', '--config', config, '--since', '2h', '--until', '1h']);
    expect(r.code, r.stderr).toBe(0);
    const docs = r.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const subjects = docs.map((d) => (d['mimecast'] as Record<string, unknown>)['subject']);
    expect(subjects).toEqual([...inWindow, undated].map((x) => x['subject']));
    const timeless = docs[2] ?? {};
    expect(timeless['tags']).toEqual(['mimecast_time_missing']);
    expect((timeless['event'] as Record<string, unknown>)['created']).toBe(timeless['@timestamp']);
    expect(Date.parse(String(timeless['@timestamp']))).toBeGreaterThanOrEqual(now);
    expect(r.stderr).not.toMatch(/quarantined/);
  }, 60_000);
});
