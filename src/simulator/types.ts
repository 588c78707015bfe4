// Public option, stats and handle shapes of the Mimecast API simulator.
import type { CiType, SiemType } from '../core/contracts.js';
import type { Logger } from '../telemetry/logger.js';
import type { LogStreamName } from './logstore.js';

export type { LogStreamName } from './logstore.js';

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
  /** Chance a blob download answers 307 (storage sending the client to another endpoint) instead of the file. */
  redirectBlob?: number;
  /** Chance a blob download is cut: valid HTTP response, incomplete gzip stream. */
  truncatedGzip?: number;
  /** Chance a published blob holds junk non-JSON lines (persistent; junk is neither a record nor in the manifest). */
  nonJsonLines?: number;
  /**
   * Chance a published blob repeats some records of the previous blob of its type (not in the manifest again); on the
   * stream endpoint, the chance a page starts by re-sending some records of the previous page.
   */
  replayRecords?: number;
  /** Chance a correctly signed API 1.0 call answers 418 `err_xdk_binding_expired` (1 = the keys have expired). */
  bindingExpired?: number;
  /** Chance a get-siem-logs file (zip or plain) or a threat-intel file is cut short (valid headers, partial body). */
  truncatedFile?: number;
  /** Chance a compressed get-siem-logs file has damaged deflate data (CRC/inflate fails). */
  corruptZip?: number;
  /** Chance a paged 1.0-style function answers HTTP 200 with a retryable `fail[]` and no data. */
  apiFail200?: number;
  /**
   * Bytes of one oversized line added after the first line of every API 2.0 batch file served: shaped like a receipt
   * record with a huge subject, never in the manifest (a collector must quarantine it, not deliver it); sent as its
   * own gzip member, built once. 0 or absent: off.
   */
  oversizedLineBytes?: number;
}

export interface SimulatorOptions {
  /** 0 = random free port (default). */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * The host name discover-authentication answers as the region's API host (as Mimecast answers a name, never an
   * address, so TLS certificates can match). Default: the name the client addressed, or `localhost` when it used a
   * loopback address.
   */
  publicHost?: string;
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
  /** Appends every published v2 SIEM record (Cloud Gateway, and Cloud Integrated when on) as one JSON line (the raw record). */
  manifestPath?: string;
  /**
   * Per-stream manifests `<dir>/<name>.ndjson` (siem, siem_v1, ttp_url, ...): every published record as the API serves
   * it, written before it becomes readable. `siem.ndjson` unless `manifestPath` is given.
   */
  manifestDir?: string;
  /** siem_v1 manifest lines as the JSON file record (default) or as the object a key_value line encodes (all strings). */
  manifestSiemV1As?: 'json' | 'key_value';
  /** API 1.0 credentials; defaults derived from the seed (secretKey is base64 of 64 random bytes). */
  appId?: string;
  appKey?: string;
  accessKey?: string;
  secretKey?: string;
  /** The account's local offset used in SIEM 1.0 `datetime` values (default `+0100`). */
  accountUtcOffset?: string;
  /** Backlog per 1.0-style stream (default backlogRecords × its share). */
  streamRecords?: Partial<Record<LogStreamName, number>>;
  /**
   * Records of each 1.0-style stream per v2 SIEM record, for publish(n) and the interval (defaults: siem_v1 1,
   * ttp_url 0.2, ttp_attachment 0.1, threat_intel 0.1, the others 0.05).
   */
  streamShare?: Partial<Record<LogStreamName, number>>;
  /** Paged functions: a share of records becomes visible only lateArrivalMs/2..lateArrivalMs after its own time (0 = off). */
  lateArrivalMs?: number;
  /** Share of late records when lateArrivalMs > 0 (default 0.25). */
  lateArrivalShare?: number;
  /** Paged functions: the last page still carries `next`, and following it yields an empty page that carries it too. */
  emptyLastPage?: boolean;
  /** Stream names (`siem`, `siem_v1`, `ttp_url`, ..., `cloud_integrated`) whose endpoints answer 403 not licensed. */
  unlicensed?: string[];
  /**
   * The account has Mimecast's Cloud Integrated product: `/siem/v1/batch/events/ci` serves entities, mailflow and
   * urlclick files, with one CI record per five SIEM records published (default false: that endpoint answers 403).
   */
  cloudIntegrated?: boolean;
  /** API 1.0 (HMAC) calls answer `err_audit_log_incorrect_region` naming this host (true = https://de-api.mimecast.com). */
  wrongRegion?: boolean | string;
  /** PEM certificate and key: serve HTTPS (`url` is https://...). */
  tls?: { cert: string; key: string };
  /** Max records per get-siem-logs file (default 200). */
  siemV1RecordsPerFile?: number;
  /** get-siem-logs files never span a boundary of this period (default 30 min). */
  siemV1FileMs?: number;
  /** Max pageSize of the paged 1.0 functions (default 500). */
  maxApiPageSize?: number;
  /** STIX objects per threat-intel feed file (default 50). */
  threatIntelObjectsPerFile?: number;
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
  | 'replayRecords'
  | 'streamReplay'
  | 'truncatedFile'
  | 'corruptZip'
  | 'apiFail200'
  | 'oversizedLine'
  | 'redirectBlob'
  | 'bindingExpired'
  | 'wrongRegion'
  | 'unlicensed';

export type RequestCounterName = 'token' | 'batch' | 'batchCi' | 'blob' | 'other' | 'stream' | 'discover' | 'siemLogs' | 'threatIntel' | 'api';

export interface SimulatorStats {
  /** Requests received per endpoint. */
  requests: Record<RequestCounterName, number>;
  /** Responses sent per HTTP status code. */
  responses: Record<string, number>;
  /** How often each fault was injected (nonJsonLines/replayRecords: Cloud Gateway blobs published with the fault). */
  faults: Record<FaultCounterName, number>;
  /** 429s from the real quota (`rateLimit`), not from the fault. */
  rateLimited: number;
  tokensIssued: number;
  published: {
    records: number;
    blobs: number;
    byType: Record<SiemType, { records: number; blobs: number }>;
    /** Cloud Integrated records and files per type (zeros when the product is off); not in `records`/`blobs`. */
    cloudIntegrated: Record<CiType, { records: number; blobs: number }>;
    /** Records published per 1.0-style stream. */
    streams: Record<LogStreamName, number>;
    siemV1Files: number;
  };
  /** Cloud Gateway records repeated by the replay fault (each is also counted once in `published`). */
  duplicateRecords: number;
  /** Junk lines in published Cloud Gateway blobs. */
  junkLines: number;
}

export interface RunningSimulator {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly accountCode: string;
  readonly appId: string;
  readonly appKey: string;
  readonly accessKey: string;
  /** Base64 of the secret bytes, as Mimecast hands it out. */
  readonly secretKey: string;
  /** Replaces the faults at run time. */
  setFaults(f: SimulatorFaults): void;
  /** Publishes this many more v2 SIEM records now, and each 1.0-style stream its share. */
  publish(records: number): Promise<void>;
  stopPublishing(): void;
  stats(): SimulatorStats;
  /** Publishes records into one 1.0-style stream only. */
  publishStream(name: LogStreamName, records: number): Promise<void>;
  /** Distinct v2 SIEM (Cloud Gateway) records published so far; Cloud Integrated ones are in `stats()`. */
  publishedRecords(): number;
  /** Records published so far in one 1.0-style stream. */
  publishedCount(name: LogStreamName): number;
  /** With cacheDir: paths of the rendered .json.gz files (renders any not rendered yet); else []. */
  blobFiles(): string[];
  /** Idempotent; closes keep-alive sockets too. */
  close(): Promise<void>;
}
