// A parser for the Prometheus text exposition format (0.0.4) and sums over its samples, for tests that scrape /metrics.

export type MetricType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

export interface Sample {
  /** The sample's own name (a histogram's `_bucket`, `_sum`, `_count` included). */
  name: string;
  labels: Readonly<Record<string, string>>;
  value: number;
}

export interface Family {
  name: string;
  type: MetricType;
  help: string;
  samples: Sample[];
}

/** Families by name, in the order they appear. */
export type Scrape = Map<string, Family>;

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set<string>(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function fail(lineNo: number, line: string, why: string): never {
  throw new Error(`metrics line ${lineNo}: ${why}: ${line}`);
}

function unescape(text: string, help: boolean): string {
  return text.replace(/\\(.)/g, (all, c: string) => (c === 'n' ? '\n' : c === '\\' ? '\\' : c === '"' && !help ? '"' : all));
}

function parseValue(text: string, lineNo: number, line: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return Number.NaN;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) fail(lineNo, line, `bad value ${JSON.stringify(text)}`);
  return v;
}

/** The family a sample belongs to: a histogram's or summary's suffixed samples go to the family declared by TYPE. */
function familyOf(name: string, families: Scrape): Family | undefined {
  const own = families.get(name);
  if (own !== undefined) return own;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!name.endsWith(suffix)) continue;
    const f = families.get(name.slice(0, -suffix.length));
    if (f !== undefined && (f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return undefined;
}

/** Parses a whole exposition; throws on any line that does not follow the format (naming its number). */
export function parsePrometheus(text: string): Scrape {
  const families: Scrape = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trimEnd();
    const lineNo = i + 1;
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\s+(.*))?$/.exec(line);
      if (m === null) continue; // Any other comment (e.g. `# UNIT`) carries nothing a test reads.
      const [, kind, name = '', rest = ''] = m;
      const f = families.get(name) ?? { name, type: 'untyped' as MetricType, help: '', samples: [] };
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) fail(lineNo, line, `unknown type ${rest}`);
        if (f.samples.length > 0) fail(lineNo, line, 'TYPE after the family\'s samples');
        f.type = rest as MetricType;
      } else {
        f.help = unescape(rest, true);
      }
      families.set(name, f);
      continue;
    }
    const nameMatch = NAME.exec(line);
    if (nameMatch === null) fail(lineNo, line, 'no metric name');
    const name = nameMatch[0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
      pos++;
      for (;;) {
        while (line[pos] === ' ') pos++;
        if (line[pos] === '}') {
          pos++;
          break;
        }
        const l = LABEL.exec(line.slice(pos));
        if (l === null) fail(lineNo, line, 'bad label name');
        pos += l[0].length;
        if (line[pos] !== '=' || line[pos + 1] !== '"') fail(lineNo, line, `label ${l[0]} without ="value"`);
        pos += 2;
        let raw = '';
        for (;;) {
          const c = line[pos];
          if (c === undefined) fail(lineNo, line, 'unterminated label value');
          if (c === '\\') {
            raw += c + (line[pos + 1] ?? '');
            pos += 2;
            continue;
          }
          pos++;
          if (c === '"') break;
          raw += c;
        }
        if (l[0] in labels) fail(lineNo, line, `label ${l[0]} twice`);
        labels[l[0]] = unescape(raw, false);
        if (line[pos] === ',') pos++;
        else if (line[pos] !== '}') fail(lineNo, line, 'expected , or } after a label');
      }
    }
    if (line[pos] !== ' ') fail(lineNo, line, 'no space before the value');
    const parts = line.slice(pos).trim().split(/\s+/);
    if (parts.length > 2) fail(lineNo, line, 'trailing text');
    const value = parseValue(parts[0] ?? '', lineNo, line);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) fail(lineNo, line, 'bad timestamp');
    let f = familyOf(name, families);
    if (f === undefined) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    f.samples.push({ name, labels, value });
  }
  return families;
}

/** The sum of the samples named `name` whose labels include every pair in `match` (0 when none). */
export function sumOf(scrape: Scrape, name: string, match: Readonly<Record<string, string>> = {}): number {
  const f = familyOf(name, scrape);
  let total = 0;
  for (const s of f?.samples ?? []) {
    if (s.name !== name) continue;
    if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) total += s.value;
  }
  return total;
}

/** The distinct values of label `label` among the samples named `name`. */
export function labelValues(scrape: Scrape, name: string, label: string): string[] {
  const out = new Set<string>();
  for (const s of familyOf(name, scrape)?.samples ?? []) if (s.name === name && s.labels[label] !== undefined) out.add(s.labels[label]);
  return [...out].sort();
}

/** Every family name exposed, with the sample names a family adds (a histogram's `_bucket`, `_sum`, `_count`). */
export function exposedNames(scrape: Scrape): Set<string> {
  const out = new Set<string>();
  for (const f of scrape.values()) {
    out.add(f.name);
    for (const s of f.samples) out.add(s.name);
  }
  return out;
}
