// Golden and unit tests for every non-SIEM stream's normalizer; UPDATE_GOLDEN=1 rewrites the expected files.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StreamName } from '../core/contracts.js';
import { CollectorError } from '../core/errors.js';
import { checkNormalizedEvent } from './contract.js';
import { goldenProblems, runGolden } from './golden.js';
import { normalizerFor } from '../sources/normalizers.js';

const STREAMS: readonly Exclude<StreamName, 'siem'>[] = [
  'ttp_url',
  'ttp_attachment',
  'ttp_impersonation',
  'audit',
  'dlp',
  'held_release',
  'archive_search',
  'threat_intel',
];
const CTX = { account: 'acme-prod' };

describe('held_release ids', () => {
  it('gives two release log entries of the same held message (same API id) their own event ids', () => {
    const entry = { id: 'held-msg-77', status: 'released', released: '2024-05-01T10:00:00+0000', route: 'inbound', to: [{ emailAddress: 'a@corp.example' }] };
    const normalize = normalizerFor('held_release');
    const a = normalize(entry, CTX);
    const b = normalize({ ...entry, route: 'outbound', to: [{ emailAddress: 'b@corp.example' }] }, CTX);
    expect(a.id).not.toBe(b.id);
    expect(normalize(structuredClone(entry), CTX).id).toBe(a.id);
  });
});

describe.each(STREAMS)('golden: %s', (stream) => {
  const normalize = normalizerFor(stream);
  const dir = join(import.meta.dirname, '..', 'sources', stream, 'testdata');
  const run = runGolden(dir, stream, (r) => normalize(r, CTX));
  const failure = (input: unknown): CollectorError | undefined => {
    try {
      normalize(input, CTX);
    } catch (err) {
      return err instanceof CollectorError ? err : undefined;
    }
    return undefined;
  };

  it('normalizes to the expected documents', () => {
    expect(run.inputs.length).toBeGreaterThan(2);
    expect(run.expected).toBeDefined();
    expect(run.actual).toEqual(run.expected);
  });

  it('meets the event contract, keeps the originals, gives distinct ids', () => {
    expect(goldenProblems(run, checkNormalizedEvent)).toEqual([]);
    for (const ev of run.events) expect(ev.doc['mimecast']).toMatchObject({ account: 'acme-prod', stream });
  });

  it('is deterministic and does not modify its input', () => {
    for (const input of run.inputs) {
      const frozen = structuredClone(input);
      const a = normalize(input, CTX);
      expect(input).toEqual(frozen);
      expect(normalize(structuredClone(input), CTX)).toEqual(a);
      expect(normalize(input, { account: 'other' }).id).not.toBe(a.id);
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
