// Golden and unit tests for the archive_search normalizer; UPDATE_GOLDEN=1 rewrites the expected file.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CollectorError } from '../../core/errors.js';
import { checkNormalizedEvent } from '../../normalize/contract.js';
import { goldenProblems, runGolden } from '../../normalize/golden.js';
import { normalizeArchiveSearch } from './normalize.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const CTX = { account: 'acme-prod' };

function obj(v: unknown): Record<string, unknown> {
  return v as Record<string, unknown>;
}

function failure(input: unknown): CollectorError | undefined {
  try {
    normalizeArchiveSearch(input, CTX);
  } catch (err) {
    return err instanceof CollectorError ? err : undefined;
  }
  return undefined;
}

describe('golden: archive_search', () => {
  const run = runGolden(DIR, 'archive_search', (r) => normalizeArchiveSearch(r, CTX));

  it('normalizes to the expected documents', () => {
    expect(run.inputs.length).toBeGreaterThan(2);
    expect(run.expected).toBeDefined();
    expect(run.actual).toEqual(run.expected);
  });

  it('meets the event contract, keeps the originals, gives distinct ids', () => {
    expect(goldenProblems(run, checkNormalizedEvent)).toEqual([]);
    for (const ev of run.events) expect(obj(ev.doc['mimecast'])).toMatchObject({ account: 'acme-prod', stream: 'archive_search' });
  });

  it('is deterministic and does not modify its input', () => {
    for (const input of run.inputs) {
      const frozen = structuredClone(input);
      const a = normalizeArchiveSearch(input, CTX);
      expect(input).toEqual(frozen);
      expect(normalizeArchiveSearch(structuredClone(input), CTX)).toEqual(a);
      expect(normalizeArchiveSearch(input, { account: 'other' }).id).not.toBe(a.id);
    }
  });

  it.each<[string, unknown]>([
    ['null', null],
    ['an array', []],
    ['a string', 'x'],
    ['an empty object', {}],
  ])('throws NORMALIZE_FAILED for %s', (_n, input) => {
    expect(failure(input)?.code).toBe('NORMALIZE_FAILED');
  });
});
