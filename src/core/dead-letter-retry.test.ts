// Dead letters sent again on an operator's request (`dead-letters retry`): the sink's runner picks the requests up
// between batches, sends them through its own render and send path, and settles each row by the receiver's verdict.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Journal, readDeadLetters, requestDeadLetterRetry } from '../journal/journal.js';
import { ScriptedSink, step } from '../testkit/scripted-sink.js';
import { StoredEvent, type NormalizedEvent, type OutEvent } from './contracts.js';
import { Pipeline, type SinkBinding } from './pipeline.js';
import { DEAD_LETTER_RETRY_ROUND } from './sink-runner.js';
import { onceSource } from '../testkit/once-source.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const BATCH = { max_events: 100, max_bytes: 1 << 20, max_wait: 0 };

function ev(n: number): NormalizedEvent {
  const id = `e${n}`;
  const time = new Date(T0 + n * 1000).toISOString();
  return { id, stream: 'siem', account: 'corp', time, logType: 'receipt', doc: { '@timestamp': time, event: { id }, mimecast: { log_type: 'receipt' } } };
}

let dir: string;
let journal: Journal | undefined;
let pipeline: Pipeline | undefined;

function start(sinks: SinkBinding[], events: readonly NormalizedEvent[]): { pipeline: Pipeline; journal: Journal } {
  journal = Journal.open({ dir, checkpointWorker: false });
  pipeline = new Pipeline({ journal, sources: [{ source: onceSource(events), pollIntervalMs: 3_600_000 }], sinks, logger: pino({ level: 'silent' }) });
  pipeline.start();
  return { pipeline, journal };
}

/** What the operator's `dead-letters list` would show, oldest first: [event id, reason, retry state]. */
function listed(sink?: string): [string, string, string | undefined][] {
  return readDeadLetters(dir, sink === undefined ? {} : { sink }, 10_000)
    .rows.reverse()
    .map((d) => [d.event.id, d.reason, d.retry ?? d.retryNote]);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  dir = mkdtempSync(join(tmpdir(), 'mc-dlretry-'));
});

afterEach(async () => {
  vi.useRealTimers();
  await pipeline?.stop();
  journal?.close();
  pipeline = undefined;
  journal = undefined;
});

describe('dead letters sent again on request', () => {
  it('delivered: sent rendered, to that sink only, the rows are gone and the events table is untouched', async () => {
    const hec = new ScriptedSink('hec');
    hec.script.push(step.verdicts({ rejected: [0, 2] }));
    const other = new ScriptedSink('archive');
    other.script.push(step.verdicts({ rejected: [1] }));
    const render = (e: OutEvent): OutEvent => new StoredEvent(e.seq, e.id, e.stream, e.account, e.time, Buffer.from(`CEF:0|${e.logType}|${e.id}`), e.logType);
    const { journal: j } = start(
      [
        { sink: hec, batch: BATCH, render },
        { sink: other, batch: BATCH },
      ],
      [1, 2, 3].map(ev),
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(listed('hec')).toEqual([
      ['e1', 'bad data (item 0)', undefined],
      ['e3', 'bad data (item 2)', undefined],
    ]);
    const head = j.headSeq();
    const usage = j.usage().events;

    // The receiver's mapping is fixed; the operator asks (over a connection of its own) for hec's dead letters.
    expect(requestDeadLetterRetry(dir, { sink: 'hec' }, ['hec', 'archive']).requested).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(hec.calls.map((c) => c.texts)).toEqual([
      ['CEF:0|receipt|e1', 'CEF:0|receipt|e2', 'CEF:0|receipt|e3'],
      ['CEF:0|receipt|e1', 'CEF:0|receipt|e3'],
    ]);
    expect(hec.delivered).toEqual(['e2', 'e1', 'e3']);
    expect(listed('hec')).toEqual([]);
    // The other sink's dead letter was not asked for and was not sent again; nothing was journaled again.
    expect(other.calls).toHaveLength(1);
    expect(listed('archive')).toEqual([['e2', 'bad data (item 1)', undefined]]);
    expect(j.headSeq()).toBe(head);
    expect(j.usage().events).toBe(usage);
    expect(pipeline?.sinks().find((s) => s.name === 'hec')).toMatchObject({ delivered: 3, deadLettered: 2, state: 'idle' });
  });

  it('rejected again: the row stays, with the new reason, no longer requested, and a note; no second row', async () => {
    const sink = new ScriptedSink();
    sink.script.push(step.verdicts({ rejected: [0, 1] }));
    start([{ sink, batch: BATCH }], [1, 2, 3].map(ev));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(requestDeadLetterRetry(dir, {}, ['scripted']).requested).toEqual([1, 2]);
    sink.script.push(() => ({ rejected: [{ index: 1, reason: 'still bad: field [x] too long' }] }));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(sink.calls.map((c) => c.ids)).toEqual([
      ['e1', 'e2', 'e3'],
      ['e1', 'e2'],
    ]);
    const rows = readDeadLetters(dir, {}, 10).rows;
    expect(rows.map((d) => [d.id, d.event.id, d.reason, d.retry])).toEqual([[2, 'e2', 'still bad: field [x] too long', undefined]]);
    expect(rows[0]?.retryNote).toMatch(/^sent again \d{4}-\d\d-\d\dT[\d:.]+Z: rejected again$/);
    // Not picked up again by itself.
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sink.calls).toHaveLength(2);
  });

  it('a sink that stops for its configuration leaves the requests waiting for after the fix', async () => {
    const sink = new ScriptedSink();
    sink.script.push(step.verdicts({ rejected: [0] }));
    const { pipeline: p } = start([{ sink, batch: BATCH }], [1, 2].map(ev));
    await vi.advanceTimersByTimeAsync(1_000);
    requestDeadLetterRetry(dir, {}, ['scripted']);
    sink.script.push(step.fail('SINK_CONFIG', 'HTTP 403: invalid token'));
    await vi.advanceTimersByTimeAsync(3_000);
    expect(sink.calls).toHaveLength(2);
    expect(p.sinks()[0]).toMatchObject({ state: 'failed', lastError: { code: 'SINK_CONFIG' } });
    expect(listed()).toEqual([['e1', 'bad data (item 0)', 'requested']]);
  });

  it('takes a bounded round at a time, in batches of the sink\'s own limits', async () => {
    const n = DEAD_LETTER_RETRY_ROUND + 100;
    const sink = new ScriptedSink();
    // Every first send refused for good: all of it is dead-lettered.
    sink.byCall = (call) => (call <= n / BATCH.max_events ? step.fail('SINK_PERMANENT', 'HTTP 400: bad request') : undefined);
    start([{ sink, batch: BATCH }], Array.from({ length: n }, (_, i) => ev(i + 1)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(readDeadLetters(dir, {}, 0).total).toBe(n);
    requestDeadLetterRetry(dir, {}, ['scripted']);
    const before = sink.calls.length;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls.slice(before).map((c) => c.ids.length)).toEqual([100, 100, 100, 100, 100]);
    expect(readDeadLetters(dir, {}, 0).total).toBe(100);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls.slice(before).map((c) => c.ids.length)).toEqual([100, 100, 100, 100, 100, 100]);
    expect(readDeadLetters(dir, {}, 0).total).toBe(0);
    expect(new Set(sink.delivered).size).toBe(n);
  });
});
