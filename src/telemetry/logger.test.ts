// The logger from the reader's side: what reaches the log file never holds a configured secret, by key or by value.
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../core/errors.js';
import { createLogger } from './logger.js';
import { clearSecrets, MIN_REDACTED_LENGTH, redactText, registerSecrets } from './redact.js';

const SECRET = 'Zq9/s3cr3t+Value=';

function logTo(): { log: ReturnType<typeof createLogger>; read: () => string } {
  const file = join(mkdtempSync(join(tmpdir(), 'mc-log-')), 'log.ndjson');
  const fd = openSync(file, 'a');
  const log = createLogger({ fd });
  return {
    log,
    read: () => {
      log.flush();
      closeSync(fd);
      return readFileSync(file, 'utf8');
    },
  };
}

/** Every string inside a parsed JSON value, at any depth (what a reader of the log sees once it is decoded). */
function strings(value: unknown): string[] {
  if (typeof value === 'string') {
    // A JSON body quoted in a message: decode it too where it parses.
    try {
      const inner = JSON.parse(value) as unknown;
      if (typeof inner === 'object' && inner !== null) return [value, ...strings(inner)];
    } catch {
      // not JSON: the string itself is what is read
    }
    return [value];
  }
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(strings);
  return [];
}

afterEach(() => clearSecrets());

describe('logger redaction by value', () => {
  it('redacts a configured secret inside an error message, an err object and the message, in every form', () => {
    registerSecrets([SECRET]);
    const { log, read } = logTo();
    const echoed = `{"error":"invalid_client","request":"client_id=abc&client_secret=${encodeURIComponent(SECRET)}","json":${JSON.stringify(JSON.stringify({ client_secret: SECRET }))}}`;
    const err = new ApiError('API_AUTH_FAILED', `Mimecast rejected the client credentials: ${echoed} (HTTP 401)`, 'POST /oauth/token');
    log.warn({ err: err.message }, 'could not check credentials');
    log.error({ err }, `token call failed: ${SECRET}`);
    log.info({ detail: { nested: `b64 ${Buffer.from(SECRET).toString('base64')}` } }, 'other');
    const out = read();
    expect(out).toContain('Mimecast rejected the client credentials');
    expect(out).toContain('[redacted]');
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(encodeURIComponent(SECRET));
    expect(out).not.toContain(JSON.stringify(SECRET).slice(1, -1));
    expect(out).not.toContain(Buffer.from(SECRET).toString('base64'));
    expect(out).not.toContain(SECRET.slice(0, MIN_REDACTED_LENGTH));
    // Every line is still JSON.
    for (const line of out.trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('keeps a line valid JSON and leaks nothing when the secret holds a quote and a backslash', () => {
    const secret = 'Zq9/s3cr3t"quo\\te+back\\slash==';
    registerSecrets([secret]);
    const { log, read } = logTo();
    const body = JSON.stringify({ error: 'invalid_client', echoed: { client_secret: secret } });
    log.error({ err: new ApiError('API_AUTH_FAILED', `rejected: ${body} (HTTP 401)`, 'POST /oauth/token'), secret_echo: `x${secret}y` }, `token call failed: ${secret}`);
    // The reply body cut off 13 characters into the (JSON-escaped) secret, as an error snippet is.
    log.warn(`snippet: ${body.slice(0, body.indexOf(secret.slice(0, 8)) + 13)}`);
    const out = read();
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      const parsed = JSON.parse(line) as unknown;
      expect(line).toContain('[redacted]');
      const texts = [line, ...strings(parsed)];
      for (let i = 0; i + MIN_REDACTED_LENGTH <= secret.length; i++) {
        const window = secret.slice(i, i + MIN_REDACTED_LENGTH);
        for (const text of texts) expect(text).not.toContain(window);
      }
    }
  });

  it('redacts a secret cut off in a truncated snippet, and leaves short values and other text alone', () => {
    registerSecrets([SECRET, 'short']);
    expect(redactText(`body: ...client_secret=${SECRET.slice(0, 10)}`)).toBe('body: ...client_secret=[redacted]');
    expect(redactText('a short word')).toBe('a short word');
    expect(redactText(`${SECRET}${SECRET}`)).toBe('[redacted][redacted]');
  });
});
