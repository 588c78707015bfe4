// Parser for SIEM 1.0 `key_value` files: `datetime=...|aCode=...|Key=Value|...` records, values may hold `|` and `=`.
//
// The rule, because the format has no escaping:
// 1. Records are separated by line breaks (LF or CRLF). Files have also been seen with records run together;
//    so inside a line a new record starts where Mimecast's record prefix appears: `datetime=<full timestamp>|aCode=`
//    or `...|acc=`. Any other `datetime=` (in a subject, say) is value text.
// 2. Inside a record, a `|` ends the current value only when it is followed by `key=`, where key is a word-like
//    token ([A-Za-z][A-Za-z0-9_]*, at most 64 chars) that has NOT already appeared in this record (the API never
//    repeats a key). Every other `|` (`a | b`, `||`, `|=x`, `|dup=...`) belongs to the value.
// 3. The value runs from the first `=` after the key to that boundary, so values may contain `=`; `Key=` is an
//    empty value. A record must begin with `key=`; anything else is reported as a bad record.
// The one case no rule can settle: a value that itself contains `|NewKey=` for a key the record has not used yet
// is split there (the extra key lands next to the real ones; nothing is dropped).
import { DEFAULT_MAX_RECORD_BYTES, MAX_RAW, Utf8Decoder, clip, type RecordText } from './records.js';

/** Kept from an over-long record so a record start split across chunks is still found. */
const TAIL_KEEP = 128;
const KEY_AT = /[A-Za-z][A-Za-z0-9_]{0,63}=/y;
const RECORD_START = /datetime=\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?\|(?:aCode|acc)=/g;

/** Offsets (> 0) inside `line` where a run-together record begins. */
export function recordStarts(line: string): number[] {
  const out: number[] = [];
  RECORD_START.lastIndex = 0;
  for (let m = RECORD_START.exec(line); m !== null; m = RECORD_START.exec(line)) {
    if (m.index > 0) out.push(m.index);
  }
  return out;
}

/** Splits one line into record texts (usually one). */
export function splitRecords(line: string): string[] {
  const starts = recordStarts(line);
  if (starts.length === 0) return [line];
  const out: string[] = [];
  let from = 0;
  for (const s of starts) {
    out.push(line.slice(from, s));
    from = s;
  }
  out.push(line.slice(from));
  return out;
}

/** Parses one record text into an object of strings; throws a TypeError when it does not start with `key=`. */
export function parseKeyValue(text: string): Record<string, string> {
  KEY_AT.lastIndex = 0;
  const first = KEY_AT.exec(text);
  if (first === null) throw new TypeError('record does not start with key=value');
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let key = first[0].slice(0, -1);
  let valueStart = first[0].length;
  let search = valueStart;
  for (;;) {
    const bar = text.indexOf('|', search);
    if (bar < 0) {
      out[key] = text.slice(valueStart);
      break;
    }
    KEY_AT.lastIndex = bar + 1;
    const m = KEY_AT.exec(text);
    const next = m === null ? undefined : m[0].slice(0, -1);
    if (m !== null && next !== undefined && next !== key && !Object.hasOwn(out, next)) {
      out[key] = text.slice(valueStart, bar);
      key = next;
      valueStart = bar + 1 + m[0].length;
      search = valueStart;
    } else {
      search = bar + 1;
    }
  }
  // A plain object for callers (null-prototype objects surprise JSON tooling and deep-equal checks).
  return { ...out };
}

export interface KeyValueOptions {
  /**
   * Longest record accepted, in UTF-8 bytes (`streams.siem.max_record_size`); a longer one is reported as
   * `record_too_large` with its first MAX_RAW characters and the rest of it is skipped as it streams. Default 1 MiB.
   */
  maxRecordBytes?: number;
}

/** UTF-8 size of `text` above `max`; counted only when the character count cannot settle it. */
function overBytes(text: string, max: number): boolean {
  if (text.length > max) return true;
  return text.length * 3 > max && Buffer.byteLength(text, 'utf8') > max;
}

/**
 * Streams records out of a key_value file, each as its text for the parse worker (parseKeyValue there). Memory stays bounded even for a file with no line breaks: the pending
 * text is cut at record starts as it grows, and a record longer than the limit is reported and skipped.
 */
export async function* keyValueRecordTexts(src: AsyncIterable<Buffer | string>, opts: KeyValueOptions = {}): AsyncGenerator<RecordText> {
  // Pending text is bounded in characters (never fewer than its bytes), records are judged in bytes.
  const max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const decoder = new Utf8Decoder();
  let carry = '';
  let oversized = false;
  let started = false;

  function* emit(line: string): Generator<RecordText> {
    const text = line.endsWith('\r') ? line.slice(0, -1) : line;
    for (const rec of splitRecords(text)) {
      if (rec.trim() === '') continue;
      if (overBytes(rec, max)) {
        yield { ok: false, reason: 'record_too_large', detail: `key_value record larger than ${max} bytes (max_record_size); its first ${MAX_RAW} characters are kept`, raw: clip(rec) };
        continue;
      }
      yield decoder.replaced(rec) ? { ok: true, text: rec, invalidUtf8: true } : { ok: true, text: rec };
    }
  }

  for await (const chunk of src) {
    let text = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (!started) {
      started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    const parts = (carry + text).split('\n');
    carry = parts.pop() ?? '';
    for (let line of parts) {
      if (oversized) {
        // The tail of a record already reported as too large, up to the next record start if the line has one.
        oversized = false;
        const s = recordStarts(line)[0];
        if (s === undefined) continue;
        line = line.slice(s);
      }
      yield* emit(line);
    }
    if (carry.length <= max) continue;
    if (oversized) {
      const s = recordStarts(carry)[0];
      if (s === undefined) {
        // Keep a little, in case a record start is split across chunks.
        carry = carry.slice(-TAIL_KEEP);
        continue;
      }
      carry = carry.slice(s);
      oversized = false;
    }
    if (carry.length > max) {
      // No line break for a long stretch: hand over whole run-together records, keep only the last, open one.
      const starts = recordStarts(carry);
      const last = starts[starts.length - 1];
      if (last !== undefined && carry.length - last <= max) {
        yield* emit(carry.slice(0, last));
        carry = carry.slice(last);
      } else {
        yield { ok: false, reason: 'record_too_large', detail: `key_value record larger than ${max} bytes (max_record_size); its first ${MAX_RAW} characters are kept`, raw: clip(carry) };
        oversized = true;
        carry = carry.slice(-TAIL_KEEP);
      }
    }
  }
  const rest = carry + decoder.end();
  if (oversized) {
    const s = recordStarts(rest)[0];
    if (s !== undefined) yield* emit(rest.slice(s));
  } else if (rest !== '') {
    yield* emit(rest);
  }
}
