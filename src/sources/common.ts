// What every kind of source shares: the account facts and run context a builder gets, and the kind's shape.
import type { z } from 'zod';
import type { Source, StreamName } from '../core/contracts.js';
import type { MimecastApi } from '../mimecast/api.js';
import type { Logger } from '../telemetry/logger.js';
import type { ParsePool } from './parse/parse-pool.js';

/** The account a stream's sources read: its name (keys cursors) and its API generation. */
export interface SourceAccount {
  name: string;
  api: 'v1' | 'v2';
}

export interface SourceContext {
  logger: Logger;
  /** First run only: how far back to start, ms (the account's start_from, or the `fetch` window). */
  startFromMs: number;
  /** A fixed clock (`fetch`). */
  now?: () => number;
  /** Replaces every paged stream's `settle` (`fetch` reads up to its end at once). */
  settleMs?: number;
  /** Worker threads that parse and normalize; inline when absent. */
  pool?: ParsePool;
}

/** A config problem that depends on the account's API generation; `path` is inside the stream's block. */
export interface ApiIssue {
  path: (string | number)[];
  message: string;
}

/**
 * One kind of source, as its folder exports it: the stream it reads, the zod schema of its `streams.<name>` block,
 * the rules that depend on the account's API generation, and a builder. The registry (sources/registry.ts) lists
 * the kinds; the config schema and the collector loop over it.
 */
export interface SourceKind<S extends StreamName, Schema extends z.ZodType> {
  readonly stream: S;
  readonly schema: Schema;
  /** What this block may not say for an API 1.0 (or 2.0) account; checked with the account as a whole. */
  apiIssues?(api: 'v1' | 'v2', cfg: z.output<Schema>): ApiIssue[];
  /** The sources that read this stream for `account`, in a stable order. */
  build(account: SourceAccount, cfg: z.output<Schema>, api: MimecastApi, ctx: SourceContext): Source[];
}
