// The table renderer: fits the width, cuts long cells with …, counts wide and combining characters as a terminal draws them.
import { describe, expect, it } from 'vitest';
import { cellText, displayWidth, renderTable, truncate } from './table.js';

describe('displayWidth', () => {
  it('counts terminal cells, not UTF-16 units or bytes', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('日本語')).toBe(6);
    expect(displayWidth('e\u0301')).toBe(1); // e + combining acute
    expect(displayWidth('👍🏽')).toBe(2); // emoji with a skin-tone modifier: one grapheme, four UTF-16 units
    expect(displayWidth('Grüße')).toBe(5);
  });
});

describe('truncate', () => {
  it('leaves a text that fits alone and cuts a longer one to the width, ending in …', () => {
    expect(truncate('hello', 5)).toBe('hello');
    expect(truncate('hello world', 6)).toBe('hello…');
    expect(displayWidth(truncate('hello world', 6))).toBe(6);
  });

  it('never splits a wide character or a grapheme, and never overflows', () => {
    expect(truncate('日本語テキスト', 6)).toBe('日本…');
    expect(displayWidth(truncate('日本語テキスト', 6))).toBe(5);
    expect(truncate('👍🏽👍🏽👍🏽', 4)).toBe('👍🏽…');
    expect(truncate('e\u0301e\u0301e\u0301e\u0301', 3)).toBe('e\u0301e\u0301…');
  });
});

describe('renderTable', () => {
  const headers = ['id', 'email', 'subject'];
  const rows = [
    ['1', 'a@corp.example', 'Quarterly numbers and the long discussion that followed them'],
    ['2', 'b@corp.example', '日本語の件名がとても長い場合の表示'],
  ];

  it('sizes columns to their content when the table fits', () => {
    const lines = renderTable(headers, [['1', 'a@x', 'hi']], 80);
    expect(lines).toEqual(['id  email  subject', '1   a@x    hi']);
  });

  it('fits the width by shrinking the widest column, cutting its cells with …', () => {
    for (const width of [40, 50]) {
      const lines = renderTable(headers, rows, width);
      for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(width);
      // The short columns stay whole.
      expect(lines[1]).toContain('a@corp.example');
      expect(lines[1]).toMatch(/…$/);
      expect(lines[2]).toMatch(/…$/);
    }
  });

  it('keeps wide characters aligned: every line of a column starts at the same cell', () => {
    const lines = renderTable(['name', 'x'], [['日本', '1'], ['ab', '2']], 80);
    expect(lines.map((l) => displayWidth(l.slice(0, l.lastIndexOf(' ') + 1)))).toEqual([6, 6, 6]);
  });
});

describe('renderTable: the first column', () => {
  it('stays whole up to 60% of the width while the other columns give up cells', () => {
    const row = ['frank.garcia@subsidiary.example', 'Frank Garcia the Third', 'subsidiary.example', 'true', '2026-09-07T16:30:00.000Z'];
    const lines = renderTable(['emailAddress', 'name', 'domain', 'internal', 'created'], [row], 80);
    for (const l of lines) expect(displayWidth(l)).toBeLessThanOrEqual(80);
    expect(lines[1]?.startsWith('frank.garcia@subsidiary.example  ')).toBe(true);
    expect(lines[1]).toContain('…');
    // Longer than its share: cut there, not to the others' size.
    const long = renderTable(['id', 'x'], [['i'.repeat(100), 'y'.repeat(30)]], 80);
    expect(long[1]?.indexOf('…')).toBe(47);
  });
});

describe('cellText', () => {
  it('shows an absent value as -, objects as JSON, and escapes control characters', () => {
    expect(cellText(undefined)).toBe('-');
    expect(cellText(null)).toBe('-');
    expect(cellText({ a: 1 })).toBe('{"a":1}');
    expect(cellText('a\u001b[31mred')).toBe('a\\u001b[31mred');
    expect(cellText('two\nlines')).toBe('two lines');
  });
});
