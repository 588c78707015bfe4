// /status over real HTTP: what it says about dead letters, per sink and for the whole journal.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StoredEvent } from '../core/contracts.js';
import { Pipeline } from '../core/pipeline.js';
import { Journal } from '../journal/journal.js';
import { ScriptedSink } from '../testkit/scripted-sink.js';
import { silentLogger } from './logger.js';
import { startStatusServer, type StatusServer } from './status-server.js';

const BATCH = { max_events: 10, max_bytes: 1 << 20, max_wait: 0 };

let journal: Journal | undefined;
let server: StatusServer | undefined;

afterEach(async () => {
  await server?.close();
  journal?.close();
});

function event(n: number): StoredEvent {
  return new StoredEvent(n, `e${n}`, 'siem', 'corp', 't', Buffer.from('{}'), 'receipt');
}

describe('/status dead letters', () => {
  it('per sink: how many are kept and the newest distinct reasons with counts; journal-wide: all of them', async () => {
    let clock = Date.parse('2026-06-01T00:00:00Z');
    const j = Journal.open({ dir: mkdtempSync(join(tmpdir(), 'mc-status-dl-')), checkpointWorker: false, now: () => clock });
    journal = j;
    j.setSinks(['hec', 'archive']);
    j.deadLetterEach('hec', [1, 2].map((n) => ({ event: event(n), reason: 'HEC code 6: Invalid data format' })));
    for (let n = 3; n <= 9; n++) {
      clock += 1000;
      j.deadLetterEach('hec', [{ event: event(n), reason: `HEC code 12: event field ${n % 3} is required` }]);
    }
    j.deadLetterEach('gone', [{ event: event(10), reason: 'MESSAGE_TOO_LARGE' }]);
    const pipeline = new Pipeline({
      journal: j,
      sources: [],
      sinks: [
        { sink: new ScriptedSink('hec'), batch: BATCH },
        { sink: new ScriptedSink('archive'), batch: BATCH },
      ],
      logger: silentLogger(),
    });
    server = await startStatusServer('127.0.0.1:0', pipeline, j, silentLogger());
    const body = (await (await fetch(`${server.url}/status`)).json()) as {
      journal: { dead_letters: number };
      sinks: { name: string; dead_letters: { count: number; reasons: { reason: string; count: number; last_at: number }[] } }[];
    };
    expect(body.journal.dead_letters).toBe(10);
    const hec = body.sinks.find((s) => s.name === 'hec')?.dead_letters;
    expect(hec?.count).toBe(9);
    expect(hec?.reasons.map((r) => [r.reason, r.count])).toEqual([
      ['HEC code 12: event field 0 is required', 3],
      ['HEC code 12: event field 2 is required', 2],
      ['HEC code 12: event field 1 is required', 2],
      ['HEC code 6: Invalid data format', 2],
    ]);
    expect(hec?.reasons[0]?.last_at).toBe(clock);
    expect(body.sinks.find((s) => s.name === 'archive')?.dead_letters).toEqual({ count: 0, reasons: [] });
  });
});
