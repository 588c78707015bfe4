// Config building blocks shared by the top-level schema and each component's own schema (sinks, sources).
import { z } from 'zod';
import { STREAM_NAMES } from '../core/contracts.js';
import { parseDuration, parseSize } from './units.js';

/** `99999999999999GB`: well-formed, but with its number taken as 1 it parses, so only its size is wrong. */
function tooLarge(text: string, parse: (t: string) => number | undefined): boolean {
  return parse(text.replace(/\d+(?:\.\d+)?/, '1')) !== undefined;
}

/** A duration in human units (`30s`, `5m`, `24h`, `7d`), parsed to milliseconds. */
export const duration = z.string({ error: 'expected a duration such as 30s, 5m, 24h' }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    const message = tooLarge(text, parseDuration) ? `"${text}" is too large` : `"${text}" is not a duration (use e.g. 30s, 5m, 24h, 7d)`;
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  }
  return ms;
});

/** A size in human units (`10MB`, `512KB`; binary multiples) or a number of bytes, parsed to bytes. */
export const size = z.union([z.number(), z.string()], { error: 'expected a size such as 10MB' }).transform((v, ctx) => {
  const bytes = typeof v === 'number' ? (Number.isSafeInteger(v) && v >= 0 ? v : undefined) : parseSize(v);
  if (bytes === undefined) {
    const huge = typeof v === 'number' ? v > Number.MAX_SAFE_INTEGER : tooLarge(v, parseSize);
    ctx.addIssue({ code: 'custom', message: huge ? `"${String(v)}" is too large` : `"${String(v)}" is not a size (use e.g. 512KB, 10MB, 1GB)` });
    return z.NEVER;
  }
  return bytes;
});

/** The parsed value of a range bound written in config units; a typo in a bound is a bug, caught at import. */
function bound(text: string, parse: (t: string) => number | undefined): number {
  const v = parse(text);
  if (v === undefined) throw new Error(`bad range bound ${text}`);
  return v;
}

/** A duration that must lie within [min, max], both written as in the config so the message reads the same. */
export function durationIn(min: string, max: string) {
  const lo = bound(min, parseDuration);
  const hi = bound(max, parseDuration);
  return duration.refine((ms) => ms >= lo && ms <= hi, `must be between ${min} and ${max}`);
}

/** A size that must lie within [min, max], both written as in the config. */
export function sizeIn(min: string, max: string) {
  const lo = bound(min, parseSize);
  const hi = bound(max, parseSize);
  return size.refine((bytes) => bytes >= lo && bytes <= hi, `must be between ${min} and ${max}`);
}

export const name = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]*$/, 'use lower-case letters, digits, "_" or "-" (it keys cursors and offsets)')
  .max(64);

export const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

export const streamName = z.enum(STREAM_NAMES, { error: `expected one of: ${STREAM_NAMES.join(', ')}` });
