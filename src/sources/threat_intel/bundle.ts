// Streams the objects out of a STIX bundle (`{"type":"bundle","objects":[{...},...]}`) without holding the file in memory.
import { StringDecoder } from 'node:string_decoder';

export type BundleItem =
  /** One element of `objects`, as JSON text (or of the top-level array when the file is a bare array). */
  | { kind: 'object'; text: string }
  /** An element larger than the limit: skipped, its size reported. */
  | { kind: 'too_large'; bytes: number; head: string };

export interface BundleSummary {
  /** The file ended inside a value (cut download). */
  truncated: boolean;
  /** The file did not start with `{` or `[` (CSV, HTML error page...); the first bytes, for the report. */
  notJson?: string;
  /** Top-level `type` when it was a short string (`bundle`). */
  type?: string;
  /** Elements of `objects` that were not JSON objects (numbers, strings, arrays...): skipped and counted. */
  nonObjects: number;
}

/**
 * A character-level scanner: it only tracks nesting, strings and the current top-level key, and cuts out each
 * element of the top-level `objects` array as text for JSON.parse. Memory is bounded by the largest element
 * (capped at `maxObjectChars`, beyond which the element is skipped), never by the file.
 */
export async function* scanBundle(
  source: AsyncIterable<Buffer | string>,
  maxObjectChars: number,
  summary: BundleSummary,
): AsyncGenerator<BundleItem> {
  const decoder = new StringDecoder('utf8');
  let started = false;
  let depth = 0;
  let inString = false;
  let escape = false;
  // Collection state: depth of the array whose elements we cut out (0 = none yet / none now).
  let arrayDepth = 0;
  let done = false;
  // Top-level key tracking (depth 1 of an object).
  let topIsObject = false;
  let expectingKey = false;
  let stringText: string | undefined;
  let keyText = '';
  let valueText: string | undefined;
  let currentKey: string | undefined;
  // Element capture; `expectElement`: the next value at the array's depth starts an element.
  let expectElement = false;
  let capturing = false;
  let parts: string[] = [];
  let size = 0;
  let tooLarge = false;
  let elementHead = '';

  const endTopValue = (): void => {
    if (currentKey === 'type' && summary.type === undefined && valueText !== undefined) summary.type = valueText;
    currentKey = undefined;
    valueText = undefined;
  };

  const handle = function* (chunk: string): Generator<BundleItem> {
    // An element still open from the previous chunk continues at this chunk's first character.
    let segStart = capturing ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk.charCodeAt(i);
      if (!started) {
        if (ch === 0x20 || ch === 0x0a || ch === 0x0d || ch === 0x09 || ch === 0xfeff) continue;
        started = true;
        if (ch !== 0x7b && ch !== 0x5b) {
          summary.notJson = chunk.slice(i, i + 200);
          done = true;
          return;
        }
        topIsObject = ch === 0x7b;
      }
      if (inString) {
        if (escape) {
          escape = false;
          if (stringText !== undefined) stringText += chunk[i];
        } else if (ch === 0x5c) {
          escape = true;
          if (stringText !== undefined) stringText += chunk[i];
        } else if (ch === 0x22) {
          inString = false;
          if (stringText !== undefined) {
            if (expectingKey) keyText = stringText;
            else valueText = stringText;
            stringText = undefined;
          }
        } else if (stringText !== undefined && stringText.length < 256) {
          stringText += chunk[i];
        }
        continue;
      }
      if (expectElement && depth === arrayDepth && ch !== 0x20 && ch !== 0x0a && ch !== 0x0d && ch !== 0x09 && ch !== 0x5d) {
        expectElement = false;
        if (ch !== 0x7b) summary.nonObjects += 1;
      }
      switch (ch) {
        case 0x22: // "
          inString = true;
          // Strings directly under the top-level object are its keys and short values; nothing deeper is kept.
          if (topIsObject && depth === 1) stringText = '';
          break;
        case 0x7b: // {
        case 0x5b: // [
          depth += 1;
          if (depth === 1 && !topIsObject) {
            arrayDepth = 1;
            expectElement = true;
          } else if (depth === 1) {
            expectingKey = true;
          } else if (arrayDepth === 0 && topIsObject && depth === 2 && ch === 0x5b && currentKey === 'objects') {
            arrayDepth = 2;
            expectElement = true;
          } else if (arrayDepth > 0 && depth === arrayDepth + 1 && ch === 0x7b) {
            capturing = true;
            tooLarge = false;
            parts = [];
            size = 0;
            elementHead = '';
            segStart = i;
          }
          break;
        case 0x7d: // }
        case 0x5d: // ]
          depth -= 1;
          if (capturing && depth === arrayDepth) {
            const piece = chunk.slice(segStart, i + 1);
            size += piece.length;
            capturing = false;
            segStart = -1;
            if (tooLarge || size > maxObjectChars) {
              yield { kind: 'too_large', bytes: size, head: (elementHead + piece).slice(0, 200) };
            } else {
              parts.push(piece);
              yield { kind: 'object', text: parts.join('') };
            }
            parts = [];
          } else if (arrayDepth > 0 && depth === arrayDepth - 1) {
            arrayDepth = 0;
            expectElement = false;
          }
          if (depth === 0) {
            if (topIsObject) endTopValue();
            done = true;
            return;
          }
          break;
        case 0x3a: // :
          if (topIsObject && depth === 1 && expectingKey) {
            currentKey = keyText;
            expectingKey = false;
          }
          break;
        case 0x2c: // ,
          if (topIsObject && depth === 1) {
            endTopValue();
            expectingKey = true;
          } else if (arrayDepth > 0 && depth === arrayDepth) {
            expectElement = true;
          }
          break;
        default:
          break;
      }
    }
    if (capturing) {
      const piece = chunk.slice(segStart);
      size += piece.length;
      if (elementHead.length < 200) elementHead += piece.slice(0, 200 - elementHead.length);
      if (!tooLarge && size > maxObjectChars) {
        tooLarge = true;
        parts = [];
      }
      if (!tooLarge) parts.push(piece);
    }
  };

  for await (const buf of source) {
    const text = typeof buf === 'string' ? buf : decoder.write(buf);
    yield* handle(text);
    if (done) break;
  }
  if (!done) {
    yield* handle(decoder.end());
    // A complete document ends back at depth 0; a started one that did not was cut off.
    if (started && !done) summary.truncated = true;
  }
}
