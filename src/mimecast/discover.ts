// API 1.0 region discovery: asks the global host which regional API host serves an account (mimecast-api.md §1.1).
import { randomUUID } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { ApiError } from '../core/errors.js';
import { API_RETRY, retryCall, type RetryPolicy } from '../core/retry.js';
import { formatMcDate } from './hmac.js';
import { silentLogger, type Logger } from '../telemetry/logger.js';
import { DEFAULT_CALL_DEADLINE_MS, HttpStats, createHttpAgent, transferDeadline, type TransferRules } from './http.js';
import { describeErrorBody, failReplyError, mapTransportError, readBodyText, readErrorText, statusError } from './responses.js';
import { DEFAULT_WAIT_BOUNDS, noteWait, serverWait } from './waits.js';

export const DISCOVERY_BASE_URL = 'https://api.mimecast.com';
const PATH = '/api/login/discover-authentication';

export interface DiscoverOptions {
  baseUrl?: string;
  appId: string;
  /** Shared dispatcher; a short-lived one is made (and closed) when absent. */
  agent?: Dispatcher;
  signal?: AbortSignal;
  retry?: RetryPolicy;
  userAgent?: string;
  /** Total time for one attempt, reply included (`call_deadline`). Default 2 min. */
  deadlineMs?: number;
  logger?: Logger;
  stats?: HttpStats;
}

/**
 * The API 1.0 base URL (`data[0].region.api`) for the account that `email` belongs to. The call is not signed:
 * it carries only x-mc-date, x-mc-req-id and x-mc-app-id.
 */
export async function discoverRegion(email: string, opts: DiscoverOptions): Promise<string> {
  const base = (opts.baseUrl ?? DISCOVERY_BASE_URL).replace(/\/+$/, '');
  const call = `POST ${PATH}`;
  const agent = opts.agent ?? createHttpAgent();
  const signal = opts.signal;
  const log = opts.logger ?? silentLogger();
  const deadlineMs = opts.deadlineMs ?? DEFAULT_CALL_DEADLINE_MS;
  const rules: TransferRules = { callDeadlineMs: deadlineMs, downloadDeadlineMs: deadlineMs, stats: opts.stats ?? new HttpStats(), logger: log };
  try {
    return await retryCall(
      async () => {
        const deadline = transferDeadline(rules, call, signal, 'call');
        try {
          return await attempt(deadline.signal);
        } catch (err) {
          throw mapTransportError(deadline.map(err), call, signal);
        } finally {
          deadline.clear();
        }
      },
      opts.retry ?? API_RETRY,
      signal === undefined ? {} : { signal },
    );
  } finally {
    if (opts.agent === undefined) await agent.close();
  }

  async function attempt(attemptSignal: AbortSignal): Promise<string> {
    let res: Dispatcher.ResponseData;
    const started = performance.now();
    try {
      res = await request(base + PATH, {
        method: 'POST',
        dispatcher: agent,
        headers: {
          'x-mc-date': formatMcDate(new Date()),
          'x-mc-req-id': randomUUID(),
          'x-mc-app-id': opts.appId,
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': opts.userAgent ?? 'mimecast-collector',
        },
        body: JSON.stringify({ data: [{ emailAddress: email }] }),
        signal: attemptSignal,
      });
    } catch (err) {
      const mapped = mapTransportError(err, call, signal);
      if (mapped.code !== 'ABORTED') rules.stats.metrics.call(PATH, 0, (performance.now() - started) / 1000);
      throw mapped;
    }
    const status = res.statusCode;
    rules.stats.metrics.call(PATH, status, (performance.now() - started) / 1000);
    if (status < 200 || status >= 300) {
      const { summary, info } = describeErrorBody(await readErrorText(res.body));
      const wait = serverWait(status, res.headers, DEFAULT_WAIT_BOUNDS);
      noteWait(log, rules.stats, call, status, wait);
      throw statusError(status, call, summary, info?.code, wait, { appId: opts.appId });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readBodyText(res.body, 1024 * 1024, call, status));
    } catch (err) {
      throw err instanceof ApiError ? err : new ApiError('API_BAD_RESPONSE', `${call} returned a body that is not JSON`, call, { status, cause: err, retryable: true });
    }
    const failure = failReplyError(parsed, call, status, { appId: opts.appId });
    if (failure !== undefined) throw failure;
    const host = regionApiOf(parsed);
    if (host === undefined) {
      throw new ApiError('API_BAD_RESPONSE', `${call} did not name a region for ${email} (no data[0].region.api)`, call, { status });
    }
    return host;
  }
}

function regionApiOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const data = (body as Record<string, unknown>)['data'];
  const first: unknown = Array.isArray(data) ? data[0] : undefined;
  if (typeof first !== 'object' || first === null) return undefined;
  const region = (first as Record<string, unknown>)['region'];
  if (typeof region !== 'object' || region === null) return undefined;
  const api = (region as Record<string, unknown>)['api'];
  if (typeof api !== 'string' || api.trim() === '') return undefined;
  const trimmed = api.trim().replace(/\/+$/, '');
  // Some answers name a bare host; the API is only served over HTTPS.
  return /^https?:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}
