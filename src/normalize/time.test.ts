// Tests for the one time parser: every format the API uses, and the garbage it must refuse.
import { describe, expect, it } from 'vitest';
import { formatDay, formatMimecastDate, parseTime, toIso } from './time.js';

function iso(v: unknown): string | undefined {
  const d = parseTime(v);
  return d === undefined ? undefined : d.toISOString();
}

describe('parseTime: formats the API and our config produce', () => {
  it.each([
    // x-mc-date header, RFC 1123
    ['Tue, 24 Nov 2015 12:50:11 UTC', '2015-11-24T12:50:11.000Z'],
    ['Tue, 24 Nov 2015 12:50:11 GMT', '2015-11-24T12:50:11.000Z'],
    ['24 Nov 2015 12:50:11 GMT', '2015-11-24T12:50:11.000Z'],
    ['Tue, 24 Nov 2015 14:50:11 +0200', '2015-11-24T12:50:11.000Z'],
    ['Tue, 24 Nov 2015 12:50 GMT', '2015-11-24T12:50:00.000Z'],
    // API 1.0 request / response dates: offset without colon
    ['2011-12-03T10:15:30+0000', '2011-12-03T10:15:30.000Z'],
    ['2021-11-24T11:54:30+0000', '2021-11-24T11:54:30.000Z'],
    // SIEM 1.0 datetime in the account's local offset
    ['2021-10-18T09:02:43+0100', '2021-10-18T08:02:43.000Z'],
    ['2022-05-23T12:20:44-0400', '2022-05-23T16:20:44.000Z'],
    ['2024-03-01T10:02:11+0700', '2024-03-01T03:02:11.000Z'],
    // RFC 3339 with Z or a colon offset, fractional seconds
    ['2024-11-12T16:22:16Z', '2024-11-12T16:22:16.000Z'],
    ['2024-06-05T11:50:06.389Z', '2024-06-05T11:50:06.389Z'],
    ['2021-11-19T01:28:37.099Z', '2021-11-19T01:28:37.099Z'],
    ['2024-03-01T11:02:11.482+01:00', '2024-03-01T10:02:11.482Z'],
    ['2024-03-01T15:32:11+05:30', '2024-03-01T10:02:11.000Z'],
    ['2024-03-01T10:02:11-00:00', '2024-03-01T10:02:11.000Z'],
    ['2024-03-01T12:02:11+02', '2024-03-01T10:02:11.000Z'],
    ['2024-03-01T10:02:11.1Z', '2024-03-01T10:02:11.100Z'],
    ['2024-03-01T10:02:11.999999999Z', '2024-03-01T10:02:11.999Z'],
    ['2024-03-01T10:02:11,5Z', '2024-03-01T10:02:11.500Z'],
    ['2024-03-01 10:02:11Z', '2024-03-01T10:02:11.000Z'],
    ['2024-03-01t10:02:11z', '2024-03-01T10:02:11.000Z'],
    // STIX short form without seconds
    ['2024-11-18T16:08Z', '2024-11-18T16:08:00.000Z'],
    // zone-less date-time is taken as UTC
    ['2024-03-01T10:02:11', '2024-03-01T10:02:11.000Z'],
    // batch parameters / plain days
    ['2024-03-01', '2024-03-01T00:00:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29', '2000-02-29T00:00:00.000Z'],
    ['  2024-03-01T10:02:11Z  ', '2024-03-01T10:02:11.000Z'],
  ])('%s', (input, expected) => {
    expect(iso(input)).toBe(expected);
  });

  it('reads epoch milliseconds as numbers and numeric strings (SIEM 2.0 timestamp, X-RateLimit-Reset)', () => {
    expect(iso(1709287331482)).toBe('2024-03-01T10:02:11.482Z');
    expect(iso('1709287331482')).toBe('2024-03-01T10:02:11.482Z');
    expect(iso(0)).toBe('1970-01-01T00:00:00.000Z');
  });

  it('reads clearly-seconds values as epoch seconds', () => {
    expect(iso(1709287331)).toBe('2024-03-01T10:02:11.000Z');
    expect(iso('1709287331')).toBe('2024-03-01T10:02:11.000Z');
    expect(iso(1709287331.482)).toBe('2024-03-01T10:02:11.482Z');
    expect(iso('1709287331.5')).toBe('2024-03-01T10:02:11.500Z');
  });

  it('copies Date instances and refuses invalid ones', () => {
    const d = new Date('2024-03-01T10:02:11.482Z');
    const out = parseTime(d);
    expect(out?.getTime()).toBe(d.getTime());
    expect(out).not.toBe(d);
    expect(parseTime(new Date(Number.NaN))).toBeUndefined();
  });
});

describe('parseTime: garbage and impossible dates', () => {
  it.each([
    [''],
    ['   '],
    ['yesterday'],
    ['null'],
    ['2024-02-30'],
    ['2023-02-29'],
    ['1900-02-29'],
    ['2024-04-31'],
    ['2024-13-01'],
    ['2024-00-10'],
    ['2024-01-00'],
    ['2024-1-1'],
    ['2024-01-01T24:00:00Z'],
    ['2024-01-01T10:60:00Z'],
    ['2024-01-01T10:00:61Z'],
    ['2024-01-01T10:00:00+2500'],
    ['2024-01-01T10:00:00+01:75'],
    ['2024-01-01T10:00:00 PST'],
    ['2024-01-01T10:00:00Zjunk'],
    ['Tue, 31 Feb 2015 10:00:00 GMT'],
    ['Tue, 24 Foo 2015 10:00:00 GMT'],
    ['1e12'],
    ['-1709287331482'],
    ['12:00'],
    ['99999999999999999999'],
  ])('rejects %j', (input) => {
    expect(parseTime(input)).toBeUndefined();
  });

  it.each([[null], [undefined], [true], [{}], [[]], [Number.NaN], [Number.POSITIVE_INFINITY], [-5], [1e20]])(
    'rejects non-time value %j',
    (input) => {
      expect(parseTime(input)).toBeUndefined();
    },
  );
});

describe('formatters', () => {
  const d = new Date(Date.UTC(2024, 2, 1, 10, 2, 11, 482));

  it('toIso is UTC with millisecond precision', () => {
    expect(toIso(d)).toBe('2024-03-01T10:02:11.482Z');
    expect(toIso(new Date(Date.UTC(2024, 2, 1)))).toBe('2024-03-01T00:00:00.000Z');
  });

  it('toIso writes exactly what toISOString does: every day boundary, leap days, the ends of its range', () => {
    const base = Date.UTC(2026, 11, 31, 23, 59, 58, 990);
    const times = [
      ...Array.from({ length: 2500 }, (_, i) => base + i * 3), // through a second, a minute, a day and a year boundary
      base + 1, base, base + 1, 0, 1, 9, 10, 99, 100, 999, -1, -999, -1000, -1001, 5, // same second, other ms; before 1970
      Date.UTC(2000, 1, 29, 12), Date.UTC(2100, 1, 28, 23, 59, 59, 999), Date.UTC(2100, 2, 1), Date.UTC(2024, 1, 29), Date.UTC(1970, 0, 1), // leap rules
      Date.UTC(9999, 11, 31, 23, 59, 59, 999), Date.UTC(10000, 0, 1), Date.UTC(10000, 0, 1, 0, 0, 0, 7), Date.UTC(-1, 0, 1, 0, 0, 0, 5), // six-digit years
      8.64e15, -8.64e15, 1700000000123.9, // the extremes; a fractional ms (Date drops it)
    ];
    // Every day from 1970 to 2200 at a time of day that moves through the hours, minutes, seconds and milliseconds.
    for (let day = 0; day < 84_000; day++) times.push(day * 86_400_000 + ((day * 7_919_993) % 86_400_000));
    for (const t of times) {
      const date = new Date(t);
      if (toIso(date) !== date.toISOString()) expect(toIso(date), String(t)).toBe(date.toISOString());
    }
    expect(() => toIso(new Date(Number.NaN))).toThrow(RangeError);
  });

  it('formatMimecastDate drops milliseconds and writes +0000', () => {
    expect(formatMimecastDate(d)).toBe('2024-03-01T10:02:11+0000');
  });

  it('formatDay gives the UTC day even late in a local evening', () => {
    expect(formatDay(d)).toBe('2024-03-01');
    expect(formatDay(new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999)))).toBe('2024-02-29');
  });

  it('what we format, we parse back', () => {
    expect(parseTime(formatMimecastDate(d))?.getTime()).toBe(Date.UTC(2024, 2, 1, 10, 2, 11));
    expect(parseTime(formatDay(d))?.getTime()).toBe(Date.UTC(2024, 2, 1));
    expect(parseTime(toIso(d))?.getTime()).toBe(d.getTime());
  });
});
