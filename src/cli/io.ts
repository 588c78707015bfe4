// What a command gets from main.ts: its output streams and a signal that fires on SIGINT/SIGTERM.
import type { Readable, Writable } from 'node:stream';
import { redactText } from '../telemetry/redact.js';

export interface CommandIo {
  /** Standard input, for commands that read records (`normalize`). */
  stdin?: Readable;
  stdout: Writable;
  stderr: Writable;
  env: NodeJS.ProcessEnv;
  /** Fires when the process is asked to stop (SIGINT/SIGTERM). */
  signal: AbortSignal;
}

/** Writes one line; a configured secret value in it (an API error quoting the request) is redacted first. */
export function println(out: Writable, text = ''): void {
  out.write(redactText(text) + '\n');
}

/** True for UTF-16 code unit `c` at `i` of `text` when a terminal could act on it or not show it as text. */
function unprintableAt(text: string, i: number, c: number): boolean {
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true; // C0 and C1 controls (escape sequences, bell, NUL), DEL
  if (c === 0x00ad || c === 0x061c || c === 0x180e || c === 0xfeff) return true; // invisible: soft hyphen, marks, BOM
  if ((c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f)) return true; // zero-width, line separators, bidi overrides
  if (c >= 0xfff9 && c <= 0xfffb) return true;
  if (c >= 0xd800 && c <= 0xdbff) {
    const next = text.charCodeAt(i + 1);
    return !(next >= 0xdc00 && next <= 0xdfff);
  }
  if (c >= 0xdc00 && c <= 0xdfff) {
    const prev = text.charCodeAt(i - 1);
    return !(prev >= 0xd800 && prev <= 0xdbff);
  }
  return false;
}

/**
 * `text` safe to print on a terminal: control characters, invisible and direction-changing characters and lone
 * surrogates written as `\uXXXX`, as JSON does; cut to `max` characters, saying how long it was.
 */
export function printable(text: string, max = Number.POSITIVE_INFINITY): string {
  const cut = text.length > max ? text.slice(0, max) : text;
  let out = '';
  let from = 0;
  for (let i = 0; i < cut.length; i++) {
    const c = cut.charCodeAt(i);
    if (!unprintableAt(cut, i, c)) continue;
    out += cut.slice(from, i) + '\\u' + c.toString(16).padStart(4, '0');
    from = i + 1;
  }
  out += cut.slice(from);
  return cut.length < text.length ? `${out}… (${text.length} characters)` : out;
}
