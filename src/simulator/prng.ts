// Seeded hashing and a tiny PRNG (mulberry32) so the simulator regenerates identical data from a few numbers.

/** FNV-1a over a string, as an unsigned 32-bit number. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combines numbers into one well-spread unsigned 32-bit hash (order matters). Inputs may exceed 32 bits. */
export function mix(a: number, b: number, c = 0, d = 0): number {
  let h = fmix(a ^ 0x9e3779b9);
  h = fmix(h ^ (b >>> 0) ^ Math.imul(Math.floor(b / 0x100000000), 0x27d4eb2f));
  h = fmix(h ^ (c >>> 0) ^ Math.imul(Math.floor(c / 0x100000000), 0x165667b1));
  h = fmix(h ^ (d >>> 0));
  return h;
}

export function seedHash(seed: number | string): number {
  return typeof seed === 'number' ? mix(0x5eed, seed) : hashString(seed);
}

const TOKEN_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const HEX = '0123456789abcdef';

export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  u32(): number {
    this.s = (this.s + 0x6d2b79f5) | 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** Lower-case hex string of `len` characters. */
  hex(len: number): string {
    let out = '';
    while (out.length < len) {
      let v = this.u32();
      for (let i = 0; i < 8 && out.length < len; i++) {
        out += HEX[v & 15];
        v >>>= 4;
      }
    }
    return out;
  }

  /** URL-safe base64-looking id of `len` characters, like Mimecast's aggregate/processing ids. */
  token(len: number): string {
    let out = '';
    while (out.length < len) {
      let v = this.u32();
      for (let i = 0; i < 5 && out.length < len; i++) {
        out += TOKEN_CHARS[v & 63];
        v >>>= 6;
      }
    }
    return out;
  }
}
