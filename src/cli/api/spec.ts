// What one `api RESOURCE ACTION` command is: its options, whether it writes, and how it runs against an ApiContext.
import type { Writable } from 'node:stream';
import type { AccountConfig } from '../../config/schema.js';
import type { MimecastApi } from '../../mimecast/api.js';
import type { Logger } from '../../telemetry/logger.js';

/** An option of one action, in commander's notation (`--start <time>`). */
export interface ApiOption {
  flags: string;
  description: string;
  required?: boolean;
  /** The accepted values, checked by the parser (a wrong one is a usage error naming them). */
  choices?: readonly string[];
  default?: string;
}

/** A column of the table output: its header and how to read it from one record. */
export interface Column {
  header: string;
  value: (row: Record<string, unknown>) => unknown;
}

/** A column reading the record's field of the same name. */
export function field(name: string, header = name): Column {
  return { header, value: (row) => row[name] };
}

/** What an action printed: records (json output prints them whole, table output the columns). */
export interface ApiResult {
  columns: readonly Column[];
  rows: readonly unknown[];
  /** What json output prints when it is not `rows` (events: the documents, where the table shows a summary of each). */
  json?: readonly unknown[];
}

/** A change an action asks Mimecast to make: what it is in words, and the 1.0-style function call. */
export interface WriteRequest {
  /** `block sender x@example.com`: logged, asked about when destructive. */
  what: string;
  path: string;
  data: readonly unknown[];
  /** Ask first (unless --yes); refuse when nobody can be asked. */
  destructive?: boolean;
}

/** How `list`/`listGet` read the records of a page. */
export interface ListOptions {
  /** The list inside each `data[]` item (TTP logs); the records are `data[]` when absent. */
  recordsKey?: string | undefined;
  /** Only records this accepts are kept (and counted against --limit). */
  keep?: (record: Record<string, unknown>) => boolean;
  /** Read every record whatever --limit says: a walk the action makes for itself, not what it prints. */
  unlimited?: boolean;
}

/** What an action runs with: the profile's account and client, the parsed common options, and the helpers. */
export interface ApiContext {
  readonly account: AccountConfig;
  readonly api: MimecastApi;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly stderr: Writable;
  /** When the command started: durations (`24h`) count back from it. */
  readonly now: number;
  /** `--limit`: most records printed; undefined = all. */
  readonly limit: number | undefined;
  /** `option`'s value as epoch ms (`2024-01-01`, an ISO time, or `24h` before now); a usage error naming `--option` otherwise. */
  time(option: string, value: string): number;
  /**
   * Every record of a paged 1.0-style function (up to --limit), following its pages with a progress line on stderr
   * for long lists.
   */
  list(path: string, data: readonly unknown[], opts?: ListOptions): Promise<Record<string, unknown>[]>;
  /** `list` for an API 2.0 native GET list (`/user/cloud-gateway/v1/users`): `?pageSize&pageToken`, records under `recordsKey`. */
  listGet(path: string, query: Record<string, string | undefined>, recordsKey: string, opts?: Omit<ListOptions, 'recordsKey'>): Promise<Record<string, unknown>[]>;
  /** Sends a change (or, with --dry-run, prints it with secrets masked); logs who, what and when; asks first when destructive. */
  write(req: WriteRequest): Promise<unknown>;
}

/** Option values as commander hands them: strings, or true for a flag. */
export type OptionValues = Readonly<Record<string, string | boolean | undefined>>;

/** One `api RESOURCE ACTION` command. Adding a command is adding one of these to `registry.ts`. */
export interface ApiAction {
  resource: string;
  action: string;
  description: string;
  options: readonly ApiOption[];
  /** Writes get --dry-run; destructive writes also --yes. */
  kind: 'read' | 'write' | 'destructive';
  run(ctx: ApiContext, opts: OptionValues): Promise<ApiResult>;
}

/** The string value of option `name`, or undefined. */
export function str(opts: OptionValues, name: string): string | undefined {
  const v = opts[name];
  return typeof v === 'string' ? v : undefined;
}
