// Loads a config file: YAML, `${ENV}` interpolation, `*_file` secrets, then the strict schema — every problem at once.
import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import { ConfigError } from '../core/errors.js';
import { configSchema, SECRET_KEYS, type Config } from './schema.js';

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

const ENV_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolate(text: string, env: NodeJS.ProcessEnv, path: readonly PathPart[], issues: ConfigIssue[]): string {
  return text.replace(ENV_RE, (_match, name: string, fallback: string | undefined) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    issues.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
    return '';
  });
}

const SECRET_FILE_KEYS = new Map<string, string>(SECRET_KEYS.map((k) => [`${k}_file`, k]));

/** Walks the parsed YAML: interpolates strings and turns `<secret>_file` keys into their values. */
function resolveTree(value: unknown, env: NodeJS.ProcessEnv, path: PathPart[], issues: ConfigIssue[]): unknown {
  if (typeof value === 'string') return interpolate(value, env, path, issues);
  if (Array.isArray(value)) return value.map((v, i) => resolveTree(v, env, [...path, i], issues));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const entries = Object.entries(value as Record<string, unknown>);
    for (const [key, raw] of entries) {
      const resolved = resolveTree(raw, env, [...path, key], issues);
      const secretKey = SECRET_FILE_KEYS.get(key);
      if (secretKey === undefined) {
        out[key] = resolved;
        continue;
      }
      if (Object.prototype.hasOwnProperty.call(value, secretKey)) {
        issues.push({ path: formatPath([...path, key]), message: `set either ${secretKey} or ${key}, not both` });
        continue;
      }
      if (typeof resolved !== 'string' || resolved === '') {
        issues.push({ path: formatPath([...path, key]), message: 'expected the path of a file holding the secret' });
        continue;
      }
      try {
        out[secretKey] = readFileSync(resolved, 'utf8').replace(/\r?\n$/, '');
        if (out[secretKey] === '') issues.push({ path: formatPath([...path, key]), message: `secret file ${resolved} is empty` });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        issues.push({ path: formatPath([...path, key]), message: `cannot read secret file ${resolved} (${code})` });
      }
    }
    return out;
  }
  return value;
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

/** Parses config text; returns the typed config or every problem found. */
export function parseConfigText(text: string, env: NodeJS.ProcessEnv = process.env): { config?: Config; issues: ConfigIssue[] } {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      issues: doc.errors.map((e) => ({
        path: e.linePos?.[0] !== undefined ? `line ${e.linePos[0].line}` : '(yaml)',
        message: e.message.split('\n')[0] ?? e.message,
      })),
    };
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { issues: [{ path: '(top level)', message: 'the config must be a YAML mapping (key: value)' }] };
  }
  const issues: ConfigIssue[] = [];
  const resolved = resolveTree(raw, env, [], issues);
  const parsed = configSchema.safeParse(resolved);
  if (!parsed.success) {
    // A key whose value could not be resolved (unset variable, unreadable secret file) is already reported.
    const reported = new Set(issues.map((i) => i.path));
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
      issues.push({ path: formatPath(issue.path), message: missing ? `required (${issue.expected})` : issue.message });
    }
  }
  if (issues.length > 0 || !parsed.success) return { issues };
  return { config: parsed.data, issues };
}

/** Reads and parses a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(`cannot read config file ${file} (${code})`, [{ path: '(file)', message: `cannot read ${file} (${code})` }], { cause: err });
  }
  const { config, issues } = parseConfigText(text, env);
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
      out[k] = (SECRET_KEYS as readonly string[]).includes(k) && v !== undefined ? '***' : maskSecrets(v);
    }
    return out;
  }
  return value;
}
