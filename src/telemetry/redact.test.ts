// Redaction by value from the caller's side: whatever form of a registered secret a text holds, none of it survives.
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, MIN_REDACTED_LENGTH, REDACTED, redactText, registerSecrets } from './redact.js';

afterEach(() => clearSecrets());

/** The encodings a secret shows up in (an API echoing a request, a JSON body quoted in a log line, a Basic header). */
function encodings(value: string): Record<string, string> {
  const json = JSON.stringify(value).slice(1, -1);
  return {
    raw: value,
    json,
    jsonTwice: JSON.stringify(json).slice(1, -1),
    url: encodeURIComponent(value),
    form: new URLSearchParams({ v: value }).toString().slice(2),
    base64: Buffer.from(value, 'utf8').toString('base64'),
  };
}

/** Every MIN_REDACTED_LENGTH-character piece of `value` that is present in `text`. */
function leakedWindows(text: string, value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + MIN_REDACTED_LENGTH <= value.length; i++) {
    const w = value.slice(i, i + MIN_REDACTED_LENGTH);
    if (text.includes(w)) out.push(w);
  }
  return out;
}

/** A deterministic base64-like value (what an API 1.0 secret_key looks like). */
function base64Like(seed: number, bytes = 24): string {
  const buf = Buffer.alloc(bytes);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < bytes; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    buf[i] = x >>> 16;
  }
  return buf.toString('base64');
}

const BASE64_SECRET = 'abcdefgh+xyz/1234567890ABCDEFG==';
/** One value per troublesome character class, each after the eighth character (where the forms differ). */
const SECRETS = [
  BASE64_SECRET,
  'k3yPart1"quoted"\\back\\slash',
  'percent1%41&amp=x&y=z',
  'n0nAscii-päßwörd-€-😀-end',
  'spaces12 and+plus/slash=eq',
];

describe('redactText', () => {
  it('redacts a base64-like secret whole in raw, JSON-escaped, URL-encoded and base64 text', () => {
    registerSecrets([BASE64_SECRET]);
    expect(redactText(`key ${BASE64_SECRET} end`)).toBe(`key ${REDACTED} end`);
    expect(redactText(`{"secret_key":${JSON.stringify(BASE64_SECRET)}}`)).toBe(`{"secret_key":"${REDACTED}"}`);
    expect(redactText(`secret_key=${encodeURIComponent(BASE64_SECRET)}&x=1`)).toBe(`secret_key=${REDACTED}&x=1`);
    expect(redactText(`b64 ${Buffer.from(BASE64_SECRET).toString('base64')} end`)).toBe(`b64 ${REDACTED} end`);
  });

  it('replaces the whole form, for every form of every character class', () => {
    registerSecrets(SECRETS);
    for (const secret of SECRETS) {
      for (const [name, form] of Object.entries(encodings(secret))) {
        expect(redactText(`before ${form} after`), `${name} of ${secret}`).toBe(`before ${REDACTED} after`);
        expect(redactText(`${form}${form}`), `${name} of ${secret}, twice`).toBe(`${REDACTED}${REDACTED}`);
      }
    }
  });

  it('redacts a secret cut after 12 characters at the end of a snippet, in each form', () => {
    registerSecrets(SECRETS);
    for (const secret of SECRETS) {
      for (const [name, form] of Object.entries(encodings(secret))) {
        const cut = form.slice(0, 12);
        expect(redactText(`body: ...client_secret=${cut}`), `${name} of ${secret}`).toBe(`body: ...client_secret=${REDACTED}`);
      }
    }
  });

  it('leaves a JSON line valid wherever a form holding quotes and backslashes is cut off', () => {
    const secret = 'k3yPart1"q\\"\\\\u"\\n-é😀+/=%&';
    registerSecrets([secret]);
    for (const [name, form] of Object.entries(encodings(secret))) {
      for (let cut = MIN_REDACTED_LENGTH; cut <= form.length; cut++) {
        for (const msg of [form.slice(0, cut), `x ${form.slice(0, cut)}\\n"y`]) {
          const line = redactText(JSON.stringify({ msg }));
          expect(() => JSON.parse(line) as unknown, `${name} cut at ${cut}: ${line}`).not.toThrow();
          expect(line).toContain(REDACTED);
        }
      }
    }
  });

  it('redacts the longer form where a shorter one starts inside it', () => {
    // The value's head appears again 4 characters in: the match found first must not leave the rest of the value.
    const secret = 'AAAAAAAAAAAABBBBBBBB';
    registerSecrets([secret]);
    expect(redactText(`x AAAA${secret} y`)).toBe(`x ${REDACTED} y`);
  });

  it('works with 600 registered secrets, and a megabyte of text is redacted without a giant regex', { timeout: 60_000 }, () => {
    const secrets = Array.from({ length: 600 }, (_, i) => base64Like(i + 1));
    expect(new Set(secrets).size).toBe(600);
    registerSecrets(secrets);
    const last = secrets[599] ?? '';
    expect(redactText(`token call failed: secret_key=${encodeURIComponent(last)} (HTTP 401)`)).toBe(`token call failed: secret_key=${REDACTED} (HTTP 401)`);
    const line = '{"level":30,"time":1700000000000,"msg":"polled siem: 100 events","account":"corp"}';
    expect(redactText(line)).toBe(line);

    const filler = 'lorem ipsum dolor sit amet 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz +/=\n';
    const clean = filler.repeat(Math.ceil(1_000_000 / filler.length));
    expect(redactText(clean)).toBe(clean);
    const [a, b, c] = [secrets[0] ?? '', secrets[300] ?? '', last];
    const dirty = `${clean}${a} ${clean}${JSON.stringify(b)}${clean}${Buffer.from(c).toString('base64')}`;
    const out = redactText(dirty);
    expect(out).toBe(`${clean}${REDACTED} ${clean}"${REDACTED}"${clean}${REDACTED}`);
    for (const s of [a, b, c]) expect(leakedWindows(out, s)).toEqual([]);
  });
});
