// Per-stream settings of the time-window API functions (TTP, audit, DLP, held-release, archive search).
import type { StreamName } from '../../core/contracts.js';

export type PagedStream = Extract<StreamName, 'ttp_url' | 'ttp_attachment' | 'ttp_impersonation' | 'audit' | 'dlp' | 'held_release' | 'archive_search'>;

export const PAGED_STREAMS: readonly PagedStream[] = [
  'ttp_url',
  'ttp_attachment',
  'ttp_impersonation',
  'audit',
  'dlp',
  'held_release',
  'archive_search',
];

export interface PagedSpec {
  readonly stream: PagedStream;
  /** The 1.0-style function, same path through the 2.0 gateway. */
  readonly path: string;
  /** Names of the window bounds inside `data[0]`. */
  readonly window: { readonly from: string; readonly to: string };
  /** Fixed request fields sent alongside the window. */
  readonly extra: Readonly<Record<string, unknown>>;
  /** Key of the record list inside each `data[]` item; undefined when the records ARE `data[]` (audit). */
  readonly recordsKey: string | undefined;
  /** How far back the API serves; first runs and stale cursors are clamped to it. */
  readonly historyMs: number;
  /** The record field holding its time (used to spot records the API returns outside the asked window). */
  readonly timeField: string;
  readonly pageSize: number;
  /** Role permission the API application needs, named in the "disabled" message. */
  readonly permission: string;
}

const DAY = 86_400_000;

/**
 * Only audit's limit is documented (60 days, MC-AUDIT). For the others Mimecast publishes no look-back; 30 days is
 * our choice: beyond any sensible first-run `start_from`, and short enough that an old request is not refused.
 */
export const AUDIT_HISTORY_MS = 60 * DAY;
export const DEFAULT_HISTORY_MS = 30 * DAY;

/**
 * 500 is the largest page size peers use (no documented maximum). The whole window is read whatever the order,
 * so `oldestFirst` only matters where it is accepted: oldest first keeps a resumed walk stable while new records
 * land at the far end instead of shifting the pages still to be read.
 */
export const PAGED_SPECS: Readonly<Record<PagedStream, PagedSpec>> = {
  ttp_url: {
    stream: 'ttp_url',
    path: '/api/ttp/url/get-logs',
    window: { from: 'from', to: 'to' },
    extra: { oldestFirst: true, route: 'all', scanResult: 'all' },
    recordsKey: 'clickLogs',
    historyMs: DEFAULT_HISTORY_MS,
    timeField: 'date',
    pageSize: 500,
    permission: 'Monitoring | URL Protection | Read',
  },
  ttp_attachment: {
    stream: 'ttp_attachment',
    path: '/api/ttp/attachment/get-logs',
    window: { from: 'from', to: 'to' },
    extra: { oldestFirst: true, route: 'all', result: 'all' },
    recordsKey: 'attachmentLogs',
    historyMs: DEFAULT_HISTORY_MS,
    timeField: 'date',
    pageSize: 500,
    permission: 'Monitoring | Attachment Protection | Read',
  },
  ttp_impersonation: {
    stream: 'ttp_impersonation',
    path: '/api/ttp/impersonation/get-logs',
    window: { from: 'from', to: 'to' },
    extra: { oldestFirst: true },
    recordsKey: 'impersonationLogs',
    historyMs: DEFAULT_HISTORY_MS,
    timeField: 'eventTime',
    pageSize: 500,
    permission: 'Monitoring | Impersonation Protection | Read',
  },
  audit: {
    stream: 'audit',
    path: '/api/audit/get-audit-events',
    window: { from: 'startDateTime', to: 'endDateTime' },
    extra: {},
    recordsKey: undefined,
    historyMs: AUDIT_HISTORY_MS,
    timeField: 'eventTime',
    pageSize: 500,
    permission: 'Account | Logs | Read',
  },
  dlp: {
    stream: 'dlp',
    path: '/api/dlp/get-logs',
    window: { from: 'from', to: 'to' },
    extra: { oldestFirst: true },
    recordsKey: 'dlpLogs',
    historyMs: DEFAULT_HISTORY_MS,
    timeField: 'eventTime',
    pageSize: 500,
    permission: 'Monitoring | Data Leak Prevention | Read',
  },
  held_release: {
    stream: 'held_release',
    path: '/api/gateway/get-held-release-logs',
    window: { from: 'start', to: 'end' },
    extra: {},
    recordsKey: 'heldReleaseLogs',
    historyMs: DEFAULT_HISTORY_MS,
    timeField: 'released',
    pageSize: 500,
    permission: 'Monitoring | Held | Read',
  },
  archive_search: {
    stream: 'archive_search',
    path: '/api/archive/get-archive-search-logs',
    window: { from: 'start', to: 'end' },
    extra: {},
    recordsKey: 'logs',
    historyMs: DEFAULT_HISTORY_MS,
    timeField: 'createTime',
    pageSize: 500,
    permission: 'Archive | Search Logs | Read',
  },
};

export function isPagedStream(stream: string): stream is PagedStream {
  return (PAGED_STREAMS as readonly string[]).includes(stream);
}
