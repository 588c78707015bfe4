// Redaction by value: the secret values of the loaded config, cut out of any text before it is logged, printed or served.

/**
 * Values shorter than this are not redacted by value: they would match ordinary words. Keys still mask them (the
 * logger's paths, `validate`'s `***`). Real Mimecast secrets are far longer.
 */
export const MIN_REDACTED_LENGTH = 8;
export const REDACTED = '[redacted]';

const known = new Set<string>();
/**
 * Every form of every value (length ≥ MIN_REDACTED_LENGTH), by the rolling hash of its first MIN_REDACTED_LENGTH
 * UTF-16 units (its head). One pass over a text finds every position where some head starts, whatever the number of
 * secrets (500 accounts hold thousands of forms; a regex of them all took seconds to build and then grew too large).
 */
const formsByHeadHash = new Map<number, string[]>();
const listeners = new Set<(values: readonly string[]) => void>();

const HASH_BASE = 0x01000193;
/** HASH_BASE ** (MIN_REDACTED_LENGTH - 1), mod 2^32: what the unit leaving the window weighs. */
const HASH_TOP = Array.from({ length: MIN_REDACTED_LENGTH - 1 }).reduce<number>((acc) => Math.imul(acc, HASH_BASE), 1);

function headHash(text: string, start: number): number {
  let h = 0;
  for (let i = start; i < start + MIN_REDACTED_LENGTH; i++) h = (Math.imul(h, HASH_BASE) + text.charCodeAt(i)) | 0;
  return h;
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

function addForms(value: string): void {
  for (const form of new Set(forms(value))) {
    if (form.length < MIN_REDACTED_LENGTH) continue;
    const h = headHash(form, 0);
    const list = formsByHeadHash.get(h);
    if (list === undefined) formsByHeadHash.set(h, [form]);
    else if (!list.includes(form)) list.push(form);
  }
}

/** What may follow a `"` that closes a JSON string. */
const AFTER_JSON_STRING = new Set([',', ':', '}', ']', ' ', '\t', '\n', '\r']);

/**
 * How much of a cut-off prefix (`n` units of `form`, present in the text) to cut so that a JSON line stays JSON:
 * not past a `"` that may close a JSON string (unescaped, and the match ends there or goes on with what may follow a
 * closing quote: the secret was cut off before that quote), not after an escaping `\` (what follows would lose its
 * escape), and not between the halves of a surrogate pair (the text holds another character there).
 */
function cutOffEnd(form: string, n: number): number {
  let end = n;
  let backslashes = 0;
  for (let i = 0; i < n; i++) {
    const c = form.charCodeAt(i);
    if (c === 0x22 && backslashes % 2 === 0 && (i + 1 === n || AFTER_JSON_STRING.has(form.charAt(i + 1)))) {
      end = i;
      break;
    }
    backslashes = c === 0x5c ? backslashes + 1 : 0;
  }
  while (end > 0 && form.charCodeAt(end - 1) === 0x5c) end--;
  const last = form.charCodeAt(end - 1);
  return last >= 0xd800 && last <= 0xdbff ? end - 1 : end;
}

/**
 * Where the longest redaction starting at `start` ends: a whole form, else the longest prefix of one (at least
 * MIN_REDACTED_LENGTH units: a secret cut off in a truncated snippet), or `start` when none is there.
 */
function matchEnd(text: string, start: number, candidates: readonly string[]): number {
  let best = start;
  for (const form of candidates) {
    let n = 0;
    while (n < form.length && start + n < text.length && text.charCodeAt(start + n) === form.charCodeAt(n)) n++;
    if (n < form.length) n = cutOffEnd(form, n);
    if (n < MIN_REDACTED_LENGTH) continue;
    best = Math.max(best, start + n);
  }
  return best;
}

/** Adds secret values (those of the loaded config); values shorter than MIN_REDACTED_LENGTH are ignored. */
export function registerSecrets(values: Iterable<string>): void {
  let added = false;
  for (const v of values) {
    if (v.length < MIN_REDACTED_LENGTH || known.has(v)) continue;
    known.add(v);
    addForms(v);
    added = true;
  }
  if (!added) return;
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

/**
 * `text` with every registered secret value (in any of its forms, or a prefix of one) replaced by `[redacted]`.
 *
 * Every match at every position is found, and the union of them is cut (overlapping matches become one
 * `[redacted]`): so where the text holds a whole form, all of it goes, even when a shorter match starts before it
 * or a different form shares its head. Cost: one hash per character, plus a comparison where a head is present.
 */
export function redactText(text: string): string {
  if (formsByHeadHash.size === 0 || text.length < MIN_REDACTED_LENGTH) return text;
  let out = '';
  let copied = 0;
  let cutStart = -1;
  let cutEnd = -1;
  let h = headHash(text, 0);
  for (let i = 0; i + MIN_REDACTED_LENGTH <= text.length; i++) {
    if (i > 0) h = (Math.imul(h - Math.imul(text.charCodeAt(i - 1), HASH_TOP), HASH_BASE) + text.charCodeAt(i + MIN_REDACTED_LENGTH - 1)) | 0;
    const candidates = formsByHeadHash.get(h);
    if (candidates === undefined) continue;
    const end = matchEnd(text, i, candidates);
    if (end === i) continue;
    if (i < cutEnd) {
      cutEnd = Math.max(cutEnd, end);
      continue;
    }
    if (cutEnd >= 0) {
      out += text.slice(copied, cutStart) + REDACTED;
      copied = cutEnd;
    }
    cutStart = i;
    cutEnd = end;
  }
  if (cutEnd < 0) return text;
  return out + text.slice(copied, cutStart) + REDACTED + text.slice(cutEnd);
}

/** Forgets every value; for tests. */
export function clearSecrets(): void {
  known.clear();
  formsByHeadHash.clear();
}
