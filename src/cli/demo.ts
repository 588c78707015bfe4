// `demo`: the built-in simulator in-process and a collector against it, writing ./data/demo/events.ndjson.
import { rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../core/errors.js';
import { SIEM_TYPES } from '../core/contracts.js';
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
  const sim = await startSimulator({ seed: 1, backlogRecords: 5000, backlogHours: 6, publishIntervalMs: 5000, recordsPerInterval: 200, ...(opts.port !== undefined ? { port: opts.port } : {}) });
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
    if (status !== undefined) println(io.stdout, `  status page:                  ${status.url}/status`);
    println(io.stdout);
    timer = setInterval(() => {
      const snap = statusSnapshot(collector.pipeline, collector.journal) as {
        sources: { key: string; events: number; quarantined: number; lag_ms?: number }[];
        sinks: { name: string; delivered: number; backlog: number }[];
      };
      const byType = new Map<string, { events: number; lag?: number }>();
      for (const s of snap.sources) {
        const type = s.key.split('/')[2] ?? s.key;
        byType.set(type, { events: s.events, ...(s.lag_ms !== undefined ? { lag: s.lag_ms } : {}) });
      }
      const total = [...byType.values()].reduce((n, v) => n + v.events, 0);
      const lags = [...byType.values()].map((v) => v.lag).filter((v): v is number => v !== undefined);
      const lag = lags.length > 0 ? `${Math.round(Math.max(...lags) / 1000)}s` : 'n/a';
      const parts = SIEM_TYPES.filter((t) => byType.has(t)).map((t) => `${t}=${byType.get(t)?.events ?? 0}`);
      const sinks = snap.sinks.map((s) => `${s.name}: delivered ${s.delivered}, backlog ${s.backlog}`).join('; ');
      println(io.stdout, `[${new Date().toISOString().slice(11, 19)}] siem ${total} events (max lag ${lag}) | ${sinks}`);
      println(io.stdout, `           ${parts.join(' ')}`);
    }, opts.summaryEveryMs);
    timer.unref();
  });
  if (timer !== undefined) clearInterval(timer);
  await sim.close();
  return code;
}
