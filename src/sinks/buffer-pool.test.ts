// The sinks' buffer pool: reuse after give, the smallest spare that fits, bounded spares, foreign buffers ignored.
import { describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.js';

describe('BufferPool', () => {
  it('lends views of the requested size and reuses a buffer only once it was given back', () => {
    const pool = new BufferPool(4, 1024);
    const a = pool.take(1000);
    expect(a.length).toBe(1000);
    const b = pool.take(1000);
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    expect(pool.take(700).buffer).toBe(a.buffer);
  });

  it('takes the smallest spare that fits, and a new buffer when none does', () => {
    const pool = new BufferPool(4, 1024);
    const big = pool.take(8000);
    const small = pool.take(1500);
    pool.give(big);
    pool.give(small);
    expect(pool.take(1200).buffer).toBe(small.buffer);
    expect(pool.take(9000).buffer).not.toBe(big.buffer);
    expect(pool.take(3000).buffer).toBe(big.buffer);
  });

  it('keeps at most `max` spares, and ignores what it did not lend or a buffer given twice', () => {
    const pool = new BufferPool(1, 1024);
    const a = pool.take(100);
    const b = pool.take(100);
    pool.give(a);
    pool.give(b);
    pool.give(a);
    pool.give(Buffer.alloc(100));
    expect(pool.take(100).buffer).toBe(a.buffer);
    expect(pool.take(100).buffer).not.toBe(b.buffer);
  });
});
