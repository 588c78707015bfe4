// `checkpoints list|set|reset|export|import --config FILE`: each stream's cursor in the journal, read and moved by hand.
import { readFileSync } from 'node:fs';
import { buildSources, createAccountClient } from '../app.js';
import type { Config } from '../config/schema.js';
import type { Source, StreamName } from '../core/contracts.js';
import { describeError, errorCode } from '../core/errors.js';
import { Journal, readCursors } from '../journal/journal.js';
import { acquireDaemonLock, describeHolder, journalHolder } from '../journal/lock.js';
import { silentLogger } from '../telemetry/logger.js';
import { parseWhen } from './fetch.js';
import { confirmed, printable, println, type CommandIo } from './io.js';
import { configOf } from './quarantine.js';

const OK = 0;
const FAILED = 1;
const USAGE = 2;

/** The `format` an export carries, checked on import. */
export const EXPORT_FORMAT = 'mimecast-collector-checkpoints';
export const EXPORT_VERSION = 1;

/** One stream unit the configuration collects: its cursor key and its source. */
export interface ConfiguredStream {
  key: string;
  account: string;
  stream: StreamName;
  source: Source;
  /** The account's `start_from`, ms: where a stream without a cursor starts. */
  startFromMs: number;
}

/**
 * Every source the configuration builds, by cursor key, made by the daemon's own code so the keys are the daemon's.
 * Nothing is fetched: the API clients are closed again before this returns.
 */
export async function configuredStreams(config: Config): Promise<ConfiguredStream[]> {
  const out: ConfiguredStream[] = [];
  const logger = silentLogger();
  for (const account of config.accounts) {
    const client = createAccountClient(account, logger);
    try {
      for (const source of buildSources(account, client.api, logger)) out.push({ key: source.key, account: account.name, stream: source.stream, source, startFromMs: account.start_from });
    } finally {
      await client.close();
    }
  }
  return out;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** `3h 12m`, `2d 4h`, `45s`: how long ago, to a person. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/**
 * A cursor as a person reads it. Cursors belong to their source; this only picks the times the JSON ones carry
 * (window start, stream position, SIEM day) and otherwise shows the text, cut.
 */
export function positionOf(cursor: string): string {
  try {
    const v: unknown = JSON.parse(cursor);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      const parts: string[] = [];
      for (const k of ['from', 'start', 'pos', 'at', 'to']) if (typeof o[k] === 'string') parts.push(`${k} ${printable(o[k], 40)}`);
      if (typeof o['next'] === 'string' || typeof o['token'] === 'string' || typeof o['pageToken'] === 'string') parts.push('+ page token');
      if (o['page'] !== null && typeof o['page'] === 'object') parts.push('(inside a page)');
      if (parts.length > 0) return parts.join(' ');
    }
  } catch {
    // Not JSON: shown as text below.
  }
  return printable(cursor, 60);
}

function unknownStream(key: string, streams: readonly ConfiguredStream[], io: CommandIo): number {
  println(io.stderr, `error: no configured stream "${printable(key, 80)}"; the configured streams are: ${streams.map((s) => s.key).join(', ') || '(none)'}`);
  return FAILED;
}

/** Refuses (printing why) while a collector holds the journal; true when the way is clear. */
function noDaemon(config: Config, what: string, io: CommandIo): boolean {
  const held = journalHolder(config.data_dir);
  if (held === undefined) return true;
  println(
    io.stderr,
    `error: ${describeHolder(held.holder)} holds the journal in ${config.data_dir}: stop it first, then ${what} (the running collector would overwrite the cursor with its own)`,
  );
  return false;
}

/** Writes `changes` while holding the daemon's lock, so a collector starting meanwhile waits or fails instead of racing. */
function writeCursors(config: Config, command: string, changes: readonly { key: string; cursor: string | undefined }[]): void {
  const lock = acquireDaemonLock(config.data_dir, { command });
  try {
    const journal = Journal.open({ dir: config.data_dir, checkpointWorker: false });
    try {
      journal.setCursors(changes);
    } finally {
      journal.close();
    }
  } finally {
    lock.release();
  }
}

function failed(err: unknown, io: CommandIo): number {
  if (errorCode(err) === 'JOURNAL_LOCKED') println(io.stderr, `error: ${describeError(err)}: stop it first, then try again`);
  else println(io.stderr, `error: ${describeError(err)}`);
  return FAILED;
}

export async function checkpointsListCommand(o: { config: string; output: string }, io: CommandIo): Promise<number> {
  if (o.output !== 'table' && o.output !== 'json') {
    println(io.stderr, `error: --output must be table or json, got ${printable(o.output, 40)}`);
    return USAGE;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  try {
    const streams = await configuredStreams(config);
    const stored = new Map(readCursors(config.data_dir).map((c) => [c.key, c]));
    const now = Date.now();
    const rows = [
      ...streams.map((s) => ({ key: s.key, configured: true, stored: stored.get(s.key), startFromMs: s.startFromMs })),
      ...[...stored.values()].filter((c) => !streams.some((s) => s.key === c.key)).map((c) => ({ key: c.key, configured: false, stored: c, startFromMs: undefined })),
    ];
    if (o.output === 'json') {
      for (const r of rows) {
        println(
          io.stdout,
          JSON.stringify({
            key: r.key,
            configured: r.configured,
            cursor: r.stored?.cursor ?? null,
            position: r.stored === undefined ? null : positionOf(r.stored.cursor),
            updated_at: r.stored === undefined ? null : new Date(r.stored.updatedAt).toISOString(),
          }),
        );
      }
      return OK;
    }
    const cells = rows.map((r) => [
      r.key,
      r.stored === undefined ? `none yet: starts ${ago(r.startFromMs ?? 0)} before its first poll (start_from)` : positionOf(r.stored.cursor),
      r.stored === undefined ? '-' : `${ago(now - r.stored.updatedAt)} ago`,
      r.configured ? '' : 'not configured any more',
    ]);
    const head = ['STREAM', 'POSITION', 'UPDATED', ''];
    const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? '').length)));
    const line = (c: readonly string[]): string =>
      c
        .map((v, i) => v.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd();
    println(io.stdout, line(head));
    for (const c of cells) println(io.stdout, line(c));
    const held = journalHolder(config.data_dir);
    println(io.stdout, held === undefined ? 'no collector holds this journal now' : `${describeHolder(held.holder)} holds this journal: the positions move on while it runs`);
    return OK;
  } catch (err) {
    return failed(err, io);
  }
}

export async function checkpointsSetCommand(o: { config: string; stream?: string; to?: string; yes: boolean }, io: CommandIo): Promise<number> {
  if (o.stream === undefined || o.to === undefined) {
    println(io.stderr, 'error: checkpoints set needs --stream KEY and --to TIME (`checkpoints list` shows the keys)');
    return USAGE;
  }
  const now = Date.now();
  const to = parseWhen(o.to, now);
  if (to === undefined) {
    println(io.stderr, `error: --to ${printable(o.to, 60)} is not a time: give a date (2026-05-01), an ISO time (2026-05-01T10:00:00Z) or a duration before now (90m, 24h, 3d)`);
    return USAGE;
  }
  if (to > now) {
    println(io.stderr, `error: --to ${iso(to)} is in the future: a cursor can only go back to something already published`);
    return USAGE;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  try {
    const streams = await configuredStreams(config);
    const s = streams.find((x) => x.key === o.stream);
    if (s === undefined) return unknownStream(o.stream, streams, io);
    if (s.source.cursorFrom === undefined) {
      println(
        io.stderr,
        `error: ${s.key} cannot start from a time: the API 1.0 SIEM endpoint hands out its files by token only. \`checkpoints reset --stream ${s.key}\` starts it again from the oldest file Mimecast still keeps`,
      );
      return FAILED;
    }
    if (!noDaemon(config, 'move the cursor', io)) return FAILED;
    const target = s.source.cursorFrom(to);
    const current = readCursors(config.data_dir).find((c) => c.key === s.key);
    println(io.stdout, `${s.key}: ${current === undefined ? 'no cursor yet' : positionOf(current.cursor)}`);
    println(io.stdout, `   → collects again from ${iso(target.from)}${target.from !== to ? ` (for --to ${iso(to)})` : ''}; events already journaled within the dedup window are not delivered twice`);
    if (target.from < target.oldest) {
      println(io.stdout, `   note: Mimecast serves ${s.key} back to about ${iso(target.oldest)} only; the collector starts there and logs what it could not collect`);
    }
    if (!o.yes && !(await confirmed(io, `move the cursor of ${s.key}?`))) return FAILED;
    writeCursors(config, 'checkpoints set', [{ key: s.key, cursor: target.cursor }]);
    println(io.stdout, `moved ${s.key}: the collector reads from ${iso(target.from)} at its next start`);
    return OK;
  } catch (err) {
    return failed(err, io);
  }
}

export async function checkpointsResetCommand(o: { config: string; stream?: string; yes: boolean }, io: CommandIo): Promise<number> {
  if (o.stream === undefined) {
    println(io.stderr, 'error: checkpoints reset needs --stream KEY (`checkpoints list` shows the keys)');
    return USAGE;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  try {
    const streams = await configuredStreams(config);
    const s = streams.find((x) => x.key === o.stream);
    const current = readCursors(config.data_dir).find((c) => c.key === o.stream);
    // A cursor of a stream no longer configured can be removed too: nothing else ever would.
    if (s === undefined && current === undefined) return unknownStream(o.stream, streams, io);
    if (!noDaemon(config, 'reset the cursor', io)) return FAILED;
    if (current === undefined) {
      println(io.stdout, `${o.stream} has no cursor: it already starts from its configured start_from`);
      return OK;
    }
    println(io.stdout, `${o.stream}: ${positionOf(current.cursor)}`);
    println(io.stdout, s === undefined ? '   → removed (the stream is not configured)' : `   → back to its configured start: ${ago(s.startFromMs)} before the next start (start_from), clamped to what Mimecast keeps`);
    if (!o.yes && !(await confirmed(io, `reset the cursor of ${o.stream}?`))) return FAILED;
    writeCursors(config, 'checkpoints reset', [{ key: o.stream, cursor: undefined }]);
    println(io.stdout, `reset ${o.stream}`);
    return OK;
  } catch (err) {
    return failed(err, io);
  }
}

/** Whether a cursor key belongs to `account` / is `stream` (exact key). */
function selected(key: string, o: { stream?: string; account?: string }): boolean {
  if (o.stream !== undefined && key !== o.stream) return false;
  if (o.account !== undefined && !key.startsWith(`${o.account}/`)) return false;
  return true;
}

export async function checkpointsExportCommand(o: { config: string; stream?: string; account?: string }, io: CommandIo): Promise<number> {
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  try {
    if (o.account !== undefined && !config.accounts.some((a) => a.name === o.account)) {
      println(io.stderr, `error: no configured account "${printable(o.account, 80)}"; the accounts are: ${config.accounts.map((a) => a.name).join(', ')}`);
      return FAILED;
    }
    const cursors = readCursors(config.data_dir).filter((c) => selected(c.key, o));
    if (o.stream !== undefined && cursors.length === 0) {
      const streams = await configuredStreams(config);
      if (!streams.some((s) => s.key === o.stream)) return unknownStream(o.stream, streams, io);
    }
    const held = journalHolder(config.data_dir);
    if (held !== undefined) println(io.stderr, `warning: ${describeHolder(held.holder)} is running: its cursors move on after this export (stop it first when moving an account to another pod)`);
    const doc = {
      format: EXPORT_FORMAT,
      version: EXPORT_VERSION,
      exported_at: new Date().toISOString(),
      cursors: cursors.map((c) => ({ key: c.key, cursor: c.cursor, updated_at: new Date(c.updatedAt).toISOString() })),
    };
    println(io.stdout, JSON.stringify(doc, null, 2));
    println(io.stderr, `exported ${cursors.length} cursor${cursors.length === 1 ? '' : 's'}`);
    return OK;
  } catch (err) {
    return failed(err, io);
  }
}

/** The cursors of an export document, or a message saying what is wrong with it. */
export function parseExport(text: string): { cursors: { key: string; cursor: string }[] } | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { error: `not JSON: ${describeError(err)}` };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return { error: 'not a checkpoints export (expected a JSON object)' };
  const o = v as Record<string, unknown>;
  if (o['format'] !== EXPORT_FORMAT) return { error: `not a checkpoints export (format is ${JSON.stringify(o['format'] ?? null)}, expected "${EXPORT_FORMAT}")` };
  if (o['version'] !== EXPORT_VERSION) return { error: `export version ${JSON.stringify(o['version'] ?? null)} is not one this collector reads (${EXPORT_VERSION})` };
  const list = o['cursors'];
  if (!Array.isArray(list)) return { error: 'cursors: expected a list' };
  const cursors: { key: string; cursor: string }[] = [];
  const seen = new Set<string>();
  for (const [i, item] of list.entries()) {
    if (item === null || typeof item !== 'object') return { error: `cursors[${i}]: expected an object` };
    const it = item as Record<string, unknown>;
    const key = it['key'];
    const cursor = it['cursor'];
    if (typeof key !== 'string' || key === '') return { error: `cursors[${i}].key: expected a stream key` };
    if (typeof cursor !== 'string' || cursor === '') return { error: `cursors[${i}].cursor: expected the cursor text` };
    if (seen.has(key)) return { error: `cursors[${i}].key: ${printable(key, 80)} appears twice` };
    seen.add(key);
    cursors.push({ key, cursor });
  }
  return { cursors };
}

export async function checkpointsImportCommand(o: { config: string; file: string; stream?: string; account?: string; yes: boolean }, io: CommandIo): Promise<number> {
  if (o.file === '-' && !o.yes) {
    println(io.stderr, 'error: reading the export from stdin leaves no way to answer the confirmation: pass --yes');
    return USAGE;
  }
  let text: string;
  try {
    text = readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
  } catch (err) {
    println(io.stderr, `error: cannot read ${o.file}: ${describeError(err)}`);
    return FAILED;
  }
  const parsed = parseExport(text);
  if ('error' in parsed) {
    println(io.stderr, `error: ${o.file}: ${parsed.error}`);
    return FAILED;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return FAILED;
  try {
    const streams = await configuredStreams(config);
    const wanted = parsed.cursors.filter((c) => selected(c.key, o));
    if (wanted.length === 0) {
      println(io.stderr, `error: ${o.file} holds no cursor${o.stream !== undefined || o.account !== undefined ? ' matching --stream/--account' : ''} (it has: ${parsed.cursors.map((c) => c.key).join(', ') || 'none'})`);
      return FAILED;
    }
    const known = new Set(streams.map((s) => s.key));
    const strangers = wanted.filter((c) => !known.has(c.key)).map((c) => c.key);
    if (strangers.length > 0) {
      println(
        io.stderr,
        `error: not configured here: ${strangers.map((k) => printable(k, 80)).join(', ')}; nothing imported (configure the account first, or narrow with --account/--stream). The configured streams are: ${[...known].join(', ') || '(none)'}`,
      );
      return FAILED;
    }
    if (!noDaemon(config, 'import', io)) return FAILED;
    const current = new Map(readCursors(config.data_dir).map((c) => [c.key, c.cursor]));
    for (const c of wanted) println(io.stdout, `${c.key}: ${current.has(c.key) ? positionOf(current.get(c.key) ?? '') : 'no cursor yet'}  →  ${positionOf(c.cursor)}`);
    if (!o.yes && !(await confirmed(io, `import ${wanted.length} cursor${wanted.length === 1 ? '' : 's'}?`))) return FAILED;
    writeCursors(config, 'checkpoints import', wanted);
    println(io.stdout, `imported ${wanted.length} cursor${wanted.length === 1 ? '' : 's'}: the collector goes on from them at its next start`);
    return OK;
  } catch (err) {
    return failed(err, io);
  }
}

