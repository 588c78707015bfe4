// Reading raw records for `normalize`: NDJSON, objects run together, pretty-printed documents, and broken lines.
import { describe, expect, it } from 'vitest';
import { jsonValues } from './normalize.js';

async function read(text: string): Promise<{ line: number; ok: boolean; value?: unknown }[]> {
  async function* lines(): AsyncGenerator<string> {
    for (const l of text.split('\n')) yield l;
  }
  const out: { line: number; ok: boolean; value?: unknown }[] = [];
  for await (const item of jsonValues(lines())) out.push(item.error === undefined ? { line: item.line, ok: true, value: item.value } : { line: item.line, ok: false });
  return out;
}

describe('jsonValues', () => {
  it('reads one value per line, skipping blank lines', async () => {
    expect(await read('{"a":1}\n\n[2]\n')).toEqual([
      { line: 1, ok: true, value: { a: 1 } },
      { line: 3, ok: true, value: [2] },
    ]);
  });

  it('splits objects run together on one line, with or without commas', async () => {
    expect(await read('{"a":"x}{"}{"b":2},{"c":3}')).toEqual([
      { line: 1, ok: true, value: { a: 'x}{' } },
      { line: 1, ok: true, value: { b: 2 } },
      { line: 1, ok: true, value: { c: 3 } },
    ]);
  });

  it('reads a document pretty-printed over several lines', async () => {
    expect(await read('{\n  "a": [1,\n 2],\n  "b": "}"\n}\n{"c":1}')).toEqual([
      { line: 1, ok: true, value: { a: [1, 2], b: '}' } },
      { line: 6, ok: true, value: { c: 1 } },
    ]);
  });

  it('reports a cut line without losing the good lines after it', async () => {
    expect(await read('{"a":1,"b":\n{"c":1}\nnot json\n{"d":[1,')).toEqual([
      { line: 1, ok: false },
      { line: 2, ok: true, value: { c: 1 } },
      { line: 3, ok: false },
      { line: 4, ok: false },
    ]);
  });
});
