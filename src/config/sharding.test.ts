// Sharding: the assignment is stable, roughly even, moves only what it must when count changes, and the index is
// read from the config, the environment or a StatefulSet pod's host name — or refused naming sharding.index.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/errors.js';
import { SHARD_INDEX_ENV, shardIndex, shardOf, shardPlan } from './sharding.js';

const names = Array.from({ length: 600 }, (_, i) => `tenant-${i}`);

describe('shardOf', () => {
  it('is the same on every call and every machine (a fixed hash), and splits accounts about evenly', () => {
    expect(names.map((n) => shardOf(n, 3))).toEqual(names.map((n) => shardOf(n, 3)));
    // Pinned values: a change of hash would move every tenant to another pod and its journal.
    expect(['corp', 'subsidiary', 'tenant-1', 'tenant-2'].map((n) => shardOf(n, 4))).toEqual([3, 1, 2, 0]);
    const sizes = shardPlan(names, 3).map((p) => p.length);
    for (const n of sizes) expect(n).toBeGreaterThan(150);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(600);
    expect(shardPlan(names, 1)).toEqual([names]);
  });

  it('from N to N+1 collectors, an account either stays or moves to the new one; about 1/(N+1) move', () => {
    for (const n of [1, 2, 3, 7]) {
      let moved = 0;
      for (const name of names) {
        const before = shardOf(name, n);
        const after = shardOf(name, n + 1);
        if (after !== before) {
          expect(after).toBe(n);
          moved++;
        }
      }
      expect(moved / names.length).toBeGreaterThan(0.5 / (n + 1));
      expect(moved / names.length).toBeLessThan(1.5 / (n + 1));
    }
  });
});

describe('shardIndex', () => {
  it('takes the configured number, else the environment variable, else the pod name\'s ordinal', () => {
    expect(shardIndex({ count: 3, index: 1 }, {})).toBe(1);
    expect(shardIndex({ count: 3, index: 'auto' }, { [SHARD_INDEX_ENV]: '2', HOSTNAME: 'mimecast-collector-0' })).toBe(2);
    expect(shardIndex({ count: 3, index: 'auto' }, { HOSTNAME: 'mimecast-collector-2' })).toBe(2);
  });

  it('refuses, naming sharding.index, what cannot be a place among count', () => {
    const issue = (f: () => number): string => {
      try {
        f();
      } catch (err) {
        if (err instanceof ConfigError) return `${err.issues[0]?.path}: ${err.issues[0]?.message}`;
        throw err;
      }
      throw new Error('expected a ConfigError');
    };
    expect(issue(() => shardIndex({ count: 3, index: 'auto' }, { HOSTNAME: 'laptop' }))).toMatch(/^sharding\.index: .*MIMECAST_COLLECTOR_SHARD_INDEX.*"laptop"/);
    expect(issue(() => shardIndex({ count: 3, index: 'auto' }, { HOSTNAME: 'mimecast-collector-3' }))).toMatch(/shard index 3 \(from host name mimecast-collector-3\) is not below sharding.count \(3\)/);
    expect(issue(() => shardIndex({ count: 3, index: 'auto' }, { [SHARD_INDEX_ENV]: 'one' }))).toMatch(/MIMECAST_COLLECTOR_SHARD_INDEX="one" is not a shard index/);
    expect(issue(() => shardIndex({ count: 2, index: 5 }, {}))).toMatch(/shard index 5 \(from sharding.index\)/);
  });
});
