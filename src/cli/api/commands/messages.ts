// `api messages search|held|release`: message finder (tracking), the held queue and releasing from it, on the real functions.
import { UsageError } from '../../../core/errors.js';
import { formatMimecastDate } from '../../../normalize/time.js';
import { field, str, type ApiAction, type ApiContext, type Column, type OptionValues } from '../spec.js';
import { windowOf } from './ttp.js';
import { at, replyRows, type Row } from './read.js';

const SEARCH_PATH = '/api/message-finder/search';
const HELD_PATH = '/api/gateway/get-hold-message-list';
const RELEASE_PATH = '/api/gateway/hold-release';

const TIME_HELP = 'a date (2024-01-01), an ISO time or a duration before now (24h)';

/** The recipients of a tracked message: `to[]` of addresses. */
function recipients(row: Row): string | undefined {
  const to = row['to'];
  if (!Array.isArray(to)) return undefined;
  const list = to.map((t) => at(t as Row, 'emailAddress')).filter((a): a is string => typeof a === 'string' && a !== '');
  return list.length === 0 ? undefined : list.join(', ');
}

// The id first: it is what `messages release --id` takes, and the table keeps its first column whole the longest.
const SEARCH_COLUMNS: readonly Column[] = [
  field('id'),
  field('received'),
  field('status'),
  { header: 'from', value: (r) => at(r, 'fromEnv', 'emailAddress') ?? at(r, 'fromHdr', 'emailAddress') },
  { header: 'to', value: recipients },
  field('subject'),
  field('route'),
];

const HELD_COLUMNS: readonly Column[] = [
  field('id'),
  field('dateReceived', 'received'),
  { header: 'from', value: (r) => at(r, 'from', 'emailAddress') ?? at(r, 'fromHeader', 'emailAddress') },
  { header: 'to', value: (r) => at(r, 'to', 'emailAddress') ?? at(r, 'toHeader', 'emailAddress') },
  field('subject'),
  { header: 'reason', value: (r) => r['reasonCode'] ?? r['reason'] },
];

/** --start/--end of the held list, each optional (the 1.0 page): the set ones as Mimecast dates, checked for order. */
function heldWindow(ctx: ApiContext, opts: OptionValues): Row {
  const start = str(opts, 'start');
  const end = str(opts, 'end');
  const from = start === undefined ? undefined : ctx.time('start', start);
  const to = end === undefined ? undefined : ctx.time('end', end);
  if (from !== undefined && to !== undefined && from >= to) {
    throw new UsageError(`--start (${new Date(from).toISOString()}) must be before --end (${new Date(to).toISOString()})`);
  }
  return {
    ...(from === undefined ? {} : { start: formatMimecastDate(new Date(from)) }),
    ...(to === undefined ? {} : { end: formatMimecastDate(new Date(to)) }),
  };
}

export const MESSAGE_ACTIONS: readonly ApiAction[] = [
  {
    resource: 'messages',
    action: 'search',
    description: `tracked messages by sender, recipient or subject (${SEARCH_PATH}); Mimecast searches at most the last 30 days`,
    options: [
      { flags: '--from <address>', description: 'sender address (or part of it)' },
      { flags: '--to <address>', description: 'recipient address (or part of it)' },
      { flags: '--subject <text>', description: 'subject (or part of it)' },
      { flags: '--start <time>', description: `from: ${TIME_HELP} (default: 24h)` },
      { flags: '--end <time>', description: 'to: same forms (default: now)' },
    ],
    kind: 'read',
    async run(ctx, opts) {
      const filters: Row = {};
      for (const k of ['from', 'to', 'subject'] as const) {
        const v = str(opts, k);
        if (v !== undefined && v !== '') filters[k] = v;
      }
      // The message finder needs a filter (or a message id): asking for everything is refused before any call.
      if (Object.keys(filters).length === 0) throw new UsageError('give at least one of --from, --to, --subject: the message finder searches by these');
      const { from, to } = windowOf(ctx, { ...opts, start: str(opts, 'start') ?? '24h' });
      const item = { start: formatMimecastDate(new Date(from)), end: formatMimecastDate(new Date(to)), advancedTrackAndTraceOptions: filters };
      return { columns: SEARCH_COLUMNS, rows: await ctx.list(SEARCH_PATH, [item], { recordsKey: 'trackedEmails' }) };
    },
  },
  {
    resource: 'messages',
    action: 'held',
    description: `messages held for review, for all recipients (${HELD_PATH} with admin: true); the id column is what \`messages release --id\` takes (--output json shows it whole)`,
    options: [
      { flags: '--start <time>', description: `held since: ${TIME_HELP} (default: no bound)` },
      { flags: '--end <time>', description: 'held until: same forms (default: no bound)' },
    ],
    kind: 'read',
    async run(ctx, opts) {
      return { columns: HELD_COLUMNS, rows: await ctx.list(HELD_PATH, [{ admin: true, ...heldWindow(ctx, opts) }]) };
    },
  },
  {
    resource: 'messages',
    action: 'release',
    description: `release a held message to its recipients (${RELEASE_PATH}); asks first unless --yes`,
    options: [{ flags: '--id <id>', description: 'the held message id (from `messages held`)', required: true }],
    kind: 'destructive',
    async run(ctx, opts) {
      const id = str(opts, 'id') ?? '';
      if (id.trim() === '') throw new UsageError('--id must not be empty');
      const reply = await ctx.write({ what: `release held message ${id}`, path: RELEASE_PATH, data: [{ id }], destructive: true });
      return { columns: [field('id'), field('release', 'released')], rows: replyRows(reply, RELEASE_PATH) };
    },
  },
];
