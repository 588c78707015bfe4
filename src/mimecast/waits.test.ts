// Tests for the one parser of server-given waits: both Retry-After forms, X-RateLimit-Reset, and the clamps.
import { describe, expect, it } from 'vitest';
import { DEFAULT_WAIT_BOUNDS, MAX_SERVER_WAIT_MS, MIN_SERVER_WAIT_MS, describeWait, parseWaitHeader, serverWait } from './waits.js';

const NOW = Date.parse('2024-06-05T12:00:00Z');
const B = DEFAULT_WAIT_BOUNDS;

describe('parseWaitHeader', () => {
  it('reads Retry-After as delta-seconds and as an HTTP date', () => {
    expect(parseWaitHeader('Retry-After', '120', B, NOW)).toEqual({ ms: 120_000, header: 'Retry-After', raw: '120' });
    expect(parseWaitHeader('Retry-After', '1.5', B, NOW)?.ms).toBe(1_500);
    expect(parseWaitHeader('Retry-After', 'Wed, 05 Jun 2024 12:00:30 GMT', B, NOW)).toMatchObject({ ms: 30_000 });
    expect(parseWaitHeader('Retry-After', ['7', '9'], B, NOW)?.ms).toBe(7_000);
  });

  it('reads X-RateLimit-Reset as milliseconds', () => {
    expect(parseWaitHeader('X-RateLimit-Reset', '1200', B, NOW)).toEqual({ ms: 1_200, header: 'X-RateLimit-Reset', raw: '1200' });
  });

  it('is undefined when the header is absent or empty', () => {
    expect(parseWaitHeader('Retry-After', undefined, B, NOW)).toBeUndefined();
    expect(parseWaitHeader('X-RateLimit-Reset', '  ', B, NOW)).toBeUndefined();
  });

  it('clamps absurd values to the maximum (999999999 s would overflow a Node timer)', () => {
    expect(parseWaitHeader('Retry-After', '999999999', B, NOW)).toEqual({ ms: MAX_SERVER_WAIT_MS, header: 'Retry-After', raw: '999999999', clamped: 'above_max' });
    expect(parseWaitHeader('X-RateLimit-Reset', '1e300', B, NOW)).toMatchObject({ ms: MAX_SERVER_WAIT_MS, clamped: 'above_max' });
    expect(parseWaitHeader('X-RateLimit-Reset', 'Infinity', B, NOW)).toMatchObject({ ms: MAX_SERVER_WAIT_MS, clamped: 'above_max' });
    expect(parseWaitHeader('Retry-After', 'Fri, 31 Dec 9999 23:59:59 GMT', B, NOW)).toMatchObject({ ms: MAX_SERVER_WAIT_MS, clamped: 'above_max' });
  });

  it('raises zero, negative and past values to the minimum', () => {
    expect(parseWaitHeader('Retry-After', '0', B, NOW)).toMatchObject({ ms: MIN_SERVER_WAIT_MS, clamped: 'below_min' });
    expect(parseWaitHeader('Retry-After', '-5', B, NOW)).toMatchObject({ ms: MIN_SERVER_WAIT_MS, clamped: 'below_min' });
    expect(parseWaitHeader('X-RateLimit-Reset', '-1', B, NOW)).toMatchObject({ ms: MIN_SERVER_WAIT_MS, clamped: 'below_min' });
    expect(parseWaitHeader('Retry-After', 'Wed, 05 Jun 2024 11:00:00 GMT', B, NOW)).toMatchObject({ ms: MIN_SERVER_WAIT_MS, clamped: 'below_min' });
  });

  it('uses the fallback for values it cannot read', () => {
    for (const raw of ['soon', '12abc', '0x10', 'NaN']) {
      expect(parseWaitHeader('Retry-After', raw, B, NOW)).toEqual({ ms: B.fallbackMs, header: 'Retry-After', raw, clamped: 'unparseable' });
    }
    expect(parseWaitHeader('X-RateLimit-Reset', 'soon-ish', B, NOW)).toMatchObject({ ms: B.fallbackMs, clamped: 'unparseable' });
  });
});

describe('serverWait', () => {
  it('429: X-RateLimit-Reset first, then Retry-After, then the fallback', () => {
    expect(serverWait(429, { 'x-ratelimit-reset': '800', 'retry-after': '60' }, B, NOW)).toMatchObject({ ms: 800, header: 'X-RateLimit-Reset' });
    expect(serverWait(429, { 'x-ratelimit-reset': 'junk', 'retry-after': '60' }, B, NOW)).toMatchObject({ ms: 60_000, header: 'Retry-After' });
    expect(serverWait(429, { 'retry-after': '999999999' }, B, NOW)).toMatchObject({ ms: MAX_SERVER_WAIT_MS, clamped: 'above_max' });
    expect(serverWait(429, { 'x-ratelimit-reset': 'junk' }, B, NOW)).toMatchObject({ ms: B.fallbackMs, clamped: 'unparseable' });
    expect(serverWait(429, {}, B, NOW)).toEqual({ ms: B.fallbackMs });
  });

  it('5xx: Retry-After when sent, else nothing (plain backoff)', () => {
    expect(serverWait(503, { 'retry-after': '3' }, B, NOW)).toMatchObject({ ms: 3_000, header: 'Retry-After' });
    expect(serverWait(503, { 'x-ratelimit-reset': '3' }, B, NOW)).toBeUndefined();
    expect(serverWait(500, {}, B, NOW)).toBeUndefined();
    expect(serverWait(400, { 'retry-after': '3' }, B, NOW)).toBeUndefined();
  });

  it('honours custom bounds', () => {
    const b = { minMs: 1_000, maxMs: 10_000, fallbackMs: 2_000 };
    expect(serverWait(429, { 'x-ratelimit-reset': '50' }, b, NOW)).toMatchObject({ ms: 1_000, clamped: 'below_min' });
    expect(serverWait(429, { 'x-ratelimit-reset': '50000' }, b, NOW)).toMatchObject({ ms: 10_000, clamped: 'above_max' });
  });
});

describe('describeWait', () => {
  it('says which header asked for what and what was used', () => {
    expect(describeWait(429, { ms: 1_200, header: 'X-RateLimit-Reset', raw: '1200' })).toBe('HTTP 429 X-RateLimit-Reset=1200');
    expect(describeWait(503, { ms: MAX_SERVER_WAIT_MS, header: 'Retry-After', raw: '999999999', clamped: 'above_max' })).toBe(
      'HTTP 503 Retry-After=999999999 (clamped to 300000 ms)',
    );
    expect(describeWait(429, { ms: 1_000 })).toBe('HTTP 429 without a wait header (1000 ms default)');
  });
});
