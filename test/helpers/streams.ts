// End-to-end plumbing for every stream: multi-account configs, manifest ↔ output matching, journal peeks, kill loops.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { RunningSimulator } from '../../src/simulator/index.js';
import { eventId, sleepMs, spawnCli, waitFor, type Child } from './harness.js';

export interface AccountSpec {
  name: string;
  api: 'v1' | 'v2';
  sim: RunningSimulator;
  /** YAML lines under `streams:` (without the indentation). */
  streams: readonly string[];
  startFrom?: string;
  pollInterval?: string;
  /** API 1.0: no base_url; the region is discovered from this address (asked at the simulator). */
  discoverEmail?: string;
  /** Lines added to the account (without the indentation), e.g. `tls: { verify: false }`. */
  extra?: readonly string[];
}

export interface MultiConfig {
  dataDir: string;
  output: string;
  accounts: readonly AccountSpec[];
  sinkMaxEvents?: number;
}

const q = (s: string): string => JSON.stringify(s);

/** A collector config with any mix of v1 and v2 accounts and one file sink. */
export function multiYaml(c: MultiConfig): string {
  const lines = [`data_dir: ${q(c.dataDir)}`, 'log_level: info', 'shutdown_timeout: 10s', 'accounts:'];
  for (const a of c.accounts) {
    lines.push(`  - name: ${a.name}`, `    api: ${a.api}`);
    if (a.discoverEmail === undefined) lines.push(`    base_url: ${q(a.sim.url)}`);
    else lines.push(`    discover_email: ${q(a.discoverEmail)}`, `    discover_url: ${q(a.sim.url)}`);
    if (a.api === 'v2') {
      lines.push(`    client_id: ${q(a.sim.clientId)}`, `    client_secret: ${q(a.sim.clientSecret)}`);
    } else {
      lines.push(`    app_id: ${q(a.sim.appId)}`, `    app_key: ${q(a.sim.appKey)}`, `    access_key: ${q(a.sim.accessKey)}`, `    secret_key: ${q(a.sim.secretKey)}`);
    }
    lines.push(`    start_from: ${a.startFrom ?? '7d'}`, `    poll_interval: ${a.pollInterval ?? '1s'}`, '    request_timeout: 20s');
    for (const e of a.extra ?? []) lines.push(`    ${e}`);
    lines.push('    streams:', ...a.streams.map((s) => `      ${s}`));
  }
  lines.push(
    'sinks:',
    '  - name: file',
    '    type: file',
    `    path: ${q(c.output)}`,
    '    batch:',
    `      max_events: ${c.sinkMaxEvents ?? 200}`,
    '      max_wait: 100ms',
    '',
  );
  return lines.join('\n');
}

/** JSON with object keys sorted at every depth: the same record always gives the same text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Keys the normalizers add under `mimecast.*`; left out on both sides when comparing with the API's record. */
const RESERVED = new Set(['account', 'stream', 'log_type', 'parsed']);

export function identity(record: Record<string, unknown>): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) if (!RESERVED.has(k)) out[k] = v;
  return canonical(out);
}

export function mimecastOf(doc: Record<string, unknown>): Record<string, unknown> {
  const m = doc['mimecast'];
  return m !== null && typeof m === 'object' ? (m as Record<string, unknown>) : {};
}

export function manifestOf(dir: string, name: string): Record<string, unknown>[] {
  const path = join(dir, `${name}.ndjson`);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface Comparison {
  expected: number;
  /** Manifest records with no output line. */
  missing: string[];
  /** Output lines of this stream/account matching no manifest record. */
  unknown: string[];
  /** Output lines beyond one per record (sink re-deliveries after a kill). */
  duplicateLines: number;
  /** Records delivered under more than one event.id (must be none). */
  unstableIds: number;
  lines: number;
}

/** Output lines of one account and stream, matched to the manifest by their original fields under mimecast.*. */
export function compare(docs: readonly Record<string, unknown>[], manifest: readonly Record<string, unknown>[], account: string, stream: string): Comparison {
  const expected = new Set(manifest.map(identity));
  const ids = new Map<string, Set<string>>();
  let lines = 0;
  for (const d of docs) {
    const m = mimecastOf(d);
    if (m['account'] !== account || m['stream'] !== stream) continue;
    lines++;
    const k = identity(m);
    const set = ids.get(k) ?? new Set<string>();
    set.add(eventId(d));
    ids.set(k, set);
  }
  return {
    expected: expected.size,
    missing: [...expected].filter((k) => !ids.has(k)),
    unknown: [...ids.keys()].filter((k) => !expected.has(k)),
    duplicateLines: lines - ids.size,
    unstableIds: [...ids.values()].filter((s) => s.size !== 1).length,
    lines,
  };
}

function withJournal<T>(dataDir: string, fallback: T, fn: (db: Database.Database) => T): T {
  const file = join(dataDir, 'journal.sqlite');
  if (!existsSync(file)) return fallback;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 2000');
    return fn(db);
  } catch {
    // The collector may be creating the file right now; the next look will do.
    return fallback;
  } finally {
    db?.close();
  }
}

/** The journal's cursors (key → cursor text), read while the collector runs. */
export function cursorsOf(dataDir: string): Map<string, string> {
  return withJournal(dataDir, new Map<string, string>(), (db) => {
    const rows = db.prepare('SELECT key, cursor FROM cursors').all() as { key: string; cursor: string }[];
    return new Map(rows.map((r) => [r.key, r.cursor]));
  });
}

export interface QuarantineRow {
  key: string;
  reason: string;
  detail: string;
  location: string;
  raw: string;
}

export function quarantineOf(dataDir: string): QuarantineRow[] {
  return withJournal(dataDir, [] as QuarantineRow[], (db) => db.prepare('SELECT key, reason, detail, location, raw FROM quarantine ORDER BY id').all() as QuarantineRow[]);
}

export interface KillLoop {
  config: string;
  dataDir: string;
  log: string;
  kills: number;
  /** True when the journal shows the state worth killing in (e.g. a page token held mid-window). */
  midway: (cursors: Map<string, string>) => boolean;
  /** Give up waiting for `midway` after this long and kill anyway. */
  maxWaitMs?: number;
}

/** Starts the collector, SIGKILLs it when `midway` holds, restarts; returns how many kills hit `midway`. */
export async function killLoop(o: KillLoop): Promise<number> {
  let hits = 0;
  for (let i = 0; i < o.kills; i++) {
    const child: Child = spawnCli(['run', '--config', o.config], o.log);
    const deadline = Date.now() + (o.maxWaitMs ?? 20_000);
    let hit = false;
    // Let it commit something first, so each kill lands in the middle of work rather than at start-up.
    await sleepMs(300);
    while (Date.now() < deadline) {
      if (o.midway(cursorsOf(o.dataDir))) {
        hit = true;
        break;
      }
      // Mid-file states can last only milliseconds (a file is read in one go): look often.
      await sleepMs(10);
    }
    child.proc.kill('SIGKILL');
    const exit = await child.exited;
    if (exit.signal !== 'SIGKILL') throw new Error(`collector exited by itself (code ${String(exit.code)}) before kill ${i + 1}; see ${o.log}`);
    if (hit) hits++;
  }
  return hits;
}

/** Runs the collector until `done` holds, then stops it with SIGTERM and returns its exit code. */
export async function runUntil(config: string, log: string, done: () => boolean, timeoutMs: number, what: string): Promise<number | null> {
  const child = spawnCli(['run', '--config', config], log);
  try {
    await waitFor(done, timeoutMs, what, 300);
  } finally {
    child.proc.kill('SIGTERM');
  }
  return (await child.exited).code;
}
