// Health in words: the event-loop monitor, the journal write check, each source state and each /readyz check.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Readiness, SinkStatus, SourceStatus } from '../core/pipeline.js';
import { accountCredentials, checkJournalWritable, LoopMonitor, readyChecks, sourceHealth } from './health.js';
import { cursorRetention, RETENTION_LIMITS, retentionFor } from './retention.js';

afterEach(() => {
  vi.useRealTimers();
});

function source(over: Partial<SourceStatus> = {}): SourceStatus {
  return { key: 'corp/audit', account: 'corp', stream: 'audit', state: 'starting', events: 0, duplicates: 0, quarantined: 0, batches: 0, counters: {}, consecutiveFailures: 0, ...over };
}

describe('LoopMonitor', () => {
  it('fails while a stall of the limit or more is recent, says how long, and recovers after the window', () => {
    vi.useFakeTimers();
    const m = new LoopMonitor({ intervalMs: 500, limitMs: 5_000, windowMs: 30_000 });
    m.start();
    vi.advanceTimersByTime(10_000);
    expect(m.check()).toMatchObject({ ok: true });

    // The loop is blocked for 7 s: the clock moves on while no timer can run.
    vi.setSystemTime(Date.now() + 7_000);
    // Its timer was due 0.5 s after the last tick: it is 6.5 s late so far.
    expect(m.check()).toEqual({ ok: false, max_stall_ms: 6_500, detail: 'event loop blocked for 6.5 s right now (limit 5 s)' });
    vi.advanceTimersByTime(500);
    const after = m.check();
    expect(after.ok).toBe(false);
    expect(after.detail).toBe('event loop blocked for 7.0 s within the last 30 s (limit 5 s)');

    vi.advanceTimersByTime(29_000);
    expect(m.check().ok).toBe(false);
    vi.advanceTimersByTime(1_000);
    expect(m.check()).toMatchObject({ ok: true, detail: 'event loop responsive' });
    m.stop();
  });

  it('a short stall (under the limit) is not a failure', () => {
    vi.useFakeTimers();
    const m = new LoopMonitor({ intervalMs: 500, limitMs: 5_000 });
    m.start();
    vi.setSystemTime(Date.now() + 3_000);
    vi.advanceTimersByTime(500);
    expect(m.check()).toMatchObject({ ok: true });
    m.stop();
  });
});

describe('checkJournalWritable', () => {
  it('passes on a writable directory and leaves nothing behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-health-'));
    const r = await checkJournalWritable(join(dir, 'journal.sqlite'));
    expect(r).toEqual({ ok: true, detail: `journal directory ${dir} writable` });
  });

  it('fails, naming the directory and the OS error, when the directory is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mc-health-'));
    rmSync(dir, { recursive: true });
    const r = await checkJournalWritable(join(dir, 'journal.sqlite'));
    expect(r.ok).toBe(false);
    expect(r.detail).toContain(`journal directory ${dir} is not writable`);
    expect(r.detail).toContain('ENOENT');
  });
});

describe('sourceHealth', () => {
  it('starting: nothing known yet', () => {
    expect(sourceHealth(source(), 'unchecked')).toEqual({ health_state: 'starting', health: 'starting' });
  });
  it('authenticated: credentials accepted, nothing pulled yet', () => {
    expect(sourceHealth(source(), 'accepted')).toEqual({ health_state: 'authenticated', health: 'authenticated' });
  });
  it('collecting: pulling batches', () => {
    expect(sourceHealth(source({ state: 'polling', batches: 3 }), 'accepted')).toEqual({ health_state: 'collecting', health: 'collecting' });
    expect(sourceHealth(source({ state: 'polling' }), 'accepted')).toEqual({ health_state: 'collecting', health: 'collecting' });
  });
  it('caught_up: idle between polls', () => {
    expect(sourceHealth(source({ state: 'idle', batches: 3, lastCaughtUpAt: 1 }), 'accepted')).toEqual({ health_state: 'caught_up', health: 'caught_up' });
  });
  it('backoff: a retryable failure, with the attempt and the error', () => {
    const s = source({ state: 'backoff', consecutiveFailures: 1, lastError: { at: 1, code: 'API_SERVER_ERROR', message: 'HTTP 503 from POST /api/audit/get-audit-events' } });
    expect(sourceHealth(s, 'accepted')).toEqual({ health_state: 'backoff', health: 'backoff: retry 1 after HTTP 503 from POST /api/audit/get-audit-events' });
    expect(sourceHealth(source({ state: 'backoff' }), 'accepted')).toEqual({ health_state: 'backoff', health: 'backoff: fetching a file again' });
  });
  it('failing: three failures in a row, or credentials refused at once', () => {
    const err = { at: 1, code: 'API_SERVER_ERROR', message: 'HTTP 500' };
    expect(sourceHealth(source({ state: 'backoff', consecutiveFailures: 3, lastError: err }), 'accepted')).toEqual({ health_state: 'failing', health: 'failing: HTTP 500' });
    const auth = { at: 1, code: 'API_AUTH_FAILED', message: 'client credentials rejected (invalid_client)' };
    expect(sourceHealth(source({ state: 'backoff', consecutiveFailures: 1, lastError: auth }), 'rejected')).toEqual({
      health_state: 'failing',
      health: 'failing: client credentials rejected (invalid_client)',
    });
  });
  it('disabled: not licensed; paused by the journal budget; stopped', () => {
    expect(sourceHealth(source({ state: 'disabled', lastError: { at: 1, message: 'not licensed' } }), 'accepted')).toEqual({ health_state: 'disabled', health: 'disabled: not licensed' });
    expect(sourceHealth(source({ state: 'paused', batches: 2 }), 'accepted')).toEqual({ health_state: 'paused', health: 'paused: journal over budget, waiting for the sinks' });
    expect(sourceHealth(source({ state: 'stopped' }), 'accepted')).toEqual({ health_state: 'stopped', health: 'stopped' });
  });
  it('an old failure that was followed by success does not stick', () => {
    expect(sourceHealth(source({ state: 'idle', batches: 1, lastError: { at: 1, message: 'HTTP 500' } }), 'accepted').health_state).toBe('caught_up');
  });
});

describe('accountCredentials', () => {
  const account = { name: 'corp', credentials: { state: 'unchecked' as const, error: 'connect ECONNREFUSED' } };
  it('the start-up check until a source says more', () => {
    expect(accountCredentials(account, [source()])).toEqual({ state: 'unchecked', error: 'connect ECONNREFUSED' });
  });
  it('accepted once a source of the account pulled', () => {
    expect(accountCredentials(account, [source({ batches: 1 })])).toEqual({ state: 'accepted' });
    expect(accountCredentials(account, [source({ account: 'other', batches: 1 })]).state).toBe('unchecked');
  });
  it('rejected while a source fails on a credential error', () => {
    const s = source({ batches: 4, consecutiveFailures: 1, lastError: { at: 1, code: 'API_PERMISSION_DENIED', message: 'the application lacks SIEM read' } });
    expect(accountCredentials({ name: 'corp', credentials: { state: 'accepted' } }, [s])).toEqual({ state: 'rejected', error: 'the application lacks SIEM read' });
  });
});

describe('readyChecks', () => {
  const sink = (over: Partial<SinkStatus>): SinkStatus => ({ name: 'hec', state: 'idle', delivered: 0, batches: 0, deadLettered: 0, retries: 0, inFlight: 0, ...over });
  const none: Readiness = { ready: true, failed_sinks: [], failing_sinks: [], failing_sources: [], disabled_sources: [] };

  it('names config, each account and each sink; all fine', () => {
    const checks = readyChecks(none, [sink({}), sink({ name: 'file' })], [{ name: 'corp', credentials: { state: 'accepted' } }], [], 60_000);
    expect(checks).toEqual([
      { item: 'config', ok: true, detail: 'loaded and valid' },
      { item: 'account corp: credentials', ok: true, detail: 'accepted' },
      { item: 'sink hec', ok: true, detail: 'reachable' },
      { item: 'sink file', ok: true, detail: 'reachable' },
    ]);
  });

  it('a sink failing too long, a stopped sink, refused credentials and a failing source each fail by name', () => {
    const r: Readiness = {
      ready: false,
      failed_sinks: ['kafka'],
      failing_sinks: [{ name: 'hec', failing_for_ms: 75_000, error: 'connect ECONNREFUSED 127.0.0.1:9' }],
      failing_sources: ['corp/audit'],
      disabled_sources: [],
    };
    const sinks = [
      sink({ state: 'retrying', failingSince: 1, lastError: { at: 1, message: 'connect ECONNREFUSED 127.0.0.1:9' } }),
      sink({ name: 'kafka', state: 'failed', lastError: { at: 1, message: 'SASL authentication failed' } }),
      sink({ name: 'file', state: 'retrying', failingSince: 1, lastError: { at: 1, message: 'EACCES' } }),
    ];
    const srcs = [source({ consecutiveFailures: 4, lastError: { at: 1, message: 'HTTP 500' } })];
    const checks = readyChecks(r, sinks, [{ name: 'corp', credentials: { state: 'rejected', error: 'invalid_client' } }], srcs, 60_000);
    expect(checks.filter((c) => !c.ok)).toEqual([
      { item: 'account corp: credentials', ok: false, detail: 'rejected: invalid_client' },
      { item: 'sink hec', ok: false, detail: 'not reachable for 75 s (over 60 s): connect ECONNREFUSED 127.0.0.1:9' },
      { item: 'sink kafka', ok: false, detail: 'stopped: SASL authentication failed' },
      { item: 'source corp/audit', ok: false, detail: 'failed 4 times in a row: HTTP 500' },
    ]);
    // Failing for less than unready_after: still ready, but it says so.
    expect(checks.find((c) => c.item === 'sink file')).toEqual({ item: 'sink file', ok: true, detail: 'retrying (failing for less than 60 s): EACCES' });
  });
});

describe('retention', () => {
  it('one limit per kind of source: stream endpoint 24 h, SIEM files 7 d, audit 60 d', () => {
    expect(retentionFor({ key: 'corp/siem/stream', stream: 'siem' })).toBe(RETENTION_LIMITS.siem_stream);
    expect(retentionFor({ key: 'corp/siem/stream/receipt+delivery', stream: 'siem' })).toBe(RETENTION_LIMITS.siem_stream);
    expect(retentionFor({ key: 'corp/siem/receipt', stream: 'siem' })).toBe(RETENTION_LIMITS.siem_files);
    expect(retentionFor({ key: 'corp/audit', stream: 'audit' })).toBe(RETENTION_LIMITS.audit);
    expect(retentionFor({ key: 'corp/ttp_url', stream: 'ttp_url' })).toBe(RETENTION_LIMITS.paged);
    for (const l of Object.values(RETENTION_LIMITS)) {
      // Well before: the warning comes at half the retention or earlier.
      expect(l.warnMs).toBeLessThanOrEqual(l.retentionMs / 2);
      expect(l.warnMs).toBeLessThan(l.criticalMs);
      expect(l.criticalMs).toBeLessThan(l.retentionMs);
    }
  });

  it('the cursor age: from what was collected, else from when the journal stored the cursor; levels before the limit', () => {
    const now = Date.parse('2026-12-06T12:00:00Z');
    const h = 3_600_000;
    const siem = source({ key: 'corp/siem/receipt', stream: 'siem' });
    expect(cursorRetention(siem, undefined, now)).toMatchObject({ retention: { level: 'ok', limit_ms: 7 * 24 * h } });
    expect(cursorRetention(siem, now - 4 * 24 * h, now)).toMatchObject({ cursor_age_ms: 4 * 24 * h, cursor_age_from: 'journal', retention: { level: 'warn' } });
    const behind = source({ key: 'corp/siem/receipt', stream: 'siem', lastEventTime: new Date(now - 6 * 24 * h).toISOString() });
    expect(cursorRetention(behind, now - h, now)).toMatchObject({ cursor_age_ms: 6 * 24 * h, cursor_age_from: 'collected', retention: { level: 'critical' } });
    const stream = source({ key: 'corp/siem/stream', stream: 'siem', lastEventTime: new Date(now - 25 * h).toISOString() });
    expect(cursorRetention(stream, undefined, now).retention.level).toBe('expired');
    // A quiet stream that caught up a minute ago is a minute old, however old its newest event.
    const quiet = source({ stream: 'audit', lastEventTime: new Date(now - 20 * 24 * h).toISOString(), lastCaughtUpAt: now - 60_000 });
    expect(cursorRetention(quiet, undefined, now)).toMatchObject({ cursor_age_ms: 60_000, retention: { level: 'ok' } });
    expect(cursorRetention(source({ state: 'disabled' }), now - 90 * 24 * h, now).retention.level).toBe('ok');
  });
});
