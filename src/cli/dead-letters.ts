// `dead-letters list|show|retry|purge --config FILE`: events a sink's receiver rejected for good, sending them again, removing them.
import type { Config } from '../config/schema.js';
import { describeError } from '../core/errors.js';
import { deadLetterRetryProgress, purgeDeadLetters, readDeadLetters, requestDeadLetterRetry, type DeadLetterFilter, type DeadLetterRow } from '../journal/journal.js';
import { describeHolder, journalHolder } from '../journal/lock.js';
import { setTimeout as delay } from 'node:timers/promises';
import { parseIds, printable, println, readAnswer, type CommandIo } from './io.js';
import { configOf } from './quarantine.js';

/** Exit codes: done, failed (the message says what), the command line was wrong. */
const OK = 0;
const FAILED = 1;
const USAGE = 2;

export interface SelectOptions {
  config: string;
  sink?: string;
  reason?: string;
}

function filterOf(o: SelectOptions, ids?: readonly number[]): DeadLetterFilter {
  return { ...(ids !== undefined && ids.length > 0 ? { ids } : {}), ...(o.sink !== undefined ? { sink: o.sink } : {}), ...(o.reason !== undefined ? { reason: o.reason } : {}) };
}

function sinkNames(config: Config): string[] {
  return config.sinks.map((s) => s.name);
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function when(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The journaled document as an object, or its text when it does not parse (never expected, but shown rather than lost). */
function documentOf(r: DeadLetterRow): unknown {
  try {
    return JSON.parse(r.event.json) as unknown;
  } catch {
    return r.event.json;
  }
}

/** One entry as `--output json` writes it. */
function jsonOf(r: DeadLetterRow): Record<string, unknown> {
  const e = r.event;
  return {
    id: r.id,
    at: new Date(r.at).toISOString(),
    sink: r.sink,
    stream: e.stream,
    account: e.account,
    log_type: e.logType === '' ? null : e.logType,
    event_id: e.id,
    seq: e.seq,
    time: e.time,
    reason: r.reason,
    retry: r.retry ?? null,
    retry_note: r.retryNote ?? null,
    event: documentOf(r),
  };
}

/** Sinks of these rows that the configuration no longer has: nobody would send their dead letters again. */
function gone(rows: readonly DeadLetterRow[], config: Config): string[] {
  const have = new Set(sinkNames(config));
  return [...new Set(rows.map((r) => r.sink).filter((s) => !have.has(s)))].sort();
}

export function deadLettersListCommand(o: SelectOptions & { limit: number; output: string }, io: CommandIo): number {
  if (o.output !== 'table' && o.output !== 'json') {
    println(io.stderr, `error: --output must be table or json, got ${printable(o.output, 40)}`);
    return USAGE;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  let got: ReturnType<typeof readDeadLetters>;
  try {
    got = readDeadLetters(config.data_dir, filterOf(o), o.limit);
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return FAILED;
  }
  if (o.output === 'json') {
    for (const r of got.rows) println(io.stdout, JSON.stringify(jsonOf(r)));
    return OK;
  }
  if (got.rows.length === 0) {
    println(io.stdout, got.total === 0 && o.sink === undefined && o.reason === undefined ? 'no dead letters' : 'no dead letters match');
    return OK;
  }
  const cells = got.rows.map((r) => [
    `#${r.id}`,
    when(r.at),
    printable(r.sink, 40),
    r.event.stream,
    r.event.logType === '' ? '-' : printable(r.event.logType, 40),
    printable(r.event.id, 60),
    r.retry === 'requested' ? `[retry requested] ${r.reason}` : r.reason,
  ]);
  const head = ['ID', 'WHEN', 'SINK', 'STREAM', 'LOG TYPE', 'EVENT.ID', 'REASON'];
  const widths = head.slice(0, -1).map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
  const columns = (io.stdout as { columns?: unknown }).columns;
  // A terminal says its width; through a pipe, COLUMNS when set, else 160.
  const fromEnv = Number(io.env['COLUMNS']);
  const width = typeof columns === 'number' && columns > 0 ? columns : Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 160;
  const lead = widths.reduce((a, b) => a + b + 2, 0);
  // The reason takes what the terminal has left, at least 30 characters (then the line wraps).
  const room = Math.max(30, width - lead);
  const line = (c: readonly string[]): string =>
    c
      .slice(0, -1)
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ') + `  ${c[c.length - 1] ?? ''}`;
  println(io.stdout, line(head));
  for (const c of cells) {
    const reason = c[c.length - 1] ?? '';
    const shown = printable(reason);
    println(io.stdout, line([...c.slice(0, -1), shown.length > room ? `${shown.slice(0, room - 1)}…` : shown]));
  }
  const more = got.total > got.rows.length ? ` of ${got.total} (newest first; --limit for more)` : ' (newest first)';
  println(io.stdout, `${plural(got.rows.length, 'entry', 'entries')}${more}; \`dead-letters show ID\` for the event`);
  const missing = gone(got.rows, config);
  if (missing.length > 0) println(io.stdout, `sinks no longer configured (their entries can only be purged): ${missing.map((s) => printable(s, 40)).join(', ')}`);
  return OK;
}

export function deadLettersShowCommand(o: { config: string; ids: readonly string[]; output: string }, io: CommandIo): number {
  if (o.output !== 'text' && o.output !== 'json') {
    println(io.stderr, `error: --output must be text or json, got ${printable(o.output, 40)}`);
    return USAGE;
  }
  const ids = parseIds(o.ids, io, 'dead-letters list');
  if (ids === undefined) return USAGE;
  if (ids.length === 0) {
    println(io.stderr, 'error: name the entries to show (ids from `dead-letters list`)');
    return USAGE;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  let got: ReturnType<typeof readDeadLetters>;
  try {
    got = readDeadLetters(config.data_dir, { ids }, ids.length);
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return FAILED;
  }
  const byId = new Map(got.rows.map((r) => [r.id, r]));
  for (const id of ids) {
    const r = byId.get(id);
    if (r === undefined) continue;
    if (o.output === 'json') {
      println(io.stdout, JSON.stringify(jsonOf(r), null, 2));
      continue;
    }
    const e = r.event;
    println(io.stdout, `#${r.id}  dead-lettered ${new Date(r.at).toISOString()} by sink ${printable(r.sink, 80)}`);
    println(io.stdout, `  event.id  ${printable(e.id)}`);
    println(io.stdout, `  stream    ${e.stream}${e.logType === '' ? '' : `  log type ${printable(e.logType, 80)}`}  account ${printable(e.account, 80)}`);
    println(io.stdout, `  time      ${printable(e.time, 80)}  journal seq ${e.seq}`);
    println(io.stdout, `  reason    ${printable(r.reason)}`);
    if (r.retry !== undefined || r.retryNote !== undefined) println(io.stdout, `  retry     ${r.retry ?? 'not requested'}${r.retryNote === undefined ? '' : ` (${printable(r.retryNote)})`}`);
    const doc = documentOf(r);
    const text = typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2);
    for (const l of text.split('\n')) println(io.stdout, `  ${printable(l)}`);
  }
  if (got.unknown.length > 0) {
    println(io.stderr, `no such entry: #${got.unknown.join(', #')}`);
    return FAILED;
  }
  return OK;
}

/** The entries a retry or purge acts on: ids, or --all; --sink and --reason narrow either. */
function selection(o: SelectOptions & { all: boolean; ids: readonly string[] }, verb: string, io: CommandIo): DeadLetterFilter | undefined {
  const ids = parseIds(o.ids, io, 'dead-letters list');
  if (ids === undefined) return undefined;
  if (ids.length > 0 && o.all) {
    println(io.stderr, 'error: name entries or pass --all, not both');
    return undefined;
  }
  if (ids.length === 0 && !o.all) {
    println(io.stderr, `error: name the entries to ${verb} (ids from \`dead-letters list\`) or pass --all (narrowed by --sink and --reason)`);
    return undefined;
  }
  return filterOf(o, ids);
}

/** How often `dead-letters retry` looks at the re-sends it follows. */
export const RETRY_PROGRESS_EVERY_MS = 1000;
/** It stops following when nothing moved this long (a failing sink): the collector keeps trying. */
export const RETRY_PROGRESS_STALL_MS = 30_000;

/**
 * Follows the re-sends of `ids` by the running collector, a line on stderr whenever the counts move, until all are
 * settled, the collector stops, or nothing moved for RETRY_PROGRESS_STALL_MS. Returns 1 when some were rejected again.
 */
async function followRetries(dataDir: string, ids: readonly number[], io: CommandIo): Promise<number> {
  const total = new Set(ids).size;
  let last = '';
  let movedAt = Date.now();
  for (;;) {
    const p = deadLetterRetryProgress(dataDir, ids);
    const line = `re-sending: ${p.sent + p.rejected} of ${total} done (${p.sent} delivered, ${p.rejected} rejected again), ${p.waiting} waiting`;
    if (line !== last) {
      println(io.stderr, line);
      last = line;
      movedAt = Date.now();
    }
    if (p.waiting === 0) {
      if (p.rejected > 0) println(io.stdout, `${plural(p.rejected, 'entry', 'entries')} rejected again: \`dead-letters list\` shows the receiver's new reason`);
      else println(io.stdout, `all ${plural(total, 'entry', 'entries')} delivered`);
      return p.rejected > 0 ? FAILED : OK;
    }
    if (journalHolder(dataDir) === undefined) {
      println(io.stdout, `the collector stopped: ${plural(p.waiting, 'entry', 'entries')} still waiting are sent at its next start`);
      return OK;
    }
    if (Date.now() - movedAt >= RETRY_PROGRESS_STALL_MS) {
      println(io.stdout, `no progress for ${RETRY_PROGRESS_STALL_MS / 1000}s (is the sink failing? see \`status\`): the collector keeps trying; \`dead-letters list\` shows what is waiting`);
      return OK;
    }
    try {
      // A timer that keeps the process alive (core/util's sleep does not: it is for the daemon's background waits).
      await delay(RETRY_PROGRESS_EVERY_MS, undefined, { signal: io.signal });
    } catch {
      return OK;
    }
  }
}

export async function deadLettersRetryCommand(o: SelectOptions & { all: boolean; ids: readonly string[]; wait: boolean }, io: CommandIo): Promise<number> {
  const filter = selection(o, 'send again', io);
  if (filter === undefined) return USAGE;
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  const sinks = sinkNames(config);
  if (o.sink !== undefined && !sinks.includes(o.sink)) {
    println(io.stderr, `error: sink "${printable(o.sink, 80)}" is not configured (sinks: ${sinks.join(', ')}): nothing would send its dead letters; \`dead-letters purge --sink\` removes them`);
    return FAILED;
  }
  try {
    const r = requestDeadLetterRetry(config.data_dir, filter, sinks);
    if (r.requested.length > 0) {
      println(io.stdout, `requested ${plural(r.requested.length, 'entry', 'entries')}: each is sent again to the sink that rejected it, within seconds while the collector runs (else at its next start); see \`dead-letters list\``);
    } else if (r.alreadyRequested.length === 0) {
      println(io.stdout, 'nothing to request: no dead letter matches');
    }
    if (r.alreadyRequested.length > 0) println(io.stdout, `already waiting to be sent again: ${plural(r.alreadyRequested.length, 'entry', 'entries')}`);
    for (const u of r.unconfigured) {
      println(io.stderr, `not requested: ${plural(u.ids.length, 'entry', 'entries')} of sink "${printable(u.sink, 80)}", which is not configured any more (purge them, or configure the sink again): #${u.ids.slice(0, 20).join(', #')}${u.ids.length > 20 ? ', …' : ''}`);
    }
    if (r.unknown.length > 0) println(io.stderr, `no such entry${o.sink !== undefined || o.reason !== undefined ? ' (with these filters)' : ''}: #${r.unknown.join(', #')}`);
    const code = r.unknown.length > 0 || r.unconfigured.length > 0 ? FAILED : OK;
    const following = [...r.requested, ...r.alreadyRequested];
    if (!o.wait || following.length === 0) return code;
    const held = journalHolder(config.data_dir);
    if (held === undefined) {
      println(io.stdout, 'no collector is running: they are sent at its next start');
      return code;
    }
    println(io.stderr, `following the re-sends by ${describeHolder(held.holder)} (--no-wait to return at once)`);
    const followed = await followRetries(config.data_dir, following, io);
    return code === OK ? followed : code;
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return FAILED;
  }
}

export async function deadLettersPurgeCommand(o: SelectOptions & { all: boolean; yes: boolean; ids: readonly string[] }, io: CommandIo): Promise<number> {
  const filter = selection(o, 'remove', io);
  if (filter === undefined) return USAGE;
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  try {
    if (!o.yes) {
      const { total } = readDeadLetters(config.data_dir, filter, 0);
      if (total === 0) {
        println(io.stdout, 'removed 0 entries: no dead letter matches');
        return filter.ids === undefined ? OK : FAILED;
      }
      io.stdout.write(`remove ${plural(total, 'dead letter')} for good? [y/N] `);
      const answer = (await readAnswer(io.stdin, io.signal)).toLowerCase();
      if (answer !== 'y' && answer !== 'yes') {
        println(io.stdout, '\nnot confirmed: nothing removed (--yes skips the question)');
        return FAILED;
      }
    }
    const r = purgeDeadLetters(config.data_dir, filter);
    println(io.stdout, `removed ${plural(r.removed.length, 'entry', 'entries')}`);
    if (r.unknown.length > 0) {
      println(io.stderr, `no such entry${o.sink !== undefined || o.reason !== undefined ? ' (with these filters)' : ''}: #${r.unknown.join(', #')}`);
      return FAILED;
    }
    return OK;
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return FAILED;
  }
}
