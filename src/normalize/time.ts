// The project's one time parser and formatters: every Mimecast time shape in, UTC out.

/** Largest epoch-ms we accept: 9999-12-31T23:59:59.999Z. Anything later is garbage, not a date. */
const MAX_EPOCH_MS = 253_402_300_799_999;
/**
 * Below this a number is read as epoch *seconds*: 1e11 s is the year 5138, while 1e11 ms is
 * March 1973, before any log Mimecast could hold, so the two ranges do not overlap in practice.
 */
const SECONDS_LIMIT = 1e11;

const NUMERIC = /^\d+(?:\.\d+)?$/;
// Date, optional time (T or space), optional fraction (. or ,), optional Z / ±HH / ±HH:MM / ±HHMM.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;
const RFC1123 =
  /^(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+)?(\d{1,2})\s+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?(?:\s+(UTC|GMT|UT|Z|[+-]\d{4}))?$/i;
const MONTHS: Readonly<Record<string, number>> = {
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12,
};

/**
 * Parses any time value Mimecast or our config produce. Returns undefined for garbage and for
 * impossible dates (Feb 30, hour 25, offset +2500) rather than letting `Date` roll them over.
 * A date-time without zone is taken as UTC.
 */
export function parseTime(value: unknown): Date | undefined {
  if (typeof value === 'number') return fromEpoch(value);
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : new Date(value.getTime());
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (s.length === 0 || s.length > 64) return undefined;
  const c = s.charCodeAt(0);
  if (c >= 48 && c <= 57) {
    if (NUMERIC.test(s)) return fromEpoch(Number(s));
    const m = ISO.exec(s);
    if (m !== null) return fromIso(m);
  }
  const r = RFC1123.exec(s);
  return r === null ? undefined : fromRfc1123(r);
}

function fromEpoch(n: number): Date | undefined {
  if (!Number.isFinite(n) || n < 0) return undefined;
  const ms = n < SECONDS_LIMIT ? Math.round(n * 1000) : Math.trunc(n);
  return ms > MAX_EPOCH_MS ? undefined : new Date(ms);
}

function fromIso(m: RegExpExecArray): Date | undefined {
  const [, y, mo, d, h, mi, sec, frac, , sign, oh, om] = m;
  let offsetMin = 0;
  if (sign !== undefined) {
    const ohn = Number(oh);
    const omn = om === undefined ? 0 : Number(om);
    if (ohn > 23 || omn > 59) return undefined;
    offsetMin = (sign === '-' ? -1 : 1) * (ohn * 60 + omn);
  }
  // Truncate rather than round so .9999 never carries into the next second.
  const ms = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  return build(Number(y), Number(mo), Number(d), num(h), num(mi), num(sec), ms, offsetMin);
}

function fromRfc1123(m: RegExpExecArray): Date | undefined {
  const [, d, mon, y, h, mi, sec, zone] = m;
  const month = MONTHS[(mon ?? '').toLowerCase()];
  if (month === undefined) return undefined;
  let offsetMin = 0;
  if (zone !== undefined && (zone[0] === '+' || zone[0] === '-')) {
    const oh = Number(zone.slice(1, 3));
    const om = Number(zone.slice(3, 5));
    if (oh > 23 || om > 59) return undefined;
    offsetMin = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  return build(Number(y), month, Number(d), num(h), num(mi), num(sec), 0, offsetMin);
}

function num(s: string | undefined): number {
  return s === undefined ? 0 : Number(s);
}

function build(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number, offsetMin: number): Date | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) return undefined;
  let t = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  // Date.UTC maps years 0..99 to 1900..1999; put the real year back.
  if (y < 100) {
    const fix = new Date(t);
    fix.setUTCFullYear(y);
    t = fix.getTime();
  }
  t -= offsetMin * 60_000;
  return t < -8.64e15 || t > 8.64e15 ? undefined : new Date(t);
}

function daysInMonth(y: number, mo: number): number {
  if (mo === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return mo === 4 || mo === 6 || mo === 9 || mo === 11 ? 30 : 31;
}

const TWO_DIGITS: readonly string[] = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** 10000-01-01T00:00:00Z: from here on `toISOString` writes six-digit years. */
const YEAR_10000_MS = 253_402_300_800_000;

/**
 * `2024-03-01T10:02:11.482Z`: UTC with millisecond precision (the output `@timestamp` form), exactly what
 * `toISOString` gives. Every normalized event's time goes through it: `toISOString` took ~470 ns a call here, the
 * arithmetic below (days to a civil date, H. Hinnant's algorithm) ~165 ns. Times before 1970 or after 9999 are left
 * to `toISOString`, which also throws for an invalid Date.
 */
export function toIso(d: Date): string {
  const ms = d.getTime();
  if (!(ms >= 0 && ms < YEAR_10000_MS)) return d.toISOString();
  const days = Math.floor(ms / 86_400_000);
  let rest = ms - days * 86_400_000;
  const hour = Math.floor(rest / 3_600_000);
  rest -= hour * 3_600_000;
  const minute = Math.floor(rest / 60_000);
  rest -= minute * 60_000;
  const second = Math.floor(rest / 1000);
  const milli = rest - second * 1000;
  // Days since 0000-03-01 in 400-year eras; the year starts in March, so a leap day is the year's last.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const dayOfEra = z - era * 146_097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const m = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * m + 2) / 5) + 1;
  const month = m < 10 ? m + 3 : m - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const two = TWO_DIGITS;
  return `${year}-${two[month] as string}-${two[day] as string}T${two[hour] as string}:${two[minute] as string}:${two[second] as string}.${THREE_DIGITS[milli] as string}Z`;
}

/** `2024-03-01T10:02:11+0000`: the form API 1.0 functions take for `from` / `to`. */
export function formatMimecastDate(d: Date): string {
  return `${d.toISOString().slice(0, 19)}+0000`;
}

/** `2024-03-01` in UTC: the SIEM batch endpoint's date parameters. */
export function formatDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}
