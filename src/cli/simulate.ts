// `simulate`: the Mimecast API simulator standalone, for demos, tests, benchmarks and pipeline trials.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDuration } from '../config/units.js';
import { startSimulator, collectorConfigFor, type SimulatorFaults } from '../simulator/index.js';
import { createLogger } from '../telemetry/logger.js';
import { println, type CommandIo } from './io.js';

export interface SimulateOptions {
  port: number;
  host: string;
  seed: string;
  backlog: number;
  interval: string;
  rate: number;
  manifest?: string;
  configOut?: string;
  faults?: string;
}

const FAULT_KEYS: readonly (keyof SimulatorFaults)[] = [
  'rateLimit429',
  'serverError500',
  'slowReplyMs',
  'slowReplyRate',
  'earlyTokenExpiry',
  'expiredBlob',
  'truncatedGzip',
  'nonJsonLines',
  'replayRecords',
];

/** `rateLimit429=0.05,truncatedGzip=0.02` → faults. */
export function parseFaults(text: string): SimulatorFaults {
  const faults: SimulatorFaults = {};
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const [k, v] = part.split('=');
    const key = FAULT_KEYS.find((f) => f === k);
    const n = Number(v);
    if (key === undefined || v === undefined || !Number.isFinite(n) || n < 0) {
      throw new Error(`--faults: "${part}" is not KEY=NUMBER with KEY one of ${FAULT_KEYS.join(', ')}`);
    }
    faults[key] = n;
  }
  return faults;
}

export async function simulateCommand(opts: SimulateOptions, io: CommandIo): Promise<number> {
  const intervalMs = parseDuration(opts.interval);
  if (intervalMs === undefined) {
    println(io.stderr, `error: --interval "${opts.interval}" is not a duration (e.g. 5s)`);
    return 1;
  }
  let faults: SimulatorFaults = {};
  try {
    if (opts.faults !== undefined) faults = parseFaults(opts.faults);
  } catch (err) {
    println(io.stderr, `error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const sim = await startSimulator({
    port: opts.port,
    host: opts.host,
    seed: opts.seed,
    backlogRecords: opts.backlog,
    publishIntervalMs: intervalMs,
    recordsPerInterval: opts.rate,
    faults,
    logger: createLogger({ level: 'info' }),
    ...(opts.manifest !== undefined ? { manifestPath: resolve(opts.manifest) } : {}),
  });
  println(io.stdout, `Mimecast API simulator listening on ${sim.url}`);
  println(io.stdout, `  base_url:      ${sim.url}`);
  println(io.stdout, `  client_id:     ${sim.clientId}`);
  println(io.stdout, `  client_secret: ${sim.clientSecret}`);
  println(io.stdout, `  account:       ${sim.accountCode}`);
  println(io.stdout, `  publishing:    ${opts.rate} records every ${opts.interval} (backlog ${opts.backlog})`);
  if (opts.manifest !== undefined) println(io.stdout, `  manifest:      ${resolve(opts.manifest)}`);
  if (opts.configOut !== undefined) {
    const out = resolve(opts.configOut);
    writeFileSync(out, collectorConfigFor(sim, { dataDir: resolve('data/simulated'), outputPath: resolve('data/simulated/events.ndjson') }));
    println(io.stdout, `  collector config written to ${out}: run it with  mimecast-collector run --config ${opts.configOut}`);
  }
  if (!io.signal.aborted) await new Promise<void>((r) => io.signal.addEventListener('abort', () => r(), { once: true }));
  await sim.close();
  println(io.stdout, `simulator stopped; ${sim.publishedRecords()} records published`);
  return 0;
}
