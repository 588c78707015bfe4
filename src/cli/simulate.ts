// `simulate`: the Mimecast API simulator standalone, for demos, tests, benchmarks and pipeline trials.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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
  manifestDir?: string;
  configOut?: string;
  faults?: string;
  unlicensed?: string;
  cloudIntegrated?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  publicHost?: string;
}

const FAULT_KEYS: readonly (keyof SimulatorFaults)[] = [
  'rateLimit429',
  'serverError500',
  'slowReplyMs',
  'slowReplyRate',
  'earlyTokenExpiry',
  'expiredBlob',
  'redirectBlob',
  'truncatedGzip',
  'nonJsonLines',
  'replayRecords',
  'bindingExpired',
  'truncatedFile',
  'corruptZip',
  'apiFail200',
  'oversizedLineBytes',
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
  if ((opts.tlsCert === undefined) !== (opts.tlsKey === undefined)) {
    println(io.stderr, 'error: --tls-cert and --tls-key go together');
    return 1;
  }
  let tls: { cert: string; key: string } | undefined;
  try {
    if (opts.tlsCert !== undefined && opts.tlsKey !== undefined) tls = { cert: readFileSync(opts.tlsCert, 'utf8'), key: readFileSync(opts.tlsKey, 'utf8') };
  } catch (err) {
    println(io.stderr, `error: cannot read the TLS certificate or key: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  if (opts.manifestDir !== undefined) mkdirSync(resolve(opts.manifestDir), { recursive: true });
  const unlicensed = opts.unlicensed?.split(',').map((s) => s.trim()).filter((s) => s !== '');
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
    ...(opts.manifestDir !== undefined ? { manifestDir: resolve(opts.manifestDir) } : {}),
    ...(unlicensed !== undefined && unlicensed.length > 0 ? { unlicensed } : {}),
    ...(opts.cloudIntegrated === true ? { cloudIntegrated: true } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(opts.publicHost !== undefined ? { publicHost: opts.publicHost } : {}),
  });
  println(io.stdout, `Mimecast API simulator listening on ${sim.url}`);
  println(io.stdout, `  base_url:      ${sim.url}`);
  println(io.stdout, `  client_id:     ${sim.clientId}`);
  println(io.stdout, `  client_secret: ${sim.clientSecret}`);
  println(io.stdout, `  account:       ${sim.accountCode}`);
  println(io.stdout, '  API 1.0 keys (api: v1):');
  println(io.stdout, `    app_id:      ${sim.appId}`);
  println(io.stdout, `    app_key:     ${sim.appKey}`);
  println(io.stdout, `    access_key:  ${sim.accessKey}`);
  println(io.stdout, `    secret_key:  ${sim.secretKey}`);
  println(io.stdout, `  publishing:    ${opts.rate} records every ${opts.interval} (backlog ${opts.backlog})`);
  if (opts.cloudIntegrated === true) println(io.stdout, '  Cloud Integrated: entities, mailflow, urlclick at /siem/v1/batch/events/ci (one record per five SIEM records)');
  if (opts.manifest !== undefined) println(io.stdout, `  manifest:      ${resolve(opts.manifest)}`);
  if (opts.manifestDir !== undefined) println(io.stdout, `  manifests:     ${resolve(opts.manifestDir)}/<stream>.ndjson`);
  if (opts.tlsCert !== undefined) println(io.stdout, `  TLS:           certificate ${resolve(opts.tlsCert)} (trust it with the account's tls.ca_file)`);
  if (opts.configOut !== undefined) {
    const out = resolve(opts.configOut);
    let yaml = collectorConfigFor(sim, {
      dataDir: resolve('data/simulated'),
      outputPath: resolve('data/simulated/events.ndjson'),
      ...(opts.cloudIntegrated === true ? { cloudIntegrated: true } : {}),
    });
    // A self-signed simulator certificate has to be trusted explicitly.
    if (opts.tlsCert !== undefined) yaml = yaml.replace('\n    streams:\n', `\n    tls: { ca_file: ${JSON.stringify(resolve(opts.tlsCert))} }\n    streams:\n`);
    writeFileSync(out, yaml);
    println(io.stdout, `  collector config written to ${out}: run it with  mimecast-collector run --config ${opts.configOut}`);
  }
  if (!io.signal.aborted) await new Promise<void>((r) => io.signal.addEventListener('abort', () => r(), { once: true }));
  await sim.close();
  println(io.stdout, `simulator stopped; ${sim.publishedRecords()} records published`);
  return 0;
}
