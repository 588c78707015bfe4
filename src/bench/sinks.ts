// Benchmark of delivery: events/s from a filled journal into each sink's local receiver, with the collector's CPU
// seconds per 100k events and its peak RSS. Events/s counts from the collector's process start; beside it, the
// start-up (until the first event is delivered) and the rate after it. The collector runs as `run` (a child process) against an empty simulator,
// so what it does is drain the journal; each receiver runs in a process of its own.
// BENCH_SINKS=file,ndjson,splunk_hec,splunk_hec_ack,elasticsearch,opensearch,kafka,syslog_tcp,syslog_tls,syslog_rsyslog
// (default all of them; opensearch is a real OpenSearch node, installed by test/engine/install.sh, kafka a real Apache
// Kafka broker, installed by test/kafka/install.sh, syslog_rsyslog a real rsyslogd over TCP writing every message to a
// file in its RFC 5424 format, the others in-repo receivers), BENCH_EVENTS=N (default 300000),
// BENCH_COMPRESSION=none (the http sinks without gzip), BENCH_NODE_ARGS (extra node options for the collector, e.g.
// `--cpu-prof --cpu-prof-dir=DIR`), BENCH_RECEIVER_NODE_ARGS (the same for the in-repo receiver's process),
// BENCH_SINK_OPTIONS (sink keys added to the benchmark's, e.g. `concurrency: 4`).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Producer } from '@platformatic/kafka';
import type { NormalizedEvent } from '../core/contracts.js';
import { Journal } from '../journal/journal.js';
import { startSimulator } from '../simulator/index.js';
import { startKafkaBroker } from '../testkit/kafka-broker.js';
import { startRsyslog } from '../testkit/rsyslog.js';
import { selfSignedCert, type TestCert } from '../testkit/tls.js';
import { freePort } from '../testkit/free-port.js';
import { benchEvents, startEngine } from './engine.js';
import { deliveredFromStatus, nodeArgsFrom, procStat } from './proc.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const MAIN = resolve(HERE, '../cli/main.js');
const RECEIVER = resolve(HERE, 'sink-receiver.js');

const TARGETS = ['file', 'ndjson', 'splunk_hec', 'splunk_hec_ack', 'elasticsearch', 'opensearch', 'kafka', 'syslog_tcp', 'syslog_tls', 'syslog_rsyslog'] as const;
type Target = (typeof TARGETS)[number];

/** Journals `n` SIEM events normalized from the simulator's records (about 1.5 KB each), as a source would. */
function fill(dataDir: string, n: number): { events: number; bytes: number } {
  const journal = Journal.open({ dir: dataDir, maxEvents: n + 1000, maxBytes: 64 * 1024 ** 3 });
  let made = 0;
  let bytes = 0;
  let batch: NormalizedEvent[] = [];
  for (const ev of benchEvents(n)) {
    bytes += Buffer.byteLength(ev.json ?? JSON.stringify(ev.doc));
    batch.push(ev);
    made++;
    if (batch.length >= 1000) {
      journal.append('bench/filler', { events: batch, cursor: String(made) });
      batch = [];
    }
  }
  if (batch.length > 0) journal.append('bench/filler', { events: batch, cursor: 'end' });
  journal.close();
  return { events: made, bytes };
}

/** Lines in a file (0 when it does not exist yet). */
function lineCount(file: string): number {
  try {
    const buf = readFileSync(file);
    let n = 0;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
    return n;
  } catch {
    return 0;
  }
}

/** A receiver in a child process: resolves with its URL once it listens. */
async function startReceiver(kind: string, args: readonly string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const nodeArgs = nodeArgsFrom('BENCH_RECEIVER_NODE_ARGS');
  const child = spawn(process.execPath, [...nodeArgs, RECEIVER, kind, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = child.stdout;
  if (out === null) throw new Error('receiver has no stdout');
  const lines = createInterface({ input: out });
  for await (const line of lines) {
    if (line.startsWith('url ')) return { url: line.slice(4), child };
  }
  throw new Error(`receiver ${kind} ended before listening`);
}

/**
 * A real Apache Kafka broker (test/kafka/install.sh) with the topic the benchmark's events go to, warmed up: one
 * idempotent producer of another client has written one record to another topic. A freshly formatted broker answers
 * its first idempotent produce ~0.3-0.5 s late (measured: 1.1 s for the warm-up's first send, 6 ms for its second),
 * once in the cluster's life; the collector's first send then took ~500 ms instead of ~140 ms, which is the
 * broker's start-up, not the sink's.
 */
async function startBroker(): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  const broker = await startKafkaBroker();
  try {
    await broker.createTopic('mimecast.siem');
    await broker.createTopic('bench.warmup');
    const producer = new Producer({ clientId: 'bench-warmup', bootstrapBrokers: [broker.bootstrap], idempotent: true, acks: -1, retries: 2 });
    try {
      await producer.send({ messages: [{ topic: 'bench.warmup', key: Buffer.from('warmup'), value: Buffer.from('warmup') }] });
    } finally {
      await producer.close();
    }
  } catch (err) {
    await broker.close();
    throw err;
  }
  return { url: broker.bootstrap, pid: broker.pid(), stop: () => broker.close() };
}

function sinkYaml(target: Target, url: string | undefined, dir: string, cert?: TestCert): string {
  // BENCH_COMPRESSION=none measures the sinks without gzip (the http presets default to gzip).
  const compression = process.env['BENCH_COMPRESSION'] === 'none' ? ', compression: none' : '';
  const batch = 'batch: { max_events: 2000, max_bytes: 4MB, max_wait: 200ms }';
  switch (target) {
    case 'file':
      return `  - { name: out, type: file, path: ${JSON.stringify(join(dir, 'out', 'events.ndjson'))}, max_size: 2GB, max_files: 1, ${batch} }`;
    case 'ndjson':
      return `  - { name: out, type: http, preset: ndjson, url: ${JSON.stringify(`${url}/ingest`)}, concurrency: 2, ${batch}${compression} }`;
    case 'splunk_hec':
      return `  - { name: out, type: http, preset: splunk_hec, url: ${JSON.stringify(url)}, token: bench-hec-token, batch: { max_events: 2000, max_bytes: 1MB, max_wait: 200ms }${compression} }`;
    case 'splunk_hec_ack':
      return `  - { name: out, type: http, preset: splunk_hec, url: ${JSON.stringify(url)}, token: bench-hec-token, ack: true, ack_poll_interval: 100ms, concurrency: 8, batch: { max_events: 2000, max_bytes: 1MB, max_wait: 200ms }${compression} }`;
    case 'elasticsearch':
    case 'opensearch':
      return `  - { name: out, type: http, preset: elasticsearch, url: ${JSON.stringify(url)}, concurrency: 4, ${batch}${compression} }`;
    case 'kafka':
      return `  - { name: out, type: kafka, brokers: [${JSON.stringify(url)}], ${batch} }`;
    case 'syslog_tcp':
    case 'syslog_rsyslog':
    case 'syslog_tls': {
      const [host, port] = (url ?? '').split(':');
      const tls = target === 'syslog_tls' && cert !== undefined ? `, transport: tls, tls: { ca_file: ${JSON.stringify(cert.certFile)} }` : '';
      // The sink's own defaults (batch of 1000, 32 in flight, settle_time 250ms): what holds its memory in check.
      return `  - { name: out, type: syslog, host: ${host ?? ''}, port: ${port ?? ''}${tls}, batch: { max_events: 1000, max_bytes: 4MB, max_wait: 200ms } }`;
    }
  }
}

/**
 * BENCH_SINK_OPTIONS (e.g. `concurrency: 4, compression: lz4`): scalar keys set on the sink's flow mapping (a key it
 * has already is replaced: YAML refuses a key given twice), for comparisons.
 */
function withSinkOptions(line: string): string {
  const extra = process.env['BENCH_SINK_OPTIONS']?.trim();
  if (extra === undefined || extra === '') return line;
  let out = line;
  for (const part of extra.split(',')) {
    const m = /^\s*([a-z_]+)\s*:\s*(.+?)\s*$/.exec(part);
    if (m === null) throw new Error(`BENCH_SINK_OPTIONS: expected key: value pairs separated by commas, got "${part}"`);
    const [, key, value] = m as unknown as [string, string, string];
    const existing = new RegExp(`([{,] ${key}: )[^,{}]+(?=,| \\})`);
    out = existing.test(out) ? out.replace(existing, `$1${value}`) : `${out.replace(/ \}$/, '')}, ${key}: ${value} }`;
  }
  return out;
}

async function runOne(target: Target, n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `mc-bench-sinks-${target}-`));
  try {
    const filled = fill(join(dir, 'data'), n);
    // Receivers that run as processes of their own (a JVM): started here, their CPU measured by PID.
    const engine = target === 'opensearch' ? await startEngine() : target === 'kafka' ? await startBroker() : undefined;
    const rsyslog = target === 'syslog_rsyslog' ? await startRsyslog({ format: 'protocol' }) : undefined;
    const cert = target === 'syslog_tls' ? selfSignedCert('127.0.0.1', dir) : undefined;
    const receiver = target === 'file' || engine !== undefined || rsyslog !== undefined ? undefined : await startReceiver(target, cert === undefined ? [] : [cert.certFile, cert.keyFile]);
    const sim = await startSimulator({ seed: 'bench-sinks', backlogRecords: 0, publishIntervalMs: 0 });
    const port = await freePort();
    const config = join(dir, 'collector.yaml');
    writeFileSync(
      config,
      [
        `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
        'log_level: warn',
        `http: { listen: 127.0.0.1:${port} }`,
        `journal: { max_events: ${n + 1000}, max_bytes: 64GB }`,
        'accounts:',
        '  - name: bench',
        `    base_url: ${sim.url}`,
        `    client_id: ${JSON.stringify(sim.clientId)}`,
        `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
        '    poll_interval: 1h',
        '    streams: { audit: {} }',
        'sinks:',
        withSinkOptions(sinkYaml(target, engine?.url ?? (rsyslog === undefined ? receiver?.url : `127.0.0.1:${rsyslog.tcpPort}`), dir, cert)),
        '',
      ].join('\n'),
    );
    const started = process.hrtime.bigint();
    const nodeArgs = nodeArgsFrom('BENCH_NODE_ARGS');
    const child = spawn(process.execPath, [...nodeArgs, MAIN, 'run', '--config', config], { stdio: ['ignore', 'inherit', 'inherit'] });
    const pid = child.pid;
    if (pid === undefined) throw new Error('could not start the collector');
    let last = { cpuSeconds: 0, peakRssMb: 0 };
    let receiverCpu = 0;
    const receiverPid = engine?.pid ?? rsyslog?.pid() ?? receiver?.child.pid;
    const receiverCpuAtStart = receiverPid === undefined ? 0 : procStat(receiverPid).cpuSeconds;
    let got = 0;
    let seconds = 0;
    /** Seconds from the start to the first delivered event (polled every 20 ms until then): the start-up. */
    let firstSeconds: number | undefined;
    try {
      while (got < filled.events) {
        await new Promise((r) => setTimeout(r, firstSeconds === undefined ? 20 : 200));
        if (child.exitCode !== null) throw new Error(`the collector exited early (code ${child.exitCode})`);
        got = await deliveredFromStatus(port);
        if (got > 0) firstSeconds ??= Number(process.hrtime.bigint() - started) / 1e9;
        // Read after /status answered: a busy collector may take a while to answer, and the last reading must
        // include all the work up to the count it reports.
        last = procStat(pid);
        if (receiverPid !== undefined) receiverCpu = procStat(receiverPid).cpuSeconds - receiverCpuAtStart;
      }
      seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (rsyslog !== undefined) {
        // Delivered over TCP means written: the real receiver must have written every one of them to its file.
        const deadline = Date.now() + 60_000;
        let lines = 0;
        while ((lines = lineCount(rsyslog.outFile)) < got && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
        if (lines !== got) throw new Error(`rsyslog wrote ${lines} messages of the ${got} delivered`);
      }
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
      receiver?.child.kill('SIGTERM');
      await engine?.stop();
      await rsyslog?.close();
      await sim.close();
    }
    const line =
      `bench:sinks ${target}: ${got} events (${(filled.bytes / got).toFixed(0)} B each) in ${seconds.toFixed(1)} s = ${Math.round(got / seconds)} events/s ` +
      `(start-up ${(firstSeconds ?? 0).toFixed(2)} s, then ${Math.round(got / (seconds - (firstSeconds ?? 0)))} events/s), ` +
      `${((last.cpuSeconds / got) * 100_000).toFixed(2)} CPU s per 100k, peak RSS ${last.peakRssMb.toFixed(0)} MB` +
      (receiverPid === undefined ? '' : ` (receiver: ${((receiverCpu / got) * 100_000).toFixed(2)} CPU s per 100k)`);
    process.stdout.write(`${line}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const n = Number(process.env['BENCH_EVENTS'] ?? 300_000);
  const wanted = (process.env['BENCH_SINKS'] ?? TARGETS.join(',')).split(',').map((s) => s.trim()) as Target[];
  for (const t of wanted) if (!TARGETS.includes(t)) throw new Error(`BENCH_SINKS: unknown target ${t} (expected ${TARGETS.join(', ')})`);
  process.stdout.write(`bench:sinks ${n} events per target (${cpus().length} cpus, ${cpus()[0]?.model ?? '?'}, node ${process.version})\n`);
  for (const t of wanted) await runOne(t, n);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
