// Loads a config file: YAML, `${ENV}` interpolation, `*_file` secrets, then the strict schema — every problem at once.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { registerSecrets } from '../telemetry/redact.js';
import { adminConfigSchema, configSchema, SECRET_KEYS, SECRET_MAP_KEYS, type Config } from './schema.js';

export interface ConfigIssue {
  path: string;
  message: string;
}

type PathPart = string | number;

/** `['sinks', 1, 'url']` → `sinks[1].url` */
export function formatPath(parts: readonly PropertyKey[]): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(top level)' : out;
}

/**
 * `$${` (a literal `${`), a well-formed `${NAME}` / `${NAME:-default}`, or any other `${`: a malformed reference,
 * which is an error rather than a literal value (a typo must not become a password).
 */
const ENV_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{/g;

function interpolate(text: string, env: NodeJS.ProcessEnv, path: readonly PathPart[], issues: ConfigIssue[]): string {
  let malformed = false;
  const out = text.replace(ENV_RE, (match, name: string | undefined, fallback: string | undefined) => {
    if (match === '$${') return '${';
    if (name === undefined) {
      malformed = true;
      return '';
    }
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    issues.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
    return '';
  });
  if (malformed) {
    // The text itself is not echoed: it may be a secret written inline.
    issues.push({ path: formatPath(path), message: 'malformed ${...} reference: write ${NAME} or ${NAME:-default} (and $${ for a literal "${")' });
  }
  return out;
}

const SECRET_FILE_KEYS = new Map<string, string>(SECRET_KEYS.map((k) => [`${k}_file`, k]));
const SECRET_MAP_FILE_KEYS = new Map<string, string>(SECRET_MAP_KEYS.map((k) => [`${k}_file`, k]));

/** `Name: value` lines (blank lines and `#` comments skipped) as a map, or the problems found. */
function parseHeaderLines(text: string, file: string, path: readonly PathPart[], issues: ConfigIssue[]): Record<string, string> {
  const out: Record<string, string> = {};
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      // The line itself is not echoed: it may be a secret.
      issues.push({ path: formatPath(path), message: `${file} line ${i + 1}: expected "Name: value"` });
      return;
    }
    out[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  });
  return out;
}

/** Secret files hold a key or a password: anything larger is a wrong path (a log, a device, an image). */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;
/** The config file: far above any real config, far below what could exhaust memory. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
/** Deeper than any key of the schema (accounts[0].streams.siem.types[0] is 5 levels): a deeper document is hostile. */
export const MAX_CONFIG_DEPTH = 32;
/** Aliases (`*name`) the YAML may expand; an alias bomb expands into billions of nodes. */
export const MAX_YAML_ALIASES = 100;

/** What a file that is not a regular file is, for the message. */
function fileKind(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return 'not a plain file';
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)}MB` : `${bytes / 1024}KB`;
}

/** A file's text, or why it was refused (the fs errors of a file that cannot be read are thrown). */
type CappedRead = { text: string } | { refused: string };

/**
 * Reads at most `cap` bytes of a file, refusing a larger one or one that is not a regular file (a pipe too, unless
 * `allowPipe`). The type is checked before opening, so a FIFO is never opened (opening one waits for a writer),
 * and again on the open descriptor, in case the path was swapped in between.
 */
function readCapped(path: string, cap: number, allowPipe: boolean): CappedRead {
  const before = statSync(path);
  const pipe = allowPipe && before.isFIFO();
  if (!before.isFile() && !pipe) return { refused: `is not a regular file (${fileKind(before)})` };
  if (before.size > cap) return { refused: `is larger than ${kib(cap)}` };
  const fd = openSync(path, constants.O_RDONLY | (pipe ? 0 : (constants.O_NONBLOCK ?? 0)));
  try {
    const st = fstatSync(fd);
    if (!st.isFile() && !pipe) return { refused: `is not a regular file (${fileKind(st)})` };
    const buf = Buffer.alloc(cap + 1);
    let total = 0;
    for (;;) {
      const n = readSync(fd, buf, total, buf.length - total, null);
      if (n === 0) break;
      total += n;
      if (total > cap) return { refused: `is larger than ${kib(cap)}` };
    }
    return { text: buf.toString('utf8', 0, total) };
  } finally {
    closeSync(fd);
  }
}

function readSecretFile(file: string, path: readonly PathPart[], issues: ConfigIssue[]): string | undefined {
  let read: CappedRead;
  try {
    read = readCapped(file, MAX_SECRET_FILE_BYTES, false);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    issues.push({ path: formatPath(path), message: `cannot read secret file ${file} (${code})` });
    return undefined;
  }
  if ('refused' in read) {
    issues.push({ path: formatPath(path), message: `secret file ${file} ${read.refused}; expected a regular file of at most ${kib(MAX_SECRET_FILE_BYTES)}` });
    return undefined;
  }
  const text = read.text.replace(/\r?\n$/, '');
  if (text === '') issues.push({ path: formatPath(path), message: `secret file ${file} is empty` });
  return text;
}

interface ResolveState {
  issues: ConfigIssue[];
  /** Paths of keys whose value could not be resolved (its `_file` is reported): the schema's "required" is noise. */
  unresolved: Set<string>;
  /** Some part of the tree was deeper than MAX_CONFIG_DEPTH (and is reported). */
  tooDeep: boolean;
}

/** Walks the parsed YAML: interpolates strings and turns `<secret>_file` keys into their values. */
function resolveTree(value: unknown, env: NodeJS.ProcessEnv, path: PathPart[], state: ResolveState): unknown {
  const issues = state.issues;
  if (typeof value === 'string') return interpolate(value, env, path, issues);
  if (value === null || typeof value !== 'object') return value;
  // Nothing in the schema is this deep; stopping here also keeps the schema's own recursion off a hostile depth.
  if (path.length >= MAX_CONFIG_DEPTH) {
    if (!state.tooDeep) issues.push({ path: formatPath(path), message: `nested more than ${MAX_CONFIG_DEPTH} levels deep` });
    state.tooDeep = true;
    return undefined;
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveTree(v, env, [...path, i], state));
  const out: Record<string, unknown> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [key, raw] of entries) {
    const resolved = resolveTree(raw, env, [...path, key], state);
    const mapKey = SECRET_MAP_FILE_KEYS.get(key);
    if (mapKey !== undefined) {
      if (typeof resolved !== 'string' || resolved === '') {
        issues.push({ path: formatPath([...path, key]), message: 'expected the path of a file of "Name: value" lines' });
        continue;
      }
      const text = readSecretFile(resolved, [...path, key], issues);
      if (text === undefined) continue;
      const fromFile = parseHeaderLines(text, resolved, [...path, key], issues);
      const inline = out[mapKey] ?? (value as Record<string, unknown>)[mapKey];
      // Inline entries (read before or after this key) win over the file's.
      out[mapKey] = { ...fromFile, ...(inline !== null && typeof inline === 'object' ? (inline as Record<string, unknown>) : {}) };
      continue;
    }
    const secretKey = SECRET_FILE_KEYS.get(key);
    if (secretKey === undefined) {
      if (SECRET_MAP_KEYS.includes(key as (typeof SECRET_MAP_KEYS)[number]) && out[key] !== null && typeof out[key] === 'object' && resolved !== null && typeof resolved === 'object') {
        out[key] = { ...(out[key] as Record<string, unknown>), ...(resolved as Record<string, unknown>) };
        continue;
      }
      out[key] = resolved;
      continue;
    }
    if (Object.prototype.hasOwnProperty.call(value, secretKey)) {
      issues.push({ path: formatPath([...path, key]), message: `set either ${secretKey} or ${key}, not both` });
      continue;
    }
    if (typeof resolved !== 'string' || resolved === '') {
      issues.push({ path: formatPath([...path, key]), message: 'expected the path of a file holding the secret' });
      state.unresolved.add(formatPath([...path, secretKey]));
      continue;
    }
    const secret = readSecretFile(resolved, [...path, key], issues);
    if (secret !== undefined) out[secretKey] = secret;
    else state.unresolved.add(formatPath([...path, secretKey]));
  }
  return out;
}

/** Every secret value in a resolved config tree (at any depth), so they can be redacted wherever they show up. */
function secretValues(value: unknown, out: Set<string>, depth = 0): Set<string> {
  if (value === null || typeof value !== 'object' || depth > MAX_CONFIG_DEPTH) return out;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if ((SECRET_KEYS as readonly string[]).includes(k) && typeof v === 'string' && v !== '') out.add(v);
    else if ((SECRET_MAP_KEYS as readonly string[]).includes(k) && v !== null && typeof v === 'object') {
      for (const item of Object.values(v as Record<string, unknown>)) if (typeof item === 'string' && item !== '') out.add(item);
    } else if ((k === 'url' || k === 'proxy_url') && typeof v === 'string') {
      // Credentials written into a URL (`http://user:secret@proxy:3128`).
      try {
        const password = decodeURIComponent(new URL(v).password);
        if (password !== '') out.add(password);
      } catch {
        // Not a URL: the schema says so.
      }
    } else secretValues(v, out, depth + 1);
  }
  return out;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/** Every key name the schema knows, at any depth (plus the `*_file` secret forms). */
function schemaKeys(schema: unknown, out: Set<string>, seen: Set<unknown>): Set<string> {
  if (schema === null || typeof schema !== 'object' || seen.has(schema)) return out;
  seen.add(schema);
  const def = (schema as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
  if (def === undefined) return out;
  if (def['type'] === 'object') {
    for (const [k, v] of Object.entries(def['shape'] as Record<string, unknown>)) {
      out.add(k);
      schemaKeys(v, out, seen);
    }
  }
  for (const inner of ['innerType', 'in', 'out', 'element', 'valueType', 'left', 'right']) schemaKeys(def[inner], out, seen);
  if (Array.isArray(def['options'])) for (const o of def['options']) schemaKeys(o, out, seen);
  return out;
}

let knownKeys: string[] | undefined;

/** Edits (insert, delete, replace, swap two neighbours) from a to b: `fiel` is one slip away from `file`. */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, (before[j - 2] ?? 0) + 1);
      cur[j] = d;
    }
    before = prev;
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The candidate closest to `word` and its edit distance (case-insensitive). */
function closest(word: string, candidates: readonly string[]): { best: string | undefined; distance: number } {
  const w = word.toLowerCase();
  let best: string | undefined;
  let distance = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < distance) {
      best = c;
      distance = d;
    }
  }
  return { best, distance };
}

/**
 * True when `word` is probably a slip for `best`: about one edit per four characters, or another form of the
 * same word (`entity` for `entities`: the shorter one's first five characters or more, most of it, in common).
 */
function likelyTypo(word: string, best: string | undefined, distance: number): best is string {
  if (best === undefined || distance === 0) return false;
  const shorter = Math.min(word.length, best.length);
  if (distance <= Math.max(1, Math.floor(shorter / 4))) return true;
  const a = word.toLowerCase();
  const b = best.toLowerCase();
  let common = 0;
  while (common < shorter && a[common] === b[common]) common++;
  return common >= 5 && common >= 0.8 * shorter;
}

/** "unknown key", with the closest real key name when one is a likely typo of it. */
function unknownKeyMessage(key: string): string {
  knownKeys ??= [...schemaKeys(configSchema, new Set(SECRET_FILE_KEYS.keys()), new Set())];
  const { best, distance } = closest(key, knownKeys);
  if (distance === 0) return 'not allowed here (a key of another section, or of another api or sink type)';
  return likelyTypo(key, best, distance) ? `unknown key (did you mean "${best}"?)` : 'unknown key';
}

/** A value outside a fixed list (a SIEM type, a stream name, a mode): the schema's message, plus the likely fix. */
function invalidValueMessage(message: string, value: unknown, allowed: readonly unknown[]): string {
  if (typeof value !== 'string') return message;
  const { best, distance } = closest(value, allowed.filter((v): v is string => typeof v === 'string'));
  return likelyTypo(value, best, distance) ? `${message} (did you mean "${best}"?)` : message;
}

/** The outcome of parsing config text: the typed config, or every problem; and the secret values it holds. */
export interface ParsedConfig {
  config?: Config;
  issues: ConfigIssue[];
  /** Every secret value found (also when the config is invalid), for redaction by value. */
  secrets: string[];
}

/** Parses config text; returns the typed config or every problem found. */
/**
 * What a config is read for: `daemon` (run, validate, fetch, ...) needs at least one sink; `admin` (the `api`
 * commands, which only call Mimecast) accepts a file without `sinks`.
 */
export type ConfigPurpose = 'daemon' | 'admin';

export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env, purpose: ConfigPurpose = 'daemon'): ParsedConfig {
  let raw: unknown;
  try {
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      return {
        issues: doc.errors.map((e) => ({
          path: e.linePos?.[0] !== undefined ? `line ${e.linePos[0].line}` : '(yaml)',
          // The parser's own guard against a hostile depth ran out of stack: say what that means here.
          message: e.code === 'RESOURCE_EXHAUSTION' ? `the YAML is nested too deeply (at most ${MAX_CONFIG_DEPTH} levels)` : (e.message.split('\n')[0] ?? e.message),
        })),
        secrets: [],
      };
    }
    raw = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    // The yaml library's own guards: an alias bomb (ReferenceError), and its recursion on a hostile depth.
    if (err instanceof ReferenceError) {
      return { issues: [{ path: '(yaml)', message: `the YAML expands too many aliases (*name; at most ${MAX_YAML_ALIASES} expansions): write the values out` }], secrets: [] };
    }
    if (err instanceof RangeError) {
      return { issues: [{ path: '(yaml)', message: `the YAML is nested too deeply (at most ${MAX_CONFIG_DEPTH} levels)` }], secrets: [] };
    }
    throw err;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { issues: [{ path: '(top level)', message: 'the config must be a YAML mapping (key: value)' }], secrets: [] };
  }
  const issues: ConfigIssue[] = [];
  const state: ResolveState = { issues, unresolved: new Set(), tooDeep: false };
  const resolved = resolveTree(raw, env, [], state);
  const secrets = [...secretValues(resolved, new Set())];
  // A tree cut at MAX_CONFIG_DEPTH is already reported; the schema is not run over what is left of it.
  if (state.tooDeep) return { issues, secrets };
  const parsed = (purpose === 'admin' ? adminConfigSchema : configSchema).safeParse(resolved);
  if (!parsed.success) {
    // A key whose value could not be resolved (unset variable, unreadable secret file) is already reported.
    const reported = new Set([...issues.map((i) => i.path), ...state.unresolved]);
    for (const issue of parsed.error.issues) {
      if (reported.has(formatPath(issue.path))) continue;
      // A type error on a key that is not there at all means the key is missing: say so.
      const missing = issue.code === 'invalid_type' && valueAt(resolved, issue.path) === undefined;
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) issues.push({ path: formatPath([...issue.path, key]), message: unknownKeyMessage(key) });
        continue;
      }
      // A value outside a fixed list: an enum's values, or the types a union of sinks knows.
      const options = (issue as { options?: unknown }).options;
      const allowed = issue.code === 'invalid_value' ? issue.values : issue.code === 'invalid_union' && Array.isArray(options) ? (options as unknown[]) : undefined;
      if (allowed !== undefined) {
        issues.push({ path: formatPath(issue.path), message: invalidValueMessage(issue.message, valueAt(resolved, issue.path), allowed) });
        continue;
      }
      // zod's own words for a missing key ("Invalid input: expected string, received undefined") read better as
      // "required"; a schema that says more (what to set, where it comes from) keeps its words.
      const ownWords = !issue.message.startsWith('Invalid input');
      issues.push({ path: formatPath(issue.path), message: missing && !ownWords ? `required (${issue.expected})` : issue.message });
    }
  }
  if (issues.length > 0 || !parsed.success) return { issues, secrets };
  checkCaFiles(parsed.data, issues);
  if (issues.length > 0) return { issues, secrets };
  return { config: parsed.data, issues, secrets };
}

/** Largest CA bundle accepted (`tls.ca_file`); the system's whole bundle is about 200KB. */
export const MAX_CA_FILE_BYTES = 1024 * 1024;

/** Every `tls.ca_file` must be a readable regular file of PEM text (a FIFO there would hang the start). */
function checkCaFiles(config: Config, issues: ConfigIssue[]): void {
  config.accounts.forEach((a, i) => {
    const file = a.tls.ca_file;
    if (file === undefined) return;
    const path = formatPath(['accounts', i, 'tls', 'ca_file']);
    try {
      const read = readCapped(file, MAX_CA_FILE_BYTES, false);
      if ('refused' in read) issues.push({ path, message: `CA file ${file} ${read.refused}; expected a regular PEM file of at most ${kib(MAX_CA_FILE_BYTES)}` });
      else if (!read.text.includes('-----BEGIN CERTIFICATE-----')) issues.push({ path, message: `CA file ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)` });
    } catch (err) {
      issues.push({ path, message: `cannot read CA file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` });
    }
  });
}

/** Reads and parses a config file; throws ConfigError listing every problem. Its secret values are registered for redaction. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env, purpose: ConfigPurpose = 'daemon'): Config {
  let read: CappedRead;
  try {
    // A pipe is allowed (`--config <(envsubst < template)`); a device or a directory is not.
    read = readCapped(file, MAX_CONFIG_FILE_BYTES, true);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`cannot read config file ${file} (${code})`, [{ path: '(file)', message: `cannot read ${file} (${code})` }], { cause: err });
  }
  if ('refused' in read) {
    const message = `${file} ${read.refused}; expected a YAML file of at most ${kib(MAX_CONFIG_FILE_BYTES)}`;
    throw new ConfigError(`cannot read config file ${message}`, [{ path: '(file)', message }]);
  }
  const text = read.text;
  const { config, issues, secrets } = parseConfigText(text, env, purpose);
  registerSecrets(secrets);
  if (config === undefined) {
    throw new ConfigError(`${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'} in the config`, issues);
  }
  return config;
}

/** A deep copy with every secret value replaced by `***`, for `validate` and logs. */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if ((SECRET_KEYS as readonly string[]).includes(k) && v !== undefined) out[k] = '***';
      else if ((SECRET_MAP_KEYS as readonly string[]).includes(k) && v !== null && typeof v === 'object') {
        out[k] = Object.fromEntries(Object.keys(v as Record<string, unknown>).map((name) => [name, '***']));
      } else if ((k === 'url' || k === 'proxy_url') && typeof v === 'string' && /\/\/[^/@]*:[^/@]*@/.test(v)) {
        out[k] = v.replace(/(\/\/[^/@:]*):[^/@]*@/, '$1:***@');
      } else out[k] = maskSecrets(v);
    }
    return out;
  }
  return value;
}
