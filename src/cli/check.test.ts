// `check`'s verdicts in an operator's words, chosen by error code.
import { describe, expect, it } from 'vitest';
import type { AccountConfig } from '../config/schema.js';
import { ApiError, CollectorError } from '../core/errors.js';
import { streamVerdict } from './check.js';

const v2 = { name: 'corp', api: 'v2' } as AccountConfig;
const v1 = { name: 'corp', api: 'v1' } as AccountConfig;

describe('streamVerdict', () => {
  it('a 403 names the role permission the application lacks for that stream', () => {
    const err = new ApiError('API_PERMISSION_DENIED', 'Mimecast API GET /siem/v1/batch/events/cg failed with HTTP 403: forbidden', 'GET /siem/v1/batch/events/cg', { status: 403 });
    expect(streamVerdict(err, v2, 'siem')).toBe(
      'the API 2.0 application lacks the permission to read siem (role permission "Security Events and Data Retrieval | Threat and Security Events (SIEM) | Read"): Mimecast API GET /siem/v1/batch/events/cg failed with HTTP 403: forbidden',
    );
    expect(streamVerdict(err, v1, 'audit')).toMatch(/^the role of the API 1\.0 keys' user lacks the permission to read audit \(role permission "Account \| Logs \| Read"\): /);
    expect(streamVerdict(new ApiError('API_AUTH_FAILED', 'binding expired', 'POST /api/audit/get-audit-events'), v1, 'audit')).toBe('the API 1.0 keys were refused: binding expired');
  });

  it('refused credentials, an unlicensed stream in its source\'s own words, network trouble, anything else as said', () => {
    expect(streamVerdict(new ApiError('API_AUTH_FAILED', 'token refused', 'POST /oauth/token', { status: 401 }), v2, 'audit')).toBe('the API 2.0 application credentials were refused: token refused');
    const disabled = new ApiError('API_PERMISSION_DENIED', 'stream dlp disabled for account corp: the account is not licensed for it', 'POST /api/dlp/get-logs', { details: { disabled: true } });
    expect(streamVerdict(disabled, v2, 'dlp')).toBe('stream dlp disabled for account corp: the account is not licensed for it');
    expect(streamVerdict(new CollectorError('API_NETWORK', 'connect ECONNREFUSED'), v2, 'audit')).toBe('cannot reach the Mimecast API: connect ECONNREFUSED');
    expect(streamVerdict(new ApiError('API_FAIL', 'failed', 'POST /x', { apiCode: 'err_x' }), v2, 'audit')).toBe('failed (Mimecast code err_x)');
  });
});
