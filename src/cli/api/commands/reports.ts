// `api reports audit|siem|threat-intel|stats`: audit events by the audit function's spec; SIEM and threat intel through the sources `fetch` uses; account figures.
import { CI_TYPES, SIEM_TYPES, type NormalizedEvent, type StreamName } from '../../../core/contracts.js';
import { pullEvents, summarizeEvent, type EventSummary } from '../../fetch.js';
import { field, str, type ApiAction, type ApiContext, type ApiResult, type Column, type OptionValues } from '../spec.js';
import { limited, note, readOnce, type Row } from './read.js';
import { readWindow, windowOf } from './ttp.js';

const EVENT_COLUMNS: readonly Column[] = [field('time'), field('type'), field('action'), field('outcome'), field('summary')];

/**
 * Events of one stream over --start/--end (default the last 24 hours), read as `fetch` reads them. JSON output is
 * the normalized documents; the table shows fetch's one-line summary.
 */
async function readEvents(ctx: ApiContext, opts: OptionValues, stream: StreamName, override: Record<string, unknown>): Promise<ApiResult> {
  const { from, to } = windowOf(ctx, { ...opts, start: str(opts, 'start') ?? '24h' });
  const rows: EventSummary[] = [];
  const docs: unknown[] = [];
  const events: AsyncGenerator<NormalizedEvent, number> = pullEvents(ctx.account, stream, ctx.api, {
    since: from,
    until: to,
    signal: ctx.signal,
    stderr: ctx.stderr,
    logger: ctx.logger,
    override,
    onFailure: (_key, err) => {
      throw err;
    },
  });
  for await (const ev of events) {
    rows.push(summarizeEvent(ev));
    docs.push(ev.doc);
    if (ctx.limit !== undefined && rows.length >= ctx.limit) break;
  }
  return { columns: EVENT_COLUMNS, rows, json: docs };
}

const ACCOUNT_PATH = '/api/account/get-account';
const HOLD_SUMMARY_PATH = '/api/gateway/get-hold-summary-list';

/**
 * `reports stats`: Mimecast has no statistics function in the 1.0-style API, so these are the figures documented
 * functions give on both generations: the account's user count, retention and packages, and the held queue per policy.
 */
async function stats(ctx: ApiContext): Promise<ApiResult> {
  const rows: Row[] = [];
  for (const a of await readOnce(ctx, ACCOUNT_PATH, [])) {
    rows.push({ metric: 'users', value: a['userCount'], source: `${ACCOUNT_PATH} userCount` });
    rows.push({ metric: 'max retention (days)', value: a['maxRetention'], source: `${ACCOUNT_PATH} maxRetention` });
    rows.push({ metric: 'packages', value: Array.isArray(a['packages']) ? a['packages'].length : undefined, source: `${ACCOUNT_PATH} packages` });
  }
  const held = await readOnce(ctx, HOLD_SUMMARY_PATH, []);
  const count = (h: Row): number | undefined => (typeof h['numberOfItems'] === 'number' ? h['numberOfItems'] : undefined);
  rows.push({ metric: 'held messages', value: held.reduce((n, h) => n + (count(h) ?? 0), 0), source: HOLD_SUMMARY_PATH });
  for (const h of held) rows.push({ metric: `held: ${String(h['policyInfo'] ?? '-')}`, value: count(h), source: HOLD_SUMMARY_PATH });
  note(ctx, `Mimecast has no statistics function; these figures come from ${ACCOUNT_PATH} and ${HOLD_SUMMARY_PATH}`);
  return { columns: [field('metric'), field('value'), field('source')], rows: limited(ctx, rows) };
}

const EVENT_WINDOW = [
  { flags: '--start <time>', description: 'from: a date (2024-01-01), an ISO time or a duration before now (default: 24h)' },
  { flags: '--end <time>', description: 'to: same forms (default: now)' },
] as const;

export const REPORT_ACTIONS: readonly ApiAction[] = [
  {
    resource: 'reports',
    action: 'audit',
    description: 'audit events: who changed what in the account (/api/audit/get-audit-events)',
    options: [
      { flags: '--start <time>', description: 'from: a date (2024-01-01), an ISO time or a duration before now (24h)', required: true },
      { flags: '--end <time>', description: 'to: same forms (Mimecast requires both)', required: true },
    ],
    kind: 'read',
    async run(ctx, opts) {
      return {
        columns: [field('eventTime', 'time'), field('auditType', 'type'), field('user'), field('category'), field('eventInfo', 'info')],
        rows: await readWindow(ctx, opts, 'audit'),
      };
    },
  },
  {
    resource: 'reports',
    action: 'siem',
    description:
      'SIEM events of one type, read as `fetch siem` reads them (API 2.0: the batch files; API 1.0: get-siem-logs files, every retained one read and filtered to the window)',
    options: [
      { flags: '--type <type>', description: 'the SIEM log type', required: true, choices: [...SIEM_TYPES, ...CI_TYPES] },
      { flags: '--format <format>', description: 'API 1.0 file format asked of get-siem-logs (API 2.0 files are always JSON)', choices: ['json', 'key_value'], default: 'json' },
      ...EVENT_WINDOW,
    ],
    kind: 'read',
    run(ctx, opts) {
      const type = str(opts, 'type') ?? '';
      const format = str(opts, 'format') ?? 'json';
      return readEvents(ctx, opts, 'siem', { types: [type], ...(ctx.account.api === 'v1' ? { file_format: format } : {}) });
    },
  },
  {
    resource: 'reports',
    action: 'threat-intel',
    description: 'threat-intelligence indicators from the feed (/api/ttp/threat-intel/get-feed), read as `fetch threat_intel` reads them',
    options: [{ flags: '--feed <feed>', description: 'which feed', choices: ['malware_customer', 'malware_grid'], default: 'malware_customer' }, ...EVENT_WINDOW],
    kind: 'read',
    run(ctx, opts) {
      return readEvents(ctx, opts, 'threat_intel', { feeds: [str(opts, 'feed') ?? 'malware_customer'] });
    },
  },
  {
    resource: 'reports',
    action: 'stats',
    description:
      `account figures: users, retention, packages (${ACCOUNT_PATH}) and the held queue per policy (${HOLD_SUMMARY_PATH}). ` +
      'Mimecast has no statistics function in the API both generations share; these are the nearest documented figures',
    options: [],
    kind: 'read',
    run: stats,
  },
];
