// `api reports audit|siem|threat-intel`: audit events by the audit function's spec; SIEM and threat intel through the sources `fetch` uses.
import { CI_TYPES, SIEM_TYPES, type NormalizedEvent, type StreamName } from '../../../core/contracts.js';
import { pullEvents, summarizeEvent, type EventSummary } from '../../fetch.js';
import { field, str, type ApiAction, type ApiContext, type ApiResult, type Column, type OptionValues } from '../spec.js';
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
];
