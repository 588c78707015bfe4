// Sharding end to end: two collector processes with one config (as two StatefulSet pods), each its own data dir,
// split two accounts by the pods' host names: each collects only its own account, says so in its log, and `validate`
// prints the plan; a collector that cannot tell its place refuses to start, naming sharding.index.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { shardOf } from '../src/config/sharding.js';
import { startSimulator, type RunningSimulator } from '../src/simulator/index.js';
import { readOutput, runCli, spawnCli, waitFor, writeConfig, type Child } from './helpers/harness.js';
import { multiYaml } from './helpers/streams.js';

let sim: RunningSimulator | undefined;
const children: Child[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.proc.kill('SIGTERM');
    await c.exited;
  }
  await sim?.close();
  sim = undefined;
});

/** The first name of the form prefix-N that falls to `shard` of `count`. */
function nameFor(prefix: string, shard: number, count: number): string {
  for (let i = 0; ; i++) if (shardOf(`${prefix}-${i}`, count) === shard) return `${prefix}-${i}`;
}

function accountOf(doc: Record<string, unknown>): unknown {
  return (doc['mimecast'] as Record<string, unknown> | undefined)?.['account'];
}

describe('sharding (sharding.count collectors split the accounts)', () => {
  it('two pods, one config: each collects only the account that falls to it, in its own journal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-shard-'));
    const s = await startSimulator({ seed: 'sharding', backlogRecords: 300, backlogHours: 6, recordsPerBlob: 100, publishIntervalMs: 0 });
    sim = s;
    const names = [nameFor('tenant', 0, 2), nameFor('tenant', 1, 2)];
    const yaml = multiYaml({
      // Each pod mounts its own volume at the same path; here each gets its own folder through the environment.
      dataDir: '${SHARD_DIR}/data',
      output: '${SHARD_DIR}/out/events.ndjson',
      accounts: names.map((name) => ({ name, api: 'v2' as const, sim: s, streams: ['siem: { chunk_events: 100 }'] })),
    }).replace(/"\$\{SHARD_DIR\}/g, '"${SHARD_DIR}');
    const config = writeConfig(join(dir, 'collector.yaml'), `${yaml}sharding: { count: 2 }\n`);
    const pods = [0, 1].map((i) => {
      const podDir = join(dir, `pod-${i}`);
      const log = join(dir, `pod-${i}.log`);
      children.push(spawnCli(['run', '--config', config], log, undefined, { SHARD_DIR: podDir, HOSTNAME: `mimecast-collector-${i}` }));
      return { output: join(podDir, 'out', 'events.ndjson'), log };
    });
    for (const [i, pod] of pods.entries()) {
      await waitFor(() => readOutput(pod.output).length >= 200, 60_000, `pod ${i} collecting its account`);
      expect(new Set(readOutput(pod.output).map(accountOf))).toEqual(new Set([names[i]]));
      const line = readFileSync(pod.log, 'utf8').split('\n').find((l) => l.includes('"sharding: this collector collects its share of the accounts"'));
      expect(JSON.parse(line ?? '{}')).toMatchObject({ shard: i, shards: 2, accounts: [names[i]], other_accounts: 1 });
    }

    const plan = await runCli(['validate', '--config', config], '', { SHARD_DIR: dir });
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain(`# sharding: 2 accounts over 2 collectors:\n#   shard 0: ${names[0]}\n#   shard 1: ${names[1]}\n`);

    const lost = await runCli(['run', '--config', config], '', { SHARD_DIR: join(dir, 'pod-x'), HOSTNAME: 'laptop' });
    expect(lost.code).toBe(1);
    expect(lost.stderr).toMatch(/sharding\.index: sharding\.index is auto but this collector's place cannot be told: set MIMECAST_COLLECTOR_SHARD_INDEX/);
  }, 90_000);
});
