// Tests for API 1.0 signing: the documented vector, the RFC 2202 sanity vector, header shape.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { formatMcDate, hmacSha1Base64, signRequest } from './hmac.js';

const VECTOR = {
  secretKey: 'AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=',
  appKey: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
  date: 'Tue, 24 Nov 2015 12:50:11 UTC',
  requestId: '8578FCFC-A305-4D9A-99CB-F4D5ECEFE297',
  path: '/api/audit/get-siem-logs',
};

describe('signRequest', () => {
  it('reproduces the §1.3 test vector', () => {
    const h = signRequest({ ...VECTOR, accessKey: 'AK-123', appId: 'app-1' });
    expect(h).toEqual({
      Authorization: 'MC AK-123:3v9OQIokC68SeaZIon948PP79jU=',
      'x-mc-date': VECTOR.date,
      'x-mc-req-id': VECTOR.requestId,
      'x-mc-app-id': 'app-1',
    });
  });

  it('passes the RFC 2202 case 1 sanity vector', () => {
    expect(hmacSha1Base64('CwsLCwsLCwsLCwsLCwsLCwsLCws=', 'Hi There')).toBe('thcxhlUFcmTii8C2+zeMjvFGvgA=');
  });

  it('formats x-mc-date as RFC 1123 with UTC and a two-digit day', () => {
    expect(formatMcDate(new Date(Date.UTC(2015, 10, 24, 12, 50, 11)))).toBe('Tue, 24 Nov 2015 12:50:11 UTC');
    expect(formatMcDate(new Date(Date.UTC(2024, 2, 1, 0, 0, 5)))).toBe('Fri, 01 Mar 2024 00:00:05 UTC');
  });

  it('uses a fresh UUID and the current time by default, and signs exactly what it sends', () => {
    const a = signRequest({ accessKey: 'ak', secretKey: VECTOR.secretKey, appId: 'id', appKey: 'k', path: '/api/x' });
    const b = signRequest({ accessKey: 'ak', secretKey: VECTOR.secretKey, appId: 'id', appKey: 'k', path: '/api/x' });
    expect(a['x-mc-req-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(a['x-mc-req-id']).not.toBe(b['x-mc-req-id']);
    expect(a['x-mc-date']).toMatch(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} UTC$/);
    const expected = createHmac('sha1', Buffer.from(VECTOR.secretKey, 'base64'))
      .update(`${a['x-mc-date']}:${a['x-mc-req-id']}:/api/x:k`)
      .digest('base64');
    expect(a.Authorization).toBe(`MC ak:${expected}`);
  });

  it('refuses empty keys', () => {
    expect(() => signRequest({ accessKey: '', secretKey: 'x', appId: 'a', appKey: 'k', path: '/' })).toThrow(TypeError);
  });
});
