// The sink's own murmur2 gives the partition the library's compatibilityPartitioner (the Java client's) gives, for
// every key length and byte value.
import { randomBytes } from 'node:crypto';
import { compatibilityPartitioner, murmur2 as libraryMurmur2 } from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { keyHash, murmur2 } from './partition.js';

describe('keyHash', () => {
  it('matches the library compatibility partitioner on random keys of every length from 0 to 80 bytes', () => {
    for (let len = 0; len <= 80; len++) {
      for (let n = 0; n < 25; n++) {
        const key = randomBytes(len);
        expect(murmur2(key)).toBe(libraryMurmur2(key));
        expect(keyHash(key)).toBe(compatibilityPartitioner({ topic: 't', value: key }, key));
      }
    }
  });

  it('matches on event ids and on the Java client test vectors', () => {
    for (const id of ['00000000-0000-0000-0000-000000000000', 'siem:eyJ0eXAiOiJKV1QifQ.abc', 'é-ü-漢字']) {
      const key = Buffer.from(id, 'utf8');
      expect(keyHash(key)).toBe(compatibilityPartitioner({ topic: 't', value: key }, key));
    }
    // Values the Java client's UtilsTest checks for murmur2.
    expect(murmur2(Buffer.from('21', 'utf8'))).toBe(-973932308);
    expect(murmur2(Buffer.from('foobar', 'utf8'))).toBe(-790332482);
    expect(murmur2(Buffer.from('a-little-bit-long-string', 'utf8'))).toBe(-985981536);
    expect(murmur2(Buffer.from('a-little-bit-longer-string', 'utf8'))).toBe(-1486304829);
    expect(murmur2(Buffer.from('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', 'utf8'))).toBe(-58897971);
  });
});
