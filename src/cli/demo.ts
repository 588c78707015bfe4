// `demo`: the built-in simulator in-process and a collector against it, writing ./data/demo/events.ndjson.
import { rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import { formatDuration } from '../config/units.js';
import { ConfigError } from '../core/errors.js';
import { CI_TYPES, SIEM_TYPES } from '../core/contracts.js';
import { startSimulator } from '../simulator/index.js';
import { createLogger } from '../telemetry/logger.js';
import { statusSnapshot } from '../telemetry/status-server.js';
import { println, type CommandIo } from './io.js';
import { runCollector } from './run.js';
import { printConfigError } from './validate.js';

/** config/demo.yaml inside the installed package. */
export const DEMO_CONFIG = resolve(dirname(fileURLToPath(import.meta.url)), '../../config/demo.yaml');

export interface DemoOptions {
  port?: number;
  /** Print the live summary this often. */
  summaryEveryMs: number;
}

export async function demoCommand(opts: DemoOptions, io: CommandIo): Promise<number> {
  const sim = await startSimulator({
    seed: 1,
    backlogRecords: 5000,
    backlogHours: 6,
    publishIntervalMs: 5000,
    recordsPerInterval: 200,
    cloudIntegrated: true,
    ...(opts.port !== undefined ? { port: opts.port } : {}),
  });
  let config;
  try {
    config = loadConfig(DEMO_CONFIG, { ...io.env, DEMO_SIMULATOR_URL: sim.url, DEMO_CLIENT_ID: sim.clientId, DEMO_CLIENT_SECRET: sim.clientSecret });
  } catch (err) {
    await sim.close();
    if (err instanceof ConfigError) {
      printConfigError(err, io);
      return 1;
    }
    throw err;
  }
  const dataDir = resolve(config.data_dir);
  const firstFile = config.sinks.find((s) => s.type === 'file');
  const output = firstFile?.type === 'file' ? resolve(firstFile.path) : '(stdout)';
  // The simulator is new on every start, so cursors from an earlier demo would point nowhere: start fresh.
  for (const f of ['journal.sqlite', 'journal.sqlite-wal', 'journal.sqlite-shm']) rmSync(resolve(dataDir, f), { force: true });
  if (firstFile?.type === 'file') rmSync(output, { force: true });
  const logger = createLogger({ level: config.log_level });
  println(io.stdout, `mimecast-collector demo (config: ${DEMO_CONFIG})`);
  println(io.stdout, `  simulator (Mimecast API 2.0): ${sim.url}  client_id=${sim.clientId}`);
  println(io.stdout, `  journal:                      ${dataDir}/journal.sqlite`);
  println(io.stdout, `  events written to:            ${output}`);
  println(io.stdout, '  Ctrl-C to stop.');
  let timer: NodeJS.Timeout | undefined;
  const code = await runCollector(config, logger, io, (collector, status) => {
    if (status !== undefined) println(io.stdout, `  status page:                  ${status.url}/  (JSON: ${status.url}/status)`);
    println(io.stdout);
    timer = setInterval(() => {
      const snap = statusSnapshot(collector.pipeline, collector.journal) as {
        sources: { key: string; stream: string; events: number; lag_ms?: number }[];
        sinks: { name: string; delivered: number; backlog: number }[];
      };
      // Per stream: events collected and the lag of its most behind source; SIEM also per type.
      const streams = new Map<string, { events: number; lag: number | undefined }>();
      const siemTypes = new Map<string, number>();
      for (const s of snap.sources) {
        const cur = streams.get(s.stream) ?? { events: 0, lag: undefined };
        cur.events += s.events;
        if (s.lag_ms !== undefined) cur.lag = Math.max(cur.lag ?? 0, s.lag_ms);
        streams.set(s.stream, cur);
        if (s.stream === 'siem') siemTypes.set(s.key.split('/')[2] ?? s.key, s.events);
      }
      const fmtLag = (ms: number | undefined): string => (ms === undefined ? '' : ` (lag ${formatDuration(ms)})`);
      const line = [...streams].map(([name, v]) => `${name} ${v.events}${fmtLag(v.lag)}`).join(' | ');
      const sinks = snap.sinks.map((s) => `${s.name}: delivered ${s.delivered}, backlog ${s.backlog}`).join('; ');
      println(io.stdout, `[${new Date().toISOString().slice(11, 19)}] ${line}`);
      if (siemTypes.size > 0) println(io.stdout, `           siem by type: ${[...SIEM_TYPES, ...CI_TYPES].filter((t) => siemTypes.has(t)).map((t) => `${t}=${siemTypes.get(t) ?? 0}`).join(' ')}`);
      println(io.stdout, `           sinks: ${sinks}`);
    }, opts.summaryEveryMs);
    timer.unref();
  }, 'demo');
  if (timer !== undefined) clearInterval(timer);
  await sim.close();
  return code;
}
