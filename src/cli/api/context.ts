// The ApiContext an action runs with: dates, paged lists with progress and --limit, writes with --dry-run, confirmation and a log line.
import type { Writable } from 'node:stream';
import type { AccountConfig } from '../../config/schema.js';
import { CollectorError, UsageError, errorCode } from '../../core/errors.js';
import type { MimecastApi } from '../../mimecast/api.js';
import { getPages, postPages, type ApiPage } from '../../mimecast/pages.js';
import type { Logger } from '../../telemetry/logger.js';
import { redactText } from '../../telemetry/redact.js';
import { parseWhen } from '../fetch.js';
import { confirm, type ConfirmIo } from './confirm.js';
import type { ApiContext, ListOptions, WriteRequest } from './spec.js';
import { isRecord } from '../../core/util.js';

/** Records asked for per call unless `--page-size` says otherwise: the largest page Mimecast is known to accept. */
export const DEFAULT_PAGE_SIZE = 500;
/** A line of progress on stderr every this many pages when stderr is not a terminal (on one, after every page). */
const PROGRESS_EVERY_PAGES = 10;

export interface ContextOptions {
  account: AccountConfig;
  api: MimecastApi;
  logger: Logger;
  io: ConfirmIo & { stdout: Writable; stderr: Writable & { isTTY?: boolean } };
  now: number;
  limit: number | undefined;
  pageSize: number;
  dryRun: boolean;
  yes: boolean;
  /** `users delete`: the command line as the log line names it. */
  command: string;
}

/**
 * Records asked for per call: --page-size, or fewer when --limit wants fewer — unless some records are filtered out
 * (`keep`) or all are wanted anyway, where a small page would only mean more calls.
 */
function pageSizeFor(o: ContextOptions, opts: ListOptions): number {
  if (opts.unlimited === true || opts.keep !== undefined || o.limit === undefined) return o.pageSize;
  return Math.max(1, Math.min(o.pageSize, o.limit));
}

/** The records of `pages` (up to --limit unless `unlimited`), with a progress line on stderr for long lists. */
async function collect(o: ContextOptions, pages: AsyncIterable<ApiPage>, label: string, opts: ListOptions): Promise<Record<string, unknown>[]> {
  const { io } = o;
  const limit = opts.unlimited === true ? undefined : o.limit;
  const out: Record<string, unknown>[] = [];
  const tty = io.stderr.isTTY === true;
  let n = 0;
  let read = 0;
  try {
    for await (const page of pages) {
      n++;
      for (const item of page.data) {
        const records = opts.recordsKey === undefined ? [item] : isRecord(item) && Array.isArray(item[opts.recordsKey]) ? (item[opts.recordsKey] as unknown[]) : [];
        read += records.length;
        for (const r of records) {
          if (isRecord(r) && (opts.keep === undefined || opts.keep(r)) && (limit === undefined || out.length < limit)) out.push(r);
        }
      }
      const done = limit !== undefined && out.length >= limit;
      if (n > 1 && (tty || n % PROGRESS_EVERY_PAGES === 0) && !done) {
        const total = page.totalCount === undefined ? '' : ` of ${page.totalCount}`;
        io.stderr.write(`${tty ? '\r\x1b[K' : ''}${label}: ${read}${total} records, ${n} pages so far…${tty ? '' : '\n'}`);
      }
      if (done) break;
    }
  } finally {
    if (tty && n > 1) io.stderr.write('\r\x1b[K');
  }
  return out;
}

export function createContext(o: ContextOptions): ApiContext {
  const { io } = o;
  return {
    account: o.account,
    api: o.api,
    logger: o.logger,
    signal: io.signal,
    stderr: io.stderr,
    now: o.now,
    limit: o.limit,

    time(option, value) {
      const t = parseWhen(value, o.now);
      if (t === undefined) throw new UsageError(`--${option} "${value}" is not a time: give a date (2024-01-01), an ISO time (2024-01-01T08:00:00Z) or a duration before now (24h, 30m, 7d)`);
      return t;
    },

    list(path, data, opts = {}) {
      return collect(o, postPages(o.api, path, data, pageSizeFor(o, opts), io.signal), path, opts);
    },

    listGet(path, query, recordsKey, opts = {}) {
      return collect(o, getPages(o.api, path, query, recordsKey, pageSizeFor(o, opts), io.signal), path, opts);
    },

    async write(req: WriteRequest) {
      const body = { data: req.data };
      if (o.dryRun) {
        const auth = o.account.api === 'v2' ? 'Authorization: Bearer [redacted]' : `Authorization: MC [redacted]\nx-mc-app-id: ${o.account.app_id}`;
        const base = o.account.base_url ?? '(the region discovered for the account)';
        io.stdout.write(redactText(`dry run: ${req.what} (profile ${o.account.name}); would send:\nPOST ${base}${req.path}\n${auth}\ncontent-type: application/json\n\n${JSON.stringify(body, null, 2)}\n`));
        return undefined;
      }
      if (req.destructive === true && !(await confirm(`${req.what} on account ${o.account.name}`, o.yes, io))) {
        throw new CollectorError('ABORTED', `not confirmed: nothing was changed (${req.what})`);
      }
      const entry = { profile: o.account.name, command: o.command, what: req.what, call: `POST ${req.path}`, at: new Date().toISOString() };
      try {
        const reply = await o.api.postJson(req.path, body, io.signal);
        o.logger.info({ ...entry, outcome: 'done' }, 'api write');
        return reply;
      } catch (err) {
        o.logger.info({ ...entry, outcome: 'failed', code: errorCode(err) }, 'api write');
        throw err;
      }
    },
  };
}
