// The commands as a user runs them: demo end to end, validate on good and broken configs, run with bad credentials.
import { mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SIEM_TYPES, STREAM_NAMES } from '../src/core/contracts.js';
import { checkEventContract } from '../src/normalize/contract.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { MAIN, collectorYaml, readOutput, spawnCli, waitFor } from './helpers/harness.js';

describe('demo (npm start)', () => {
  it('writes ./data/demo/events.ndjson with all ten SIEM types and every other stream, every line a valid event, and stops cleanly on SIGINT', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'mc-demo-'));
    const log = join(cwd, 'demo.log');
    const child = spawnCli(['demo', '--summary-every', '1000'], log, cwd);
    const output = join(cwd, 'data/demo/events.ndjson');
    try {
      await waitFor(
        () => {
          const docs = readOutput(output).map((d) => d['mimecast'] as Record<string, unknown>);
          const types = new Set(docs.map((m) => m['log_type']));
          const streams = new Set(docs.map((m) => m['stream']));
          return SIEM_TYPES.every((t) => types.has(t)) && STREAM_NAMES.every((s) => streams.has(s));
        },
        60_000,
        'events of all ten SIEM types',
        500,
      );
    } finally {
      child.proc.kill('SIGINT');
    }
    expect((await child.exited).code).toBe(0);
    const docs = readOutput(output);
    expect(docs.length).toBeGreaterThan(1000);
    const problems = docs.flatMap((d) => checkEventContract(d));
    expect(problems.slice(0, 5)).toEqual([]);
    const printed = readFileSync(log, 'utf8');
    expect(printed).toContain(output);
    expect(printed).toMatch(/\] siem \d+/);
    expect(printed).toMatch(/ttp_url \d+/);
    expect(printed).toMatch(/siem by type: receipt=\d+/);
    expect(printed).toContain('/status');
  }, 90_000);
});

describe('validate', () => {
  it('prints every problem with its path and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-validate-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'accounts:\n  - name: corp\n    client_id: x\n    poll_interval: often\n    streams: { siem: {} }\nsinks:\n  - { name: s, type: kafak }\nextra: 1\n');
    const log = join(dir, 'out.log');
    const child = spawnCli(['validate', '--config', file], log, dir);
    expect((await child.exited).code).toBe(1);
    const out = readFileSync(log, 'utf8');
    expect(out).toContain('accounts[0].client_secret');
    expect(out).toContain('accounts[0].poll_interval');
    expect(out).toMatch(/sinks\[0\]\.type: unknown sink type \(this version supports: .*kafka/);
    expect(out).toContain('extra');
  });

  it('names a mistyped http preset, a missing HEC token, a bad URL and an unknown log type, each with its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-validate-'));
    const file = join(dir, 'sinks.yaml');
    writeFileSync(
      file,
      [
        'accounts:',
        '  - { name: corp, client_id: x, client_secret: y, streams: { siem: {} } }',
        'sinks:',
        '  - { name: a, type: http, preset: splunk, url: "https://h:8088", token: t }',
        '  - { name: b, type: http, preset: splunk_hec, url: "https://h:8088" }',
        '  - { name: c, type: http, preset: elasticsearch, url: "es.example:9200" }',
        '  - { name: d, type: stdout, log_types: [reciept] }',
        '',
      ].join('\n'),
    );
    const log = join(dir, 'out.log');
    const child = spawnCli(['validate', '--config', file], log, dir);
    expect((await child.exited).code).toBe(1);
    const out = readFileSync(log, 'utf8');
    expect(out).toContain('sinks[0].preset: expected preset: splunk_hec, elasticsearch, ndjson (did you mean "splunk_hec"?)');
    expect(out).toContain('sinks[1].token: the HEC token is required: set token_file (or token, e.g. ${HEC_TOKEN})');
    expect(out).toContain('sinks[2].url: expected an http(s) URL');
    expect(out).toMatch(/sinks\[3\]\.log_types\[0\]: unknown log type "reciept"/);
  });

  it('prints the effective config with secrets masked and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-validate-'));
    const file = join(dir, 'good.yaml');
    writeFileSync(file, 'accounts:\n  - name: corp\n    client_id: x\n    client_secret: very-secret-value\n    streams: { siem: {} }\nsinks:\n  - { name: s, type: stdout }\n');
    const log = join(dir, 'out.log');
    const child = spawnCli(['validate', '--config', file], log, dir);
    expect((await child.exited).code).toBe(0);
    const out = readFileSync(log, 'utf8');
    expect(out).toContain('client_secret: "***"');
    expect(out).not.toContain('very-secret-value');
    expect(out).toContain('poll_interval: 60000');
  });
});

describe('run', () => {
  let sim: RunningSimulator | undefined;
  afterAll(async () => {
    await sim?.close();
  });

  it('exits 1 at start-up with a clear message when Mimecast rejects the credentials', async () => {
    sim = await startSimulator({ seed: 'badcreds', backlogRecords: 10, publishIntervalMs: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'mc-run-'));
    const yaml = collectorYaml(sim, { dataDir: join(dir, 'data'), output: join(dir, 'out.ndjson') }).replace(
      `client_secret: ${JSON.stringify(sim.clientSecret)}`,
      'client_secret: "wrong-secret"',
    );
    const file = join(dir, 'c.yaml');
    writeFileSync(file, yaml);
    const log = join(dir, 'out.log');
    const child = spawnCli(['run', '--config', file], log, dir);
    expect((await child.exited).code).toBe(1);
    const out = readFileSync(log, 'utf8');
    expect(out).toMatch(/credentials|client_id/i);
    expect(out).toContain(sim.clientId);
    expect(out).not.toContain('wrong-secret');
    expect(readOutput(join(dir, 'out.ndjson'))).toEqual([]);
  });

  it('with a stdout sink writes every event to the process stdout and logs to stderr; SIGTERM exits 0', async () => {
    // run works on a daemon thread: its stdout (the sink) and stderr (pino) must still be the process's own.
    const s = await startSimulator({ seed: 'stdout-run', backlogRecords: 400, publishIntervalMs: 0 });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'mc-run-'));
      const yaml = collectorYaml(s, { dataDir: join(dir, 'data'), output: join(dir, 'unused.ndjson') });
      const file = join(dir, 'c.yaml');
      writeFileSync(file, yaml.slice(0, yaml.indexOf('sinks:')) + 'sinks:\n  - { name: out, type: stdout }\n');
      const outFile = join(dir, 'stdout.ndjson');
      const errFile = join(dir, 'stderr.log');
      const proc = spawn(process.execPath, [MAIN, 'run', '--config', file], { cwd: dir, stdio: ['ignore', openSync(outFile, 'a'), openSync(errFile, 'a')] });
      const exited = new Promise<number | null>((res) => proc.on('exit', (code) => res(code)));
      const lines = (): string[] => readFileSync(outFile, 'utf8').split('\n').filter((l) => l !== '');
      await waitFor(() => lines().length >= s.publishedRecords(), 30_000, 'every event on stdout');
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      const events = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(events).toHaveLength(s.publishedRecords());
      for (const e of events) expect(checkEventContract(e)).toEqual([]);
      expect(new Set(events.map((e) => (e['event'] as { id: string }).id)).size).toBe(events.length);
      const err = readFileSync(errFile, 'utf8');
      expect(err).toContain('collector started');
      expect(err).toContain('"msg":"stopped"');
    } finally {
      await s.close();
    }
  });
});
