// `status --config FILE`: the status page's facts in the terminal — the journal's own, plus the running daemon's /status.
import { request } from 'undici';
import type { Config } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import { createHttpAgent } from '../core/http-agent.js';
import { readJournalSummary, type JournalSummary } from '../journal/journal.js';
import { describeHolder, journalHolder, type LockHolder } from '../journal/lock.js';
import { ago, configuredStreams, positionOf } from './checkpoints.js';
import { printable, println, type CommandIo } from './io.js';
import { configOf } from './quarantine.js';

/** How long the daemon's /status may take before the command says it did not answer. */
const STATUS_TIMEOUT_MS = 3000;
/** Bytes of /status read at most (it lists every stream and sink: far below this). */
const STATUS_MAX_BYTES = 4 * 1024 * 1024;

/** What only the running daemon knows about a stream. Every field may be missing: /status is read defensively. */
export interface DaemonSource {
  state?: string;
  lagMs?: number;
  lastError?: string;
  events?: number;
  duplicates?: number;
}

/** What only the running daemon knows about a sink. */
export interface DaemonSink {
  state?: string;
  lastDeliveryAt?: number;
  lastError?: string;
}

export interface DaemonView {
  sources: Map<string, DaemonSource>;
  sinks: Map<string, DaemonSink>;
}

function rec(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** The first of `keys` holding a finite number (an ISO time is read as its epoch ms). */
function numberAt(o: Record<string, unknown>, ...keys: string[]): number | undefined {
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v)) {
      const t = Date.parse(v);
      if (Number.isFinite(t)) return t;
    }
  }
  return undefined;
}

/** An error as text: a string, or an object's `message` (the shape /status uses today). */
function errorAt(o: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) {
    const v = o[k];
    if (typeof v === 'string' && v !== '') return v;
    const m = rec(v)?.['message'];
    if (typeof m === 'string' && m !== '') return m;
  }
  return undefined;
}

function stringAt(o: Record<string, unknown>, ...keys: string[]): string | undefined {
  for (const k of keys) if (typeof o[k] === 'string') return o[k];
  return undefined;
}

/**
 * The daemon's /status JSON mapped to what this command shows — the one place that knows its shape. It is read
 * defensively (the status page reshapes it): both today's camelCase fields and snake_case ones are taken, anything
 * missing or odd is simply not shown.
 */
export function readDaemonStatus(body: unknown, now = Date.now()): DaemonView {
  const view: DaemonView = { sources: new Map(), sinks: new Map() };
  const top = rec(body);
  if (top === undefined) return view;
  const sources = Array.isArray(top['sources']) ? top['sources'] : Array.isArray(top['streams']) ? top['streams'] : [];
  for (const item of sources as unknown[]) {
    const s = rec(item);
    const key = s === undefined ? undefined : stringAt(s, 'key');
    if (s === undefined || key === undefined) continue;
    const newest = numberAt(s, 'lastEventTime', 'last_event_time');
    const lag = numberAt(s, 'lag_ms', 'lagMs') ?? (newest === undefined ? undefined : now - newest);
    const state = stringAt(s, 'health', 'state');
    const lastError = errorAt(s, 'lastError', 'last_error');
    const events = numberAt(s, 'events');
    const duplicates = numberAt(s, 'duplicates');
    view.sources.set(key, {
      ...(state === undefined ? {} : { state }),
      ...(lag === undefined ? {} : { lagMs: lag }),
      ...(lastError === undefined ? {} : { lastError }),
      ...(events === undefined ? {} : { events }),
      ...(duplicates === undefined ? {} : { duplicates }),
    });
  }
  for (const item of (Array.isArray(top['sinks']) ? top['sinks'] : []) as unknown[]) {
    const s = rec(item);
    const name = s === undefined ? undefined : stringAt(s, 'name');
    if (s === undefined || name === undefined) continue;
    const state = stringAt(s, 'state');
    const lastDeliveryAt = numberAt(s, 'lastDeliveryAt', 'last_delivery_at', 'last_delivery');
    const lastError = errorAt(s, 'lastError', 'last_error');
    view.sinks.set(name, {
      ...(state === undefined ? {} : { state }),
      ...(lastDeliveryAt === undefined ? {} : { lastDeliveryAt }),
      ...(lastError === undefined ? {} : { lastError }),
    });
  }
  return view;
}

/** `0.0.0.0:9090` → `http://127.0.0.1:9090`: where this machine reaches a daemon listening there. */
export function statusUrl(listen: string): string {
  const i = listen.lastIndexOf(':');
  let host = listen.slice(0, i);
  const port = listen.slice(i + 1);
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  else if (host === '::' || host === '[::]') host = '[::1]';
  else if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`;
  return `http://${host}:${port}`;
}

/** The daemon's /status, or why it could not be had. */
async function askDaemon(base: string): Promise<{ view: DaemonView } | { error: string }> {
  const agent = createHttpAgent({ connectTimeoutMs: STATUS_TIMEOUT_MS, headersTimeoutMs: STATUS_TIMEOUT_MS, bodyTimeoutMs: STATUS_TIMEOUT_MS, connections: 1 });
  try {
    const res = await request(`${base}/status`, { dispatcher: agent, signal: AbortSignal.timeout(STATUS_TIMEOUT_MS) });
    let text = '';
    for await (const chunk of res.body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length > STATUS_MAX_BYTES) return { error: `${base}/status answered more than ${STATUS_MAX_BYTES} bytes` };
    }
    if (res.statusCode !== 200) return { error: `${base}/status answered HTTP ${res.statusCode}` };
    return { view: readDaemonStatus(JSON.parse(text) as unknown) };
  } catch (err) {
    return { error: `no answer from ${base}/status: ${describeError(err)}` };
  } finally {
    await agent.close();
  }
}

/** The time a cursor stands at, when it carries one (a window start, a stream position, a SIEM day). */
function cursorTime(cursor: string): number | undefined {
  try {
    const o = rec(JSON.parse(cursor) as unknown);
    if (o === undefined) return undefined;
    for (const k of ['pos', 'from', 'start', 'at']) {
      const v = o[k];
      if (typeof v !== 'string') continue;
      const t = Date.parse(/^\d{4}-\d\d-\d\d$/.test(v) ? `${v}T00:00:00Z` : v);
      if (Number.isFinite(t)) return t;
    }
  } catch {
    // Not JSON (an API 1.0 SIEM token): no time in it.
  }
  return undefined;
}

interface Report {
  time: string;
  daemon: { running: boolean; pid: number | null; status_url: string | null; answered: boolean; note: string | null };
  streams: {
    key: string;
    configured: boolean;
    position: string | null;
    cursor_time: string | null;
    cursor_age_ms: number | null;
    moved_at: string | null;
    state: string | null;
    lag_ms: number | null;
    last_error: string | null;
  }[];
  sinks: { name: string; configured: boolean; backlog: number; oldest_waiting: string | null; state: string | null; last_delivery_at: string | null; last_error: string | null; dead_letters: number }[];
  quarantined: number;
  dead_letters: number;
  journal: { events: number; max_events: number; bytes: number; max_bytes: number };
}

async function buildReport(config: Config): Promise<Report> {
  const now = Date.now();
  const held = journalHolder(config.data_dir);
  const holder: LockHolder | undefined = held?.holder;
  const listen = holder?.http ?? config.http?.listen;
  let view: DaemonView | undefined;
  let note: string | null = null;
  let url: string | null = null;
  if (held === undefined) {
    note = 'no collector is running on this journal: last errors, states and lag are known only to a running collector';
  } else if (listen === undefined) {
    note = `${describeHolder(holder)} is running without a status endpoint (http.listen): last errors, states and lag are unavailable`;
  } else {
    url = statusUrl(listen);
    const got = await askDaemon(url);
    if ('view' in got) view = got.view;
    else note = `${describeHolder(holder)} is running, but ${got.error}: last errors, states and lag are unavailable`;
  }
  const summary: JournalSummary = readJournalSummary(config.data_dir) ?? { events: 0, bytes: 0, sinks: [], quarantined: 0, deadLetters: [], cursors: [] };
  const configured = await configuredStreams(config);
  const cursors = new Map(summary.cursors.map((c) => [c.key, c]));
  const keys = [...configured.map((s) => s.key), ...summary.cursors.map((c) => c.key).filter((k) => !configured.some((s) => s.key === k))];
  const dead = new Map(summary.deadLetters.map((d) => [d.sink, d.count]));
  const backlog = new Map(summary.sinks.map((s) => [s.name, s]));
  const sinkNames = [...config.sinks.map((s) => s.name), ...[...dead.keys()].filter((n) => !config.sinks.some((s) => s.name === n))];
  return {
    time: new Date(now).toISOString(),
    daemon: { running: held !== undefined, pid: holder?.pid ?? null, status_url: url, answered: view !== undefined, note },
    streams: keys.map((key) => {
      const c = cursors.get(key);
      const t = c === undefined ? undefined : cursorTime(c.cursor);
      const d = view?.sources.get(key);
      return {
        key,
        configured: configured.some((s) => s.key === key),
        position: c === undefined ? null : positionOf(c.cursor),
        cursor_time: t === undefined ? null : new Date(t).toISOString(),
        cursor_age_ms: t === undefined ? null : now - t,
        moved_at: c === undefined ? null : new Date(c.updatedAt).toISOString(),
        state: d?.state ?? null,
        lag_ms: d?.lagMs ?? null,
        last_error: d?.lastError ?? null,
      };
    }),
    sinks: sinkNames.map((name) => {
      const d = view?.sinks.get(name);
      const b = backlog.get(name);
      return {
        name,
        configured: config.sinks.some((s) => s.name === name),
        backlog: b?.backlog ?? 0,
        oldest_waiting: b?.oldestTime ?? null,
        state: d?.state ?? null,
        last_delivery_at: d?.lastDeliveryAt === undefined ? null : new Date(d.lastDeliveryAt).toISOString(),
        last_error: d?.lastError ?? null,
        dead_letters: dead.get(name) ?? 0,
      };
    }),
    quarantined: summary.quarantined,
    dead_letters: summary.deadLetters.reduce((a, d) => a + d.count, 0),
    journal: { events: summary.events, max_events: config.journal.max_events, bytes: summary.bytes, max_bytes: config.journal.max_bytes },
  };
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (c: readonly string[]): string =>
    c
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)];
}

function percent(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-';
}

function megabytes(bytes: number): string {
  return `${(bytes / 1_048_576).toFixed(1)} MB`;
}

export async function statusCommand(o: { config: string; output: string }, io: CommandIo): Promise<number> {
  if (o.output !== 'table' && o.output !== 'json') {
    println(io.stderr, `error: --output must be table or json, got ${printable(o.output, 40)}`);
    return 2;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return 1;
  let r: Report;
  try {
    r = await buildReport(config);
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return 1;
  }
  if (o.output === 'json') {
    println(io.stdout, JSON.stringify(r, null, 2));
    return 0;
  }
  const unknown = r.daemon.answered ? '-' : 'unavailable';
  const now = Date.parse(r.time);
  println(io.stdout, r.daemon.answered ? `collector: running (pid ${r.daemon.pid ?? '?'}), live facts from ${r.daemon.status_url ?? '?'}/status` : `collector: ${r.daemon.note ?? 'unknown'}`);
  println(io.stdout);
  for (const l of table(
    ['STREAM', 'STATE', 'POSITION', 'CURSOR AGE', 'LAG', 'LAST ERROR'],
    r.streams.map((s) => [
      s.key + (s.configured ? '' : ' (not configured)'),
      s.state ?? unknown,
      s.position ?? 'none yet (starts at start_from)',
      s.cursor_age_ms === null ? '-' : ago(s.cursor_age_ms),
      s.lag_ms === null ? unknown : ago(s.lag_ms),
      s.last_error === null ? (r.daemon.answered ? '-' : unknown) : printable(s.last_error, 200),
    ]),
  ))
    println(io.stdout, l);
  println(io.stdout);
  for (const l of table(
    ['SINK', 'STATE', 'BACKLOG', 'OLDEST WAITING', 'LAST DELIVERY', 'DEAD LETTERS', 'LAST ERROR'],
    r.sinks.map((s) => [
      s.name + (s.configured ? '' : ' (not configured)'),
      s.state ?? unknown,
      String(s.backlog),
      s.oldest_waiting ?? '-',
      s.last_delivery_at === null ? (r.daemon.answered ? 'none yet' : unknown) : `${ago(now - Date.parse(s.last_delivery_at))} ago`,
      String(s.dead_letters),
      s.last_error === null ? (r.daemon.answered ? '-' : unknown) : printable(s.last_error, 200),
    ]),
  ))
    println(io.stdout, l);
  println(io.stdout);
  println(io.stdout, `quarantine: ${r.quarantined} entr${r.quarantined === 1 ? 'y' : 'ies'}${r.quarantined > 0 ? ' (`quarantine list`)' : ''}; dead letters: ${r.dead_letters}${r.dead_letters > 0 ? ' (`dead-letters list`)' : ''}`);
  const j = r.journal;
  println(io.stdout, `journal: ${j.events} events of ${j.max_events} (${percent(j.events, j.max_events)}), ${megabytes(j.bytes)} of ${megabytes(j.max_bytes)} (${percent(j.bytes, j.max_bytes)})`);
  return 0;
}
