// HTTP client for Mimecast API 2.0: bearer auth, per-credential limiter, 401/429/5xx handling, bounded JSON, streamed blobs.
import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { ApiError, CollectorError, describeError } from '../core/errors.js';
import { API_RETRY, retryCall, type RetryPolicy } from '../core/retry.js';
import type { Logger } from '../telemetry/logger.js';
import { silentLogger } from '../telemetry/logger.js';
import type { MimecastApi, RawResponse } from './api.js';
import { createHttpAgent, type HttpAgentOptions } from './http.js';
import { CredentialLimiter } from './limiter.js';
import { TokenProvider, joinUrl } from './oauth.js';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  describeErrorBody,
  failReplyError,
  flattenHeaders,
  guardStream,
  isJsonContentType,
  mapTransportError,
  parseRateLimitReset,
  readErrorText,
  statusError,
  type HeaderValue,
  type RateLimitWaits,
  readJsonBody,
  contentLength,
} from './responses.js';

export type QueryParams = Record<string, string | number | undefined>;

export interface MimecastV2ClientOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Shared dispatcher; when absent the client makes (and on close() closes) its own from `http`. */
  agent?: Dispatcher;
  http?: HttpAgentOptions;
  /** The account's limiter, shared by every stream of the credential; the client owns one when absent. */
  limiter?: CredentialLimiter;
  logger?: Logger;
  retry?: RetryPolicy;
  userAgent?: string;
  /** Injected token provider (e.g. a shared one); built from the credentials when absent. */
  tokens?: TokenProvider;
  /** 429s absorbed per attempt before one counts against `retry`. Default 20. */
  rateLimitRetries?: number;
  /** Pause used when a 429 has no usable X-RateLimit-Reset. Default 1 s. */
  rateLimitFallbackMs?: number;
  /** Longest single 429 pause we accept from the server. Default 5 min. */
  maxRateLimitWaitMs?: number;
  /** Largest JSON reply read into memory. Default 64 MB. */
  maxResponseBytes?: number;
}

export interface Download {
  body: Readable;
  /** From Content-Length, when the server sent one. */
  size?: number;
}

type Outcome =
  | { kind: 'ok'; value: unknown }
  | { kind: 'unauthorized'; summary: string; apiCode: string | undefined }
  | { kind: 'throttled'; waitMs: number; summary: string };

const MAX_SHOWN_PARAM = 40;

/** `GET /siem/v1/batch/events/cg type=receipt pageSize=100`: the call as messages and logs name it. */
export function describeCall(method: string, path: string, query: QueryParams = {}): string {
  const params = Object.entries(query)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => {
      const s = String(v);
      return `${k}=${s.length > MAX_SHOWN_PARAM ? `${s.slice(0, MAX_SHOWN_PARAM)}…` : s}`;
    });
  return [`${method} ${path}`, ...params].join(' ');
}

function queryString(query: QueryParams): string {
  // encodeURIComponent, not URLSearchParams: SIEM types contain spaces and must go out as %20, not '+'.
  const parts = Object.entries(query)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}


export class MimecastV2Client implements MimecastApi {
  readonly generation = 'v2' as const;
  readonly baseUrl: string;
  readonly #tokens: TokenProvider;
  readonly #agent: Dispatcher;
  readonly #ownsAgent: boolean;
  readonly #limiter: CredentialLimiter;
  readonly #ownsLimiter: boolean;
  readonly #log: Logger;
  readonly #retry: RetryPolicy;
  readonly #userAgent: string;
  readonly #rateLimitRetries: number;
  readonly #rateLimitFallbackMs: number;
  readonly #maxRateLimitWaitMs: number;
  readonly #maxResponseBytes: number;
  #closed = false;

  constructor(opts: MimecastV2ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.#ownsAgent = opts.agent === undefined;
    this.#agent = opts.agent ?? createHttpAgent(opts.http);
    this.#ownsLimiter = opts.limiter === undefined;
    this.#limiter = opts.limiter ?? new CredentialLimiter();
    this.#log = opts.logger ?? silentLogger();
    this.#retry = opts.retry ?? API_RETRY;
    this.#userAgent = opts.userAgent ?? 'mimecast-collector';
    this.#rateLimitRetries = opts.rateLimitRetries ?? 20;
    this.#rateLimitFallbackMs = opts.rateLimitFallbackMs ?? 1_000;
    this.#maxRateLimitWaitMs = opts.maxRateLimitWaitMs ?? 300_000;
    this.#maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#tokens =
      opts.tokens ??
      new TokenProvider({
        baseUrl: this.baseUrl,
        clientId: opts.clientId,
        clientSecret: opts.clientSecret,
        agent: this.#agent,
        logger: this.#log,
        userAgent: this.#userAgent,
      });
  }

  get limiter(): CredentialLimiter {
    return this.#limiter;
  }

  get tokens(): TokenProvider {
    return this.#tokens;
  }

  getJson(path: string, query: QueryParams = {}, signal?: AbortSignal): Promise<unknown> {
    return this.#call('GET', path, query, undefined, signal);
  }

  postJson(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    return this.#call('POST', path, {}, JSON.stringify(body ?? {}), signal);
  }

  /**
   * POST whose 2xx reply may be a file: returned unread for the caller to stream. A JSON reply is read (bounded)
   * so a `fail[]` inside it becomes an ApiError; without one it is handed back as a fresh stream of the same bytes.
   */
  async postRaw(path: string, body: unknown, signal?: AbortSignal): Promise<RawResponse> {
    const value = await this.#call('POST', path, {}, JSON.stringify(body ?? {}), signal, true);
    return value as RawResponse;
  }

  /**
   * Opens a pre-signed blob URL: no Authorization, not through the limiter (object storage is not the
   * API quota). 403 → BLOB_EXPIRED, 404 → BLOB_MISSING, neither retried here; 5xx/resets are retried
   * until the body starts. The body streams; an error mid-stream surfaces as a retryable ApiError on it.
   */
  async openDownload(url: string, signal?: AbortSignal): Promise<Download> {
    this.#assertOpen();
    return downloadUrl(
      url,
      {
        agent: this.#agent,
        logger: this.#log,
        retry: this.#retry,
        userAgent: this.#userAgent,
        waits: { fallbackMs: this.#rateLimitFallbackMs, maxMs: this.#maxRateLimitWaitMs },
      },
      signal,
    );
  }

  /** Closes the agent and limiter if this client made them. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsLimiter) this.#limiter.close();
    if (this.#ownsAgent) await this.#agent.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new CollectorError('ABORTED', 'Mimecast client is closed');
  }

  async #call(
    method: 'GET' | 'POST',
    path: string,
    query: QueryParams,
    body: string | undefined,
    signal: AbortSignal | undefined,
    raw = false,
  ): Promise<unknown> {
    this.#assertOpen();
    const call = describeCall(method, path, query);
    const url = joinUrl(this.baseUrl, path) + queryString(query);
    // One re-authentication per call, whatever the retries: a second 401 means the credentials are bad.
    let reauthenticated = false;
    return retryCall(
      async () => {
        let throttled = 0;
        for (;;) {
          const token = await this.#tokens.getToken(signal);
          await this.#limiter.acquire(signal);
          let outcome: Outcome;
          try {
            outcome = await this.#send(method, url, path, call, token, body, signal, raw);
            // Pause before giving the slot back, or a queued caller would slip through ahead of the pause.
            if (outcome.kind === 'throttled') this.#limiter.pause(outcome.waitMs);
          } finally {
            this.#limiter.release();
          }
          if (outcome.kind === 'ok') return outcome.value;
          if (outcome.kind === 'unauthorized') {
            this.#tokens.invalidate(token);
            if (!reauthenticated) {
              reauthenticated = true;
              this.#log.debug({ call, apiCode: outcome.apiCode }, 'mimecast 401; fetching a new token and repeating once');
              continue;
            }
            throw new ApiError(
              'API_AUTH_FAILED',
              `Mimecast refused the token for ${call} twice (HTTP 401) for client_id ${this.#tokens.clientId}: ${outcome.summary}`,
              call,
              { status: 401, retryable: false, ...(outcome.apiCode === undefined ? {} : { apiCode: outcome.apiCode }) },
            );
          }
          // 429: everyone on this credential waits out the reset (paused above); these waits have their own
          // budget so a busy quota does not burn the error retries.
          throttled++;
          if (throttled > this.#rateLimitRetries) {
            throw new ApiError(
              'API_RATE_LIMITED',
              `${call} was rate-limited ${throttled} times in a row (HTTP 429): ${outcome.summary}`,
              call,
              { status: 429, retryable: true, retryAfterMs: outcome.waitMs },
            );
          }
          this.#log.debug({ call, waitMs: outcome.waitMs, throttled }, 'mimecast 429; pausing this credential');
        }
      },
      this.#retry,
      { ...(signal === undefined ? {} : { signal }), onRetry: (err, attempt, delayMs) => this.#onRetry(call, err, attempt, delayMs) },
    );
  }

  async #send(
    method: 'GET' | 'POST',
    url: string,
    path: string,
    call: string,
    token: string,
    body: string | undefined,
    signal: AbortSignal | undefined,
    raw: boolean,
  ): Promise<Outcome> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: raw ? '*/*' : 'application/json',
      'user-agent': this.#userAgent,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const started = performance.now();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method,
        headers,
        dispatcher: this.#agent,
        ...(body === undefined ? {} : { body }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      const mapped = mapTransportError(err, call, signal);
      this.#log.debug({ method, path, status: 0, ms: Math.round(performance.now() - started), code: mapped.code }, 'mimecast request');
      throw mapped;
    }
    const status = res.statusCode;
    this.#log.debug({ method, path, status, ms: Math.round(performance.now() - started) }, 'mimecast request');

    if (status === 401) {
      const { summary, info } = describeErrorBody(await readErrorText(res.body));
      return { kind: 'unauthorized', summary, apiCode: info?.code };
    }
    if (status === 429) {
      const { summary } = describeErrorBody(await readErrorText(res.body));
      const waitMs = parseRateLimitReset(res.headers['x-ratelimit-reset'], this.#rateLimitFallbackMs, this.#maxRateLimitWaitMs);
      return { kind: 'throttled', waitMs, summary };
    }
    if (status < 200 || status >= 300) {
      const { summary, info } = describeErrorBody(await readErrorText(res.body));
      throw this.#statusError(status, res.headers, call, summary, info?.code);
    }
    if (raw && !isJsonContentType(res.headers['content-type'])) {
      return { kind: 'ok', value: { status, headers: flattenHeaders(res.headers), body: guardStream(res.body, call, signal) } satisfies RawResponse };
    }

    const { text, value: parsed } = await readJsonBody(res, this.#maxResponseBytes, call, status, signal);
    const failure = failReplyError(parsed, call, status);
    if (failure !== undefined) throw failure;
    if (raw) {
      return { kind: 'ok', value: { status, headers: flattenHeaders(res.headers), body: Readable.from([Buffer.from(text, 'utf8')]) } satisfies RawResponse };
    }
    return { kind: 'ok', value: parsed };
  }

  #statusError(status: number, headers: Record<string, HeaderValue>, call: string, summary: string, apiCode: string | undefined): ApiError {
    return statusError(status, headers, call, summary, apiCode, { fallbackMs: this.#rateLimitFallbackMs, maxMs: this.#maxRateLimitWaitMs });
  }

  #onRetry(call: string, err: unknown, attempt: number, delayMs: number): void {
    const code = err instanceof CollectorError ? err.code : undefined;
    this.#log.warn({ call, attempt, delayMs, code, err: describeError(err) }, 'mimecast call failed; retrying');
  }
}

export interface DownloadDeps {
  agent: Dispatcher;
  logger: Logger;
  retry: RetryPolicy;
  userAgent: string;
  waits: RateLimitWaits;
}

/**
 * Opens a pre-signed blob URL: no Authorization, not through the limiter (object storage is not the API quota).
 * 403 → BLOB_EXPIRED, 404 → BLOB_MISSING, neither retried here; 5xx/resets are retried until the body starts.
 * The body streams; an error mid-stream surfaces as a retryable ApiError on it. Shared by both client generations.
 */
export async function downloadUrl(url: string, deps: DownloadDeps, signal?: AbortSignal): Promise<Download> {
  const parsed = new URL(url);
  // The query string of a pre-signed URL is a credential: keep it out of messages and logs.
  const call = `GET ${parsed.origin}${parsed.pathname}`;
  return retryCall(
    async () => {
      const started = performance.now();
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET',
          headers: { 'user-agent': deps.userAgent },
          dispatcher: deps.agent,
          ...(signal === undefined ? {} : { signal }),
        });
      } catch (err) {
        throw mapTransportError(err, call, signal);
      }
      const status = res.statusCode;
      deps.logger.debug(
        { method: 'GET', host: parsed.host, path: parsed.pathname, status, ms: Math.round(performance.now() - started) },
        'blob request',
      );
      if (status >= 200 && status < 300) {
        const size = contentLength(res.headers['content-length']);
        return { body: guardStream(res.body, call, signal), ...(size === undefined ? {} : { size }) };
      }
      const { summary } = describeErrorBody(await readErrorText(res.body));
      if (status === 403) {
        throw new ApiError(
          'BLOB_EXPIRED',
          `${call} was refused (HTTP 403): the pre-signed URL has expired; request the page again for fresh URLs`,
          call,
          { status },
        );
      }
      if (status === 404) {
        throw new ApiError('BLOB_MISSING', `${call} does not exist (HTTP 404): ${summary}`, call, { status });
      }
      throw statusError(status, res.headers, call, summary, undefined, deps.waits);
    },
    deps.retry,
    {
      ...(signal === undefined ? {} : { signal }),
      onRetry: (err, attempt, delayMs) =>
        deps.logger.warn({ call, attempt, delayMs, code: err instanceof CollectorError ? err.code : undefined, err: describeError(err) }, 'mimecast call failed; retrying'),
    },
  );
}
