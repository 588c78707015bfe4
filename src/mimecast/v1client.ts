// HTTP client for Mimecast API 1.0: HMAC-signed POSTs to the regional host, 1.0 error shapes, same limiter/retry rules as 2.0.
import { request, type Dispatcher } from 'undici';
import { ApiError, CollectorError, describeError } from '../core/errors.js';
import { API_RETRY, retryCall, type RetryPolicy } from '../core/retry.js';
import type { Logger } from '../telemetry/logger.js';
import { silentLogger } from '../telemetry/logger.js';
import type { MimecastApi, RawResponse, ReplyReader } from './api.js';
import { discoverRegion } from './discover.js';
import { signRequest } from './hmac.js';
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
import { joinUrl } from './oauth.js';
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  INCORRECT_REGION,
  describeErrorBody,
  extractApiError,
  knownCodeError,
  mapTransportError,
  allocBytes,
  readErrorText,
  readReplyWith,
  statusError,
  type ApiErrorContext,
  type ReplyBytes,
  successReply,
  unwrapReaderFailure,
} from './responses.js';
import { downloadUrl, type Download } from './v2client.js';
import { DEFAULT_WAIT_BOUNDS, applyServerWait, type ServerWait, type WaitBounds } from './waits.js';

export interface MimecastV1ClientOptions {
  /** The account's regional host, e.g. https://eu-api.mimecast.com. */
  baseUrl: string;
  appId: string;
  appKey: string;
  accessKey: string;
  /** Base64, as issued. */
  secretKey: string;
  /** Shared dispatcher; when absent the client makes (and on close() closes) its own from `http`. */
  agent?: Dispatcher;
  http?: HttpAgentOptions;
  /** The credential's limiter, shared by every stream of the account; the client owns one when absent. */
  limiter?: CredentialLimiter;
  logger?: Logger;
  retry?: RetryPolicy;
  userAgent?: string;
  /** 429s absorbed per attempt before one counts against `retry`. Default 20. */
  rateLimitRetries?: number;
  /** Pause used when a 429 names no usable wait. Default 1 s. */
  rateLimitFallbackMs?: number;
  /** Longest single server-given wait (429 pause, Retry-After) we accept. Default 5 min. */
  maxRateLimitWaitMs?: number;
  /** `call_deadline`: total time for one API call attempt, reply included. Default 2 min. */
  callDeadlineMs?: number;
  /** `download_deadline`: total time for one file (get-siem-logs file reply, blob download), request to last byte. Default 30 min. */
  downloadDeadlineMs?: number;
  /** The account's counters (deadlines hit, waits clamped, redirects); the client keeps its own when absent. */
  stats?: HttpStats;
  /** Largest JSON reply read into memory. Default 64 MB. */
  maxResponseBytes?: number;
  /** An address in the account: lets a wrong-region error name the right host (via discover-authentication). */
  discoveryEmail?: string;
  /** Where discovery is asked. Default https://api.mimecast.com. */
  discoveryBaseUrl?: string;
}

type Outcome = { kind: 'ok'; value: unknown } | { kind: 'throttled'; wait: ServerWait; summary: string };


export class MimecastV1Client implements MimecastApi {
  readonly generation = 'v1' as const;
  readonly baseUrl: string;
  readonly appId: string;
  readonly #appKey: string;
  readonly #accessKey: string;
  readonly #secretKey: string;
  readonly #agent: Dispatcher;
  readonly #ownsAgent: boolean;
  readonly #limiter: CredentialLimiter;
  readonly #ownsLimiter: boolean;
  readonly #log: Logger;
  readonly #retry: RetryPolicy;
  readonly #userAgent: string;
  readonly #rateLimitRetries: number;
  readonly #waits: WaitBounds;
  readonly #rules: TransferRules;
  readonly #maxResponseBytes: number;
  readonly #discoveryEmail: string | undefined;
  readonly #discoveryBaseUrl: string | undefined;
  #region: Promise<string | undefined> | undefined;
  #closed = false;

  constructor(opts: MimecastV1ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.appId = opts.appId;
    this.#appKey = opts.appKey;
    this.#accessKey = opts.accessKey;
    this.#secretKey = opts.secretKey;
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
    this.#rules = {
      callDeadlineMs: opts.callDeadlineMs ?? DEFAULT_CALL_DEADLINE_MS,
      downloadDeadlineMs: opts.downloadDeadlineMs ?? DEFAULT_DOWNLOAD_DEADLINE_MS,
      stats: opts.stats ?? new HttpStats(),
      logger: this.#log,
    };
    this.#maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#discoveryEmail = opts.discoveryEmail;
    this.#discoveryBaseUrl = opts.discoveryBaseUrl;
  }

  get limiter(): CredentialLimiter {
    return this.#limiter;
  }

  /** Deadlines hit, server waits clamped, redirects followed: this account's HTTP counters. */
  get stats(): HttpStats {
    return this.#rules.stats;
  }

  postJson(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    return this.#call(path, JSON.stringify(body ?? {}), signal, false);
  }

  async postJsonWith<T>(path: string, body: unknown, signal: AbortSignal | undefined, reader: ReplyReader<T>): Promise<T> {
    return (await this.#call(path, JSON.stringify(body ?? {}), signal, false, reader)) as T;
  }

  /**
   * POST whose 2xx reply may be a file (get-siem-logs): a non-JSON reply is returned unread. A JSON reply is read
   * (bounded): a `fail[]` becomes an ApiError, otherwise (e.g. `isLastToken`) it is returned as a stream of its bytes.
   */
  async postRaw(path: string, body: unknown, signal?: AbortSignal): Promise<RawResponse> {
    return (await this.#call(path, JSON.stringify(body ?? {}), signal, true)) as RawResponse;
  }

  getJson(path: string, _query: Record<string, string | number | undefined> = {}, _signal?: AbortSignal): Promise<unknown> {
    const call = `GET ${path}`;
    return Promise.reject(
      new ApiError('API_BAD_REQUEST', `${call} needs API 2.0; this account is configured with API 1.0 keys (app id ${this.appId})`, call, {
        retryable: false,
      }),
    );
  }

  /** A plain unauthenticated GET (pre-signed or public file URLs), with the same retry rules as 2.0. */
  async openDownload(url: string, signal?: AbortSignal): Promise<Download> {
    this.#assertOpen();
    return downloadUrl(url, { agent: this.#agent, retry: this.#retry, userAgent: this.#userAgent, waits: this.#waits, rules: this.#rules }, signal);
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

  async #call(path: string, body: string, signal: AbortSignal | undefined, raw: boolean, reader?: ReplyReader<unknown>): Promise<unknown> {
    this.#assertOpen();
    const call = `POST ${path}`;
    const url = joinUrl(this.baseUrl, path);
    return retryCall(
      async () => {
        let throttled = 0;
        for (;;) {
          await this.#limiter.acquire(signal);
          let outcome: Outcome;
          try {
            outcome = await this.#send(url, path, call, body, signal, raw, reader?.alloc ?? (reader === undefined ? undefined : allocBytes));
          } finally {
            this.#limiter.release();
          }
          if (outcome.kind === 'ok') {
            if (reader === undefined) return outcome.value;
            // Read with the credential's slot given back: parsing is not the API's time.
            return readReplyWith(outcome.value as ReplyBytes, reader, call, async (parsed) => this.#context(extractApiError(parsed)?.code, signal));
          }
          throttled++;
          if (throttled > this.#rateLimitRetries) {
            throw new ApiError('API_RATE_LIMITED', `${call} was rate-limited ${throttled} times in a row (HTTP 429): ${outcome.summary}`, call, {
              status: 429,
              retryable: true,
              retryAfterMs: outcome.wait.ms,
            });
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
    url: string,
    path: string,
    call: string,
    body: string,
    signal: AbortSignal | undefined,
    raw: boolean,
    bytes: ((size: number) => Buffer) | undefined,
  ): Promise<Outcome> {
    // Signed per attempt: a retried request must not reuse an old date or request id.
    const signed = signRequest({ accessKey: this.#accessKey, secretKey: this.#secretKey, appId: this.appId, appKey: this.#appKey, path });
    const headers: Record<string, string> = {
      authorization: signed.Authorization,
      'x-mc-date': signed['x-mc-date'],
      'x-mc-req-id': signed['x-mc-req-id'],
      'x-mc-app-id': signed['x-mc-app-id'],
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': this.#userAgent,
    };
    const deadline = transferDeadline(this.#rules, call, signal, 'call');
    let handedOver = false;
    try {
      const started = performance.now();
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { method: 'POST', headers, body, dispatcher: this.#agent, signal: deadline.signal });
      } catch (err) {
        const mapped = mapTransportError(deadline.map(err), call, signal);
        this.#log.debug({ method: 'POST', path, status: 0, ms: Math.round(performance.now() - started), code: mapped.code }, 'mimecast request');
        if (mapped.code !== 'ABORTED') this.#rules.stats.metrics.call(path, 0, (performance.now() - started) / 1000);
        throw mapped;
      }
      const status = res.statusCode;
      this.#rules.stats.metrics.call(path, status, (performance.now() - started) / 1000);
      this.#log.debug({ method: 'POST', path, status, ms: Math.round(performance.now() - started), reqId: signed['x-mc-req-id'] }, 'mimecast request');
      const errorBody = async (): Promise<ReturnType<typeof describeErrorBody>> => {
        const text = await readErrorText(res.body);
        deadline.throwIfExpired();
        return describeErrorBody(text);
      };

      // Any wait the server asks for holds the whole credential, paused before the slot is given back.
      const wait = this.#serverWait(status, res.headers, call);
      if (status === 429) {
        const { summary } = await errorBody();
        return { kind: 'throttled', wait: wait ?? { ms: this.#waits.fallbackMs }, summary };
      }
      if (status < 200 || status >= 300) {
        const { summary, info } = await errorBody();
        const ctx = await this.#context(info?.code, signal);
        if (status === 401) {
          const known = knownCodeError(info?.code, call, status, summary, ctx);
          if (known !== undefined) throw known;
          // No token to refresh in 1.0: a 401 means the signature, the keys or the clock are wrong.
          throw new ApiError(
            'API_AUTH_FAILED',
            `Mimecast rejected the API 1.0 signature for ${call} (HTTP 401: ${summary}) for the configured access_key used with app id ${this.appId}: check access_key, secret_key and app_key, and that this host's clock is right (x-mc-date)`,
            call,
            { status, retryable: false, ...(info?.code === undefined ? {} : { apiCode: info.code }) },
          );
        }
        throw statusError(status, call, summary, info?.code, wait, ctx);
      }
      const ok = await successReply(res, {
        raw,
        call,
        signal,
        deadline,
        downloadDeadlineMs: this.#rules.downloadDeadlineMs,
        maxBytes: this.#maxResponseBytes,
        failContext: async (parsed) => this.#context(extractApiError(parsed)?.code, signal),
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

  /** What error messages may say about this credential; looks the region up only when the error is about it. */
  async #context(apiCode: string | undefined, signal: AbortSignal | undefined): Promise<ApiErrorContext> {
    const ctx: ApiErrorContext = { accessKey: this.#accessKey, appId: this.appId };
    if (apiCode === INCORRECT_REGION) {
      const host = await this.#regionHost(signal);
      if (host !== undefined) ctx.regionHost = host;
    }
    return ctx;
  }

  #regionHost(signal: AbortSignal | undefined): Promise<string | undefined> {
    const email = this.#discoveryEmail;
    if (email === undefined) return Promise.resolve(undefined);
    this.#region ??= discoverRegion(email, {
      appId: this.appId,
      agent: this.#agent,
      retry: { ...this.#retry, retries: Math.min(this.#retry.retries, 2) },
      userAgent: this.#userAgent,
      deadlineMs: this.#rules.callDeadlineMs,
      logger: this.#log,
      stats: this.#rules.stats,
      ...(this.#discoveryBaseUrl === undefined ? {} : { baseUrl: this.#discoveryBaseUrl }),
      ...(signal === undefined ? {} : { signal }),
    }).catch((err: unknown) => {
      this.#log.warn({ err: describeError(err) }, 'region discovery failed; the wrong-region error lists the known hosts instead');
      return undefined;
    });
    return this.#region;
  }

  #onRetry(call: string, err: unknown, attempt: number, delayMs: number): void {
    const code = err instanceof CollectorError ? err.code : undefined;
    this.#log.warn({ call, attempt, delayMs, code, err: describeError(err) }, 'mimecast call failed; retrying');
  }
}
