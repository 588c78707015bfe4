// Every error the collector raises, in one place, each with a stable `code` that callers match on.

export const ERROR_CODES = [
  'CONFIG_INVALID',
  'CONFIG_FILE_UNREADABLE',
  'API_AUTH_FAILED',
  'API_TOKEN_EXPIRED',
  'API_PERMISSION_DENIED',
  'API_NOT_FOUND',
  'API_BAD_REQUEST',
  'API_RATE_LIMITED',
  'API_SERVER_ERROR',
  'API_NETWORK',
  'API_TIMEOUT',
  'API_BAD_RESPONSE',
  'API_FAIL',
  'BLOB_EXPIRED',
  'BLOB_MISSING',
  'BLOB_CORRUPT',
  /** A file could not be spooled to local disk (TMPDIR full or not writable): a local problem, never the file's. */
  'SPOOL_FAILED',
  'NORMALIZE_FAILED',
  'JOURNAL_FAILED',
  /** A running collector holds the journal (its lock in data_dir): a command that changes cursors refuses. */
  'JOURNAL_LOCKED',
  'SINK_RETRYABLE',
  'SINK_PERMANENT',
  /** The receiver refused a request for its size (HTTP 413, a Kafka message over the broker's limit). */
  'SINK_TOO_LARGE',
  'SINK_CONFIG',
  'ABORTED',
  /** A command line that cannot be run as given (bad option value, unknown profile): exit code 2. */
  'CLI_USAGE',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export interface CollectorErrorOptions {
  cause?: unknown;
  /** True when the same operation may succeed if tried again later. */
  retryable?: boolean;
  /** How long the other side asked us to wait before the next try. */
  retryAfterMs?: number;
  /** Structured context for logs: API path, HTTP status, config path, sink name... */
  details?: Record<string, unknown>;
}

export class CollectorError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: CollectorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CollectorError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details ?? {};
  }
}

/** A problem in the configuration; `issues` lists every problem with its path (`sinks[1].url`). */
export class ConfigError extends CollectorError {
  readonly issues: readonly { path: string; message: string }[];
  constructor(message: string, issues: readonly { path: string; message: string }[], options: CollectorErrorOptions = {}) {
    super('CONFIG_INVALID', message, options);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** An error returned by or while talking to the Mimecast API. */
export class ApiError extends CollectorError {
  /** The API call that failed, e.g. `GET /siem/v1/batch/events/cg`. */
  readonly call: string;
  readonly status: number | undefined;
  /** Mimecast's own error code when the reply carried one (`token_expired`, `err_xdk_binding_expired`). */
  readonly apiCode: string | undefined;
  constructor(
    code: ErrorCode,
    message: string,
    call: string,
    options: CollectorErrorOptions & { status?: number; apiCode?: string } = {},
  ) {
    super(code, message, options);
    this.name = 'ApiError';
    this.call = call;
    this.status = options.status;
    this.apiCode = options.apiCode;
  }
}

/** A command line that cannot be run as given: the message names the option at fault and what it accepts. */
export class UsageError extends CollectorError {
  constructor(message: string, options: CollectorErrorOptions = {}) {
    super('CLI_USAGE', message, options);
    this.name = 'UsageError';
  }
}

export type SinkErrorCode = 'SINK_RETRYABLE' | 'SINK_PERMANENT' | 'SINK_TOO_LARGE' | 'SINK_CONFIG';

/** A sink could not deliver. `retryable` false means the data or the sink's config is at fault. */
export class SinkError extends CollectorError {
  readonly sink: string;
  constructor(code: SinkErrorCode, message: string, sink: string, options: CollectorErrorOptions = {}) {
    super(code, message, { ...options, retryable: code === 'SINK_RETRYABLE' });
    this.name = 'SinkError';
    this.sink = sink;
  }
}

export function isCollectorError(err: unknown): err is CollectorError {
  return err instanceof CollectorError;
}

export function errorCode(err: unknown): ErrorCode | undefined {
  return err instanceof CollectorError ? err.code : undefined;
}

export function isAbort(err: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted === true) return true;
  if (err instanceof CollectorError) return err.code === 'ABORTED';
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR');
}

/** A short, single-line description of any thrown value, for logs and status. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
