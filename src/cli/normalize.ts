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

/** Reads `input` line by line; every bad line or record is reported on `err` with its line number. */
export async function normalizeStream(input: Readable, out: Writable, err: Writable, stream: StreamName, format: OutputFormat, account: string): Promise<NormalizeSummary> {
  const normalize: Normalizer = stream === 'siem' ? normalizeSiemAuto : normalizerFor(stream);
  const summary: NormalizeSummary = { lines: 0, events: 0, badLines: 0, badRecords: 0 };
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  for await (const raw of rl) {
    lineNo += 1;
    const line = lineNo === 1 ? raw.replace(/^\ufeff/, '') : raw;
    if (line.trim() === '') continue;
    summary.lines += 1;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      summary.badLines += 1;
      println(err, `line ${lineNo}: not JSON (${describeError(e)}): ${line.slice(0, 120)}`);
      continue;
    }
    let records: unknown[];
    try {
      records = recordsOf(stream, value);
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
