// Hostile input, end to end: the real collector process against a fake Mimecast that misbehaves on a script. Each case
// checks what a user would: the process survives, the stream goes on after the bad input, memory stays bounded, one
// clear log line says what happened and /status shows it.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readOutput, spawnCli, waitFor, writeConfig, type Child } from './helpers/harness.js';
import { gzipLines, hostileYaml, peakRss, recordLines, startHostileServer, type HostileBlob, type HostileServer } from './helpers/hostile.js';

/** Peak RSS any case may reach (documented in docs/operations.md, "Limits"). */
const MEMORY_BOUND = 400 * 1024 * 1024;

interface Run {
  dir: string;
  output: string;
  logFile: string;
  child: Child;
  /** The status endpoint base URL, once the collector said where it listens. */
  statusUrl(): string | undefined;
  logLines(): Record<string, unknown>[];
}

function logLinesOf(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  const out: Record<string, unknown>[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line being written
    }
  }
  return out;
}

function startRun(server: HostileServer, extra: { siem?: string[]; account?: string[] } = {}): Run {
  const dir = mkdtempSync(join(tmpdir(), 'mc-hostile-'));
  const output = join(dir, 'out', 'events.ndjson');
  const logFile = join(dir, 'collector.log');
  const config = writeConfig(
    join(dir, 'collector.yaml'),
    hostileYaml(server, { dataDir: join(dir, 'data'), output, ...(extra.siem === undefined ? {} : { siemExtra: extra.siem }), ...(extra.account === undefined ? {} : { accountExtra: extra.account }) }),
  );
  const child = spawnCli(['run', '--config', config], logFile);
  return {
    dir,
    output,
    logFile,
    child,
    statusUrl() {
      const line = logLinesOf(logFile).find((l) => l['msg'] === 'status endpoints listening');
      return typeof line?.['url'] === 'string' ? line['url'] : undefined;
    },
    logLines: () => logLinesOf(logFile),
  };
}

/** SIGTERM, then the exit: a clean stop is exit code 0. */
async function stop(run: Run): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  run.child.proc.kill('SIGTERM');
  return run.child.exited;
}

async function status(run: Run): Promise<Record<string, unknown>> {
  const url = run.statusUrl();
  if (url === undefined) throw new Error('the collector did not say where /status is');
  const res = await fetch(`${url}/status`);
  return (await res.json()) as Record<string, unknown>;
}

describe('hostile Mimecast: the collector as a child process', () => {
  let server: HostileServer | undefined;
  let run: Run | undefined;
  afterEach(async () => {
    if (run !== undefined && run.child.proc.exitCode === null && run.child.proc.signalCode === null) {
      run.child.proc.kill('SIGKILL');
      await run.child.exited;
    }
    run = undefined;
    await server?.close();
    server = undefined;
  });

  it('rides out downloads cut several times in a row: every record arrives, nothing is quarantined', async () => {
    const now = Date.now() - 3_600_000;
    const blobs: HostileBlob[] = [
      { name: 'a', gz: gzipLines(recordLines(300, now)), script: [{ kind: 'file' }] },
      // Cut four times running (the old code gave a file 4 tries within ~150 ms, then dropped it).
      { name: 'b', gz: gzipLines(recordLines(300, now + 1000)), script: [{ kind: 'cut', bytes: 400 }, { kind: 'cut', bytes: 900 }, { kind: 'cut', bytes: 200 }, { kind: 'cut', bytes: 1500 }, { kind: 'file' }] },
      { name: 'c', gz: gzipLines(recordLines(300, now + 2000)), script: [{ kind: 'file' }] },
    ];
    server = await startHostileServer({ blobs });
    const r = startRun(server);
    run = r;
    await waitFor(() => readOutput(r.output).length >= 900, 90_000, 'all 900 records', 250);
    const st = await status(r);
    const pid = r.child.proc.pid ?? 0;
    const peak = await peakRss(pid);
    const exit = await stop(r);
    expect(exit.code).toBe(0);
    const docs = readOutput(r.output);
    expect(docs).toHaveLength(900);
    expect(new Set(docs.map((d) => JSON.stringify(d['mimecast']))).size).toBe(900);
    expect((st['journal'] as { quarantined: number }).quarantined).toBe(0);
    expect(server.blobRequests('b')).toBe(5);
    // Each retry said so, at warn, naming the file's position.
    const retries = r.logLines().filter((l) => l['level'] === 'warn' && String(l['msg']).includes('SIEM file failed'));
    expect(retries.length).toBeGreaterThanOrEqual(4);
    expect(peak ?? Infinity).toBeLessThan(MEMORY_BOUND);
  }, 150_000);

  it('follows storage redirects, and rides out a redirect storm without losing the file', async () => {
    const now = Date.now() - 3_600_000;
    const blobs: HostileBlob[] = [
      // One hop elsewhere, as S3 does: simply followed.
      { name: 'a', gz: gzipLines(recordLines(200, now)), script: [{ kind: 'redirect', to: '/blob/a-moved' }, { kind: 'file' }] },
      // A storm: redirects going round in circles for several downloads, then the file (the old code lost it).
      { name: 'b', gz: gzipLines(recordLines(200, now + 1000)), script: [...Array.from({ length: 12 }, () => ({ kind: 'redirect' as const, to: '/blob/b' })), { kind: 'file' }] },
    ];
    blobs.push({ name: 'a-moved', gz: blobs[0]?.gz ?? Buffer.alloc(0), script: [{ kind: 'file' }] });
    server = await startHostileServer({ blobs });
    const r = startRun(server);
    run = r;
    await waitFor(() => readOutput(r.output).length >= 400, 90_000, 'all 400 records', 250);
    const st = await status(r);
    const exit = await stop(r);
    expect(exit.code).toBe(0);
    expect(readOutput(r.output)).toHaveLength(400);
    expect((st['journal'] as { quarantined: number }).quarantined).toBe(0);
    const accounts = st['accounts'] as { http: { redirects_followed: number } }[];
    expect(accounts[0]?.http.redirects_followed).toBeGreaterThan(0);
  }, 150_000);

  it('stops reading a decompression bomb at max_file_size, quarantines the rest, and the stream goes on', async () => {
    const now = Date.now() - 3_600_000;
    // 64 MiB of newlines in ~64 KB of gzip, between good records; then a good file.
    const bomb = gzipLines([...recordLines(50, now), Buffer.alloc(64 * 1024 * 1024, 0x0a), ...recordLines(50, now + 500)]);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    const blobs: HostileBlob[] = [
      { name: 'bomb', gz: bomb, script: [{ kind: 'file' }] },
      { name: 'after', gz: gzipLines(recordLines(100, now + 1000)), script: [{ kind: 'file' }] },
    ];
    server = await startHostileServer({ blobs });
    const r = startRun(server, { siem: ['max_file_size: 8MB'] });
    run = r;
    await waitFor(() => readOutput(r.output).length >= 150, 90_000, 'the records before the cut and the next file', 250);
    const st = await status(r);
    const peak = await peakRss(r.child.proc.pid ?? 0);
    const exit = await stop(r);
    expect(exit.code).toBe(0);
    // The 50 records before the bomb and the whole next file; what lies past 8 MB is quarantined, not read.
    expect(readOutput(r.output)).toHaveLength(150);
    expect((st['journal'] as { quarantined: number }).quarantined).toBe(1);
    const lines = r.logLines();
    const said = lines.filter((l) => String(l['msg']).includes('max_file_size'));
    expect(said).toHaveLength(1);
    expect(said[0]?.['level']).toBe('error');
    expect(peak ?? Infinity).toBeLessThan(MEMORY_BOUND);
  }, 150_000);

  it('aborts a download that trickles past download_deadline, says so, counts it, and gets the file on the next try', async () => {
    const now = Date.now() - 3_600_000;
    const blobs: HostileBlob[] = [
      // One byte every 2 s: request_timeout (silence) never fires, only the total deadline does.
      { name: 'slow', gz: gzipLines(recordLines(100, now)), script: [{ kind: 'drip', everyMs: 2_000 }, { kind: 'file' }] },
    ];
    server = await startHostileServer({ blobs });
    const r = startRun(server, { account: ['download_deadline: 1m'] });
    run = r;
    await waitFor(() => readOutput(r.output).length >= 100, 150_000, 'the file after the stalled download', 500);
    const st = await status(r);
    const exit = await stop(r);
    expect(exit.code).toBe(0);
    expect(readOutput(r.output)).toHaveLength(100);
    const accounts = st['accounts'] as { http: { deadlines_hit: number } }[];
    expect(accounts[0]?.http.deadlines_hit).toBe(1);
    const warned = r.logLines().filter((l) => l['msg'] === 'mimecast transfer passed its deadline; aborted');
    expect(warned).toHaveLength(1);
    expect(String(warned[0]?.['err'])).toContain('download_deadline');
    expect(server.blobRequests('slow')).toBe(2);
  }, 200_000);
});
