// API 1.0 region discovery: asks the global host which regional API host serves an account (mimecast-api.md §1.1).
import { randomUUID } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { ApiError } from '../core/errors.js';
import { API_RETRY, retryCall, type RetryPolicy } from '../core/retry.js';
import { formatMcDate } from './hmac.js';
import { createHttpAgent } from './http.js';
import { describeErrorBody, failReplyError, mapTransportError, readBodyText, readErrorText, statusError } from './responses.js';

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
  try {
    return await retryCall(
      async () => {
        let res: Dispatcher.ResponseData;
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
            ...(signal === undefined ? {} : { signal }),
          });
        } catch (err) {
          throw mapTransportError(err, call, signal);
        }
        const status = res.statusCode;
        if (status < 200 || status >= 300) {
          const { summary, info } = describeErrorBody(await readErrorText(res.body));
          throw statusError(status, res.headers, call, summary, info?.code, { fallbackMs: 1_000, maxMs: 60_000 }, { appId: opts.appId });
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
      },
      opts.retry ?? API_RETRY,
      signal === undefined ? {} : { signal },
    );
  } finally {
    if (opts.agent === undefined) await agent.close();
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
