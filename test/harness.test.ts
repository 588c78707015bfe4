// The end-to-end tests' output reader: a line still being written is not read, a torn one is never let through.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOutput } from './helpers/harness.js';

describe('readOutput', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mc-harness-'));
  const path = join(dir, 'events.ndjson');

  it('skips the line the collector is still appending, and reads it once it is whole', () => {
    writeFileSync(path, '{"n":1}\n{"n":2}\n{"n":3,"pad":"xx');
    expect(readOutput(path)).toEqual([{ n: 1 }, { n: 2 }]);
    writeFileSync(path, '{"n":1}\n{"n":2}\n{"n":3,"pad":"xx"}\n');
    expect(readOutput(path)).toEqual([{ n: 1 }, { n: 2 }, { n: 3, pad: 'xx' }]);
  });

  it('throws for an unterminated line once the writer has stopped, in a rotated file, or for a torn line inside', () => {
    writeFileSync(path, '{"n":1}\n{"n":2');
    expect(() => readOutput(path, { settled: true })).toThrow(/unterminated line/);
    writeFileSync(`${path}.1`, '{"n":0}\n{"n":0.5');
    writeFileSync(path, '{"n":1}\n');
    expect(() => readOutput(path)).toThrow(/unterminated line/);
    writeFileSync(`${path}.1`, '{"n":0}\n');
    writeFileSync(path, '{"n":1}\n{"n":2,"pa\n{"n":3}\n');
    expect(() => readOutput(path)).toThrow(SyntaxError);
  });
});
