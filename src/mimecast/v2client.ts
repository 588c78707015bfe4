// HTTP client for Mimecast API 2.0: bearer auth, per-credential limiter, 401/429/5xx handling, bounded JSON, streamed blobs.
import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { ApiError, CollectorError, describeError } from '../core/errors.js';
import { API_RETRY, retryCall, type RetryPolicy } from '../core/retry.js';
import type { Logger } from '../telemetry/logger.js';
import { silentLogger } from '../telemetry/logger.js';
import type { MimecastApi, RawResponse, ReplyReader } from './api.js';
import {
  DEFAULT_CALL_DEADLINE_MS,
  DEFAULT_DOWNLOAD_DEADLINE_MS,
  HttpStats,
  createHttpAgent,
  transferDeadline,
  type HttpAgentOptions,
  type TransferRules,
} from './http.js';
import { CredentialLimiter } from './limiter.js';
import { TokenProvider, joinUrl } from './oauth.js';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  describeErrorBody,
  guardStream,
  headerString,
  mapTransportError,
  readErrorText,
  statusError,
  contentLength,
  successReply,
  allocBytes,
  readReplyWith,
  unwrapReaderFailure,
  type ReplyBytes,
} from './responses.js';
import { DEFAULT_WAIT_BOUNDS, applyServerWait, noteWait, serverWait, type ServerWait, type WaitBounds } from './waits.js';

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
  /** Pause used when a 429 names no usable wait. Default 1 s. */
  rateLimitFallbackMs?: number;
  /** Longest single server-given wait (429 pause, Retry-After) we accept. Default 5 min. */
  maxRateLimitWaitMs?: number;
  /** Largest JSON reply read into memory. Default 64 MB. */
  maxResponseBytes?: number;
  /** `call_deadline`: total time for one API call attempt, reply included. Default 2 min. */
  callDeadlineMs?: number;
  /** `download_deadline`: total time for one file (blob download or file reply), request to last byte. Default 30 min. */
  downloadDeadlineMs?: number;
  /** The account's counters (deadlines hit, waits clamped, redirects); the client keeps its own when absent. */
  stats?: HttpStats;
}

export interface Download {
  body: Readable;
  /** From Content-Length, when the server sent one. */
  size?: number;
}

type Outcome =
  | { kind: 'ok'; value: unknown }
  | { kind: 'unauthorized'; summary: string; apiCode: string | undefined }
  | { kind: 'throttled'; wait: ServerWait; summary: string };

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
  readonly #waits: WaitBounds;
  readonly #maxResponseBytes: number;
  readonly #rules: TransferRules;
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
    this.#waits = {
      minMs: DEFAULT_WAIT_BOUNDS.minMs,
      maxMs: opts.maxRateLimitWaitMs ?? DEFAULT_WAIT_BOUNDS.maxMs,
      fallbackMs: opts.rateLimitFallbackMs ?? DEFAULT_WAIT_BOUNDS.fallbackMs,
    };
    this.#maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#rules = {
      callDeadlineMs: opts.callDeadlineMs ?? DEFAULT_CALL_DEADLINE_MS,
      downloadDeadlineMs: opts.downloadDeadlineMs ?? DEFAULT_DOWNLOAD_DEADLINE_MS,
      stats: opts.stats ?? new HttpStats(),
      logger: this.#log,
    };
    this.#tokens =
      opts.tokens ??
      new TokenProvider({
        baseUrl: this.baseUrl,
        clientId: opts.clientId,
        clientSecret: opts.clientSecret,
        agent: this.#agent,
        logger: this.#log,
        userAgent: this.#userAgent,
        deadlineMs: this.#rules.callDeadlineMs,
        stats: this.#rules.stats,
      });
  }

  get limiter(): CredentialLimiter {
    return this.#limiter;
  }

  /** Deadlines hit, server waits clamped, redirects followed: this account's HTTP counters. */
  get stats(): HttpStats {
    return this.#rules.stats;
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

  async postJsonWith<T>(path: string, body: unknown, signal: AbortSignal | undefined, reader: ReplyReader<T>): Promise<T> {
    return (await this.#call('POST', path, {}, JSON.stringify(body ?? {}), signal, false, reader)) as T;
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
      { agent: this.#agent, retry: this.#retry, userAgent: this.#userAgent, waits: this.#waits, rules: this.#rules },
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
    reader?: ReplyReader<unknown>,
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
            outcome = await this.#send(method, url, path, call, token, body, signal, raw, reader?.alloc ?? (reader === undefined ? undefined : allocBytes));
          } finally {
            this.#limiter.release();
          }
          if (outcome.kind === 'ok') {
            if (reader === undefined) return outcome.value;
            // Read with the credential's slot given back: parsing is not the API's time.
            return readReplyWith(outcome.value as ReplyBytes, reader, call);
          }
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
              { status: 429, retryable: true, retryAfterMs: outcome.wait.ms },
            );
          }
          this.#log.debug({ call, waitMs: outcome.wait.ms, throttled }, 'mimecast 429; pausing this credential');
        }
      },
      this.#retry,
      { ...(signal === undefined ? {} : { signal }), onRetry: (err, attempt, delayMs) => this.#onRetry(call, err, attempt, delayMs) },
    ).catch((err: unknown) => {
      throw unwrapReaderFailure(err);
    });
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
    bytes?: (size: number) => Buffer,
  ): Promise<Outcome> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${token}`,
      accept: raw ? '*/*' : 'application/json',
      'user-agent': this.#userAgent,
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const deadline = transferDeadline(this.#rules, call, signal, 'call');
    let handedOver = false;
    try {
      const started = performance.now();
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method,
          headers,
          dispatcher: this.#agent,
          ...(body === undefined ? {} : { body }),
          signal: deadline.signal,
        });
      } catch (err) {
        const mapped = mapTransportError(deadline.map(err), call, signal);
        this.#log.debug({ method, path, status: 0, ms: Math.round(performance.now() - started), code: mapped.code }, 'mimecast request');
        if (mapped.code !== 'ABORTED') this.#rules.stats.metrics.call(path, 0, (performance.now() - started) / 1000);
        throw mapped;
      }
      const status = res.statusCode;
      this.#log.debug({ method, path, status, ms: Math.round(performance.now() - started) }, 'mimecast request');
      this.#rules.stats.metrics.call(path, status, (performance.now() - started) / 1000);
      const errorBody = async (): Promise<ReturnType<typeof describeErrorBody>> => {
        const text = await readErrorText(res.body);
        deadline.throwIfExpired();
        return describeErrorBody(text);
      };

      if (status === 401) {
        const { summary, info } = await errorBody();
        return { kind: 'unauthorized', summary, apiCode: info?.code };
      }
      // Any wait the server asks for holds the whole credential: its other streams would only be told the same.
      // Paused here, before the slot is given back, so no queued caller slips through ahead of the pause.
      const wait = this.#serverWait(status, res.headers, call);
      if (status === 429) {
        const { summary } = await errorBody();
        return { kind: 'throttled', wait: wait ?? { ms: this.#waits.fallbackMs }, summary };
      }
      if (status < 200 || status >= 300) {
        const { summary, info } = await errorBody();
        throw statusError(status, call, summary, info?.code, wait);
      }
      const ok = await successReply(res, {
        raw,
        call,
        signal,
        deadline,
        downloadDeadlineMs: this.#rules.downloadDeadlineMs,
        maxBytes: this.#maxResponseBytes,
        ...(bytes === undefined ? {} : { bytes }),
      });
      handedOver = ok.handedOver;
      return { kind: 'ok', value: ok.value };
    } catch (err) {
      throw mapTransportError(deadline.map(err), call, signal);
    } finally {
      if (!handedOver) deadline.clear();
    }
  }

  /** The wait a reply asks for, clamped, logged if out of bounds, and applied to the credential's limiter. */
  #serverWait(status: number, headers: Record<string, string | string[] | undefined>, call: string): ServerWait | undefined {
    return applyServerWait(status, headers, call, { bounds: this.#waits, logger: this.#log, stats: this.#rules.stats, limiter: this.#limiter });
  }

  #onRetry(call: string, err: unknown, attempt: number, delayMs: number): void {
    const code = err instanceof CollectorError ? err.code : undefined;
    this.#log.warn({ call, attempt, delayMs, code, err: describeError(err) }, 'mimecast call failed; retrying');
  }
}

export interface DownloadDeps {
  agent: Dispatcher;
  retry: RetryPolicy;
  userAgent: string;
  waits: WaitBounds;
  rules: TransferRules;
}

/** Redirects followed for one blob download before giving up. */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** The `endpoint` label of file transfers (their URLs are pre-signed, one per file). */
const DOWNLOAD_ENDPOINT = 'download';

/** `GET https://host/path`: a URL as messages name it, without its query (a pre-signed query is a credential). */
function describeUrl(url: URL): string {
  return `GET ${url.origin}${url.pathname}`;
}

/**
 * Opens a pre-signed blob URL: no Authorization, not through the limiter (object storage is not the API quota).
 * Redirects (301/302/303/307/308) are followed up to MAX_REDIRECTS hops, to any origin since the request carries
 * no credentials of ours, but never from https to http and only to http(s). 403 → BLOB_EXPIRED, 404 → BLOB_MISSING,
 * neither retried here; 5xx/resets are retried until the body starts. The body streams under the download deadline
 * (all hops included); an error or the deadline mid-stream surfaces as a retryable ApiError on it. Shared by both
 * client generations.
 */
export async function downloadUrl(url: string, deps: DownloadDeps, signal?: AbortSignal): Promise<Download> {
  const first = new URL(url);
  const call = describeUrl(first);
  const log = deps.rules.logger;
  return retryCall(
    async () => {
      const deadline = transferDeadline(deps.rules, call, signal, 'download');
      let handedOver = false;
      try {
        let target = first;
        for (let hop = 0; ; hop++) {
          const started = performance.now();
          let res: Dispatcher.ResponseData;
          try {
            res = await request(target, {
              method: 'GET',
              headers: { 'user-agent': deps.userAgent },
              dispatcher: deps.agent,
              signal: deadline.signal,
            });
          } catch (err) {
            const mapped = mapTransportError(deadline.map(err), call, signal);
            if (mapped.code !== 'ABORTED') deps.rules.stats.metrics.call(DOWNLOAD_ENDPOINT, 0, (performance.now() - started) / 1000);
            throw mapped;
          }
          const status = res.statusCode;
          // Pre-signed URLs are credentials and differ per file: one label for every transfer.
          deps.rules.stats.metrics.call(DOWNLOAD_ENDPOINT, status, (performance.now() - started) / 1000);
          log.debug(
            { method: 'GET', host: target.host, path: target.pathname, status, ms: Math.round(performance.now() - started), hop },
            'blob request',
          );
          if (status >= 200 && status < 300) {
            const size = contentLength(res.headers['content-length']);
            handedOver = true;
            return { body: guardStream(res.body, call, signal, deadline), ...(size === undefined ? {} : { size }) };
          }
          if (REDIRECT_STATUSES.has(status)) {
            await readErrorText(res.body);
            target = redirectTarget(target, headerString(res.headers['location']), status, call, hop);
            deps.rules.stats.redirectsFollowed++;
            continue;
          }
          const { summary } = describeErrorBody(await readErrorText(res.body));
          deadline.throwIfExpired();
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
          const wait = serverWait(status, res.headers, deps.waits);
          noteWait(log, deps.rules.stats, call, status, wait);
          throw statusError(status, call, summary, undefined, wait);
        }
      } catch (err) {
        throw mapTransportError(deadline.map(err), call, signal);
      } finally {
        if (!handedOver) deadline.clear();
      }
    },
    deps.retry,
    {
      ...(signal === undefined ? {} : { signal }),
      onRetry: (err, attempt, delayMs) =>
        log.warn({ call, attempt, delayMs, code: err instanceof CollectorError ? err.code : undefined, err: describeError(err) }, 'mimecast call failed; retrying'),
    },
  );
}

/** Where a storage redirect leads, or the error that ends the download (loop, no Location, unsafe scheme). */
function redirectTarget(from: URL, location: string | undefined, status: number, call: string, hop: number): URL {
  const bad = (why: string): ApiError =>
    new ApiError('API_BAD_RESPONSE', `${call} was redirected (HTTP ${status}) ${why}`, call, { status, retryable: true });
  if (hop + 1 > MAX_REDIRECTS) throw bad(`more than ${MAX_REDIRECTS} redirects in a row; giving up on this URL`);
  if (location === undefined || location.trim() === '') throw bad('without a Location header');
  let next: URL;
  try {
    next = new URL(location.trim(), from);
  } catch (err) {
    throw new ApiError('API_BAD_RESPONSE', `${call} was redirected (HTTP ${status}) to an invalid Location`, call, { status, retryable: true, cause: err });
  }
  if (next.protocol !== 'https:' && next.protocol !== 'http:') throw bad(`to a ${next.protocol} URL; only http(s) is followed`);
  if (from.protocol === 'https:' && next.protocol === 'http:') {
    throw bad(`from https to plain http (${describeUrl(next)}); refusing to fetch log files unencrypted`);
  }
  return next;
}
