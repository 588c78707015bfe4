// OAuth2 client-credentials token for API 2.0: cached, refreshed before expiry, one refresh at a time.
import { request, type Dispatcher } from 'undici';
import { ApiError, CollectorError } from '../core/errors.js';
import { raceAbort } from '../core/util.js';
import type { Logger } from '../telemetry/logger.js';
import { silentLogger } from '../telemetry/logger.js';
import { DEFAULT_CALL_DEADLINE_MS, HttpStats, transferDeadline, type TransferRules } from './http.js';
import { describeErrorBody, mapTransportError, readBodyText, readErrorText } from './responses.js';
import { DEFAULT_WAIT_BOUNDS, noteWait, serverWait } from './waits.js';

export interface TokenProviderOptions {
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Dispatcher to send through; undici's global one when absent. */
  agent?: Dispatcher;
  logger?: Logger;
  userAgent?: string;
  /** Refresh this long before expiry when the lifetime allows it. Default 3 min. */
  refreshMarginMs?: number;
  /** Wall clock in ms; injectable for tests. */
  now?: () => number;
  /** Total time for one token request, reply included (`call_deadline`). Default 2 min. */
  deadlineMs?: number;
  /** The account's HTTP counters. */
  stats?: HttpStats;
}

interface CachedToken {
  token: string;
  refreshAt: number;
  expiresAt: number;
}

const TOKEN_PATH = '/oauth/token';
const TOKEN_CALL = `POST ${TOKEN_PATH}`;
/** Mimecast's tokens live 1799 s; used when a reply forgets expires_in. */
const DEFAULT_LIFETIME_S = 1_800;
/** An old token is only used as a stop-gap while it has at least this much life left. */
const STALE_GRACE_MS = 10_000;

export function joinUrl(baseUrl: string, path: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

export class TokenProvider {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly #secret: string;
  readonly #agent: Dispatcher | undefined;
  readonly #log: Logger;
  readonly #userAgent: string;
  readonly #marginMs: number;
  readonly #now: () => number;
  readonly #rules: TransferRules;
  #cached: CachedToken | undefined;
  #inflight: Promise<CachedToken> | undefined;
  #requests = 0;

  constructor(opts: TokenProviderOptions) {
    this.tokenUrl = joinUrl(opts.baseUrl, '/oauth/token');
    this.clientId = opts.clientId;
    this.#secret = opts.clientSecret;
    this.#agent = opts.agent;
    this.#log = opts.logger ?? silentLogger();
    this.#userAgent = opts.userAgent ?? 'mimecast-collector';
    this.#marginMs = opts.refreshMarginMs ?? 180_000;
    this.#now = opts.now ?? Date.now;
    this.#rules = {
      callDeadlineMs: opts.deadlineMs ?? DEFAULT_CALL_DEADLINE_MS,
      downloadDeadlineMs: opts.deadlineMs ?? DEFAULT_CALL_DEADLINE_MS,
      stats: opts.stats ?? new HttpStats(),
      logger: this.#log,
    };
  }

  /** Token requests sent so far (for stats and tests). */
  get requests(): number {
    return this.#requests;
  }

  /** A valid bearer token; concurrent callers share one token request. */
  async getToken(signal?: AbortSignal): Promise<string> {
    if (signal?.aborted === true) throw new CollectorError('ABORTED', 'aborted');
    const cached = this.#cached;
    const now = this.#now();
    if (cached !== undefined && now < cached.refreshAt) return cached.token;
    // The shared request must not die with the first caller's signal, so callers race it instead.
    this.#inflight ??= this.#refresh().finally(() => {
      this.#inflight = undefined;
    });
    try {
      return (await raceAbort(this.#inflight, signal)).token;
    } catch (err) {
      const stillValid = this.#cached;
      if (
        err instanceof CollectorError &&
        err.retryable &&
        stillValid !== undefined &&
        this.#now() < stillValid.expiresAt - STALE_GRACE_MS
      ) {
        this.#log.warn({ clientId: this.clientId, err: err.message }, 'token refresh failed; using the current token until it expires');
        return stillValid.token;
      }
      throw err;
    }
  }

  /** Forget `token` (the API said 401) so the next getToken fetches a new one; a newer token is kept. */
  invalidate(token: string): void {
    if (this.#cached?.token === token) this.#cached = undefined;
  }

  async #refresh(): Promise<CachedToken> {
    // Shared by every waiting caller, so no caller's signal stops it; the deadline does, if the reply never ends.
    const deadline = transferDeadline(this.#rules, TOKEN_CALL, undefined, 'call');
    try {
      return await this.#request(deadline.signal);
    } catch (err) {
      throw mapTransportError(deadline.map(err), TOKEN_CALL, undefined);
    } finally {
      deadline.clear();
    }
  }

  async #request(signal: AbortSignal): Promise<CachedToken> {
    this.#requests++;
    const started = performance.now();
    const form = new URLSearchParams({
      client_id: this.clientId,
      client_secret: this.#secret,
      grant_type: 'client_credentials',
    }).toString();
    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.tokenUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          'user-agent': this.#userAgent,
        },
        body: form,
        signal,
        ...(this.#agent === undefined ? {} : { dispatcher: this.#agent }),
      });
    } catch (err) {
      const mapped = mapTransportError(err, TOKEN_CALL, undefined);
      if (!signal.aborted) {
        this.#rules.stats.metrics.call(TOKEN_PATH, 0, (performance.now() - started) / 1000);
        this.#rules.stats.metrics.tokenRefresh(false);
      }
      throw mapped;
    }
    const status = res.statusCode;
    this.#log.debug({ method: 'POST', path: TOKEN_PATH, status, ms: Math.round(performance.now() - started) }, 'mimecast request');
    this.#rules.stats.metrics.call(TOKEN_PATH, status, (performance.now() - started) / 1000);
    if (status !== 200) {
      this.#rules.stats.metrics.tokenRefresh(false);
      throw await this.#failure(res);
    }

    let text: string;
    try {
      text = await readBodyText(res.body, 1024 * 1024, TOKEN_CALL, status);
    } catch (err) {
      this.#rules.stats.metrics.tokenRefresh(false);
      throw mapTransportError(err, TOKEN_CALL, undefined);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const record = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
    const token = record['access_token'];
    if (typeof token !== 'string' || token.length === 0) {
      this.#rules.stats.metrics.tokenRefresh(false);
      throw new ApiError('API_BAD_RESPONSE', `Mimecast token reply from ${this.tokenUrl} has no access_token`, TOKEN_CALL, {
        status,
        retryable: true,
      });
    }
    const rawLifetime = Number(record['expires_in']);
    const lifetimeMs = (Number.isFinite(rawLifetime) && rawLifetime > 0 ? rawLifetime : DEFAULT_LIFETIME_S) * 1000;
    // A few minutes early when the token lives long enough, else at ~80 % of a short lifetime.
    const refreshAfterMs = Math.max(lifetimeMs - this.#marginMs, lifetimeMs * 0.8);
    const now = this.#now();
    const fresh: CachedToken = { token, refreshAt: now + refreshAfterMs, expiresAt: now + lifetimeMs };
    this.#cached = fresh;
    this.#rules.stats.metrics.tokenRefresh(true);
    return fresh;
  }

  async #failure(res: Dispatcher.ResponseData): Promise<CollectorError> {
    const status = res.statusCode;
    const { summary, info } = describeErrorBody(await readErrorText(res.body));
    const opts = { status, ...(info?.code === undefined ? {} : { apiCode: info.code }) };
    if (status === 400 || status === 401 || status === 403) {
      return new ApiError(
        'API_AUTH_FAILED',
        `Mimecast rejected the client credentials for client_id ${this.clientId} at ${this.tokenUrl}: ${summary} (HTTP ${status})`,
        TOKEN_CALL,
        { ...opts, retryable: false },
      );
    }
    const wait = serverWait(status, res.headers, DEFAULT_WAIT_BOUNDS);
    noteWait(this.#log, this.#rules.stats, TOKEN_CALL, status, wait);
    const retryAfterMs = wait?.ms;
    if (status === 429) {
      return new ApiError('API_RATE_LIMITED', `Mimecast rate-limited the token request at ${this.tokenUrl}: ${summary}`, TOKEN_CALL, {
        ...opts,
        retryable: true,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (status >= 500 && status !== 501) {
      return new ApiError('API_SERVER_ERROR', `Mimecast token endpoint ${this.tokenUrl} failed with HTTP ${status}: ${summary}`, TOKEN_CALL, {
        ...opts,
        retryable: true,
        ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
      });
    }
    if (status === 404) {
      return new ApiError('API_NOT_FOUND', `No Mimecast token endpoint at ${this.tokenUrl} (HTTP 404); check base_url: ${summary}`, TOKEN_CALL, {
        ...opts,
        retryable: false,
      });
    }
    return new ApiError('API_BAD_RESPONSE', `Mimecast token endpoint ${this.tokenUrl} answered HTTP ${status}: ${summary}`, TOKEN_CALL, {
      ...opts,
      retryable: false,
    });
  }
}
