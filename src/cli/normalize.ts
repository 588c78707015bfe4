// `normalize --stream S`: raw Mimecast records on stdin (one JSON value a line) → the events the daemon would send, on stdout.
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { STREAM_NAMES, type NormalizedEvent, type StreamName } from '../core/contracts.js';
import { describeError } from '../core/errors.js';
import { toCef } from '../normalize/cef.js';
import { toLeef } from '../normalize/leef.js';
import { normalizeSiemAuto, normalizerFor, type Normalizer } from '../normalize/registry.js';
import { isPagedStream, PAGED_SPECS } from '../sources/paged/specs.js';
import { println, type CommandIo } from './io.js';

export const OUTPUT_FORMATS = ['ecs', 'raw', 'cef', 'leef'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface NormalizeOptions {
  stream: string;
  format: string;
  account: string;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One event in the chosen format, as one line of text. */
export function renderEvent(ev: NormalizedEvent, format: OutputFormat, record?: unknown): string {
  switch (format) {
    case 'ecs':
      return ev.json ?? JSON.stringify(ev.doc);
    case 'cef':
      return toCef(ev.doc);
    case 'leef':
      return toLeef(ev.doc);
    case 'raw': {
      const mc = isObject(ev.doc['mimecast']) ? ev.doc['mimecast'] : {};
      const meta = { account: mc['account'], stream: mc['stream'], log_type: mc['log_type'] };
      // The API's record as it came, plus where it belongs; the record's own `mimecast` key (if any) is not clobbered.
      const base = isObject(record) ? record : isObject(mc) ? mc : {};
      return JSON.stringify({ ...base, mimecast: isObject(base['mimecast']) ? { ...base['mimecast'], ...meta } : meta });
    }
  }
}

/** Why a whole line yields no records: an API error reply, or not a JSON object/array. */
class EnvelopeError extends Error {}

/** The records inside one input value: API envelopes (a meta/data page, a stream page, a STIX bundle) are unwrapped. */
export function recordsOf(stream: StreamName, value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap((v) => recordsOf(stream, v));
  if (!isObject(value)) throw new EnvelopeError('not a JSON object');
  const fail = value['fail'];
  if (Array.isArray(fail) && fail.length > 0) {
    throw new EnvelopeError(`an API error reply, not records: ${JSON.stringify(fail).slice(0, 300)}`);
  }
  const recordsKey = isPagedStream(stream) ? PAGED_SPECS[stream].recordsKey : undefined;
  if (value['type'] === 'bundle' && Array.isArray(value['objects'])) return value['objects'] as unknown[];
  if (Array.isArray(value['value']) && ('@nextPage' in value || 'isCaughtUp' in value || 'pageSize' in value)) return value['value'] as unknown[];
  const data = value['data'];
  if (Array.isArray(data) && ('meta' in value || 'fail' in value || value['type'] === 'MTA')) {
    const out: unknown[] = [];
    for (const item of data as unknown[]) {
      if (recordsKey !== undefined && isObject(item) && Array.isArray(item[recordsKey])) out.push(...(item[recordsKey] as unknown[]));
      else if (recordsKey === undefined || !isObject(item) || !(recordsKey in item)) out.push(item);
    }
    return out;
  }
  // One `data[]` item of a paged reply, e.g. `{"clickLogs": [...]}`.
  if (recordsKey !== undefined && Array.isArray(value[recordsKey])) return value[recordsKey] as unknown[];
  return [value];
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text + '\n')) await new Promise<void>((resolve) => out.once('drain', resolve));
}

export interface NormalizeSummary {
  lines: number;
  events: number;
  badLines: number;
  badRecords: number;
}

/**
 * `{"events":[{"message":"<record as JSON text>"}]}` — the pipeline-test files other collectors keep their
 * sample records in — yields the records; anything else is itself.
 */
function unwrapTestEvents(value: unknown): unknown[] {
  if (!isObject(value) || !Array.isArray(value['events']) || Object.keys(value).length !== 1) return [value];
  const items = value['events'] as unknown[];
  if (!items.every((e) => isObject(e) && typeof e['message'] === 'string')) return [value];
  return items.map((e) => JSON.parse((e as Record<string, string>)['message'] ?? '') as unknown);
}

/** A JSON value read from the input, or a line that is not JSON, with the line it starts on. */
type InputItem = { line: number; value: unknown; error?: undefined; text: string } | { line: number; error: string; text: string; value?: undefined };

/** Most a value spread over several lines may hold before it is given up as not JSON. */
const MAX_MULTILINE = 16 * 1024 * 1024;

/** End offsets of the complete top-level values in `text`; `open` is true when the last one is unfinished. */
function scanValues(text: string): { starts: number[]; ends: number[]; open: boolean; junk: boolean } {
  const starts: number[] = [];
  const ends: number[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 92 /* \\ */) escaped = true;
      else if (c === 34 /* " */) inString = false;
      continue;
    }
    if (depth === 0) {
      // Whitespace, and commas between objects run together (`{...},{...}`), separate top-level values.
      if (c === 32 || c === 9 || c === 13 || c === 10 || c === 0xfeff || c === 44) continue;
      if (c !== 123 /* { */ && c !== 91 /* [ */) return { starts, ends, open: false, junk: true };
      starts.push(i);
    }
    if (c === 34) inString = true;
    else if (c === 123 || c === 91) depth += 1;
    else if (c === 125 || c === 93) {
      depth -= 1;
      if (depth === 0) ends.push(i + 1);
    }
  }
  return { starts, ends, open: depth > 0, junk: false };
}

/**
 * JSON values from lines: one per line (NDJSON) as the common case, but also several objects run together
 * on one line and one document pretty-printed over several lines. A multi-line value that does not parse
 * is not allowed to swallow the lines after its first one: those are read again one by one.
 */
export async function* jsonValues(lines: AsyncIterable<string>): AsyncGenerator<InputItem> {
  let pending: { start: number; lines: string[]; size: number } | undefined;
  let lineNo = 0;
  const queue: { line: number; text: string }[] = [];
  const iterator = lines[Symbol.asyncIterator]();
  const nextLine = async (): Promise<{ line: number; text: string } | undefined> => {
    const q = queue.shift();
    if (q !== undefined) return q;
    const r = await iterator.next();
    if (r.done === true) return undefined;
    lineNo += 1;
    return { line: lineNo, text: lineNo === 1 ? r.value.replace(/^\ufeff/, '') : r.value };
  };
  for (;;) {
    const next = await nextLine();
    if (next === undefined) break;
    if (pending !== undefined) {
      pending.lines.push(next.text);
      pending.size += next.text.length + 1;
      const text = pending.lines.join('\n');
      const scan = scanValues(text);
      if (scan.open && !scan.junk && pending.size <= MAX_MULTILINE) continue;
      const start = pending.start;
      const group = pending.lines;
      pending = undefined;
      const end = scan.ends[scan.ends.length - 1];
      if (!scan.junk && !scan.open && scan.ends.length === 1 && end !== undefined && text.slice(end).trim() === '') {
        try {
          yield { line: start, value: JSON.parse(text) as unknown, text };
          continue;
        } catch {
          // fall through: read the lines again one by one
        }
      }
      const [first, ...rest] = group;
      yield { line: start, error: 'an unfinished or broken JSON value', text: first ?? '' };
      queue.unshift(...rest.map((t, i) => ({ line: start + 1 + i, text: t })));
      continue;
    }
    const line = next.text;
    if (line.trim() === '') continue;
    try {
      yield { line: next.line, value: JSON.parse(line) as unknown, text: line };
      continue;
    } catch (e) {
      const scan = scanValues(line);
      if (scan.junk || (scan.ends.length === 0 && !scan.open)) {
        yield { line: next.line, error: describeError(e), text: line };
        continue;
      }
      let from = 0;
      let ok = true;
      const values: unknown[] = [];
      scan.ends.forEach((end, k) => {
        if (!ok) return;
        try {
          values.push(JSON.parse(line.slice(scan.starts[k] ?? from, end)));
        } catch {
          ok = false;
        }
        from = end;
      });
      if (!ok) {
        yield { line: next.line, error: describeError(e), text: line };
        continue;
      }
      for (const value of values) yield { line: next.line, value, text: line };
      if (scan.open) {
        const openAt = scan.starts[scan.ends.length] ?? from;
        pending = { start: next.line, lines: [line.slice(openAt)], size: line.length - openAt };
      }
    }
  }
  if (pending !== undefined) {
    const [first, ...rest] = pending.lines;
    yield { line: pending.start, error: 'an unfinished JSON value at the end of the input', text: first ?? '' };
    for (let i = 0; i < rest.length; i++) {
      const t = rest[i] ?? '';
      if (t.trim() === '') continue;
      try {
        yield { line: pending.start + 1 + i, value: JSON.parse(t) as unknown, text: t };
      } catch (e) {
        yield { line: pending.start + 1 + i, error: describeError(e), text: t };
      }
    }
  }
}

/** Reads `input` line by line; every bad line or record is reported on `err` with its line number. */
export async function normalizeStream(input: Readable, out: Writable, err: Writable, stream: StreamName, format: OutputFormat, account: string): Promise<NormalizeSummary> {
  const normalize: Normalizer = stream === 'siem' ? normalizeSiemAuto : normalizerFor(stream);
  const summary: NormalizeSummary = { lines: 0, events: 0, badLines: 0, badRecords: 0 };
  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const item of jsonValues(rl)) {
    summary.lines += 1;
    const lineNo = item.line;
    if (item.error !== undefined) {
      summary.badLines += 1;
      println(err, `line ${lineNo}: not JSON (${item.error}): ${item.text.slice(0, 120)}`);
      continue;
    }
    const value = item.value;
    let records: unknown[];
    try {
      records = unwrapTestEvents(value).flatMap((v) => recordsOf(stream, v));
    } catch (e) {
      summary.badLines += 1;
      println(err, `line ${lineNo}: ${describeError(e)}`);
      continue;
    }
    let lineBad = false;
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      let ev: NormalizedEvent;
      try {
        ev = normalize(record, { account });
      } catch (e) {
        summary.badRecords += 1;
        lineBad = true;
        println(err, `line ${lineNo}${records.length > 1 ? `, record ${i + 1}` : ''}: ${describeError(e)}`);
        continue;
      }
      await write(out, renderEvent(ev, format, record));
      summary.events += 1;
    }
    if (lineBad) summary.badLines += 1;
  }
  return summary;
}

export async function normalizeCommand(opts: NormalizeOptions, io: CommandIo & { stdin: Readable }): Promise<number> {
  const stream = STREAM_NAMES.find((s) => s === opts.stream);
  if (stream === undefined) {
    println(io.stderr, `error: --stream "${opts.stream}" is not one of: ${STREAM_NAMES.join(', ')}`);
    return 2;
  }
  const format = OUTPUT_FORMATS.find((f) => f === opts.format);
  if (format === undefined) {
    println(io.stderr, `error: --format "${opts.format}" is not one of: ${OUTPUT_FORMATS.join(', ')}`);
    return 2;
  }
  let summary: NormalizeSummary;
  try {
    summary = await normalizeStream(io.stdin, io.stdout, io.stderr, stream, format, opts.account);
  } catch (err) {
    println(io.stderr, `error: cannot read standard input: ${describeError(err)}`);
    return 1;
  }
  const bad = summary.badLines === 0 ? 'no bad lines' : `${summary.badLines} bad line${summary.badLines === 1 ? '' : 's'} (${summary.badRecords} unusable record${summary.badRecords === 1 ? '' : 's'})`;
  println(io.stderr, `normalize: ${summary.lines} line${summary.lines === 1 ? '' : 's'} read, ${summary.events} event${summary.events === 1 ? '' : 's'} written, ${bad}`);
  return summary.lines > 0 && summary.badLines === summary.lines ? 1 : 0;
}
