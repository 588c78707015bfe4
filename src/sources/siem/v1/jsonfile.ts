// Incremental reader for SIEM 1.0 `json` files (`{"type":"MTA","data":[{...},...]}`): one record in memory at a time.
import { DEFAULT_MAX_RECORD_BYTES, MAX_RAW, SiemFileError, Utf8Decoder, clip, type RecordText } from './records.js';

export interface JsonFileOptions {
  /**
   * Longest single record accepted, in UTF-8 bytes of its text (`streams.siem.max_record_size`); a longer one is
   * reported as `record_too_large` with its first MAX_RAW characters, and the rest of it is scanned past, never held.
   * Default 1 MiB.
   */
  maxRecordBytes?: number;
  /** The file's decoder: a record it says holds replaced bytes is marked `invalidUtf8`. */
  utf8?: Utf8Decoder;
}

type Phase =
  | 'start' // before the top-level value
  | 'key' // in the top object, expecting a key or `}`
  | 'keyString' // inside a top-level key
  | 'colon'
  | 'value' // expecting a top-level member's value
  | 'comma' // after a member, expecting `,` or `}`
  | 'elements' // in the records array, expecting an element, `,` or `]`
  | 'done';

const STRUCTURAL = /[{}[\]"]/g;
const STRING_STOP = /["\\]/g;
const WS = new Set([' ', '\t', '\n', '\r']);

/**
 * A push parser: feed() decoded text, end() at EOF. It understands only the file's outer structure (the top object,
 * its `data` array) and finds each element's extent by tracking nesting and strings; JSON.parse does the rest per
 * element. Other top-level members are skipped without being kept. A bare top-level array is read as the records.
 */
export class JsonRecordScanner {
  readonly #max: number;
  readonly #utf8: Utf8Decoder | undefined;
  #phase: Phase = 'start';
  #key = '';
  #keyEscape = false;
  #memberIsData = false;
  #topIsArray = false;
  #offset = 0;
  // The value being scanned (a record, or a skipped member).
  #inValue = false;
  #capture = false;
  #primitive = false;
  #depth = 0;
  #inString = false;
  #escape = false;
  #parts: string[] = [];
  /** Where the current value starts in the text being fed (0 once it began in an earlier chunk). */
  #segStart = 0;
  #size = 0;
  #oversized = false;

  constructor(opts: JsonFileOptions = {}) {
    this.#max = opts.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
    this.#utf8 = opts.utf8;
  }

  /**
   * The records completed by this text, in order, each as its JSON text (the parse worker parses it). Throws
   * SiemFileError when the text cannot be a SIEM JSON file.
   */
  feedTexts(text: string): RecordText[] {
    const out: RecordText[] = [];
    let i = 0;
    const n = text.length;
    while (i < n) {
      if (this.#inValue) {
        i = this.#scanValue(text, i, out);
        continue;
      }
      const ch = text[i] as string;
      switch (this.#phase) {
        case 'start':
          if (WS.has(ch) || ch === '\ufeff') break;
          if (ch === '{') this.#phase = 'key';
          else if (ch === '[') {
            this.#phase = 'elements';
            this.#topIsArray = true;
          } else throw this.#corrupt(`expected '{' at the start, found ${JSON.stringify(ch)}`);
          break;
        case 'key':
          if (WS.has(ch) || ch === ',') break;
          if (ch === '"') {
            this.#phase = 'keyString';
            this.#key = '';
          } else if (ch === '}') this.#phase = 'done';
          else throw this.#corrupt(`expected a key, found ${JSON.stringify(ch)}`);
          break;
        case 'keyString':
          if (this.#keyEscape) {
            this.#keyEscape = false;
            this.#key += ch;
          } else if (ch === '\\') this.#keyEscape = true;
          else if (ch === '"') this.#phase = 'colon';
          else if (this.#key.length < 256) this.#key += ch;
          break;
        case 'colon':
          if (WS.has(ch)) break;
          if (ch !== ':') throw this.#corrupt(`expected ':' after key ${JSON.stringify(this.#key)}`);
          this.#phase = 'value';
          this.#memberIsData = this.#key === 'data';
          break;
        case 'value':
          if (WS.has(ch)) break;
          if (this.#memberIsData && ch === '[') {
            this.#phase = 'elements';
            break;
          }
          // Any other member (`type`, `meta`...) is skipped without keeping it.
          this.#beginValue(ch, i, false);
          this.#phase = 'comma';
          continue;
        case 'comma':
          if (WS.has(ch)) break;
          if (ch === ',') this.#phase = 'key';
          else if (ch === '}') this.#phase = 'done';
          else throw this.#corrupt(`expected ',' or '}', found ${JSON.stringify(ch)}`);
          break;
        case 'elements':
          if (WS.has(ch) || ch === ',') break;
          if (ch === ']') {
            this.#phase = this.#topIsArray ? 'done' : 'comma';
            break;
          }
          if (ch === '}' || ch === ':') throw this.#corrupt(`unexpected ${JSON.stringify(ch)} in the data array`);
          this.#beginValue(ch, i, true);
          continue;
        case 'done':
          if (!WS.has(ch)) throw this.#corrupt(`unexpected data after the end of the file's JSON: ${JSON.stringify(text.slice(i, i + 20))}`);
          break;
      }
      i++;
    }
    if (this.#inValue && this.#capture && !this.#oversized) this.#keep(text, this.#segStart, n);
    this.#segStart = 0;
    this.#offset += n;
    return out;
  }

  /** Checks the file ended where a SIEM JSON file may end; throws SiemFileError when it was cut short. */
  end(): void {
    if (this.#phase === 'start') throw new SiemFileError('truncated_file', 'the JSON SIEM file is empty');
    if (this.#phase !== 'done' || this.#inValue) {
      const where = this.#phase === 'elements' || this.#inValue ? 'inside the data array' : `while reading ${this.#phase}`;
      throw new SiemFileError('truncated_file', `the JSON SIEM file ends early (${where}, after ${this.#offset} chars)`);
    }
  }

  #beginValue(ch: string, i: number, capture: boolean): void {
    this.#inValue = true;
    this.#capture = capture;
    this.#oversized = false;
    this.#parts = [];
    this.#size = 0;
    this.#segStart = i;
    this.#inString = false;
    this.#escape = false;
    this.#primitive = false;
    this.#depth = 0;
    // `{`, `[` and `"` are left for #scanValue, which sees them as the first structural character.
    this.#primitive = ch !== '{' && ch !== '[' && ch !== '"';
  }

  /** Advances through the current value; returns the index to continue from. */
  #scanValue(text: string, i: number, out: RecordText[]): number {
    const n = text.length;
    if (this.#primitive) {
      let j = i;
      while (j < n) {
        const c = text[j] as string;
        if (c === ',' || c === ']' || c === '}' || WS.has(c)) break;
        j++;
      }
      if (j === n) return n;
      this.#finish(text, j, out);
      return j;
    }
    let j = i;
    while (j < n) {
      if (this.#inString) {
        if (this.#escape) {
          this.#escape = false;
          j++;
          continue;
        }
        STRING_STOP.lastIndex = j;
        const m = STRING_STOP.exec(text);
        if (m === null) return n;
        j = m.index;
        if (text[j] === '\\') this.#escape = true;
        else {
          this.#inString = false;
          if (this.#depth === 0) {
            this.#finish(text, j + 1, out);
            return j + 1;
          }
        }
        j++;
        continue;
      }
      STRUCTURAL.lastIndex = j;
      const m = STRUCTURAL.exec(text);
      if (m === null) return n;
      j = m.index;
      const c = text[j];
      if (c === '"') this.#inString = true;
      else if (c === '{' || c === '[') this.#depth++;
      else {
        this.#depth--;
        if (this.#depth <= 0) {
          this.#finish(text, j + 1, out);
          return j + 1;
        }
      }
      j++;
    }
    return n;
  }

  #keep(text: string, from: number, to: number): void {
    if (to <= from) return;
    const seg = text.slice(from, to);
    this.#size += Buffer.byteLength(seg, 'utf8');
    if (this.#size > this.#max) {
      // From here on only the prefix is kept; the rest of the record streams past.
      this.#oversized = true;
      this.#parts = [clip(this.#parts.join('') + seg.slice(0, MAX_RAW))];
      return;
    }
    this.#parts.push(seg);
  }

  #finish(text: string, end: number, out: RecordText[]): void {
    this.#inValue = false;
    if (!this.#capture) return;
    if (!this.#oversized) this.#keep(text, this.#segStart, end);
    const raw = this.#parts.join('');
    this.#parts = [];
    if (this.#oversized) {
      out.push({ ok: false, reason: 'record_too_large', detail: `JSON record larger than ${this.#max} bytes (max_record_size); its first ${MAX_RAW} characters are kept`, raw: clip(raw) });
      return;
    }
    out.push(this.#utf8?.replaced(raw) === true ? { ok: true, text: raw, invalidUtf8: true } : { ok: true, text: raw });
  }

  #corrupt(what: string): SiemFileError {
    return new SiemFileError('corrupt_file', `not a SIEM JSON file: ${what} (near char ${this.#offset})`);
  }
}

/**
 * Streams the records of a JSON SIEM file, each as its JSON text for the parse worker; throws SiemFileError (after
 * the good records) when it is cut or broken.
 */
export async function* jsonRecordTexts(src: AsyncIterable<Buffer | string>, opts: JsonFileOptions = {}): AsyncGenerator<RecordText> {
  const decoder = new Utf8Decoder();
  const scanner = new JsonRecordScanner({ ...opts, utf8: decoder });
  for await (const chunk of src) {
    const items = scanner.feedTexts(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    for (const it of items) yield it;
  }
  const tail = decoder.end();
  if (tail !== '') for (const it of scanner.feedTexts(tail)) yield it;
  scanner.end();
}
