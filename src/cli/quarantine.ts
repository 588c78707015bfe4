// `quarantine list|show|retry|purge --config FILE`: what the collector set aside, reading quarantined files again, removing entries.
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ConfigError, describeError } from '../core/errors.js';
import { purgeQuarantine, readQuarantine, requestQuarantineRetry, selectQuarantine, type QuarantineFilter, type QuarantineRow } from '../journal/journal.js';
import { confirmed, parseIds, printable, println, type CommandIo } from './io.js';
import { printConfigError } from './validate.js';

/** The config of `file`, or undefined once its problems are printed. */
export function configOf(file: string, io: CommandIo): Config | undefined {
  try {
    return loadConfig(file, io.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      printConfigError(err, io);
      return undefined;
    }
    throw err;
  }
}

/** One line per entry; control characters in what the API sent are shown escaped, never raw. */
function describe(r: QuarantineRow): string {
  const state = r.retry === undefined ? (r.refetchable ? 'retry possible' : 'record only') : `retry ${r.retry}${r.retryNote === undefined ? '' : `: ${r.retryNote}`}`;
  const clean = (s: string): string => JSON.stringify(s).slice(1, -1);
  return `#${r.id}  ${new Date(r.at).toISOString()}  ${r.key}  ${r.reason}  ${clean(r.location.length > 160 ? `${r.location.slice(0, 160)}…` : r.location)}  [${state}]\n      ${clean(r.detail.slice(0, 300))}`;
}

export function quarantineListCommand(o: { config: string; limit: number; output: string }, io: CommandIo): number {
  const config = configOf(o.config, io);
  if (config === undefined) return 1;
  let rows: QuarantineRow[];
  try {
    rows = readQuarantine(config.data_dir, o.limit);
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return 1;
  }
  if (o.output === 'json') {
    for (const r of rows) println(io.stdout, JSON.stringify(r));
    return 0;
  }
  if (rows.length === 0) {
    println(io.stdout, 'quarantine is empty');
    return 0;
  }
  for (const r of rows) println(io.stdout, describe(r));
  const retryable = rows.filter((r) => r.refetchable && r.retry !== 'done' && r.retry !== 'requested').length;
  println(io.stdout, `${rows.length} entr${rows.length === 1 ? 'y' : 'ies'} (newest first)${retryable > 0 ? `; ${retryable} can be read again: quarantine retry --config ${o.config} --all` : ''}`);
  return 0;
}

export function quarantineRetryCommand(o: { config: string; all: boolean; ids: readonly string[] }, io: CommandIo): number {
  const ids = o.ids.map((s) => Number(s.replace(/^#/, '')));
  if (!o.all && ids.length === 0) {
    println(io.stderr, 'error: name the entries to read again (ids from `quarantine list`) or pass --all');
    return 1;
  }
  const bad = o.ids.filter((_, i) => !Number.isSafeInteger(ids[i]) || (ids[i] ?? 0) <= 0);
  if (bad.length > 0) {
    println(io.stderr, `error: not an entry id: ${bad.join(', ')}`);
    return 1;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return 1;
  try {
    const r = requestQuarantineRetry(config.data_dir, o.all ? 'all' : ids);
    if (r.requested.length > 0) {
      println(io.stdout, `requested ${r.requested.length} entr${r.requested.length === 1 ? 'y' : 'ies'} (#${r.requested.join(', #')}): the collector reads them again at each stream's next poll; see \`quarantine list\``);
    } else {
      println(io.stdout, 'nothing to request: no entry that can be read again is waiting');
    }
    if (r.notRefetchable.length > 0) println(io.stderr, `not requested (a single record, nothing to fetch again): #${r.notRefetchable.join(', #')}`);
    if (r.unknown.length > 0) println(io.stderr, `no such entry: #${r.unknown.join(', #')}`);
    return r.unknown.length > 0 || r.notRefetchable.length > 0 ? 1 : 0;
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return 1;
  }
}

/** One entry as `--output json` writes it. */
function jsonOf(r: QuarantineRow): Record<string, unknown> {
  return {
    id: r.id,
    at: new Date(r.at).toISOString(),
    stream: r.key,
    reason: r.reason,
    location: r.location,
    detail: r.detail,
    refetchable: r.refetchable,
    retry: r.retry ?? null,
    retry_note: r.retryNote ?? null,
    raw: r.raw,
  };
}

export function quarantineShowCommand(o: { config: string; ids: readonly string[]; output: string }, io: CommandIo): number {
  if (o.output !== 'text' && o.output !== 'json') {
    println(io.stderr, `error: --output must be text or json, got ${printable(o.output, 40)}`);
    return 2;
  }
  const ids = parseIds(o.ids, io, 'quarantine list');
  if (ids === undefined) return 2;
  if (ids.length === 0) {
    println(io.stderr, 'error: name the entries to show (ids from `quarantine list`)');
    return 2;
  }
  const config = configOf(o.config, io);
  if (config === undefined) return 1;
  let got: ReturnType<typeof selectQuarantine>;
  try {
    got = selectQuarantine(config.data_dir, { ids }, ids.length);
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return 1;
  }
  const byId = new Map(got.rows.map((r) => [r.id, r]));
  for (const id of ids) {
    const r = byId.get(id);
    if (r === undefined) continue;
    if (o.output === 'json') {
      println(io.stdout, JSON.stringify(jsonOf(r), null, 2));
      continue;
    }
    println(io.stdout, `#${r.id}  quarantined ${new Date(r.at).toISOString()} by stream ${printable(r.key, 80)}`);
    println(io.stdout, `  reason    ${printable(r.reason, 200)}`);
    println(io.stdout, `  where     ${printable(r.location)}`);
    println(io.stdout, `  detail    ${printable(r.detail)}`);
    const state = r.retry === undefined ? (r.refetchable ? 'can be read again (`quarantine retry`)' : 'a record only: nothing to fetch again') : `retry ${r.retry}${r.retryNote === undefined ? '' : ` (${printable(r.retryNote)})`}`;
    println(io.stdout, `  retry     ${state}`);
    println(io.stdout, `  raw       ${r.raw === '' ? '(none kept)' : printable(r.raw)}`);
  }
  if (got.unknown.length > 0) {
    println(io.stderr, `no such entry: #${got.unknown.join(', #')}`);
    return 1;
  }
  return 0;
}

export async function quarantinePurgeCommand(o: { config: string; ids: readonly string[]; all: boolean; yes: boolean; stream?: string; reason?: string }, io: CommandIo): Promise<number> {
  const ids = parseIds(o.ids, io, 'quarantine list');
  if (ids === undefined) return 2;
  if (ids.length > 0 && o.all) {
    println(io.stderr, 'error: name entries or pass --all, not both');
    return 2;
  }
  if (ids.length === 0 && !o.all) {
    println(io.stderr, 'error: name the entries to remove (ids from `quarantine list`) or pass --all (narrowed by --stream and --reason)');
    return 2;
  }
  const filter: QuarantineFilter = { ...(ids.length > 0 ? { ids } : {}), ...(o.stream !== undefined ? { key: o.stream } : {}), ...(o.reason !== undefined ? { reason: o.reason } : {}) };
  const config = configOf(o.config, io);
  if (config === undefined) return 1;
  try {
    const { total } = selectQuarantine(config.data_dir, filter, 0);
    if (total === 0) {
      println(io.stdout, 'removed 0 entries: no quarantine entry matches');
      return ids.length > 0 ? 1 : 0;
    }
    if (!o.yes && !(await confirmed(io, `remove ${total} quarantine entr${total === 1 ? 'y' : 'ies'} for good?`))) return 1;
    const r = purgeQuarantine(config.data_dir, filter);
    println(io.stdout, `removed ${r.removed.length} entr${r.removed.length === 1 ? 'y' : 'ies'}`);
    if (r.unknown.length > 0) {
      println(io.stderr, `no such entry${o.stream !== undefined || o.reason !== undefined ? ' (with these filters)' : ''}: #${r.unknown.join(', #')}`);
      return 1;
    }
    return 0;
  } catch (err) {
    println(io.stderr, `error: ${describeError(err)}`);
    return 1;
  }
}
