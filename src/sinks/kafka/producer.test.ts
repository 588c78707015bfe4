// Sequence numbers wrap as the Java client's do: past 2^31-1 they go on from 0.
import { describe, expect, it } from 'vitest';
import { nextSequence } from './producer.js';

describe('nextSequence', () => {
  it('adds the records of a batch, and wraps to 0 after 2^31-1', () => {
    expect(nextSequence(0, 500)).toBe(500);
    expect(nextSequence(2_147_483_000, 647)).toBe(2_147_483_647);
    expect(nextSequence(2_147_483_647, 1)).toBe(0);
    expect(nextSequence(2_147_483_600, 100)).toBe(52);
  });
});
