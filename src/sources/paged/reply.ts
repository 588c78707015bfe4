// Reads one paged (meta/data/fail) reply from its bytes: records found where the stream's spec says, the next page token, Mimecast's fail[]; runs on the parse worker or inline.
import { isAscii } from 'node:buffer';
import { bodySnippet, failItems } from '../../mimecast/responses.js';
import { parseTime } from '../../normalize/time.js';
import { isRecord } from '../../core/util.js';

/** How to read one paged reply (a ParseJob's `reply`). */
export interface PagedReplyJob {
  /** Key of the record list inside each `data[]` item (PagedSpec.recordsKey); the records ARE `data[]` when absent. */
  recordsKey?: string;
  /** The record field holding its time (PagedSpec.timeField). */
  timeField: string;
  /** The window asked for (ms since the epoch): records dated more than a second outside it are counted. */
  from: number;
  to: number;
}

/** What a paged reply held besides its events. */
export type PagedReplyInfo =
  /** `records`: how many the page held (events + quarantined); `outsideWindow`: how many were dated outside it. */
  | { kind: 'page'; records: number; next?: string; outsideWindow: number }
  /** Mimecast's non-empty `fail[]` (HTTP 200 carrying errors): no records were read. */
  | { kind: 'fail'; fail: unknown[] }
  /** The body is not JSON: its start (bodySnippet) and the parser's complaint. */
  | { kind: 'not_json'; snippet: string; reason: string }
  /** JSON, but not a page: what is wrong with it, for an API_BAD_RESPONSE naming the call. */
  | { kind: 'bad'; message: string };

/** The body's text: an ASCII body (most) as a one-byte string by a plain copy; bytes that are not UTF-8 become U+FFFD. */
export function replyText(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buf.toString(isAscii(buf) ? 'latin1' : 'utf8');
}

/**
 * Parses a reply's bytes once and finds its records. `records` is undefined unless the reply is a page; its entries
 * may be cleared by the caller as it goes (each record can then be collected as soon as it is normalized).
 */
export function readPagedReply(bytes: Uint8Array, job: PagedReplyJob): { info: PagedReplyInfo; records?: unknown[] } {
  const text = replyText(bytes);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return { info: { kind: 'not_json', snippet: bodySnippet(text), reason: err instanceof Error ? err.message : String(err) } };
  }
  const fail = failItems(body);
  if (fail !== undefined) return { info: { kind: 'fail', fail } };
  if (!isRecord(body)) return { info: { kind: 'bad', message: 'expected a JSON object' } };
  const data = body['data'];
  if (data !== undefined && !Array.isArray(data)) return { info: { kind: 'bad', message: '"data" is not an array' } };
  const items: unknown[] = data ?? [];
  let records: unknown[];
  if (job.recordsKey === undefined) {
    records = items;
  } else {
    records = [];
    for (const item of items) {
      if (!isRecord(item)) continue;
      const list = item[job.recordsKey];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list)) return { info: { kind: 'bad', message: `data[].${job.recordsKey} is not an array` } };
      for (const r of list as unknown[]) records.push(r);
    }
  }
  let outsideWindow = 0;
  for (const record of records) {
    const t = isRecord(record) ? parseTime(record[job.timeField]) : undefined;
    if (t !== undefined && (t.getTime() < job.from - 1000 || t.getTime() > job.to + 1000)) outsideWindow += 1;
  }
  const meta = body['meta'];
  const pagination = isRecord(meta) ? meta['pagination'] : undefined;
  const next = isRecord(pagination) ? pagination['next'] : undefined;
  const info: PagedReplyInfo = { kind: 'page', records: records.length, outsideWindow };
  if (typeof next === 'string' && next !== '') info.next = next;
  return { info, records };
}
