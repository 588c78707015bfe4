// Redaction by value: the secret values of the loaded config, cut out of any text before it is logged, printed or served.

/**
 * Values shorter than this are not redacted by value: they would match ordinary words. Keys still mask them (the
 * logger's paths, `validate`'s `***`). Real Mimecast secrets are far longer.
 */
export const MIN_REDACTED_LENGTH = 8;
export const REDACTED = '[redacted]';
/**
 * Every prefix of a secret (of at least MIN_REDACTED_LENGTH characters) is redacted too, so a secret cut off inside
 * a truncated error snippet loses what it shows; past this many characters only whole values are matched.
 */
const PREFIX_MATCH_CHARS = 256;

const known = new Set<string>();
let pattern: RegExp | undefined;
/** The first MIN_REDACTED_LENGTH characters of every form: a line holding none of them needs no regex (the usual case). */
let heads: string[] = [];
const listeners = new Set<(values: readonly string[]) => void>();

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** The forms a value takes in text: as is, JSON-escaped (once, and twice for a JSON body quoted in a log line), URL- and form-encoded, base64. */
function forms(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1);
  return [
    value,
    json,
    JSON.stringify(json).slice(1, -1),
    encodeURIComponent(value),
    new URLSearchParams({ v: value }).toString().slice(2),
    Buffer.from(value, 'utf8').toString('base64'),
  ];
}

/** `form`, or any prefix of it at least MIN_REDACTED_LENGTH long (greedy, so the longest one present). */
function prefixPattern(form: string): string {
  const chars = Array.from(form);
  const head = escapeRegExp(chars.slice(0, MIN_REDACTED_LENGTH).join(''));
  let tail = '';
  for (let i = Math.min(chars.length, PREFIX_MATCH_CHARS) - 1; i >= MIN_REDACTED_LENGTH; i--) tail = `(?:${escapeRegExp(chars[i] ?? '')}${tail})?`;
  const prefixes = head + tail;
  return chars.length > PREFIX_MATCH_CHARS ? `${escapeRegExp(form)}|${prefixes}` : prefixes;
}

function rebuild(): void {
  const all = new Set<string>();
  for (const v of known) for (const f of forms(v)) if (f.length >= MIN_REDACTED_LENGTH) all.add(f);
  // Longest first: where one form contains another (the JSON-escaped one holds the raw one), the whole is cut.
  const sorted = [...all].sort((a, b) => b.length - a.length);
  pattern = sorted.length === 0 ? undefined : new RegExp(sorted.map(prefixPattern).join('|'), 'g');
  heads = [...new Set(sorted.map((f) => Array.from(f).slice(0, MIN_REDACTED_LENGTH).join('')))];
}

/** Adds secret values (those of the loaded config); values shorter than MIN_REDACTED_LENGTH are ignored. */
export function registerSecrets(values: Iterable<string>): void {
  let added = false;
  for (const v of values) {
    if (v.length < MIN_REDACTED_LENGTH || known.has(v)) continue;
    known.add(v);
    added = true;
  }
  if (!added) return;
  rebuild();
  const list = [...known];
  for (const listener of listeners) listener(list);
}

/** The values registered so far, to hand to another thread (each thread has its own registry). */
export function registeredSecrets(): string[] {
  return [...known];
}

/** Calls `listener` with every registered value whenever a new one is added; returns the unsubscribe. */
export function onSecretsRegistered(listener: (values: readonly string[]) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** `text` with every registered secret value (in any of its forms, or a prefix of one) replaced by `[redacted]`. */
export function redactText(text: string): string {
  if (pattern === undefined || !heads.some((h) => text.includes(h))) return text;
  return text.replace(pattern, REDACTED);
}

/** Forgets every value; for tests. */
export function clearSecrets(): void {
  known.clear();
  pattern = undefined;
  heads = [];
}
