// Small shared pieces of the `api` commands: one unpaged call's records, a reply's data[], nested fields, --limit, and the `note:` line.
import { ApiError } from '../../../core/errors.js';
import { postPage } from '../../../mimecast/pages.js';
import type { ApiContext } from '../spec.js';

export type Row = Record<string, unknown>;

function isRow(v: unknown): v is Row {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The records of one call to an unpaged function (`data[]`, or the `recordsKey` list in each item): no --limit, no pages. */
export async function readOnce(ctx: ApiContext, path: string, data: readonly unknown[], recordsKey?: string): Promise<Row[]> {
  const page = await postPage(ctx.api, path, data, {}, ctx.signal);
  return rowsOf(page.data, recordsKey);
}

function rowsOf(items: readonly unknown[], recordsKey?: string): Row[] {
  const out: Row[] = [];
  for (const item of items) {
    if (recordsKey === undefined) {
      if (isRow(item)) out.push(item);
    } else if (isRow(item) && Array.isArray(item[recordsKey])) {
      for (const r of item[recordsKey] as unknown[]) if (isRow(r)) out.push(r);
    }
  }
  return out;
}

/** The `data[]` records of a write's reply; empty for a dry run (no reply). A reply that is not the envelope is an API error naming the call. */
export function replyRows(reply: unknown, path: string): Row[] {
  if (reply === undefined) return [];
  const data = isRow(reply) ? reply['data'] : undefined;
  if (!Array.isArray(data)) throw new ApiError('API_BAD_RESPONSE', `POST ${path} answered without a "data" array`, `POST ${path}`, { retryable: false });
  return rowsOf(data);
}

/** `row[a][b]...`, or undefined where a step is missing: a column the API did not return shows `-`. */
export function at(row: Row, ...keys: string[]): unknown {
  let v: unknown = row;
  for (const k of keys) {
    if (!isRow(v)) return undefined;
    v = v[k];
  }
  return v;
}

/** At most --limit of `rows`. */
export function limited<T>(ctx: ApiContext, rows: T[]): T[] {
  return ctx.limit === undefined ? rows : rows.slice(0, ctx.limit);
}

/** A line on stderr saying what the command did instead of what Mimecast has no function for (stdout stays the data). */
export function note(ctx: ApiContext, text: string): void {
  ctx.stderr.write(`note: ${text}\n`);
}
