// Tests that every stream has a normalizer, SIEM variants are told apart, and the v2 wrapper only adds the parsed field.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STREAM_NAMES } from '../core/contracts.js';
import { checkNormalizedEvent } from '../normalize/contract.js';
import { readNdjson } from '../normalize/golden.js';
import { detectVariant, normalizeSiemAuto, normalizerFor } from './normalizers.js';
import { normalizeSiemV2 } from './siem/normalize.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');
const CTX = { account: 'acme-prod' };

function goldenInputs(dir: string): unknown[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.input.ndjson'))
    .flatMap((f) => readNdjson(join(dir, f)));
}

function obj(v: unknown): Record<string, unknown> {
  return v as Record<string, unknown>;
}

describe('normalizerFor', () => {
  it.each(STREAM_NAMES.filter((s) => s !== 'siem'))('%s: normalizes its golden inputs into contract-valid events of that stream', (stream) => {
    const normalize = normalizerFor(stream);
    const inputs = goldenInputs(join(SRC, 'sources', stream, 'testdata'));
    expect(inputs.length).toBeGreaterThan(2);
    for (const input of inputs) {
      const ev = normalize(input, CTX);
      expect(ev.stream).toBe(stream);
      expect(checkNormalizedEvent(ev)).toEqual([]);
    }
  });

  it('siem v1 and v2 each normalize their own golden inputs', () => {
    for (const input of goldenInputs(join(SRC, 'sources', 'siem', 'testdata', 'v1'))) {
      expect(checkNormalizedEvent(normalizerFor('siem', 'v1')(input, CTX))).toEqual([]);
    }
    for (const input of goldenInputs(join(SRC, 'sources', 'siem', 'testdata', 'v2'))) {
      expect(checkNormalizedEvent(normalizerFor('siem')(input, CTX))).toEqual([]);
    }
  });

  it('siem v2 is normalizeSiemV2, which adds mimecast.parsed.spam_processing_detail beside the original', () => {
    let withParsed = 0;
    for (const input of goldenInputs(join(SRC, 'sources', 'siem', 'testdata', 'v2'))) {
      const plain = normalizeSiemV2(input, CTX);
      const full = normalizerFor('siem', 'v2')(input, CTX);
      expect(full).toEqual(plain);
      expect(JSON.parse(full.json ?? '')).toEqual(JSON.parse(JSON.stringify(full.doc)));
      const { parsed, ...rest } = obj(full.doc['mimecast']);
      const spd = obj(input)['spamProcessingDetail'];
      if (parsed !== undefined) {
        withParsed++;
        expect(parsed).toEqual({ spam_processing_detail: JSON.parse(spd as string) as unknown });
        expect(rest['spamProcessingDetail']).toBe(spd);
      }
    }
    expect(withParsed).toBeGreaterThan(0);
  });

  it('leaves an unparsable spamProcessingDetail alone', () => {
    const rec = { timestamp: 1714557603120, type: 'receipt', spamProcessingDetail: '{broken' };
    expect(obj(normalizerFor('siem')(rec, CTX).doc['mimecast'])['parsed']).toBeUndefined();
  });
});

describe('detectVariant', () => {
  it('tells every golden v1 record from every golden v2 record', () => {
    for (const input of goldenInputs(join(SRC, 'sources', 'siem', 'testdata', 'v1'))) expect(detectVariant(input)).toBe('v1');
    for (const input of goldenInputs(join(SRC, 'sources', 'siem', 'testdata', 'v2'))) expect(detectVariant(input)).toBe('v2');
  });

  it.each<[unknown, 'v1' | 'v2' | undefined]>([
    [{ aCode: 'x', acc: 'C1' }, 'v1'],
    [{ accountId: 'C1', _offset: 3 }, 'v2'],
    [{ datetime: 'x', timestamp: 1 }, 'v1'],
    [{ something: 1 }, undefined],
    [null, undefined],
    [[{ datetime: 'x' }], undefined],
  ])('%j → %s', (input, expected) => {
    expect(detectVariant(input)).toBe(expected);
  });

  it('normalizeSiemAuto routes each record to its generation', () => {
    const v1 = normalizeSiemAuto({ datetime: '2024-05-01T11:00:00+0100', Act: 'Acc', Rcpt: 'a@acme.example' }, CTX);
    const v2 = normalizeSiemAuto({ timestamp: 1714557600000, type: 'receipt', action: 'Acc' }, CTX);
    expect(v1.time).toBe('2024-05-01T10:00:00.000Z');
    expect(v2.time).toBe('2024-05-01T10:00:00.000Z');
    expect(obj(v1.doc['mimecast'])['log_type']).toBe('receipt');
    expect(obj(v2.doc['mimecast'])['log_type']).toBe('receipt');
  });
});
