// Tables for `api` output: columns sized to their content, shrunk to the terminal's width, long cells cut with `…`.
import { printable } from '../io.js';

const segmenter = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** Code points a terminal draws two cells wide: East Asian Wide/Fullwidth ranges and emoji pictographs. */
function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

/** Terminal cells one grapheme takes: 2 for a wide base character, 0 for a lone combining mark, else 1. */
function graphemeWidth(g: string): number {
  const cp = g.codePointAt(0) ?? 0;
  if (/^\p{M}+$/u.test(g)) return 0;
  return isWide(cp) || g.includes('\ufe0f') ? 2 : 1;
}

/** How many terminal cells `text` takes (graphemes, not UTF-16 units or bytes). */
export function displayWidth(text: string): number {
  let w = 0;
  for (const { segment } of segmenter.segment(text)) w += graphemeWidth(segment);
  return w;
}

/** `text` cut to at most `width` cells, ending in `…` when cut; never splits a grapheme (a wide character, an emoji with its modifiers). */
export function truncate(text: string, width: number): string {
  if (displayWidth(text) <= width) return text;
  if (width <= 0) return '';
  let out = '';
  let used = 0;
  for (const { segment } of segmenter.segment(text)) {
    const w = graphemeWidth(segment);
    if (used + w > width - 1) break;
    out += segment;
    used += w;
  }
  return out + '…';
}

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - displayWidth(text)));
}

/** A cell's text: strings as they are (control characters escaped), absent as `-`, objects as JSON. */
export function cellText(value: unknown): string {
  if (value === undefined || value === null || value === '') return '-';
  const s = typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value);
  return printable(s.replace(/\s+/g, ' '));
}

/** Narrowest a column is shrunk to before the table overflows instead. */
const MIN_COLUMN = 6;
/** Headers up to this wide are kept whole (a column is not cut below its header's width, at most this). */
const HEADER_KEEP = 12;
const GAP = 2;
/** Share of the width the first column keeps before it is cut. */
const FIRST_COLUMN_SHARE = 0.6;

/**
 * The rows as lines of a table at most `width` cells wide: each column as wide as its widest cell, and while the
 * table is too wide the widest column gives up a cell (down to MIN_COLUMN; the first column only below its share),
 * so short columns and the record's name stay whole.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[], width: number): string[] {
  const widths = headers.map((h, i) => Math.min(Math.max(width, 1), Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? '')))));
  // A column keeps its header whole (up to HEADER_KEEP cells) before the first column gives up any.
  const floor = headers.map((h) => Math.min(Math.max(MIN_COLUMN, displayWidth(h)), HEADER_KEEP));
  // The first column names the record (an address, an id someone will copy): it stays whole up to FIRST_COLUMN_SHARE
  // of the width, and the other columns give up cells first.
  if (widths.length > 1) floor[0] = Math.max(floor[0] ?? 1, Math.min(widths[0] ?? 1, Math.floor(width * FIRST_COLUMN_SHARE)));
  const total = (): number => widths.reduce((a, b) => a + b, 0) + GAP * (widths.length - 1);
  // Headers kept whole can leave the first column short of its share: it gives up cells down to MIN_COLUMN then.
  const others = floor.slice(1).reduce((a, f, i) => a + Math.min(f, widths[i + 1] ?? 0), 0) + GAP * (widths.length - 1);
  if (widths.length > 1 && (floor[0] ?? 0) + others > width) floor[0] = Math.max(Math.min(MIN_COLUMN, widths[0] ?? 1), width - others);
  while (total() > width) {
    let widest = -1;
    widths.forEach((w, i) => {
      if (w > (floor[i] ?? 1) && (widest < 0 || w > (widths[widest] ?? 0))) widest = i;
    });
    if (widest < 0) break;
    widths[widest] = (widths[widest] ?? 1) - 1;
  }
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => pad(truncate(c, widths[i] ?? 0), widths[i] ?? 0))
      .join(' '.repeat(GAP))
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}
