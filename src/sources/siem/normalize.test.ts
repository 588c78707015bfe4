// Golden and unit tests for SIEM API 2.0 normalization; UPDATE_GOLDEN=1 rewrites the expected files.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CI_TYPES, SIEM_API_TYPE, SIEM_TYPES, isCiType, type NormalizedEvent } from '../../core/contracts.js';
import { CollectorError } from '../../core/errors.js';
import { checkNormalizedEvent } from '../../normalize/contract.js';
import { normalizeSiemV2 } from './normalize.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'v2');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const CTX = { account: 'acme-prod' };

function readNdjson(path: string): unknown[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as unknown);
}

function normalizeAll(records: unknown[]): NormalizedEvent[] {
  return records.map((r) => normalizeSiemV2(r, CTX));
}

function asRecord(v: unknown): Record<string, unknown> {
  return v as Record<string, unknown>;
}

describe.each([...SIEM_TYPES, ...CI_TYPES])('golden: %s', (logType) => {
  const inputPath = join(DIR, `${logType}.input.ndjson`);
  const expectedPath = join(DIR, `${logType}.expected.ndjson`);

  it('normalizes to the expected documents', () => {
    const inputs = readNdjson(inputPath);
    expect(inputs.length).toBeGreaterThan(1);
    // `json` is the same document pre-serialised (checked below); the golden files hold the object form.
    const actual = normalizeAll(inputs).map((e) => ({ id: e.id, stream: e.stream, account: e.account, time: e.time, doc: e.doc }));
    if (UPDATE) writeFileSync(expectedPath, actual.map((e) => JSON.stringify(e)).join('\n') + '\n');
    expect(existsSync(expectedPath)).toBe(true);
    // Round-trip so the comparison sees exactly what a sink would write.
    expect(JSON.parse(JSON.stringify(actual))).toEqual(readNdjson(expectedPath));
  });

  it('every output meets the event contract and keeps every original field unchanged', () => {
    const inputs = readNdjson(inputPath);
    const ids = new Set<string>();
    for (const input of inputs) {
      const ev = normalizeSiemV2(input, CTX);
      expect(checkNormalizedEvent(ev)).toEqual([]);
      // The pre-built output text is exactly the document.
      expect(ev.json).toBeDefined();
      expect(JSON.parse(ev.json ?? '')).toEqual(JSON.parse(JSON.stringify(ev.doc)));
      const mc = asRecord(ev.doc['mimecast']);
      for (const [k, v] of Object.entries(asRecord(input))) expect(mc[k]).toEqual(v);
      expect(mc['log_type']).toBe(logType);
      expect(asRecord(input)['type']).toBe(isCiType(logType) ? logType : SIEM_API_TYPE[logType]);
      ids.add(ev.id);
    }
    // The inputs hold no exact duplicates, so each one must get its own id.
    expect(ids.size).toBe(inputs.length);
  });
});

const RECEIPT = {
  _offset: 1,
  _partition: 2,
  accountId: 'CUK98Z765',
  action: 'Acc',
  direction: 'Inbound',
  messageId: '<m@x.example>',
  recipients: 'a@acme.example',
  senderEnvelope: 'b@x.example',
  senderIp: '198.51.100.1',
  subject: 'hi',
  timestamp: 1714557603120,
  type: 'receipt',
};

describe('normalizeSiemV2', () => {
  it('builds the envelope from the record', () => {
    const ev = normalizeSiemV2(RECEIPT, CTX);
    expect(ev.stream).toBe('siem');
    expect(ev.account).toBe('acme-prod');
    expect(ev.time).toBe('2024-05-01T10:00:03.120Z');
    expect(ev.id).toMatch(/^[0-9a-f]{32}$/);
    expect(asRecord(ev.doc['event'])).toMatchObject({ module: 'mimecast', dataset: 'mimecast.siem', kind: 'event', action: 'accept', outcome: 'success' });
  });

  it('gives the same id to the same record in any key order, and a new id for any change', () => {
    const reversed = Object.fromEntries(Object.entries(RECEIPT).reverse());
    const id = normalizeSiemV2(RECEIPT, CTX).id;
    expect(normalizeSiemV2(reversed, CTX).id).toBe(id);
    expect(normalizeSiemV2({ ...RECEIPT, _offset: 2 }, CTX).id).not.toBe(id);
    expect(normalizeSiemV2({ ...RECEIPT, messageId: null }, CTX).id).not.toBe(id);
    expect(normalizeSiemV2(RECEIPT, { account: 'other' }).id).not.toBe(id);
  });

  it('does not modify the input record', () => {
    const input = structuredClone(RECEIPT);
    normalizeSiemV2(Object.freeze(input), CTX);
    expect(input).toEqual(RECEIPT);
  });

  it('never lets record keys overwrite the metadata keys', () => {
    const ev = normalizeSiemV2({ ...RECEIPT, account: 'evil', stream: 'audit', log_type: 'x' }, CTX);
    expect(asRecord(ev.doc['mimecast'])).toMatchObject({ account: 'acme-prod', stream: 'siem', log_type: 'receipt' });
    expect(checkNormalizedEvent(ev)).toEqual([]);
  });

  it('keeps unknown types, snake_cased, without throwing', () => {
    const ev = normalizeSiemV2({ ...RECEIPT, type: ' Brand-New  Type! ' }, CTX);
    expect(asRecord(ev.doc['mimecast'])['log_type']).toBe('brand_new_type');
    expect(asRecord(ev.doc['mimecast'])['type']).toBe(' Brand-New  Type! ');
    expect(checkNormalizedEvent(ev)).toEqual([]);
    expect(asRecord(normalizeSiemV2({ ...RECEIPT, type: undefined }, CTX).doc['mimecast'])['log_type']).toBe('unknown');
    expect(asRecord(normalizeSiemV2({ ...RECEIPT, type: '???' }, CTX).doc['mimecast'])['log_type']).toBe('unknown');
  });

  it('is not fooled by values that name Object.prototype members', () => {
    const ev = normalizeSiemV2({ ...RECEIPT, action: 'constructor', direction: 'toString' }, CTX);
    expect(asRecord(ev.doc['event'])['action']).toBe('constructor');
    expect(asRecord(ev.doc['event'])['outcome']).toBeUndefined();
    expect(asRecord(ev.doc['email'])['direction']).toBe('unknown');
  });

  it('maps Cloud Integrated records: detections, clicks and the policies applied', () => {
    const base = { _offset: 7, _partition: 9, accountId: 'C1', aggregateId: 'a_1', processingId: 'p_1', timestamp: 1714557603120 };
    const threat = normalizeSiemV2(
      { ...base, type: 'entities', threatType: 'MALWARE', threatState: 'REMEDIATED', direction: 'INBOUND', recipients: ['a@x.example'], policiesApplied: [{ name: 'P1' }, { name: 'P2' }, { name: 'P1' }] },
      CTX,
    );
    expect(asRecord(threat.doc['event'])).toMatchObject({ category: ['email', 'threat'], type: ['indicator', 'info'], action: 'remediated', reason: 'MALWARE' });
    expect(asRecord(threat.doc['email'])).toMatchObject({ direction: 'inbound', to: { address: ['a@x.example'] } });
    expect(threat.doc['rule']).toEqual({ name: 'P1, P2' });
    const clean = normalizeSiemV2({ ...base, type: 'entities', threatType: 'NO_DETECTIONS' }, CTX);
    expect(asRecord(clean.doc['event'])).toMatchObject({ category: ['email'], type: ['info'] });
    expect(asRecord(clean.doc['event'])['reason']).toBeUndefined();
    const click = normalizeSiemV2({ ...base, type: 'urlclick', action: 'block', originalUrl: 'https://bad.example/x', sourceIp: '203.0.113.5', userEmailAddress: 'u@x.example' }, CTX);
    expect(asRecord(click.doc['event'])).toMatchObject({ category: ['email', 'web'], type: ['access', 'denied'], action: 'block' });
    expect(click.doc['url']).toEqual({ original: 'https://bad.example/x', full: 'https://bad.example/x', domain: 'bad.example' });
    expect(click.doc['user']).toEqual({ email: 'u@x.example' });
    expect(asRecord(click.doc['source'])['ip']).toBe('203.0.113.5');
    expect(asRecord(click.doc['related'])['user']).toEqual(['u@x.example']);
    expect(asRecord(normalizeSiemV2({ ...base, type: 'MailFlow' }, CTX).doc['mimecast'])['log_type']).toBe('mailflow');
    for (const ev of [threat, clean, click]) expect(checkNormalizedEvent(ev)).toEqual([]);
  });

  it('accepts epoch-ms timestamps sent as strings', () => {
    expect(normalizeSiemV2({ ...RECEIPT, timestamp: '1714557603120' }, CTX).time).toBe('2024-05-01T10:00:03.120Z');
  });

  it.each<[string, unknown, RegExp]>([
    ['null', null, /not a JSON object/],
    ['an array', [RECEIPT], /not a JSON object.*array/],
    ['a string', 'receipt', /not a JSON object/],
    ['an empty object', {}, /empty JSON object/],
  ])('throws NORMALIZE_FAILED for %s', (_name, input, pattern) => {
    let caught: unknown;
    try {
      normalizeSiemV2(input, CTX);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CollectorError);
    expect((caught as CollectorError).code).toBe('NORMALIZE_FAILED');
    expect((caught as CollectorError).message).toMatch(pattern);
  });
});

describe('normalizeSiemV2: TLS versions and placeholder addresses', () => {
  it('writes tls.version with its minor part (TLSv1 is 1.0) and the protocol in lower case', () => {
    const cases: [string, string, string][] = [
      ['TLSv1', '1.0', 'tls'],
      ['TLSv1.1', '1.1', 'tls'],
      ['TLSv1.2', '1.2', 'tls'],
      ['TLSv1.3', '1.3', 'tls'],
      ['SSLv3', '3.0', 'ssl'],
    ];
    for (const [text, version, protocol] of cases) {
      const tls = asRecord(normalizeSiemV2({ ...RECEIPT, tlsVersion: text }, CTX).doc['tls']);
      expect(tls).toMatchObject({ version, version_protocol: protocol });
    }
  });

  it('leaves the unspecified address 0.0.0.0 out of source.ip and related.ip, and keeps it under mimecast', () => {
    const doc = normalizeSiemV2({ ...RECEIPT, senderIp: '0.0.0.0' }, CTX).doc;
    expect(asRecord(doc['source'] ?? {})['ip']).toBeUndefined();
    expect(asRecord(doc['related'] ?? {})['ip']).toBeUndefined();
    expect(asRecord(doc['mimecast'])['senderIp']).toBe('0.0.0.0');
  });
});

describe('normalizeSiemV2: attachment lists', () => {
  const PROCESS = { _offset: 1, _partition: 2, accountId: 'CUK1', action: 'Acc', aggregateId: 'a_1', processingId: 'p_1', senderEnvelope: 'b@x.example', timestamp: 1714560000000, type: 'process' };
  const attachments = (r: Record<string, unknown>): unknown => asRecord(normalizeSiemV2({ ...PROCESS, ...r }, CTX).doc['email'] ?? {})['attachments'];

  it('never cuts a name that holds quotes, and gives the one file its size', () => {
    const whole = [{ file: { name: 'Q3 "final" figures.pdf', extension: 'pdf', size: 80312 } }];
    expect(attachments({ attachments: '"Q3 "final" figures.pdf"', numberAttachments: '1', totalSizeAttachments: '80312' })).toEqual(whole);
    expect(attachments({ attachments: 'Q3 "final" figures.pdf', numberAttachments: '1', totalSizeAttachments: '80312' })).toEqual(whole);
  });

  it('splits a quoted list only between names, and gives no file the total of several', () => {
    expect(attachments({ attachments: '"Q3 "final" figures.pdf", "b, c.docx"', numberAttachments: '2', totalSizeAttachments: '99000' })).toEqual([
      { file: { name: 'Q3 "final" figures.pdf', extension: 'pdf' } },
      { file: { name: 'b, c.docx', extension: 'docx' } },
    ]);
    expect(attachments({ attachments: 'contract "signed".pdf, budget.xlsx', numberAttachments: '2', totalSizeAttachments: '5000' })).toEqual([
      { file: { name: 'contract "signed".pdf', extension: 'pdf' } },
      { file: { name: 'budget.xlsx', extension: 'xlsx' } },
    ]);
  });

  it('keeps a comma inside the name of the only attachment', () => {
    expect(attachments({ attachments: 'scan, page 1.jpg', numberAttachments: 1, totalSizeAttachments: 300 })).toEqual([{ file: { name: 'scan, page 1.jpg', extension: 'jpg', size: 300 } }]);
  });

  it('gives no size when the names listed do not match the number of attachments', () => {
    expect(attachments({ attachments: '"a.pdf"', numberAttachments: '2', totalSizeAttachments: '700' })).toEqual([{ file: { name: 'a.pdf', extension: 'pdf' } }]);
  });

  it('keeps the size of the one attachment whose name is null', () => {
    expect(attachments({ attachments: null, numberAttachments: '1', totalSizeAttachments: '1153' })).toEqual([{ file: { size: 1153 } }]);
    expect(attachments({ numberAttachments: 1, totalSizeAttachments: 1153 })).toEqual([{ file: { size: 1153 } }]);
    expect(attachments({ attachments: null, numberAttachments: '2', totalSizeAttachments: '1153' })).toBeUndefined();
    expect(attachments({ attachments: null, numberAttachments: '0', totalSizeAttachments: '0' })).toBeUndefined();
  });

  it('reads a Cloud Integrated array of names, one file per entry', () => {
    const ev = normalizeSiemV2({ ...PROCESS, type: 'entities', attachments: ['Q3 "final" figures.pdf', 'a, b.txt', null] }, CTX);
    expect(asRecord(ev.doc['email'])['attachments']).toEqual([
      { file: { name: 'Q3 "final" figures.pdf', extension: 'pdf' } },
      { file: { name: 'a, b.txt', extension: 'txt' } },
    ]);
  });
});
