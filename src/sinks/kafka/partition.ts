// The partition number a key maps to, as the Java client's default partitioner computes it (murmur2, sign bit masked),
// in 32-bit integer arithmetic: the library's own murmur2 works in BigInt and allocates on every step of every key.

const SEED = 0x9747b28c;
const M = 0x5bd1e995;

/**
 * Kafka's murmur2 of these bytes (the Java client's `Utils.murmur2`), as a signed 32-bit integer; of the first
 * `length` of them when given (a key written into a reused buffer).
 */
export function murmur2(data: Uint8Array, length = data.length): number {
  let h = SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = (data[i] as number) | ((data[i + 1] as number) << 8) | ((data[i + 2] as number) << 16) | ((data[i + 3] as number) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  const rest = length & 3;
  if (rest > 0) {
    if (rest === 3) h ^= (data[whole + 2] as number) << 16;
    if (rest >= 2) h ^= (data[whole + 1] as number) << 8;
    h ^= data[whole] as number;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

/**
 * The non-negative hash a key's partition is taken from (the library takes it modulo the topic's partition count
 * when it sends): the Java client's `toPositive(murmur2(key))`, so an event.id lands where any Kafka producer puts it.
 */
export function keyHash(key: Uint8Array, length = key.length): number {
  return murmur2(key, length) & 0x7fffffff;
}
