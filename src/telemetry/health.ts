// What /healthz, /readyz and the sources' health states say: the event-loop monitor, the journal write check, the readable states.
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccountStatus } from '../app.js';
import { describeError } from '../core/errors.js';
import type { Readiness, SinkStatus, SourceStatus } from '../core/pipeline.js';
import { safeTimeout } from '../core/util.js';

/** The loop monitor's timer: its lateness is how long the event loop was blocked. */
export const LOOP_CHECK_INTERVAL_MS = 500;
/** A block this long fails /healthz... */
export const LOOP_STALL_LIMIT_MS = 5_000;
/** ...for this long after it ended: one stall fails a probe or two, repeated stalls fail the liveness probe. */
export const LOOP_STALL_WINDOW_MS = 30_000;
/** The journal write check gives up (and fails /healthz) after this long: a hung disk is a failed disk. */
export const WRITE_CHECK_TIMEOUT_MS = 2_000;

/**
 * Measures how late a repeating timer fires: the time it was late is time the event loop spent blocked. Keeps the
 * longest stall within the window. The timer is unref()ed; stop() is idempotent.
 */
export class LoopMonitor {
  private timer: NodeJS.Timeout | undefined;
  private last = 0;
  private stalls: { at: number; ms: number }[] = [];

  constructor(
    private readonly opts: { intervalMs?: number; limitMs?: number; windowMs?: number; now?: () => number } = {},
  ) {}

  private get interval(): number {
    return this.opts.intervalMs ?? LOOP_CHECK_INTERVAL_MS;
  }
  private get limit(): number {
    return this.opts.limitMs ?? LOOP_STALL_LIMIT_MS;
  }
  private get window(): number {
    return this.opts.windowMs ?? LOOP_STALL_WINDOW_MS;
  }
  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    if (this.timer !== undefined) return;
    this.last = this.now();
    this.timer = setInterval(() => this.tick(), this.interval);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.now();
    const late = now - this.last - this.interval;
    this.last = now;
    if (late >= this.limit) this.stalls.push({ at: now, ms: late });
    this.stalls = this.stalls.filter((s) => now - s.at < this.window);
  }

  /** Failing when a stall of at least the limit ended within the window, or the timer is that late right now. */
  check(): { ok: boolean; max_stall_ms: number; detail: string } {
    const now = this.now();
    const recent = this.stalls.filter((s) => now - s.at < this.window);
    const current = this.timer === undefined ? 0 : Math.max(0, now - this.last - this.interval);
    const worst = Math.max(current, ...recent.map((s) => s.ms), 0);
    if (worst < this.limit) return { ok: true, max_stall_ms: worst, detail: 'event loop responsive' };
    const secs = (worst / 1000).toFixed(1);
    const when = current >= this.limit ? 'right now' : `within the last ${Math.round(this.window / 1000)} s`;
    return { ok: false, max_stall_ms: worst, detail: `event loop blocked for ${secs} s ${when} (limit ${this.limit / 1000} s)` };
  }
}

/**
 * Writes, syncs and removes a small file beside the journal: fails when the data directory is gone, read-only,
 * full or hangs. SQLite keeps writing to files it has open even after their directory was removed or unmounted,
 * so the journal's own writes would not tell.
 */
export async function checkJournalWritable(journalFile: string, timeoutMs = WRITE_CHECK_TIMEOUT_MS): Promise<{ ok: boolean; detail: string }> {
  const dir = join(journalFile, '..');
  const probe = join(dir, '.healthz-write-check');
  const attempt = (async (): Promise<void> => {
    const fh = await open(probe, 'w');
    try {
      await fh.writeFile(`${new Date().toISOString()}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rm(probe, { force: true });
  })();
  let timer: ReturnType<typeof safeTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = safeTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([attempt, timeout]);
    return { ok: true, detail: `journal directory ${dir} writable` };
  } catch (err) {
    // The attempt may still settle after a timeout; nothing waits for it.
    attempt.catch(() => undefined);
    return { ok: false, detail: `journal directory ${dir} is not writable: ${describeError(err)}` };
  } finally {
    timer?.clear();
  }
}

/** API error codes that mean the credentials (or their role) are refused, not that the network failed. */
const CREDENTIAL_CODES = new Set(['API_AUTH_FAILED', 'API_PERMISSION_DENIED']);

/** Failures in a row after which a source is `failing` rather than in `backoff` (the same count /readyz uses). */
export const FAILING_AFTER = 3;

export type HealthState = 'starting' | 'authenticated' | 'collecting' | 'caught_up' | 'paused' | 'backoff' | 'disabled' | 'failing' | 'stopped';

/** The source's state in words: `health_state` for machines, `health` for people (`failing: <reason>`). */
export interface SourceHealth {
  health_state: HealthState;
  health: string;
}

export type CredentialState = 'accepted' | 'rejected' | 'unchecked';

/**
 * Whether an account's credentials are accepted: a source of it failing on a credential error now says rejected;
 * else a source that completed a pull, or the start-up check, says accepted.
 */
export function accountCredentials(account: Pick<AccountStatus, 'name' | 'credentials'>, sources: readonly SourceStatus[]): { state: CredentialState; error?: string } {
  const mine = sources.filter((s) => s.account === account.name);
  const refused = mine.find((s) => s.consecutiveFailures > 0 && s.lastError?.code !== undefined && CREDENTIAL_CODES.has(s.lastError.code));
  if (refused?.lastError !== undefined) return { state: 'rejected', error: refused.lastError.message };
  if (mine.some((s) => s.batches > 0 || s.lastCaughtUpAt !== undefined)) return { state: 'accepted' };
  const c = account.credentials;
  return { state: c.state, ...(c.error === undefined ? {} : { error: c.error }) };
}

/** The readable health of one source, given whether its account's credentials are accepted. */
export function sourceHealth(s: SourceStatus, credentials: CredentialState): SourceHealth {
  if (s.state === 'disabled') return { health_state: 'disabled', health: 'disabled: not licensed' };
  if (s.state === 'stopped') return { health_state: 'stopped', health: 'stopped' };
  const err = s.lastError;
  const permanent = err?.code !== undefined && CREDENTIAL_CODES.has(err.code);
  if (s.consecutiveFailures > 0 && err !== undefined && (s.consecutiveFailures >= FAILING_AFTER || permanent)) {
    return { health_state: 'failing', health: `failing: ${err.message}` };
  }
  if (s.state === 'backoff') return { health_state: 'backoff', health: s.consecutiveFailures > 0 ? `backoff: retry ${s.consecutiveFailures} after ${err?.message ?? 'a failure'}` : 'backoff: fetching a file again' };
  if (s.state === 'paused') return { health_state: 'paused', health: 'paused: journal over budget, waiting for the sinks' };
  if (s.state === 'idle') return { health_state: 'caught_up', health: 'caught_up' };
  if (s.batches > 0 || s.lastCaughtUpAt !== undefined) return { health_state: 'collecting', health: 'collecting' };
  if (credentials === 'accepted') return { health_state: s.state === 'polling' ? 'collecting' : 'authenticated', health: s.state === 'polling' ? 'collecting' : 'authenticated' };
  return { health_state: 'starting', health: 'starting' };
}

/** One line of /readyz: what was checked and, when it fails, why. */
export interface ReadyCheck {
  item: string;
  ok: boolean;
  detail: string;
}

/** /readyz's checks: the config, each account's credentials, each sink's receiver, and the sources' failures. */
export function readyChecks(
  readiness: Readiness,
  sinks: readonly SinkStatus[],
  accounts: readonly Pick<AccountStatus, 'name' | 'credentials'>[],
  sources: readonly SourceStatus[],
  unreadyAfterMs: number,
): ReadyCheck[] {
  const checks: ReadyCheck[] = [{ item: 'config', ok: true, detail: 'loaded and valid' }];
  for (const a of accounts) {
    const c = accountCredentials(a, sources);
    checks.push({
      item: `account ${a.name}: credentials`,
      ok: c.state === 'accepted',
      detail: c.state === 'accepted' ? 'accepted' : c.state === 'rejected' ? `rejected: ${c.error ?? ''}` : `not checked yet${c.error === undefined ? '' : `: ${c.error}`}`,
    });
  }
  const failing = new Map(readiness.failing_sinks.map((f) => [f.name, f]));
  for (const s of sinks) {
    const f = failing.get(s.name);
    const stopped = readiness.failed_sinks.includes(s.name);
    const detail = stopped
      ? `stopped: ${s.lastError?.message ?? 'configuration problem'}`
      : f !== undefined
        ? `not reachable for ${Math.round(f.failing_for_ms / 1000)} s (over ${Math.round(unreadyAfterMs / 1000)} s): ${f.error ?? ''}`
        : s.failingSince !== undefined
          ? `retrying (failing for less than ${Math.round(unreadyAfterMs / 1000)} s): ${s.lastError?.message ?? ''}`
          : 'reachable';
    checks.push({ item: `sink ${s.name}`, ok: !stopped && f === undefined, detail });
  }
  for (const key of readiness.failing_sources) {
    const s = sources.find((x) => x.key === key);
    checks.push({ item: `source ${key}`, ok: false, detail: `failed ${s?.consecutiveFailures ?? FAILING_AFTER} times in a row: ${s?.lastError?.message ?? ''}` });
  }
  return checks;
}
