// Benchmark: the simulator serves BENCH_RECORDS SIEM records; a collector process drains them to a file sink.
// Compared with a bare loop over the same gzip files (gunzip + JSON.parse + JSON.stringify + write).
// BENCH_NODE_ARGS: extra node options for the collector only (e.g. `--cpu-prof --cpu-prof-dir=DIR`).
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { once } from 'node:events';
import { createGunzip } from 'node:zlib';
import { StringDecoder } from 'node:string_decoder';
import { SIEM_TYPES } from '../core/contracts.js';
import { startSimulator } from '../simulator/index.js';
import { freePort } from '../testkit/free-port.js';
import { deliveredFromStatus, nodeArgsFrom, procStat } from './proc.js';

const MAIN = resolve(dirname(fileURLToPath(import.meta.url)), '../cli/main.js');

async function floorLoop(files: readonly string[], out: string): Promise<{ records: number; seconds: number }> {
  const started = process.hrtime.bigint();
  const ws = createWriteStream(out);
  let records = 0;
  for (const file of files) {
    const decoder = new StringDecoder('utf8');
    let carry = '';
    const flush = async (lines: string[]): Promise<void> => {
      let buf = '';
      for (const line of lines) {
        if (line === '') continue;
        try {
          buf += JSON.stringify(JSON.parse(line)) + '\n';
          records += 1;
        } catch {
          // junk lines are skipped by the floor too
        }
      }
      if (!ws.write(buf)) await once(ws, 'drain');
    };
    for await (const chunk of createReadStream(file).pipe(createGunzip()) as AsyncIterable<Buffer>) {
      const parts = (carry + decoder.write(chunk)).split('\n');
      carry = parts.pop() ?? '';
      await flush(parts);
    }
    await flush([carry + decoder.end()]);
  }
  ws.end();
  await once(ws, 'finish');
  return { records, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

async function main(): Promise<void> {
  const records = Number(process.env['BENCH_RECORDS'] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'mc-bench-'));
  const cacheDir = join(dir, 'blobs');
  process.stdout.write(`bench: preparing ${records} records in ${dir} (${cpus().length} cpus, node ${process.version})\n`);
  const sim = await startSimulator({ seed: 'bench', backlogRecords: records, backlogHours: 48, recordsPerBlob: 5000, publishIntervalMs: 0, cacheDir });
  const files = sim.blobFiles();
  const published = sim.publishedRecords();

  const floor = await floorLoop(files, join(dir, 'floor.ndjson'));
  rmSync(join(dir, 'floor.ndjson'), { force: true });
  const floorEps = floor.records / floor.seconds;
  process.stdout.write(`bench: floor loop ${floor.records} records in ${floor.seconds.toFixed(1)} s = ${Math.round(floorEps)} events/s\n`);

  const port = await freePort();
  const config = join(dir, 'collector.yaml');
  writeFileSync(
    config,
    [
      `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
      'log_level: warn',
      `http: { listen: 127.0.0.1:${port} }`,
      'journal: { max_events: 200000, max_bytes: 512MB }',
      'accounts:',
      '  - name: bench',
      `    base_url: ${sim.url}`,
      `    client_id: ${JSON.stringify(sim.clientId)}`,
      `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
      '    start_from: 7d',
      '    poll_interval: 1s',
      `    streams: { siem: { types: [${SIEM_TYPES.join(', ')}] } }`,
      'sinks:',
      `  - { name: file, type: file, path: ${JSON.stringify(join(dir, 'out', 'events.ndjson'))}, max_size: 1GB, max_files: 1, batch: { max_events: 1000, max_bytes: 4MB, max_wait: 200ms } }`,
      '',
    ].join('\n'),
  );
  const started = process.hrtime.bigint();
  const nodeArgs = nodeArgsFrom('BENCH_NODE_ARGS');
  const child = spawn(process.execPath, [...nodeArgs, MAIN, 'run', '--config', config], { stdio: ['ignore', 'inherit', 'inherit'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the collector');
  let last: { cpuSeconds: number; peakRssMb: number };
  let delivered: number;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    try {
      last = procStat(pid);
    } catch {
      throw new Error('the collector exited early');
    }
    delivered = await deliveredFromStatus(port);
    if (delivered >= published) break;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  last = procStat(pid);
  child.kill('SIGTERM');
  await once(child, 'exit');
  await sim.close();
  const eps = delivered / seconds;
  const cpuPer100k = (last.cpuSeconds / delivered) * 100_000;
  process.stdout.write(
    `bench: collector ${delivered} events in ${seconds.toFixed(1)} s = ${Math.round(eps)} events/s, ` +
      `${cpuPer100k.toFixed(2)} CPU s per 100k events, peak RSS ${last.peakRssMb.toFixed(0)} MB\n`,
  );
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    `bench: records=${published} collector_eps=${Math.round(eps)} floor_eps=${Math.round(floorEps)} ratio=${(eps / floorEps).toFixed(2)} peak_rss_mb=${Math.round(last.peakRssMb)}\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
