// The Mimecast API simulator (2.0 OAuth + 1.0 HMAC, SIEM batch/stream/files, paged logs, threat intel): start it in-process.
import { CI_TYPES, SIEM_TYPES } from '../core/contracts.js';
import { Simulator } from './server.js';
import type { RunningSimulator, SimulatorOptions } from './types.js';

export type {
  FaultCounterName,
  LogStreamName,
  RequestCounterName,
  RunningSimulator,
  SimulatorFaults,
  SimulatorOptions,
  SimulatorStats,
} from './types.js';
export { defaultCredentials } from './server.js';
export { LOG_STREAMS } from './logstore.js';
export { PAGED_PATHS } from './paged.js';
export { signV1, v1Headers, type V1Credentials } from './v1auth.js';
export { keyValueLine, keyValueObject, V1_PREFIXES } from './v1siem.js';
export { crc32, unzipFirst, zipSingle } from './zip.js';

/** Publishes the backlog, listens, and starts the publishing timer. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<RunningSimulator> {
  const sim = new Simulator(options);
  try {
    await sim.start();
  } catch (err) {
    await sim.close();
    throw err;
  }
  return sim;
}

/** A ready-to-run collector config (YAML text) pointed at the simulator, with a file sink. */
export function collectorConfigFor(
  sim: RunningSimulator,
  /** `cloudIntegrated`: the simulator serves the Cloud Integrated types; collect them too. */
  opts: { dataDir: string; outputPath: string; pollInterval?: string; cloudIntegrated?: boolean },
): string {
  // JSON strings are valid YAML double-quoted scalars, so paths and secrets need no further escaping.
  const q = (s: string): string => JSON.stringify(s);
  return [
    `data_dir: ${q(opts.dataDir)}`,
    'log_level: info',
    'accounts:',
    '  - name: sim',
    '    api: v2',
    `    base_url: ${q(sim.url)}`,
    `    client_id: ${q(sim.clientId)}`,
    `    client_secret: ${q(sim.clientSecret)}`,
    '    start_from: 7d',
    `    poll_interval: ${q(opts.pollInterval ?? '5s')}`,
    '    streams:',
    `      siem: { types: [${[...SIEM_TYPES, ...(opts.cloudIntegrated === true ? CI_TYPES : [])].join(', ')}] }`,
    'sinks:',
    '  - name: file',
    '    type: file',
    `    path: ${q(opts.outputPath)}`,
    '',
  ].join('\n');
}
