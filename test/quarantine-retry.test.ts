// `quarantine retry`: a SIEM file given up after its retry span is read again when an operator asks, while the
// collector runs; the request is made by the CLI in another process, the events arrive once, the cursor stays put.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createAccountClient, type AccountClient } from '../src/app.js';
import { parseConfigText } from '../src/config/load.js';
import type { OutEvent, Sink } from '../src/core/contracts.js';
import { Pipeline } from '../src/core/pipeline.js';
import { Journal, readQuarantine } from '../src/journal/journal.js';
import { SiemBatchSource } from '../src/sources/siem/batch.js';
import { silentLogger } from '../src/telemetry/logger.js';
import { MAIN, waitFor, writeConfig } from './helpers/harness.js';
import { gzipLines, hostileYaml, recordLines, startHostileServer, type HostileBlob, type HostileServer } from './helpers/hostile.js';

const run = promisify(execFile);

class MemorySink implements Sink {
  readonly name = 'mem';
  readonly ids = new Set<string>();
  lines = 0;
  send(events: readonly OutEvent[]): Promise<void> {
    for (const e of events) this.ids.add(e.id);
    this.lines += events.length;
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [MAIN, ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('quarantine retry', () => {
  let server: HostileServer | undefined;
  let pipeline: Pipeline | undefined;
  let journal: Journal | undefined;
  let client: AccountClient | undefined;
  afterEach(async () => {
    await pipeline?.stop();
    journal?.close();
    await client?.close();
    await server?.close();
  });

  it('reads a quarantined SIEM file again on request from the CLI, while the collector runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-qretry-'));
    const dataDir = join(dir, 'data');
    const at = Date.now() - 3_600_000;
    const broken: HostileBlob = { name: 'b', gz: gzipLines(recordLines(300, at + 1000)), script: [{ kind: 'status', status: 404 }] };
    server = await startHostileServer({
      blobs: [
        { name: 'a', gz: gzipLines(recordLines(300, at)), script: [{ kind: 'file' }] },
        broken,
        { name: 'c', gz: gzipLines(recordLines(300, at + 2000)), script: [{ kind: 'file' }] },
      ],
    });
    const config = writeConfig(join(dir, 'collector.yaml'), hostileYaml(server, { dataDir, output: join(dir, 'out.ndjson') }));
    const parsed = parseConfigText(hostileYaml(server, { dataDir, output: join(dir, 'out.ndjson') }), {});
    const account = parsed.config?.accounts[0];
    if (account === undefined) throw new Error(JSON.stringify(parsed.issues));
    client = createAccountClient(account, silentLogger());
    // The file's retry span runs on a clock of its own: its waits pass at once, the span still ends after 10 minutes.
    let clock = Date.now();
    const source = new SiemBatchSource({
      account: 'hostile',
      type: 'receipt',
      api: client.api,
      startFromMs: 86_400_000,
      pageSize: 100,
      chunkEvents: 100,
      logger: silentLogger(),
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
        await new Promise((r) => setImmediate(r));
      },
    });
    journal = Journal.open({ dir: dataDir });
    const sink = new MemorySink();
    pipeline = new Pipeline({ journal, sources: [{ source, pollIntervalMs: 100 }], sinks: [{ sink, batch: { max_events: 500, max_bytes: 1 << 22, max_wait: 0 } }], logger: silentLogger() });
    pipeline.start();
    const j = journal;
    await waitFor(() => j.quarantineCount() === 1 && sink.ids.size === 600, 60_000, 'file b quarantined, a and c delivered');
    const cursorBefore = j.getCursor(source.key);

    // What the operator sees.
    const list = await cli(['quarantine', 'list', '--config', config]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/#1 .* hostile\/siem\/receipt {2}blob_missing .*blob=1,line=1 {2}\[retry possible\]/);
    expect(list.stdout).toContain(`quarantine retry --config ${config} --all`);

    // Asked while the file still fails: the request ends `failed`, the entry stays.
    let ask = await cli(['quarantine', 'retry', '--config', config, '--all']);
    expect(ask.code).toBe(0);
    expect(ask.stdout).toContain('requested 1 entry (#1)');
    await waitFor(() => readQuarantine(dataDir, 10)[0]?.retry === 'failed', 30_000, 'the retry to fail');
    expect(readQuarantine(dataDir, 10)[0]?.retryNote).toMatch(/HTTP 404/);
    expect(sink.ids.size).toBe(600);

    // Storage is fixed; asked again by id, the file is read and its events arrive once.
    broken.script = [{ kind: 'file' }];
    ask = await cli(['quarantine', 'retry', '--config', config, '1']);
    expect(ask.code).toBe(0);
    await waitFor(() => sink.ids.size === 900, 30_000, 'the quarantined file delivered');
    await waitFor(() => readQuarantine(dataDir, 10)[0]?.retry === 'done', 10_000, 'the retry marked done');
    const entry = readQuarantine(dataDir, 10)[0];
    expect(entry?.retryNote).toBe('read again: 300 events journaled, 0 already there, 0 still unusable');
    expect(sink.lines).toBe(900);
    // The stream's own position did not move back or forward for it.
    expect(j.getCursor(source.key)).toBe(cursorBefore);

    // Done is done; unknown ids and bad arguments are said so, exit 1.
    const again = await cli(['quarantine', 'retry', '--config', config, '--all']);
    expect(again.stdout).toContain('nothing to request');
    const unknown = await cli(['quarantine', 'retry', '--config', config, '42']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no such entry: #42');
    const none = await cli(['quarantine', 'retry', '--config', config]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('--all');
  }, 120_000);
});
