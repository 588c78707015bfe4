// The parse pool: worker threads give exactly what inline parsing gives, and a dead worker is replaced.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ParsePool } from './parse-pool.js';
import type { ParseJob } from './parse-lines.js';

const WORKER = join(import.meta.dirname, '../../dist/core/parse-worker.js');

function job(n: number): ParseJob {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({ _offset: i, _partition: 1, accountId: 'C1', timestamp: 1714557600000 + i, type: 'receipt', subject: `s${i}|x`, spamProcessingDetail: '{"spf":{"allow":true}}' }));
  }
  lines.splice(3, 0, 'not json', '', '{"type":"receipt"}');
  return { stream: 'siem', variant: 'v2', account: 'acct', lines, firstLine: 10, where: 'type=receipt,blob=0' };
}

describe('ParsePool', () => {
  it('needs the compiled worker (npm test builds it first)', () => {
    expect(existsSync(WORKER), `${WORKER} missing: run npm run build`).toBe(true);
  });

  it('gives the same events and quarantine on a worker thread as inline', async () => {
    const threaded = new ParsePool({ workers: 1, workerFile: WORKER });
    const inline = new ParsePool({ workers: 0 });
    try {
      expect(threaded.threaded).toBe(true);
      expect(inline.threaded).toBe(false);
      const j = job(300);
      const [a, b] = await Promise.all([threaded.run(j), inline.run(j)]);
      expect(a.events.map((e) => [e.id, e.time, e.stream, e.account, e.json])).toEqual(b.events.map((e) => [e.id, e.time, e.stream, e.account, e.json]));
      expect(a.events[0]?.doc).toEqual(JSON.parse(b.events[0]?.json ?? ''));
      expect(a.quarantined).toEqual(b.quarantined);
      expect(a.quarantined.map((q) => [q.reason, q.location])).toEqual([
        ['bad_json', 'type=receipt,blob=0,line=13'],
        ['bad_record', 'type=receipt,blob=0,line=15'],
      ]);
    } finally {
      await threaded.close();
      await inline.close();
    }
  });

  it('fails the jobs of a worker that died as retryable, and keeps working with a new one', async () => {
    const pool = new ParsePool({ workers: 1, workerFile: WORKER });
    try {
      const pending = pool.run(job(20_000));
      await pool.killOne();
      const err = await pending.catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'NORMALIZE_FAILED', retryable: true });
      const again = await pool.run(job(10));
      expect(again.events).toHaveLength(10);
    } finally {
      await pool.close();
    }
  });
});
