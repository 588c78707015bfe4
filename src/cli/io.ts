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

/** The first line typed on `stdin` (empty at its end or without one). */
export async function readAnswer(stdin: Readable | undefined, signal: AbortSignal): Promise<string> {
  if (stdin === undefined) return '';
  let text = '';
  try {
    for await (const chunk of stdin.setEncoding('utf8') as AsyncIterable<string>) {
      text += chunk;
      if (text.includes('\n') || signal.aborted) break;
    }
  } finally {
    stdin.destroy();
  }
  return text.split('\n')[0]?.trim() ?? '';
}

/**
 * Asks `question` on a terminal and says whether the answer was yes. Without a terminal on stdin (a script, a pipe)
 * nobody can answer: false, saying that --yes is how to go ahead unasked.
 */
export async function confirmed(io: CommandIo, question: string): Promise<boolean> {
  if ((io.stdin as { isTTY?: unknown } | undefined)?.isTTY !== true) {
    println(io.stderr, `error: ${question.replace(/\?$/, '')}: needs confirmation and stdin is not a terminal; pass --yes to go ahead without asking`);
    return false;
  }
  io.stdout.write(`${question} [y/N] `);
  const answer = (await readAnswer(io.stdin, io.signal)).toLowerCase();
  if (answer === 'y' || answer === 'yes') return true;
  println(io.stdout, 'not confirmed: nothing changed (--yes skips the question)');
  return false;
}

/** `#12` or `12` → 12; undefined for anything else. */
function entryId(s: string): number | undefined {
  const n = Number(s.replace(/^#/, ''));
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** The entry ids named on the command line (`12`, `#12`), or undefined after saying which are not ids and where to find them (`listCommand`). */
export function parseIds(args: readonly string[], io: Pick<CommandIo, 'stderr'>, listCommand: string): number[] | undefined {
  const bad = args.filter((a) => entryId(a) === undefined);
  if (bad.length > 0) {
    println(io.stderr, `error: not an entry id (see \`${listCommand}\`): ${bad.map((b) => printable(b, 40)).join(', ')}`);
    return undefined;
  }
  return args.map((a) => entryId(a) as number);
}
