// Opaque, tamper-evident page/file tokens: base64url JSON payload plus a truncated HMAC bound to a token kind.
import { createHmac } from 'node:crypto';

export class TokenSigner {
  constructor(private readonly key: Buffer) {}

  sign(kind: string, payload: readonly (number | string | boolean)[]): string {
    const body = Buffer.from(JSON.stringify(payload)).toString('base64url');
    return `${body}.${this.mac(kind, body)}`;
  }

  /** The payload array, or undefined for anything not signed by this simulator for this kind. */
  parse(kind: string, token: string): unknown[] | undefined {
    const [body, mac, extra] = token.split('.');
    if (body === undefined || mac === undefined || extra !== undefined || mac !== this.mac(kind, body)) return undefined;
    try {
      const v: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      return Array.isArray(v) ? (v as unknown[]) : undefined;
    } catch {
      return undefined;
    }
  }

  private mac(kind: string, body: string): string {
    return createHmac('sha256', this.key).update(`${kind}:${body}`).digest('base64url').slice(0, 22);
  }
}

/** Reads a non-negative integer from a parsed payload slot. */
export function intAt(v: unknown[], i: number): number | undefined {
  const x = v[i];
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : undefined;
}
