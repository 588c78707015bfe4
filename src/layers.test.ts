// Guards the direction of dependencies (cli → app → sources/sinks → normalize → core → journal): every non-test
// module under src/ is read and each relative import checked against the table below.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = import.meta.dirname;

/**
 * Who may import what. Paths are relative to src/; a path ending in `/` is a folder, anything else one file.
 * `allow`: only these (plus the folder itself when listed); `deny`: anything but these.
 */
interface Rule {
  from: string;
  allow?: readonly string[];
  deny?: readonly string[];
  why: string;
}

const RULES: readonly Rule[] = [
  {
    from: 'core/',
    allow: ['core/', 'journal/', 'telemetry/logger.ts', 'telemetry/metrics.ts'],
    why: 'contracts, pipeline, retry and errors: everything else builds on them; the runners drive the journal, log and count',
  },
  { from: 'normalize/', allow: ['normalize/', 'core/'], why: 'shared ECS helpers and renderers; which normalizer reads which stream is the sources\' business' },
  { from: 'sources/', deny: ['sinks/', 'app.ts', 'cli/'], why: 'a source pulls and normalizes; it knows nothing of where events go or how it is wired' },
  { from: 'sinks/', deny: ['sources/', 'app.ts', 'cli/'], why: 'a sink sends journaled events; it knows nothing of where they came from or how it is wired' },
  { from: 'config/', allow: ['config/', 'core/'], why: 'units and schema building blocks, used by the components\' own schemas' },
  { from: 'journal/', allow: ['journal/', 'core/', 'telemetry/logger.ts'], why: 'the SQLite journal stores contracts\' events; it knows no component' },
  { from: 'mimecast/', allow: ['mimecast/', 'core/', 'telemetry/logger.ts', 'telemetry/metrics.ts'], why: 'the API clients (which count their calls); sources and admin commands build on them' },
];

/** Imports a rule forbids but that are right where they are. */
interface Exception {
  file: string;
  imports: string;
  why: string;
}

const EXCEPTIONS: readonly Exception[] = [
  { file: 'config/schema.ts', imports: 'sinks/registry.ts', why: 'the config schema is composed from the sink registry' },
  { file: 'config/schema.ts', imports: 'sources/registry.ts', why: 'the config schema is composed from the source registry' },
  {
    file: 'config/load.ts',
    imports: 'telemetry/redact.ts',
    why: 'each secret is registered with the log redactor the moment the loader reads it, so no caller can forget to',
  },
];

/** Relative module specifiers in `text`: static imports and re-exports (type-only included) and dynamic import(). */
function importsOf(text: string): string[] {
  const found: string[] = [];
  const pattern = /\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]|\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]/g;
  for (const m of text.matchAll(pattern)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec !== undefined && spec.startsWith('.')) found.push(spec);
  }
  return found;
}

function covers(path: string, target: string): boolean {
  return path.endsWith('/') ? target.startsWith(path) : target === path;
}

/** The problems with `file` (relative to src/) importing `target` (relative to src/), or undefined when allowed. */
function breaks(file: string, target: string, rules: readonly Rule[] = RULES): Rule | undefined {
  for (const rule of rules) {
    if (!covers(rule.from, file)) continue;
    const bad = rule.allow !== undefined ? !rule.allow.some((a) => covers(a, target)) : (rule.deny ?? []).some((d) => covers(d, target));
    if (bad) return rule;
  }
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import of every non-test module: [importing file, imported file], both relative to src/. */
function edges(): [string, string][] {
  return sourceFiles(SRC).flatMap((path) => {
    const file = relative(SRC, path).split('\\').join('/');
    return importsOf(readFileSync(path, 'utf8')).map((spec): [string, string] => {
      const target = relative(SRC, resolve(dirname(path), spec)).split('\\').join('/').replace(/\.js$/, '.ts');
      return [file, target];
    });
  });
}

describe('dependency directions', () => {
  const all = edges();

  it('reads the modules it guards', () => {
    for (const rule of RULES) expect(all.some(([file]) => covers(rule.from, file)), `no imports found under ${rule.from}`).toBe(true);
  });

  for (const rule of RULES) {
    it(`${rule.from} ${rule.allow !== undefined ? `imports only ${rule.allow.join(', ')}` : `never imports ${(rule.deny ?? []).join(', ')}`}`, () => {
      const wrong = all
        .filter(([file, target]) => breaks(file, target, [rule]) !== undefined)
        .filter(([file, target]) => !EXCEPTIONS.some((x) => x.file === file && x.imports === target))
        .map(([file, target]) => `${file} imports ${target}`);
      expect(wrong, `${rule.from}: ${rule.why}`).toEqual([]);
    });
  }

  it('every listed exception is still needed (remove it once the import is gone)', () => {
    const stale = EXCEPTIONS.filter((x) => !all.some(([file, target]) => file === x.file && target === x.imports && breaks(file, target) !== undefined));
    expect(stale.map((x) => `${x.file} -> ${x.imports}`)).toEqual([]);
  });
});

describe('the checker itself', () => {
  it('finds static, type-only, multi-line, re-exported, side-effect and dynamic imports; ignores packages', () => {
    const text = [
      "import { a } from '../sources/x.js';",
      "import type { B } from '../sinks/y.js';",
      'import {\n  c,\n  d,\n} from "./z.js";',
      "export { e } from '../app.js';",
      "export * from '../cli/main.js';",
      "import '../telemetry/side.js';",
      "const m = await import('../normalize/registry.js');",
      "import { z } from 'zod';",
      "import { join } from 'node:path';",
    ].join('\n');
    expect(importsOf(text)).toEqual(['../sources/x.js', '../sinks/y.js', './z.js', '../app.js', '../cli/main.js', '../telemetry/side.js', '../normalize/registry.js']);
  });

  it('applies allow lists and deny lists, folders and single files', () => {
    expect(breaks('core/parse-lines.ts', 'normalize/registry.ts')?.from).toBe('core/');
    expect(breaks('core/pipeline.ts', 'journal/journal.ts')).toBeUndefined();
    expect(breaks('core/pipeline.ts', 'telemetry/logger.ts')).toBeUndefined();
    expect(breaks('core/pipeline.ts', 'telemetry/redact.ts')?.from).toBe('core/');
    expect(breaks('normalize/registry.ts', 'sources/siem/normalize.ts')?.from).toBe('normalize/');
    expect(breaks('sources/siem/batch.ts', 'app.ts')?.from).toBe('sources/');
    expect(breaks('sources/siem/batch.ts', 'normalize/ecs.ts')).toBeUndefined();
    expect(breaks('sinks/file/sink.ts', 'sources/registry.ts')?.from).toBe('sinks/');
    expect(breaks('config/common.ts', 'telemetry/redact.ts')?.from).toBe('config/');
    expect(breaks('app.ts', 'cli/main.ts')).toBeUndefined();
  });
});
