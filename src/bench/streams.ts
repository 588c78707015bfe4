// Benchmark of the other collection paths: SIEM via API 1.0 zip files, and the TTP URL / audit pages.
// BENCH_STREAM=siem_v1|ttp_url|audit, BENCH_RECORDS=N (default 100000), BENCH_V1_FILE_RECORDS=N (records per API 1.0
// file, default 5000), BENCH_NODE_ARGS (extra node options for the collector, e.g. `--cpu-prof --cpu-prof-dir=DIR`).
// Prints events/s, CPU, peak RSS, API calls per 100k (and records per file for siem_v1).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../simulator/index.js';
import { freePort } from '../testkit/free-port.js';
import { deliveredFromStatus, nodeArgsFrom, procStat } from './proc.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/main.js');
const STREAMS = ['siem_v1', 'ttp_url', 'audit'] as const;
type BenchStream = (typeof STREAMS)[number];

async function main(): Promise<void> {
  const stream = (process.env['BENCH_STREAM'] ?? 'siem_v1') as BenchStream;
  if (!STREAMS.includes(stream)) throw new Error(`BENCH_STREAM must be one of ${STREAMS.join(', ')}`);
  const records = Number(process.env['BENCH_RECORDS'] ?? 100_000);
  const perFile = Number(process.env['BENCH_V1_FILE_RECORDS'] ?? 5000);
  if (!Number.isSafeInteger(perFile) || perFile < 1) throw new Error('BENCH_V1_FILE_RECORDS must be a positive integer');
  const dir = mkdtempSync(join(tmpdir(), 'mc-bench-streams-'));
  const sim = await startSimulator({
    seed: 'bench-streams',
    backlogRecords: 0,
    backlogHours: 48,
    publishIntervalMs: 0,
    streamRecords: { [stream]: records },
    siemV1RecordsPerFile: perFile,
    // Files also end at each period boundary: one period longer than the backlog keeps them full, so the file
    // size is the one asked for (a 6-hour period cut 100k records into files of ~1,000 whatever was asked).
    siemV1FileMs: 7 * 86_400_000,
  });
  const published = sim.publishedCount(stream);
  const port = await freePort();
  const account =
    stream === 'siem_v1'
      ? [
          '  - name: bench',
          '    api: v1',
          `    base_url: ${sim.url}`,
          `    app_id: ${JSON.stringify(sim.appId)}`,
          `    app_key: ${JSON.stringify(sim.appKey)}`,
          `    access_key: ${JSON.stringify(sim.accessKey)}`,
          `    secret_key: ${JSON.stringify(sim.secretKey)}`,
          '    start_from: 7d',
          '    poll_interval: 1s',
          '    streams: { siem: { file_format: json, compress: true } }',
        ]
      : [
          '  - name: bench',
          `    base_url: ${sim.url}`,
          `    client_id: ${JSON.stringify(sim.clientId)}`,
          `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
          '    start_from: 3d',
          '    poll_interval: 1s',
          `    streams: { ${stream}: { settle: 1s } }`,
        ];
  const config = join(dir, 'collector.yaml');
  writeFileSync(
    config,
    [
      `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
      'log_level: warn',
      `http: { listen: 127.0.0.1:${port} }`,
      'accounts:',
      ...account,
      'sinks:',
      `  - { name: file, type: file, path: ${JSON.stringify(join(dir, 'out', 'events.ndjson'))}, max_size: 1GB, max_files: 1 }`,
      '',
    ].join('\n'),
  );
  process.stdout.write(`bench: ${stream}, ${published} records published (node ${process.version})\n`);
  const before = sim.stats().requests;
  const started = process.hrtime.bigint();
  // The simulator answers from this process: its CPU shares the machine with the collector's.
  const simCpuBefore = process.cpuUsage();
  const nodeArgs = nodeArgsFrom('BENCH_NODE_ARGS');
  const child = spawn(process.execPath, [...nodeArgs, MAIN, 'run', '--config', config], { stdio: ['ignore', 'inherit', 'inherit'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the collector');
  let done: number;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    procStat(pid); // throws once the collector has exited
    done = await deliveredFromStatus(port);
    if (done >= published) break;
  }
  const simCpu = process.cpuUsage(simCpuBefore);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const last = procStat(pid);
  child.kill('SIGTERM');
  await once(child, 'exit');
  const after = sim.stats().requests;
  await sim.close();
  rmSync(dir, { recursive: true, force: true });
  const apiCalls = (after.api - before.api) + (after.siemLogs - before.siemLogs);
  const files = stream === 'siem_v1' ? ` records_per_file=${Math.round(done / Math.max(1, after.siemLogs - before.siemLogs - 1))}` : '';
  const per100k = (n: number): string => ((n / done) * 100_000).toFixed(1);
  process.stdout.write(
    `bench: stream=${stream} records=${done} eps=${Math.round(done / seconds)} cpu_s_per_100k=${((last.cpuSeconds / done) * 100_000).toFixed(2)} ` +
      `peak_rss_mb=${Math.round(last.peakRssMb)} api_calls_per_100k=${per100k(apiCalls)} token_calls=${after.token - before.token}${files} sim_cpu_s_per_100k=${(((simCpu.user + simCpu.system) / 1e6 / done) * 100_000).toFixed(2)}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
