// Past one replica: which of the configured accounts this collector collects, when `sharding` splits them between
// the pods of a StatefulSet (each with its own journal). Rendezvous hashing: stable, and changing `count` moves only
// the accounts whose owner changes (from N to N+1 pods, about 1/(N+1) of them, all to the new pod).
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ConfigError } from '../core/errors.js';

/** Most pods one account list is split between. */
export const MAX_SHARDS = 1000;

export const shardingSchema = z.strictObject({
  /** How many collectors split the accounts (the StatefulSet's replicas). 1–1000. */
  count: z.number().int().min(1).max(MAX_SHARDS),
  /**
   * This collector's place, 0 to count−1; `auto` (default): $MIMECAST_COLLECTOR_SHARD_INDEX, else the ordinal a
   * StatefulSet pod's host name ends with (`mimecast-collector-2` → 2).
   */
  index: z.union([z.number().int().min(0).max(MAX_SHARDS - 1), z.literal('auto')]).default('auto'),
});

export type ShardingConfig = z.output<typeof shardingSchema>;

/** The environment variable that sets `index: auto` explicitly. */
export const SHARD_INDEX_ENV = 'MIMECAST_COLLECTOR_SHARD_INDEX';

function weight(account: string, shard: number): bigint {
  return createHash('sha256').update(`${account}\u0000${shard}`).digest().readBigUInt64BE(0);
}

/** The shard (0..count−1) that collects `account`: the one with the highest hash weight for it. */
export function shardOf(account: string, count: number): number {
  let best = 0;
  let bestWeight = -1n;
  for (let i = 0; i < count; i++) {
    const w = weight(account, i);
    if (w > bestWeight) {
      best = i;
      bestWeight = w;
    }
  }
  return best;
}

function indexError(message: string): ConfigError {
  return new ConfigError('this collector\'s shard cannot be chosen', [{ path: 'sharding.index', message }]);
}

/** This collector's index: the configured number, or (auto) the env variable, else the pod name's ordinal. */
export function shardIndex(s: ShardingConfig, env: Readonly<Record<string, string | undefined>>): number {
  let index: number;
  let from: string;
  if (s.index !== 'auto') {
    index = s.index;
    from = 'sharding.index';
  } else {
    const explicit = env[SHARD_INDEX_ENV];
    const host = env['HOSTNAME'] ?? '';
    if (explicit !== undefined && explicit !== '') {
      if (!/^\d+$/.test(explicit)) throw indexError(`${SHARD_INDEX_ENV}="${explicit}" is not a shard index (0 to ${s.count - 1})`);
      index = Number(explicit);
      from = SHARD_INDEX_ENV;
    } else {
      const m = /-(\d+)$/.exec(host);
      if (m === null) {
        throw indexError(
          `sharding.index is auto but this collector's place cannot be told: set ${SHARD_INDEX_ENV}, or run it as a StatefulSet pod (host name ending in -<ordinal>; this one is "${host}"), or give sharding.index`,
        );
      }
      index = Number(m[1]);
      from = `host name ${host}`;
    }
  }
  if (index >= s.count) throw indexError(`shard index ${index} (from ${from}) is not below sharding.count (${s.count}): is the StatefulSet scaled past sharding.count?`);
  return index;
}

/** Every shard's accounts, in config order: what each pod collects. */
export function shardPlan(accounts: readonly string[], count: number): string[][] {
  const plan: string[][] = Array.from({ length: count }, () => []);
  for (const a of accounts) plan[shardOf(a, count)]?.push(a);
  return plan;
}
