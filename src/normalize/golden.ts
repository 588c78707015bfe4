// Golden-file support for normalizer tests: NDJSON inputs → expected outputs, rewritten with UPDATE_GOLDEN=1.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NormalizedEvent } from '../core/contracts.js';
import { canonicalJson } from './ecs.js';
import { severityOf } from './severity.js';
import { isRecord } from '../core/util.js';

export function readNdjson(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as unknown);
}

export interface GoldenRun {
  inputs: unknown[];
  /** What the normalizer produced, round-tripped through JSON as a sink would see it. */
  actual: unknown[];
  /** The stored expectation (after an UPDATE_GOLDEN=1 rewrite, the same as `actual`). */
  expected: unknown[] | undefined;
  events: NormalizedEvent[];
}

/** Normalizes `<dir>/<name>.input.ndjson` and reads `<name>.expected.ndjson`, rewriting it first when UPDATE_GOLDEN=1. */
export function runGolden(dir: string, name: string, normalize: (record: unknown) => NormalizedEvent): GoldenRun {
  const inputs = readNdjson(join(dir, `${name}.input.ndjson`));
  const events = inputs.map((r) => normalize(r));
  // The object form, whether the normalizer built the document or only its text (a SerializedEvent).
  const plain = events.map((e) => ({ id: e.id, stream: e.stream, account: e.account, time: e.time, doc: e.doc }));
  const actual = JSON.parse(JSON.stringify(plain)) as unknown[];
  const expectedPath = join(dir, `${name}.expected.ndjson`);
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(expectedPath, plain.map((e) => JSON.stringify(e)).join('\n') + '\n');
  return { inputs, actual, expected: existsSync(expectedPath) ? readNdjson(expectedPath) : undefined, events };
}

/**
 * Everything wrong with a golden run besides a diff: contract violations, original fields not
 * kept unchanged under `mimecast.*` (except the reserved account/stream/log_type/parsed), and
 * two distinct inputs sharing an `event.id`, and a journaled severity that is not the rule's answer for the document.
 */
export function goldenProblems(run: GoldenRun, checkEvent: (e: NormalizedEvent) => string[]): string[] {
  const problems: string[] = [];
  const ids = new Map<string, number>();
  run.events.forEach((ev, i) => {
    for (const p of checkEvent(ev)) problems.push(`line ${i + 1}: ${p}`);
    const input = run.inputs[i];
    const mc = ev.doc['mimecast'];
    if (isRecord(input) && isRecord(mc)) {
      for (const [k, v] of Object.entries(input)) {
        if (k === 'account' || k === 'stream' || k === 'log_type' || k === 'parsed') continue;
        // Same value; key order inside objects carries no meaning (mimecast.* may be written from the canonical text).
        if (canonicalJson(mc[k]) !== canonicalJson(v)) problems.push(`line ${i + 1}: mimecast.${k} differs from the input`);
      }
    }
    const severity = severityOf(ev.doc);
    if (ev.severity !== severity) problems.push(`line ${i + 1}: severity ${String(ev.severity)}, the document's is ${severity}`);
    const seen = ids.get(ev.id);
    if (seen !== undefined) problems.push(`line ${i + 1}: event.id equals line ${seen}'s`);
    ids.set(ev.id, i + 1);
  });
  return problems;
}
