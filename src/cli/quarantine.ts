// `quarantine list|retry --config FILE`: what the collector set aside, and asking it to read quarantined files again.
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { ConfigError, describeError } from '../core/errors.js';
import { readQuarantine, requestQuarantineRetry, type QuarantineRow } from '../journal/journal.js';
import { println, type CommandIo } from './io.js';
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
