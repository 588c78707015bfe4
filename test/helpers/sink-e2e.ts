// What the end-to-end sink tests share: a collector config that reads the simulator's SIEM backlog into the sinks
// under test plus a file sink beside them, starting that collector in-process, and waiting for the file sink.
import { join } from 'node:path';
import { expect } from 'vitest';
import { buildCollector, type Collector } from '../../src/app.js';
import { parseConfigText } from '../../src/config/load.js';
import type { RunningSimulator } from '../../src/simulator/index.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { eventId, outputKey, outputLineCount, readManifest, readOutput, recordKey, waitFor } from './harness.js';

/** Where the file sink of sinkTestConfig writes. */
export function fileSinkOutput(dir: string): string {
  return join(dir, 'out', 'events.ndjson');
}

/**
 * The collector config: the simulator's SIEM stream from 7 days back in chunks of 100, the `sinks` lines given (YAML
 * list items, two-space indented), then a file sink named `file` writing to fileSinkOutput(dir).
 */
export function sinkTestConfig(dir: string, sim: RunningSimulator, sinks: readonly string[], o: { budget?: number; logLevel?: string } = {}): string {
  return [
    `data_dir: ${JSON.stringify(join(dir, 'data'))}`,
    `log_level: ${o.logLevel ?? 'silent'}`,
    'shutdown_timeout: 5s',
    ...(o.budget === undefined ? [] : [`journal: { max_events: ${o.budget} }`]),
    'accounts:',
    '  - name: sim',
    `    base_url: ${sim.url}`,
    `    client_id: ${JSON.stringify(sim.clientId)}`,
    `    client_secret: ${JSON.stringify(sim.clientSecret)}`,
    '    start_from: 7d',
    '    poll_interval: 1s',
    '    streams: { siem: { chunk_events: 100 } }',
    'sinks:',
    ...sinks,
    '  - name: file',
    '    type: file',
    `    path: ${JSON.stringify(fileSinkOutput(dir))}`,
    '    batch: { max_events: 200, max_wait: 50ms }',
    '',
  ].join('\n');
}

/** Builds and starts the collector a config text describes (it must load without issues). */
export function startCollectorFrom(text: string): Collector {
  const { config, issues } = parseConfigText(text, {});
  expect(issues).toEqual([]);
  if (config === undefined) throw new Error('config did not load');
  const c = buildCollector(config, silentLogger());
  c.start();
  return c;
}

/** Waits until the file sink holds every manifest record; returns its documents by event.id. */
export async function fileSinkComplete(output: string, manifest: string, timeoutMs = 90_000): Promise<Map<string, Record<string, unknown>>> {
  const want = new Set(readManifest(manifest).map(recordKey));
  let docs: Record<string, unknown>[] = [];
  await waitFor(
    () => {
      if (outputLineCount(output) < want.size) return false;
      docs = readOutput(output);
      const got = new Set(docs.map(outputKey));
      return want.size > 0 && [...want].every((k) => got.has(k));
    },
    timeoutMs,
    'every manifest record in the file sink',
    500,
  );
  return new Map(docs.map((d) => [eventId(d), d]));
}
