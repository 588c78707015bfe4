// `api ttp urls|attachments|impersonation --start T [--end T]`: the TTP logs, read with the same function specs as the collector's sources.
import { formatMimecastDate } from '../../../normalize/time.js';
import { PAGED_SPECS, type PagedStream } from '../../../sources/paged/specs.js';
import { UsageError } from '../../../core/errors.js';
import { field, str, type ApiAction, type ApiContext, type ApiOption, type Column, type OptionValues } from '../spec.js';

export const WINDOW_OPTIONS: readonly ApiOption[] = [
  { flags: '--start <time>', description: 'from: a date (2024-01-01), an ISO time or a duration before now (24h)', required: true },
  { flags: '--end <time>', description: 'to: same forms (default: now)' },
];

/** --start/--end as epoch ms, checked: both times, start before end. */
export function windowOf(ctx: ApiContext, opts: OptionValues): { from: number; to: number } {
  const from = ctx.time('start', str(opts, 'start') ?? '');
  const end = str(opts, 'end');
  const to = end === undefined ? ctx.now : ctx.time('end', end);
  if (from >= to) throw new UsageError(`--start (${new Date(from).toISOString()}) must be before --end (${new Date(to).toISOString()})`);
  return { from, to };
}

/** The records of a time-window function (TTP logs, audit) over --start/--end, as the collector asks for them. */
export function readWindow(ctx: ApiContext, opts: OptionValues, stream: PagedStream): Promise<Record<string, unknown>[]> {
  const spec = PAGED_SPECS[stream];
  const { from, to } = windowOf(ctx, opts);
  const item = { ...spec.extra, [spec.window.from]: formatMimecastDate(new Date(from)), [spec.window.to]: formatMimecastDate(new Date(to)) };
  return ctx.list(spec.path, [item], { recordsKey: spec.recordsKey });
}

function ttpAction(action: string, stream: PagedStream, description: string, columns: readonly Column[]): ApiAction {
  return {
    resource: 'ttp',
    action,
    description,
    options: WINDOW_OPTIONS,
    kind: 'read',
    async run(ctx, opts) {
      return { columns, rows: await readWindow(ctx, opts, stream) };
    },
  };
}

export const TTP_ACTIONS: readonly ApiAction[] = [
  ttpAction('urls', 'ttp_url', 'URL Protect clicks (/api/ttp/url/get-logs)', [
    field('date'),
    field('userEmailAddress', 'user'),
    field('url'),
    field('scanResult', 'result'),
    field('action'),
    field('route'),
  ]),
  ttpAction('attachments', 'ttp_attachment', 'Attachment Protect scans (/api/ttp/attachment/get-logs)', [
    field('date'),
    field('senderAddress', 'sender'),
    field('recipientAddress', 'recipient'),
    field('fileName', 'file'),
    field('result'),
    field('actionTriggered', 'action'),
  ]),
  ttpAction('impersonation', 'ttp_impersonation', 'Impersonation Protect detections (/api/ttp/impersonation/get-logs)', [
    field('eventTime', 'time'),
    field('senderAddress', 'sender'),
    field('recipientAddress', 'recipient'),
    field('subject'),
    field('action'),
    field('definition'),
  ]),
];
