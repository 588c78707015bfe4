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
    for (const issue of parsed.error.issues) {
      // A type error on a key that is not there at all means the key is missing: say so.
      const missing = issue.code === 'invalid_type' && valueAt(resolved, issue.path) === undefined;
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
