// NDJSON framing: one reused buffer, never overwritten while a batch framed in it is still being written.
import { describe, expect, it } from 'vitest';
import { StoredEvent, type OutEvent } from '../core/contracts.js';
import { NdjsonFramer } from './ndjson.js';

function events(tag: string, n: number): OutEvent[] {
  const out: OutEvent[] = [];
  for (let i = 0; i < n; i++) out.push(new StoredEvent(i + 1, `${tag}${i}`, 'siem', 'a', '2024-05-01T10:00:00.000Z', Buffer.from(JSON.stringify({ tag, i, s: 'é📧' }))));
  return out;
}

const text = (evs: OutEvent[]): string => evs.map((e) => `${e.json}\n`).join('');

describe('NdjsonFramer', () => {
  it('frames each event on its own line and reuses its buffer once a batch is released', () => {
    const f = new NdjsonFramer();
    const a = f.frame(events('a', 3));
    expect(a.data.toString('utf8')).toBe(text(events('a', 3)));
    const buffer = a.data.buffer;
    a.release();
    const b = f.frame(events('b', 2));
    expect(b.data.toString('utf8')).toBe(text(events('b', 2)));
    expect(b.data.buffer).toBe(buffer);
    b.release();
    expect(f.frame([]).data.length).toBe(0);
  });

  it('gives an overlapping batch a buffer of its own, so bytes still being written are never overwritten', () => {
    const f = new NdjsonFramer();
    const a = f.frame(events('a', 3));
    const b = f.frame(events('b', 3));
    expect(b.data.buffer).not.toBe(a.data.buffer);
    expect(a.data.toString('utf8')).toBe(text(events('a', 3)));
    b.release(); // releasing the other batch does not free the first one's buffer
    const c = f.frame(events('c', 1));
    expect(c.data.buffer).not.toBe(a.data.buffer);
    expect(a.data.toString('utf8')).toBe(text(events('a', 3)));
    a.release();
    a.release();
    const d = f.frame(events('d', 1));
    expect(d.data.buffer).toBe(a.data.buffer);
  });
});
