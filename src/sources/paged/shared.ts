// Pieces the window, stream-mode and threat-intel sources share: "stream unavailable" errors, quarantine rows.
import { rawOfRecord, type NormalizedEvent, type Quarantined, type StreamName } from '../../core/contracts.js';
import { ApiError, CollectorError, describeError } from '../../core/errors.js';
import type { Normalizer } from '../normalizers.js';

export type RecordNormalizer = Normalizer;

export { MAX_RAW } from '../../core/contracts.js';

/** Normalizes one record, turning any failure into a quarantine row instead of losing the page. */
export function normalizeOrQuarantine(
  normalize: RecordNormalizer,
  record: unknown,
  account: string,
  location: string,
  events: NormalizedEvent[],
  quarantined: Quarantined[],
): void {
  try {
    events.push(normalize(record, { account }));
  } catch (err) {
    quarantined.push({ reason: 'bad_record', detail: describeError(err), location, raw: rawOfRecord(record) });
  }
}

function statusOf(err: CollectorError): number | undefined {
  if (err instanceof ApiError && err.status !== undefined) return err.status;
  const s = err.details['status'];
  return typeof s === 'number' ? s : undefined;
}

const NOT_LICENSED = /licen[cs]|not[ _-]?(enabled|entitled|available|subscribed)|entitlement|package/i;

/**
 * True when the account simply does not have the product behind a stream: HTTP 403 (permission) or 404 (no such
 * function for this account), or a 1.0 fail code that says so. Bad credentials (401/418) are NOT this: they
 * concern every stream of the account and must stay loud.
 */
export function isUnavailable(err: unknown): boolean {
  if (!(err instanceof CollectorError)) return false;
  if (err.code === 'API_AUTH_FAILED' || err.code === 'API_TOKEN_EXPIRED') return false;
  if (err.code === 'API_PERMISSION_DENIED' || err.code === 'API_NOT_FOUND') return true;
  const status = statusOf(err);
  if (status === 403 || status === 404) return true;
  if (err.code === 'API_FAIL') {
    const apiCode = err instanceof ApiError ? (err.apiCode ?? '') : '';
    return NOT_LICENSED.test(apiCode) || NOT_LICENSED.test(err.message);
  }
  return false;
}

/**
 * The error a source throws once for an unlicensed stream (`label` names it in the message; default `stream <name>`).
 * `details.disabled` tells the pipeline to stop polling this stream instead of retrying it forever; the message is
 * meant to be shown to the user once.
 */
export function disabledError(stream: StreamName, account: string, err: unknown, permission?: string, label = `stream ${stream}`): ApiError {
  const status = err instanceof CollectorError ? statusOf(err) : undefined;
  const call = err instanceof ApiError ? err.call : '';
  const what = status === 404 ? 'the function is not available for it' : 'the account is not licensed for it';
  const hint = permission === undefined ? '' : `; if it should be, give the API application's role "${permission}"`;
  // The client's message already says "... failed with HTTP 403: <what Mimecast said> (...)": keep Mimecast's words.
  const text = describeError(err);
  const said = /HTTP \d{3}: (.*)$/.exec(text)?.[1] ?? text;
  const where = `${status === undefined ? '' : `HTTP ${status}`}${call === '' ? '' : ` from ${call}`}`;
  const message = `${label} disabled for account ${account}: ${what} (${where === '' ? '' : `${where}: `}${said})${hint}`;
  return new ApiError('API_PERMISSION_DENIED', message, call, {
    cause: err,
    retryable: false,
    ...(status === undefined ? {} : { status }),
    ...(err instanceof ApiError && err.apiCode !== undefined ? { apiCode: err.apiCode } : {}),
    details: { disabled: true, stream, account },
  });
}
