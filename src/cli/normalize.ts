// `normalize --stream S`: raw Mimecast records on stdin (one JSON value a line) → the events the daemon would send, on stdout.
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { STREAM_NAMES, type NormalizedEvent, type StreamName } from '../core/contracts.js';
import { describeError, isAbort } from '../core/errors.js';
import { OUTPUT_FORMATS, renderDocument, type OutputFormat } from '../normalize/render.js';
import { normalizeSiemAuto, normalizerFor, type Normalizer } from '../sources/normalizers.js';
import { isPagedStream, PAGED_SPECS } from '../sources/paged/specs.js';
import { printable, println, type CommandIo } from './io.js';
import { isRecord, ndjsonLines } from '../core/util.js';

export { OUTPUT_FORMATS, type OutputFormat } from '../normalize/render.js';

export interface NormalizeOptions {
  stream: string;
  format: string;
  account: string;
}

/** One event in the chosen format, as one line of text. */
export function renderEvent(ev: NormalizedEvent, format: OutputFormat, record?: unknown): string {
  return format === 'ecs' ? (ev.json ?? JSON.stringify(ev.doc)) : renderDocument(ev.doc, format, undefined, record);
}

/** Why a whole line yields no records: an API error reply, or not a JSON object/array. */
class EnvelopeError extends Error {}

/** The records inside one input value: API envelopes (a meta/data page, a stream page, a STIX bundle) are unwrapped. */
export function recordsOf(stream: StreamName, value: unknown): unknown[] {
  if (Array.isArray(value)) return value.flatMap((v) => recordsOf(stream, v));
  if (!isRecord(value)) throw new EnvelopeError('not a JSON object');
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
      if (recordsKey !== undefined && isRecord(item) && Array.isArray(item[recordsKey])) out.push(...(item[recordsKey] as unknown[]));
      else if (recordsKey === undefined || !isRecord(item) || !(recordsKey in item)) out.push(item);
    }
    return out;
  }
  // One `data[]` item of a paged reply, e.g. `{"clickLogs": [...]}`.
  if (recordsKey !== undefined && Array.isArray(value[recordsKey])) return value[recordsKey] as unknown[];
  return [value];
}

async function write(out: Writable, text: string, signal: AbortSignal | undefined): Promise<void> {
  // A reader that stopped reading must not keep a stop request waiting.
  if (!out.write(text + '\n')) await once(out, 'drain', signal === undefined ? {} : { signal });
}

export interface NormalizeSummary {
  lines: number;
  events: number;
  badLines: number;
  badRecords: number;
  /** Stopped by a signal before the end of the input. */
  interrupted: boolean;
}

/**
 * `{"events":[{"message":"<record as JSON text>"}]}` — the pipeline-test files other collectors keep their
 * sample records in — yields the records; anything else is itself.
 */
function unwrapTestEvents(value: unknown): unknown[] {
  if (!isRecord(value) || !Array.isArray(value['events']) || Object.keys(value).length !== 1) return [value];
  const items = value['events'] as unknown[];
  if (!items.every((e) => isRecord(e) && typeof e['message'] === 'string')) return [value];
  return items.map((e) => JSON.parse((e as Record<string, string>)['message'] ?? '') as unknown);
}

/** A JSON value read from the input, or a line that is not JSON, with the line it starts on. */
type InputItem = { line: number; value: unknown; error?: undefined; text: string } | { line: number; error: string; text: string; value?: undefined };

/** Characters looked at while splitting the input into values: scanned for brackets, or handed to JSON.parse. */
export interface ScanWork {
  chars: number;
}

/** Most a value spread over several lines may hold (characters) before it is given up as not JSON. */
export const MAX_MULTILINE = 16 * 1024 * 1024;

/**
 * Where the top-level values start and end in text fed to it a line at a time. Its state (depth, inside a
 * string) carries over from one line to the next, so a value spread over many lines is scanned once.
 */
class ValueScanner {
  readonly starts: number[] = [];
  readonly startLines: number[] = [];
  readonly ends: number[] = [];
  /** Something other than whitespace or commas between values: this is not a run of JSON objects/arrays. */
  junk = false;
  private depth = 0;
  private inString = false;
  private escaped = false;
  private fed = 0;

  constructor(private readonly work: ScanWork) {}

  /** True while a value is unfinished. */
  get open(): boolean {
    return this.depth > 0;
  }

  feed(text: string, line: number): void {
    const base = this.fed;
    this.fed += text.length;
    if (this.junk) return;
    let i = 0;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 92 /* \\ */) this.escaped = true;
        else if (c === 34 /* " */) this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        // Whitespace, and commas between objects run together (`{...},{...}`), separate top-level values.
        if (c === 32 || c === 9 || c === 13 || c === 10 || c === 0xfeff || c === 44) continue;
        if (c !== 123 /* { */ && c !== 91 /* [ */) {
          this.junk = true;
          break;
        }
        this.starts.push(base + i);
        this.startLines.push(line);
      }
      if (c === 34) this.inString = true;
      else if (c === 123 || c === 91) this.depth += 1;
      else if (c === 125 || c === 93) {
        this.depth -= 1;
        if (this.depth === 0) this.ends.push(base + i + 1);
      }
    }
    this.work.chars += i;
  }
}

function parseCounted(text: string, work: ScanWork): unknown {
  work.chars += text.length;
  return JSON.parse(text) as unknown;
}

/** The complete values the scanner found in `text` from its `skip`-th on, or undefined when one does not parse. */
function completeValues(text: string, scanner: ValueScanner, skip: number, work: ScanWork): InputItem[] | undefined {
  const items: InputItem[] = [];
  for (let k = skip; k < scanner.ends.length; k++) {
    const slice = text.slice(scanner.starts[k] ?? 0, scanner.ends[k]);
    try {
      items.push({ line: scanner.startLines[k] ?? 0, value: parseCounted(slice, work), text: slice });
    } catch {
      return undefined;
    }
  }
  return items;
}

/** A value that opened on one line and is not finished yet: the lines it spans so far and its scanner. */
interface Pending {
  start: number;
  lines: string[];
  size: number;
  scanner: ValueScanner;
  /** Values the scanner found on the first line before this one, already read. */
  skip: number;
}

/**
 * The values on one line: the whole line as one value, or several run together. An unfinished last value is
 * returned as `open` (it may go on over the next lines), or, when `single` is set, reported as an error.
 */
function readLine(text: string, line: number, single: boolean, work: ScanWork): { items: InputItem[]; open?: Pending } {
  const trimmed = text.trim();
  if (trimmed === '') return { items: [] };
  let firstError: unknown;
  // A line opening an object or array that it does not close cannot be one value: no need for JSON.parse to
  // say so (its exception costs more than the scan), which matters on input made of nothing else.
  const opens = trimmed.startsWith('{') || trimmed.startsWith('[');
  if (!opens || trimmed.endsWith('}') || trimmed.endsWith(']')) {
    try {
      return { items: [{ line, value: parseCounted(text, work), text }] };
    } catch (e) {
      firstError = e;
    }
  }
  const scanner = new ValueScanner(work);
  scanner.feed(text, line);
  const bad = (): { items: InputItem[] } => {
    if (firstError === undefined) {
      try {
        parseCounted(text, work);
      } catch (e) {
        firstError = e;
      }
    }
    return { items: [{ line, error: describeError(firstError), text }] };
  };
  if (scanner.junk || (scanner.ends.length === 0 && !scanner.open)) return bad();
  const items = completeValues(text, scanner, 0, work);
  if (items === undefined) return bad();
  if (!scanner.open) return { items };
  const openAt = scanner.starts[scanner.ends.length] ?? 0;
  if (single) return { items: [...items, { line, error: 'an unfinished JSON value', text: text.slice(openAt) }] };
  return { items, open: { start: line, lines: [text], size: text.length - openAt, scanner, skip: scanner.ends.length } };
}

/**
 * JSON values from lines: one per line (NDJSON) as the common case, but also several objects run together
 * on one line and one document pretty-printed over several lines (at most MAX_MULTILINE characters).
 *
 * Linear in the input: a multi-line value is scanned as its lines arrive, never from its start again. One that
 * does not parse (or runs past the limit, or the input) is reported on its first line, and the lines after it
 * are read again one line at a time — they are not allowed to open another multi-line value, which would let
 * garbage be read over and over.
 */
export async function* jsonValues(lines: AsyncIterable<string>, options: { work?: ScanWork; signal?: AbortSignal } = {}): AsyncGenerator<InputItem> {
  const work = options.work ?? { chars: 0 };
  let pending: Pending | undefined;
  let lineNo = 0;
  const iterator = lines[Symbol.asyncIterator]();
  function* giveUp(group: Pending, why: string): Generator<InputItem> {
    const first = group.lines[0] ?? '';
    yield { line: group.start, error: why, text: first.slice(group.scanner.starts[group.skip] ?? 0) };
    for (let i = 1; i < group.lines.length; i++) yield* readLine(group.lines[i] ?? '', group.start + i, true, work).items;
  }
  try {
    for (;;) {
      const r = await iterator.next();
      if (r.done === true) break;
      // A value still being read when asked to stop is not reported: it was not read to its end.
      if (options.signal?.aborted === true) return;
      lineNo += 1;
      const text = lineNo === 1 ? r.value.replace(/^\ufeff/, '') : r.value;
      if (pending !== undefined) {
        const group = pending;
        group.lines.push(text);
        group.size += text.length + 1;
        group.scanner.feed('\n', lineNo);
        group.scanner.feed(text, lineNo);
        if (group.scanner.open && !group.scanner.junk && group.size <= MAX_MULTILINE) continue;
        pending = undefined;
        const whole = group.scanner.junk || group.scanner.open ? undefined : group.lines.join('\n');
        const items = whole === undefined ? undefined : completeValues(whole, group.scanner, group.skip, work);
        if (items !== undefined) yield* items;
        else yield* giveUp(group, group.size > MAX_MULTILINE ? `a value over several lines longer than ${MAX_MULTILINE} characters` : 'an unfinished or broken JSON value');
        continue;
      }
      const read = readLine(text, lineNo, false, work);
      yield* read.items;
      pending = read.open;
    }
    if (pending !== undefined) yield* giveUp(pending, 'an unfinished JSON value at the end of the input');
  } finally {
    await iterator.return?.();
  }
}

/** How much input (characters looked at) is read between two turns of the event loop, so a signal is seen. */
const YIELD_EVERY = 1024 * 1024;

/** Longest excerpt of a bad line, and of an error's own text, printed on stderr. */
const EXCERPT = 120;
const REASON = 300;

/**
 * Reads `input` line by line; every bad line or record is reported on `err` with its line number, its text
 * with control characters escaped. Stops at the next value once `signal` fires (`interrupted` in the summary).
 */
export async function normalizeStream(
  input: Readable,
  out: Writable,
  err: Writable,
  stream: StreamName,
  format: OutputFormat,
  account: string,
  signal?: AbortSignal,
): Promise<NormalizeSummary> {
  const normalize: Normalizer = stream === 'siem' ? normalizeSiemAuto : normalizerFor(stream);
  const summary: NormalizeSummary = { lines: 0, events: 0, badLines: 0, badRecords: 0, interrupted: false };
  const rl = ndjsonLines(input as AsyncIterable<Buffer | string>);
  const work: ScanWork = { chars: 0 };
  let nextYield = YIELD_EVERY;
  try {
    for await (const item of jsonValues(rl, signal === undefined ? { work } : { work, signal })) {
      if (work.chars >= nextYield) {
        // Lines already buffered are handed over without a turn of the event loop; take one so a signal gets in.
        nextYield = work.chars + YIELD_EVERY;
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (signal?.aborted === true) {
        summary.interrupted = true;
        break;
      }
      summary.lines += 1;
      const lineNo = item.line;
      if (item.error !== undefined) {
        summary.badLines += 1;
        println(err, `line ${lineNo}: not JSON (${printable(item.error, REASON)}): ${printable(item.text, EXCERPT)}`);
        continue;
      }
      const value = item.value;
      let records: unknown[];
      try {
        records = unwrapTestEvents(value).flatMap((v) => recordsOf(stream, v));
      } catch (e) {
        summary.badLines += 1;
        println(err, `line ${lineNo}: ${printable(describeError(e), REASON)}`);
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
          println(err, `line ${lineNo}${records.length > 1 ? `, record ${i + 1}` : ''}: ${printable(describeError(e), REASON)}`);
          continue;
        }
        await write(out, renderEvent(ev, format, record), signal);
        summary.events += 1;
      }
      if (lineBad) summary.badLines += 1;
    }
    // The reader also stops by itself on the signal, in the middle of a value spread over lines.
    if (signal?.aborted === true) summary.interrupted = true;
  } catch (e) {
    if (signal === undefined || !isAbort(e, signal)) throw e;
    summary.interrupted = true;
  } finally {
    // Stopped early (a signal, an error): stop reading. A paused input does not keep the process alive, and the
    // line reader is left to end by itself rather than awaited (its input may never send another byte).
    input.pause();
    void rl.return(undefined).catch(() => undefined);
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
    summary = await normalizeStream(io.stdin, io.stdout, io.stderr, stream, format, opts.account, io.signal);
  } catch (err) {
    println(io.stderr, `error: cannot read standard input: ${printable(describeError(err), REASON)}`);
    return 1;
  }
  const bad = summary.badLines === 0 ? 'no bad lines' : `${summary.badLines} bad line${summary.badLines === 1 ? '' : 's'} (${summary.badRecords} unusable record${summary.badRecords === 1 ? '' : 's'})`;
  println(io.stderr, `normalize: ${summary.lines} line${summary.lines === 1 ? '' : 's'} read, ${summary.events} event${summary.events === 1 ? '' : 's'} written, ${bad}`);
  if (summary.interrupted) {
    // What is still in the pipe would keep the process alive.
    io.stdin.destroy();
    println(io.stderr, 'interrupted: stopped before the end of the input');
    return 130;
  }
  return summary.lines > 0 && summary.badLines === summary.lines ? 1 : 0;
}
