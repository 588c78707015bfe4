// Public option, stats and handle shapes of the Mimecast API simulator.
import type { SiemType } from '../core/contracts.js';
import type { Logger } from '../telemetry/logger.js';

/** All default to 0 / off. Per-request probabilities are transient: a retry can succeed. */
export interface SimulatorFaults {
  /** Chance an API call answers 429 with X-RateLimit-Limit/Remaining/Reset (Reset in ms, 200–1500). */
  rateLimit429?: number;
  /** Chance an API call (token or batch listing) answers 500. */
  serverError500?: number;
  /** If > 0, API replies are delayed by a random 0..slowReplyMs. */
  slowReplyMs?: number;
  /** Chance a reply is slow (default 1 when slowReplyMs is set). */
  slowReplyRate?: number;
  /** Chance a newly issued token dies after 1–3 s although expires_in promises the full lifetime. */
  earlyTokenExpiry?: number;
  /** Chance a listing hands out a blob URL that has already expired (GET → 403). */
  expiredBlob?: number;
  /** Chance a blob download is cut: valid HTTP response, incomplete gzip stream. */
  truncatedGzip?: number;
  /** Chance a published blob holds junk non-JSON lines (persistent; junk is neither a record nor in the manifest). */
  nonJsonLines?: number;
  /** Chance a published blob repeats some records of the previous blob of its type (not in the manifest again). */
  replayRecords?: number;
}

export interface SimulatorOptions {
  /** 0 = random free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 1. Same seed + same options (and startTime) ⇒ byte-identical blobs. */
  seed?: number | string;
  /** Defaults derived from the seed. */
  clientId?: string;
  clientSecret?: string;
  /** Default derived from the seed, shaped like `CUK12A345`. */
  accountCode?: string;
  /** Default 1799. */
  tokenTtlSeconds?: number;
  /** Records already published at start, spread over the last `backlogHours` (default 2000). */
  backlogRecords?: number;
  /** Default 24. */
  backlogHours?: number;
  /** New records keep appearing every interval (default 5000; 0 = never). */
  publishIntervalMs?: number;
  /** Records per interval (default 200). */
  recordsPerInterval?: number;
  /** Max records per gzip NDJSON blob (default 500). */
  recordsPerBlob?: number;
  /** Max pageSize accepted, in blobs (default 100); the default page is min(100, maxPageSize). */
  maxPageSize?: number;
  /** Lifetime of a pre-signed blob URL (default 15 min). */
  blobTtlMs?: number;
  /** A real per-credential quota: at most `limit` API calls per fixed window of `windowMs` (off by default). */
  rateLimit?: { limit: number; windowMs: number };
  /** Appends every published record as one JSON line (the raw record). */
  manifestPath?: string;
  /** If set, each blob's gzip bytes are rendered once to this directory and served from disk. */
  cacheDir?: string;
  faults?: SimulatorFaults;
  logger?: Logger;
  /** Epoch ms the backlog ends at (default: now). Fix it to get identical backlog blobs across runs. */
  startTime?: number;
}

export type FaultCounterName =
  | 'rateLimit429'
  | 'serverError500'
  | 'slowReply'
  | 'earlyTokenExpiry'
  | 'expiredBlob'
  | 'truncatedGzip'
  | 'nonJsonLines'
  | 'replayRecords';

export interface SimulatorStats {
  /** Requests received per endpoint. */
  requests: { token: number; batch: number; blob: number; other: number };
  /** Responses sent per HTTP status code. */
  responses: Record<string, number>;
  /** How often each fault was injected (nonJsonLines/replayRecords: blobs published with the fault). */
  faults: Record<FaultCounterName, number>;
  /** 429s from the real quota (`rateLimit`), not from the fault. */
  rateLimited: number;
  tokensIssued: number;
  published: {
    records: number;
    blobs: number;
    byType: Record<SiemType, { records: number; blobs: number }>;
  };
  /** Records repeated by the replay fault (each is also counted once in `published`). */
  duplicateRecords: number;
  /** Junk lines in published blobs. */
  junkLines: number;
}

export interface RunningSimulator {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accountCode: string;
  /** Replaces the faults at run time. */
  setFaults(f: SimulatorFaults): void;
  /** Publishes this many more records now. */
  publish(records: number): Promise<void>;
  stopPublishing(): void;
  stats(): SimulatorStats;
  /** Distinct records published so far. */
  publishedRecords(): number;
  /** With cacheDir: paths of the rendered .json.gz files (renders any not rendered yet); else []. */
  blobFiles(): string[];
  /** Idempotent; closes keep-alive sockets too. */
  close(): Promise<void>;
}
