// The sink runner against a scripted sink: every outcome a receiver can give, in-order acks, routing, shutdown.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Journal } from '../journal/journal.js';
import { ScriptedSink, step, type SendStep } from '../testkit/scripted-sink.js';
import { StoredEvent, type NormalizedEvent, type OutEvent, type Sink, type StreamName } from './contracts.js';
import { Pipeline, type SinkBinding } from './pipeline.js';
import { onceSource } from '../testkit/once-source.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');

function ev(n: number, stream: StreamName = 'siem', logType = 'receipt'): NormalizedEvent {
  const id = `e${n}`;
  const time = new Date(T0 + n * 1000).toISOString();
  return { id, stream, account: 'corp', time, logType, doc: { '@timestamp': time, event: { id }, mimecast: { log_type: logType } } };
}

const BATCH = { max_events: 100, max_bytes: 1 << 20, max_wait: 0 };

let dir: string;
let journal: Journal | undefined;
let pipeline: Pipeline | undefined;

function start(sinks: SinkBinding[], events: readonly NormalizedEvent[], opts: { per?: number; shutdownTimeoutMs?: number; logger?: Logger; tailCacheBytes?: number } = {}): { pipeline: Pipeline; journal: Journal } {
  journal = Journal.open({ dir, checkpointWorker: false, ...(opts.tailCacheBytes === undefined ? {} : { tailCacheBytes: opts.tailCacheBytes }) });
  pipeline = new Pipeline({
    journal,
    sources: [{ source: onceSource(events, opts.per === undefined ? { per: 1000 } : { per: opts.per }), pollIntervalMs: 3_600_000 }],
    sinks,
    logger: opts.logger ?? pino({ level: 'silent' }),
    ...(opts.shutdownTimeoutMs === undefined ? {} : { shutdownTimeoutMs: opts.shutdownTimeoutMs }),
  });
  pipeline.start();
  return { pipeline, journal };
}

function ids(from: number, to: number): string[] {
  return Array.from({ length: to - from + 1 }, (_, i) => `e${from + i}`);
}

/** A step that waits until released, then answers with `then`. */
function gate(then: SendStep = step.deliver()): { step: SendStep; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return {
    open: () => open(),
    step: async (i, s) => {
      await Promise.race([opened, new Promise((_r, reject) => s.addEventListener('abort', () => reject(new Error('aborted')), { once: true }))]);
      return then(i, s);
    },
  };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  dir = mkdtempSync(join(tmpdir(), 'mc-runner-'));
});

afterEach(async () => {
  vi.useRealTimers();
  await pipeline?.stop();
  journal?.close();
  pipeline = undefined;
  journal = undefined;
});

describe('SinkRunner outcomes', () => {
  it('delivered: every event once, the offset at the head, nothing dead-lettered', async () => {
    const sink = new ScriptedSink();
    const { journal: j, pipeline: p } = start([{ sink, batch: BATCH }], Array.from({ length: 250 }, (_, i) => ev(i + 1)));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(sink.delivered).toEqual(ids(1, 250));
    expect(sink.calls.map((c) => c.ids.length)).toEqual([100, 100, 50]);
    expect(j.offset('scripted')).toBe(250);
    expect(j.backlog('scripted').events).toBe(0);
    expect(p.sinks()[0]).toMatchObject({ delivered: 250, batches: 3, deadLettered: 0, retries: 0, state: 'idle' });
  });

  it('partial retry: only the events the receiver asked for are sent again, then the offset moves', async () => {
    const sink = new ScriptedSink();
    sink.script.push(step.verdicts({ retry: [1, 3], retryAfterMs: 5_000 }));
    const { journal: j, pipeline: p } = start([{ sink, batch: BATCH }], [1, 2, 3, 4, 5].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls).toHaveLength(1);
    // Not before the receiver's own wait.
    expect(j.offset('scripted')).toBe(0);
    expect(p.sinks()[0]).toMatchObject({ state: 'retrying', retries: 1, lastError: { message: '2 events to send again: busy (item 1)' } });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(sink.calls.map((c) => c.ids)).toEqual([ids(1, 5), ['e2', 'e4']]);
    expect([...sink.delivered].sort()).toEqual(ids(1, 5));
    expect(j.offset('scripted')).toBe(5);
    expect(p.sinks()[0]?.failingSince).toBeUndefined();
  });

  it('rejected: those events go to the dead-letter table with the receiver\'s reason; the rest is delivered', async () => {
    const sink = new ScriptedSink();
    sink.script.push(step.verdicts({ rejected: [0, 2] }));
    const { journal: j, pipeline: p } = start([{ sink, batch: BATCH }], [1, 2, 3].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls).toHaveLength(1);
    expect(sink.delivered).toEqual(['e2']);
    expect(j.offset('scripted')).toBe(3);
    const dead = j.deadLetters().map((d) => ({ id: d.event.id, reason: d.reason, sink: d.sink }));
    expect(dead.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: 'e1', reason: 'bad data (item 0)', sink: 'scripted' },
      { id: 'e3', reason: 'bad data (item 2)', sink: 'scripted' },
    ]);
    // The journal keeps the document as journaled, not as rendered.
    expect(JSON.parse(j.deadLetters()[0]?.event.json ?? '{}')).toMatchObject({ event: { id: expect.stringMatching(/^e[13]$/) as string } });
    expect(p.sinks()[0]).toMatchObject({ deadLettered: 2, delivered: 1, lastDeadLetter: { reason: 'bad data (item 2)' } });
  });

  it('a whole send refused for good (SINK_PERMANENT): the batch is dead-lettered and delivery goes on', async () => {
    const sink = new ScriptedSink();
    sink.script.push(step.fail('SINK_PERMANENT', 'HTTP 400: bad request'));
    const { journal: j } = start([{ sink, batch: { ...BATCH, max_events: 2 } }], [1, 2, 3].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(j.deadLetters().map((d) => [d.event.id, d.reason]).sort()).toEqual([
      ['e1', 'HTTP 400: bad request'],
      ['e2', 'HTTP 400: bad request'],
    ]);
    expect(sink.delivered).toEqual(['e3']);
    expect(j.offset('scripted')).toBe(3);
  });

  it('too large (SINK_TOO_LARGE): the batch is split in halves until it fits; one event alone too large is dead-lettered', async () => {
    const sink = new ScriptedSink();
    // The receiver refuses any request of more than 2 events, and event e5 whatever the size.
    sink.byCall = () => (ids) => {
      if (ids.length > 2 || ids.includes('e5')) return step.fail('SINK_TOO_LARGE', 'HTTP 413')(ids, new AbortController().signal);
      return undefined;
    };
    const { journal: j } = start([{ sink, batch: BATCH }], [1, 2, 3, 4, 5, 6, 7, 8].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls.map((c) => c.ids.join(','))).toEqual(['e1,e2,e3,e4,e5,e6,e7,e8', 'e1,e2,e3,e4', 'e1,e2', 'e3,e4', 'e5,e6,e7,e8', 'e5,e6', 'e5', 'e6', 'e7,e8']);
    expect(sink.delivered).toEqual(['e1', 'e2', 'e3', 'e4', 'e6', 'e7', 'e8']);
    expect(j.deadLetters().map((d) => [d.event.id, d.reason])).toEqual([['e5', 'too large for the receiver: HTTP 413']]);
    expect(j.offset('scripted')).toBe(8);
  });

  it('a retryable failure resends the same events after a backoff until the receiver takes them', async () => {
    const sink = new ScriptedSink();
    sink.script.push(step.fail('SINK_RETRYABLE', 'ECONNREFUSED'), step.fail('SINK_RETRYABLE', 'ECONNREFUSED'), step.fail('SINK_RETRYABLE', 'ECONNREFUSED'));
    const { journal: j, pipeline: p } = start([{ sink, batch: BATCH }], [1, 2].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sink.calls.map((c) => c.ids)).toEqual([ids(1, 2), ids(1, 2), ids(1, 2), ids(1, 2)]);
    expect(sink.delivered).toEqual(ids(1, 2));
    expect(j.offset('scripted')).toBe(2);
    expect(p.sinks()[0]).toMatchObject({ retries: 3, delivered: 2 });
  });
});

describe('SinkRunner: a sink that cannot work as configured', () => {
  it('stops that sink loudly, keeps its backlog, and the other sink delivers everything', async () => {
    const bad = new ScriptedSink('splunk');
    bad.script.push(step.fail('SINK_CONFIG', 'HTTP 403: HEC code 4: Invalid token'));
    const good = new ScriptedSink('archive');
    const { journal: j, pipeline: p } = start(
      [
        { sink: bad, batch: { ...BATCH, max_events: 10 } },
        { sink: good, batch: BATCH },
      ],
      Array.from({ length: 50 }, (_, i) => ev(i + 1)),
    );
    await vi.advanceTimersByTimeAsync(30_000);
    expect(bad.calls).toHaveLength(1);
    expect(good.delivered).toEqual(ids(1, 50));
    expect(j.offset('archive')).toBe(50);
    expect(j.offset('splunk')).toBe(0);
    expect(j.backlog('splunk').events).toBe(50);
    expect(p.sinks().find((s) => s.name === 'splunk')).toMatchObject({ state: 'failed', lastError: { code: 'SINK_CONFIG', message: 'HTTP 403: HEC code 4: Invalid token' } });
    expect(p.readiness().failed_sinks).toEqual(['splunk']);
    expect(j.deadLetterCount()).toBe(0);
  });

  it('a configuration problem found by the start-up check stops the sink before it sends anything', async () => {
    const bad = new ScriptedSink('elastic');
    bad.checkStep = () => step.fail('SINK_CONFIG', 'index_not_found_exception and auto-create is off')([], new AbortController().signal) as undefined;
    const { journal: j, pipeline: p } = start([{ sink: bad, batch: BATCH }], [1, 2].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(5_000);
    expect(bad.calls).toHaveLength(0);
    expect(j.backlog('elastic').events).toBe(2);
    expect(p.sinks()[0]).toMatchObject({ state: 'failed', lastError: { code: 'SINK_CONFIG' } });
  });

  it('a receiver down at start-up is not a configuration problem: delivery is retried', async () => {
    const sink = new ScriptedSink('hec');
    sink.checkStep = () => step.fail('SINK_RETRYABLE', 'ECONNREFUSED')([], new AbortController().signal) as undefined;
    const { journal: j } = start([{ sink, batch: BATCH }], [1, 2].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.delivered).toEqual(ids(1, 2));
    expect(j.offset('hec')).toBe(2);
  });
});

describe('SinkRunner: sends in flight', () => {
  it('with concurrency 3, later batches finishing first never move the offset past an unfinished one', async () => {
    const sink = new ScriptedSink();
    const slow = gate();
    sink.byCall = (n) => (n === 1 ? slow.step : undefined);
    const { journal: j, pipeline: p } = start([{ sink, batch: { ...BATCH, max_events: 2 }, concurrency: 3 }], [1, 2, 3, 4, 5, 6, 7, 8].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    // Three sent at once; the 2nd and 3rd were delivered, but the 1st holds the offset (and the window) back.
    expect(sink.calls.map((c) => c.ids)).toEqual([ids(1, 2), ids(3, 4), ids(5, 6)]);
    expect(j.offset('scripted')).toBe(0);
    expect(p.sinks()[0]?.inFlight).toBe(1);
    slow.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(sink.calls.map((c) => c.ids)).toEqual([ids(1, 2), ids(3, 4), ids(5, 6), ids(7, 8)]);
    expect(j.offset('scripted')).toBe(8);
    expect([...sink.delivered].sort()).toEqual(ids(1, 8));
  });

  it('never has more than `concurrency` sends in flight, and keeps that many going', async () => {
    const sink = new ScriptedSink();
    let active = 0;
    let most = 0;
    const gates = Array.from({ length: 10 }, () => gate());
    sink.byCall = (n) => {
      const g = gates[n - 1];
      if (g === undefined) return undefined;
      return async (i, s) => {
        active += 1;
        most = Math.max(most, active);
        try {
          return await g.step(i, s);
        } finally {
          active -= 1;
        }
      };
    };
    const { journal: j } = start([{ sink, batch: { ...BATCH, max_events: 1 }, concurrency: 2 }], [1, 2, 3, 4, 5].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls).toHaveLength(2);
    gates[0]?.open();
    await vi.advanceTimersByTimeAsync(100);
    // The first settled: its offset moved and the next send went out beside the second.
    expect(j.offset('scripted')).toBe(1);
    expect(sink.calls).toHaveLength(3);
    for (const g of gates) g.open();
    await vi.advanceTimersByTimeAsync(100);
    expect(j.offset('scripted')).toBe(5);
    expect(most).toBe(2);
  });
});

describe('SinkRunner: batch buffers', () => {
  it('a batch read from SQLite keeps its bytes until its send settled; settled batches\' buffers are read into again', async () => {
    // Events read from SQLite (no tail cache) are copied into a buffer the batch keeps until it settles.
    const held: { events: OutEvent[]; docs: string[]; atEnd?: string[] }[] = [];
    const buffers = new Set<ArrayBufferLike>();
    const first = gate();
    const sink: Sink = {
      name: 'holder',
      async send(events, signal) {
        const h: (typeof held)[number] = { events: [...events], docs: events.map((e) => e.json) };
        held.push(h);
        for (const e of events) buffers.add(e.bytes.buffer);
        if (held.length === 1) await first.step([], signal);
        h.atEnd = events.map((e) => e.json);
      },
      close: () => Promise.resolve(),
    };
    // Journaled first, then drained: nothing is in the tail cache.
    const all = Array.from({ length: 300 }, (_, i) => ev(i + 1));
    journal = Journal.open({ dir, checkpointWorker: false, tailCacheBytes: 0 });
    journal.setSinks(['holder']);
    journal.append('corp/siem', { events: all, cursor: 'c' });
    journal.close();
    const { journal: j } = start([{ sink, batch: { ...BATCH, max_events: 10 }, concurrency: 3 }], [], { tailCacheBytes: 0 });
    await vi.advanceTimersByTimeAsync(1_000);
    // The first send waits; the two beside it settled, and the window holds no more.
    expect(held.map((h) => h.events.length)).toEqual([10, 10, 10]);
    first.open();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(j.offset('holder')).toBe(300);
    // Each send's events still held what was read when it ended (the first one's after two more batches were read).
    for (const h of held) expect(h.atEnd).toEqual(h.docs);
    expect(held[0]?.docs).toEqual(all.slice(0, 10).map((e) => JSON.stringify(e.doc)));
    // 30 batches, at most `concurrency` + 1 buffers: settled batches' buffers were read into again.
    expect(held).toHaveLength(30);
    expect(buffers.size).toBeGreaterThan(1);
    expect(buffers.size).toBeLessThanOrEqual(4);
  });
});

describe('SinkRunner: an outage with many batches in flight', () => {
  it('the batches wait for one shared probe, one of them logs each attempt (the rest at debug), no listener warning', async () => {
    const sink = new ScriptedSink();
    let down = true;
    let probes = 0;
    sink.byCall = () => (down ? step.fail('SINK_RETRYABLE', 'connection refused') : undefined);
    sink.probe = () => {
      probes += 1;
      return Promise.resolve(!down);
    };
    const lines: { level: number; msg: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => lines.push(JSON.parse(l) as { level: number; msg: string }) });
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const { journal: j } = start([{ sink, batch: { ...BATCH, max_events: 1 }, concurrency: 16 }], Array.from({ length: 40 }, (_, i) => ev(i + 1)), { logger });
      await vi.advanceTimersByTimeAsync(60_000);
      const failedLines = lines.filter((l) => l.msg === 'sink delivery failed; sending the same events again');
      // 16 batches, each failing once per backoff round: every failure is logged, but only one per round above debug.
      expect(failedLines.length).toBeGreaterThan(16 * 4);
      const loud = failedLines.filter((l) => l.level >= 40);
      expect(loud.length).toBeGreaterThan(0);
      expect(loud.length).toBeLessThanOrEqual(failedLines.length / 8);
      // One probe at a time, its answer shared: about one per probe interval, not one per batch.
      expect(probes).toBeLessThanOrEqual(60);
      expect(probes).toBeGreaterThan(5);
      down = false;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(j.offset('scripted')).toBe(40);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('SinkRunner: shutdown mid-batch', () => {
  it('a send still unanswered at the shutdown timeout is given up unacknowledged and sent again after a restart', async () => {
    const sink = new ScriptedSink('hec');
    sink.script.push(step.deliver(), step.hang());
    const events = [1, 2, 3, 4].map((n) => ev(n));
    const first = start([{ sink, batch: { ...BATCH, max_events: 2 } }], events, { shutdownTimeoutMs: 5_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls.map((c) => c.ids)).toEqual([ids(1, 2), ids(3, 4)]);
    const stopped = first.pipeline.stop();
    await vi.advanceTimersByTimeAsync(5_000);
    await stopped;
    expect(first.journal.offset('hec')).toBe(2);
    first.journal.close();

    // Restarted: the given-up events go out again, with the same ids; the source's cursor had passed them already.
    const again = new ScriptedSink('hec');
    start([{ sink: again, batch: BATCH }], events);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(again.delivered).toEqual(ids(3, 4));
  });

  it('stopping while a partial resend waits gives the rest up for after the restart, keeping what was delivered', async () => {
    const sink = new ScriptedSink();
    sink.script.push(step.verdicts({ retry: [2], retryAfterMs: 10_000 }));
    const { journal: j, pipeline: p } = start([{ sink, batch: BATCH }], [1, 2, 3].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(100);
    expect(sink.delivered).toEqual(['e1', 'e2']);
    await p.stop();
    expect(j.offset('scripted')).toBe(0);
    expect(sink.closed).toBe(true);
  });
});

describe('SinkRunner: routing and format', () => {
  it('streams and log_types filters pick the events; the offset still passes the others', async () => {
    const receipts = new ScriptedSink('receipts');
    const audit = new ScriptedSink('audit');
    const events = [ev(1, 'siem', 'receipt'), ev(2, 'siem', 'process'), ev(3, 'siem', 'receipt'), ev(4, 'siem', 'delivery')];
    const { journal: j } = start(
      [
        { sink: receipts, batch: BATCH, streams: ['siem'], logTypes: ['receipt', 'delivery'] },
        { sink: audit, batch: BATCH, streams: ['audit'] },
      ],
      events,
    );
    await vi.advanceTimersByTimeAsync(1_000);
    expect(receipts.delivered).toEqual(['e1', 'e3', 'e4']);
    expect(audit.calls).toHaveLength(0);
    expect(j.offset('receipts')).toBe(4);
    expect(j.offset('audit')).toBe(4);
    expect(j.usage().events).toBe(0);
  });

  it('the log type of an event journaled before log types were kept is read from its document', async () => {
    const sink = new ScriptedSink();
    const legacy = { ...ev(1, 'siem', 'process'), logType: undefined };
    const { journal: j } = start([{ sink, batch: BATCH, logTypes: ['process'] }], [legacy, ev(2, 'siem', 'receipt')]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.delivered).toEqual(['e1']);
    expect(j.offset('scripted')).toBe(2);
  });

  it('events are sent as the sink\'s format renders them; one that cannot be rendered is dead-lettered alone', async () => {
    const sink = new ScriptedSink();
    const render = (e: OutEvent): OutEvent => {
      if (e.id === 'e2') throw new Error('no such field');
      return new StoredEvent(e.seq, e.id, e.stream, e.account, e.time, Buffer.from(`CEF:0|${e.id}`), e.logType);
    };
    const { journal: j } = start([{ sink, batch: BATCH, render }], [1, 2, 3].map((n) => ev(n)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls[0]?.texts).toEqual(['CEF:0|e1', 'CEF:0|e3']);
    expect(j.deadLetters().map((d) => [d.event.id, d.reason])).toEqual([['e2', "cannot render the event in this sink's format: no such field"]]);
    expect(j.offset('scripted')).toBe(3);
  });

  it('batches close on max_bytes as well as max_events', async () => {
    const sink = new ScriptedSink();
    const size = Buffer.byteLength(JSON.stringify(ev(1).doc)) + 1;
    start([{ sink, batch: { max_events: 100, max_bytes: size * 3, max_wait: 0 } }], Array.from({ length: 7 }, (_, i) => ev(i + 1)));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls.map((c) => c.ids.length)).toEqual([3, 3, 1]);
  });

  it('a batch cut by max_bytes goes at once (more is waiting); only the last, partial one waits max_wait', async () => {
    const sink = new ScriptedSink();
    const size = Buffer.byteLength(JSON.stringify(ev(1).doc)) + 1;
    // A little over three events: the read stops at three, short of max_bytes (the old check waited then).
    start([{ sink, batch: { max_events: 100, max_bytes: size * 3 + 10, max_wait: 10_000 } }], Array.from({ length: 7 }, (_, i) => ev(i + 1)));
    await vi.advanceTimersByTimeAsync(500);
    expect(sink.calls.map((c) => c.ids.length)).toEqual([3, 3]);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(sink.calls.map((c) => c.ids.length)).toEqual([3, 3, 1]);
  });

  it('a small batch waits up to max_wait for more events', async () => {
    const sink = new ScriptedSink();
    start([{ sink, batch: { max_events: 100, max_bytes: 1 << 20, max_wait: 3_000 } }], [1, 2, 3, 4].map((n) => ev(n)), { per: 1 });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(sink.calls.map((c) => c.ids)).toEqual([ids(1, 4)]);
  });
});
