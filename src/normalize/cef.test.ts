// Tests for the CEF and LEEF renderers: header layout, escaping of nasty values, severity, every stream renders.
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STREAM_NAMES, type EcsDocument } from '../core/contracts.js';
import { cefValue, toCef } from './cef.js';
import { severityOf } from './severity.js';
import { readNdjson } from './golden.js';
import { LEEF_TIME_FORMAT, leefTime, toLeef } from './leef.js';
import { normalizerFor } from '../sources/normalizers.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..');

const NASTY: EcsDocument = {
  '@timestamp': '2024-05-01T10:00:03.120Z',
  event: {
    id: 'abc123',
    module: 'mimecast',
    dataset: 'mimecast.siem',
    kind: 'event',
    category: ['email'],
    type: ['info'],
    action: 'acc|ept\\now=x\r\nnext',
    outcome: 'success',
  },
  email: {
    from: { address: ['a=b@x.example'] },
    to: { address: ['c@acme.example', 'd@acme.example'] },
    subject: 'Invoice | May\\2024 = due\r\nline2\nline3\rend\tafter-tab',
    message_id: '<m@x>',
  },
  source: { ip: '198.51.100.1' },
  mimecast: { account: 'acme|prod', stream: 'siem', log_type: 'rec|eipt\nx' },
};

/** Splits a CEF extension into key → unescaped value, the way a receiver does. */
function parseCefExtension(ext: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([A-Za-z0-9]+)=((?:[^\\=]|\\.)*?)(?= [A-Za-z0-9]+=|$)/g;
  for (const m of ext.matchAll(re)) {
    out.set(m[1] as string, (m[2] as string).replace(/\\(.)/g, (_s, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c)));
  }
  return out;
}

/** Splits a CEF line into 7 header fields and the extension, honouring `\|` and `\\`. */
function splitCef(line: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (parts.length < 7 && c === '\\') {
      cur += line[++i] ?? '';
    } else if (parts.length < 7 && c === '|') {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

describe('toCef', () => {
  it('is one line with the fixed header and escaped values that round-trip', () => {
    const line = toCef(NASTY);
    expect(line).not.toMatch(/[\r\n]/);
    const parts = splitCef(line);
    expect(parts).toHaveLength(8);
    expect(parts.slice(0, 7)).toEqual(['CEF:0', 'Mimecast', 'Email Security', '1.0', 'siem:rec|eipt x', 'rec|eipt x acc|ept\\now=x next', '3']);
    const ext = parseCefExtension(parts[7] as string);
    expect(ext.get('msg')).toBe('Invoice | May\\2024 = due\nline2\nline3\rend\tafter-tab');
    expect(ext.get('act')).toBe('acc|ept\\now=x\nnext');
    expect(ext.get('suser')).toBe('a=b@x.example');
    expect(ext.get('duser')).toBe('c@acme.example, d@acme.example');
    expect(ext.get('src')).toBe('198.51.100.1');
    expect(ext.get('rt')).toBe(String(Date.parse('2024-05-01T10:00:03.120Z')));
    expect(ext.get('externalId')).toBe('abc123');
    expect(ext.get('cs1Label')).toBe('mimecastAccount');
    expect(ext.get('cs1')).toBe('acme|prod');
    expect(ext.get('cs3')).toBe('<m@x>');
  });

  it('escapes exactly backslash, equals and line breaks in extension values', () => {
    expect(cefValue('a\\b=c|d\r\ne\nf\rg')).toBe('a\\\\b\\=c|d\\ne\\nf\\rg');
  });

  it('leaves out absent fields instead of writing empty keys', () => {
    const line = toCef({ '@timestamp': '2024-05-01T10:00:00.000Z', event: { id: 'x' }, mimecast: { stream: 'audit', log_type: 'audit' } });
    expect(line).not.toMatch(/=( |$)/);
    expect(line.startsWith('CEF:0|Mimecast|Email Security|1.0|audit:audit|audit|3|')).toBe(true);
  });
});

describe('toLeef', () => {
  it('is LEEF 1.0, one line, tab-delimited, with no tab or newline inside any value', () => {
    const line = toLeef(NASTY);
    expect(line).not.toMatch(/[\r\n]/);
    expect(line.startsWith('LEEF:1.0|Mimecast|Email Security|1.0|siem:rec\\|eipt x|')).toBe(true);
    const attrs = line.slice(line.indexOf('|', 'LEEF:1.0|Mimecast|Email Security|1.0|siem:rec\\|eipt x'.length) + 1).split('\t');
    const map = new Map(attrs.map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]));
    expect(map.get('subject')).toBe('Invoice | May\\2024 = due line2 line3 end after-tab');
    expect(map.get('devTime')).toBe('May 01 2024 10:00:03.120 UTC');
    expect(map.get('devTimeFormat')).toBe(LEEF_TIME_FORMAT);
    expect(map.get('src')).toBe('198.51.100.1');
    expect(map.get('sev')).toBe('3');
    expect(map.get('sender')).toBe('a=b@x.example');
    expect(map.get('usrName')).toBe('a=b@x.example');
    expect(map.get('recipient')).toBe('c@acme.example, d@acme.example');
    expect(map.get('eventId')).toBe('abc123');
    for (const a of attrs) expect(a).toMatch(/^[A-Za-z]+=/);
  });

  it('formats devTime in UTC and rejects garbage', () => {
    expect(leefTime('2024-12-31T23:59:59.999Z')).toBe('Dec 31 2024 23:59:59.999 UTC');
    expect(leefTime('nope')).toBeUndefined();
  });
});

describe('severityOf', () => {
  const base = { event: { category: ['email'], kind: 'event' }, mimecast: {} };
  it.each<[string, EcsDocument, number]>([
    ['plain', base, 3],
    ['failure', { ...base, event: { category: ['authentication'], kind: 'event', outcome: 'failure' } }, 5],
    ['threat blocked', { ...base, event: { category: ['email', 'threat'], kind: 'event', action: 'block' } }, 6],
    ['alert', { ...base, event: { category: ['email'], kind: 'alert' } }, 7],
    ['malware', { ...base, event: { category: ['email', 'malware'], kind: 'event' } }, 8],
    ['malicious verdict', { ...base, mimecast: { scanResult: 'Malicious' } }, 8],
    ['enrichment', { ...base, event: { category: ['threat'], kind: 'enrichment' } }, 5],
  ])('%s → %d', (_n, doc, sev) => {
    expect(severityOf(doc)).toBe(sev);
  });
});

describe('every stream renders', () => {
  const sets: [string, 'v1' | 'v2' | undefined, string][] = [
    ...STREAM_NAMES.filter((s) => s !== 'siem').map((s): [string, undefined, string] => [s, undefined, join(SRC, 'sources', s, 'testdata')]),
    ['siem', 'v1', join(SRC, 'sources', 'siem', 'testdata', 'v1')],
    ['siem', 'v2', join(SRC, 'sources', 'siem', 'testdata', 'v2')],
  ];
  it.each(sets)('%s %s: single-line CEF and LEEF with severity 0-10', (stream, variant, dir) => {
    const normalize = normalizerFor(stream as (typeof STREAM_NAMES)[number], variant);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.input.ndjson'))) {
      for (const input of readNdjson(join(dir, f))) {
        const doc = normalize(input, { account: 'acme-prod' }).doc;
        const cef = toCef(doc);
        const leef = toLeef(doc);
        expect(cef).not.toMatch(/[\r\n]/);
        expect(leef).not.toMatch(/[\r\n]/);
        const sev = Number(splitCef(cef)[6]);
        expect(sev).toBeGreaterThanOrEqual(0);
        expect(sev).toBeLessThanOrEqual(10);
        expect(splitCef(cef)[4]).toBe(`${stream}:${String((doc['mimecast'] as Record<string, unknown>)['log_type'])}`);
      }
    }
  });
});
