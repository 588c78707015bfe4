// Golden and unit tests for SIEM API 1.0 normalization; UPDATE_GOLDEN=1 rewrites the expected files.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SIEM_TYPES, type SiemType } from '../../core/contracts.js';
import { CollectorError } from '../../core/errors.js';
import { checkNormalizedEvent } from '../../normalize/contract.js';
import { goldenProblems, runGolden } from '../../normalize/golden.js';
import { classifySiemV1, normalizeSiemV1, siemV1TypeFromName } from './normalize-v1.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'testdata', 'v1');
const CTX = { account: 'acme-prod' };

/** The get-siem-logs file-name prefix each type arrives under. */
const PREFIX: Readonly<Record<SiemType, string>> = {
  receipt: 'receipt',
  process: 'process',
  delivery: 'delivery',
  journal: 'jrnl',
  av: 'av',
  spam: 'spameventthread',
  internal_email_protect: 'iep',
  impersonation_protect: 'impersonation',
  url_protect: 'ttp_url',
  attachment_protect: 'ttp_ap',
};

function obj(v: unknown): Record<string, unknown> {
  return v as Record<string, unknown>;
}

/** The record as a key_value file delivers it: every value a string, nulls empty, objects as JSON text. */
function asKeyValue(r: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(r))) out[k] = v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  return out;
}

/** The document without the parts that must differ between two encodings of one record. */
function ecsPart(doc: Record<string, unknown>): Record<string, unknown> {
  const { mimecast, event, ...rest } = doc;
  const { id: _id, ...ev } = obj(event);
  return { ...rest, event: ev, parsed: obj(mimecast)['parsed'] };
}

describe.each(SIEM_TYPES)('golden v1: %s', (logType) => {
  const run = runGolden(DIR, logType, (r) => normalizeSiemV1(r, { ...CTX, logType: PREFIX[logType] }));

  it('normalizes to the expected documents', () => {
    expect(run.inputs.length).toBeGreaterThan(1);
    expect(run.expected).toBeDefined();
    expect(run.actual).toEqual(run.expected);
  });

  it('meets the contract, keeps the originals, gives distinct ids, uses the v2 log-type name', () => {
    expect(goldenProblems(run, checkNormalizedEvent)).toEqual([]);
    for (const ev of run.events) expect(obj(ev.doc['mimecast'])['log_type']).toBe(logType);
  });

  it('classifies every record by its keys alone when the file name is unknown', () => {
    for (const input of run.inputs) {
      expect(classifySiemV1(obj(input))).toBe(logType);
      expect(obj(normalizeSiemV1(input, CTX).doc['mimecast'])['log_type']).toBe(logType);
    }
  });

  it('gives the same ECS fields for the key_value (all-strings) form of each record', () => {
    for (const input of run.inputs) {
      const typed = normalizeSiemV1(input, { ...CTX, logType: PREFIX[logType] });
      const strings = normalizeSiemV1(asKeyValue(input), { ...CTX, logType: PREFIX[logType] });
      expect(ecsPart(strings.doc)).toEqual(ecsPart(typed.doc));
    }
  });
});

describe('normalizeSiemV1', () => {
  const RECEIPT = {
    datetime: '2024-05-01T11:02:11+0100',
    aCode: 'abc',
    acc: 'CUK1',
    Act: 'Acc',
    IP: '198.51.100.1',
    Rcpt: 'a@acme.example',
    Sender: 'b@x.example',
    SpamScore: 1,
  };

  it('converts the account-local offset to UTC', () => {
    expect(normalizeSiemV1(RECEIPT, CTX).time).toBe('2024-05-01T10:02:11.000Z');
    expect(normalizeSiemV1({ ...RECEIPT, datetime: '2024-05-01T06:02:11-0400' }, CTX).time).toBe('2024-05-01T10:02:11.000Z');
    expect(normalizeSiemV1({ ...RECEIPT, datetime: '2024-05-01T17:02:11+0700' }, CTX).time).toBe('2024-05-01T10:02:11.000Z');
  });

  it.each<[string | undefined, string]>([
    ['receipt', 'receipt'],
    ['jrnl', 'journal'],
    ['spameventthread', 'spam'],
    ['iep', 'internal_email_protect'],
    ['impersonation', 'impersonation_protect'],
    ['ttp_ip', 'impersonation_protect'],
    ['ttp_url', 'url_protect'],
    ['ttp_ap', 'attachment_protect'],
    ['attachment; filename="delivery_20240501100000123.json"', 'delivery'],
    ['ttp_url_20211129153015541.json', 'url_protect'],
    ['url protect', 'url_protect'],
    ['no-such-type', 'receipt'],
    [undefined, 'receipt'],
  ])('logType %s → %s (unknown names fall back to the keys)', (given, expected) => {
    const ctx = given === undefined ? CTX : { ...CTX, logType: given };
    expect(obj(normalizeSiemV1(RECEIPT, ctx).doc['mimecast'])['log_type']).toBe(expected);
  });

  it('reads the file name embedded in a record when the caller has none', () => {
    const ev = normalizeSiemV1({ ...RECEIPT, 'Content-Disposition': 'attachment; filename="jrnl_2024.json"' }, CTX);
    expect(obj(ev.doc['mimecast'])['log_type']).toBe('journal');
  });

  it('keeps unclassifiable records as log_type unknown', () => {
    const ev = normalizeSiemV1({ datetime: '2024-05-01T10:00:00+0000', acc: 'CUK1', Mystery: 'x' }, CTX);
    expect(obj(ev.doc['mimecast'])['log_type']).toBe('unknown');
    expect(checkNormalizedEvent(ev)).toEqual([]);
  });

  it('never puts "Internal IP" in an IP field', () => {
    const ev = normalizeSiemV1({ ...RECEIPT, IP: 'Internal IP' }, CTX);
    expect(ev.doc['source']).toBeUndefined();
    expect(JSON.stringify(ev.doc['related'])).not.toContain('Internal IP');
  });

  it('treats IP as the destination in delivery logs', () => {
    const ev = normalizeSiemV1({ datetime: '2024-05-01T10:00:00+0000', Delivered: 'true', IP: '192.0.2.5', Rcpt: 'a@acme.example' }, CTX);
    expect(ev.doc['destination']).toEqual({ ip: '192.0.2.5' });
    expect(ev.doc['source']).toBeUndefined();
    expect(obj(ev.doc['event'])).toMatchObject({ action: 'delivered', outcome: 'success' });
  });

  it('never lets record keys overwrite the metadata keys', () => {
    const ev = normalizeSiemV1({ ...RECEIPT, account: 'evil', stream: 'audit', log_type: 'x' }, CTX);
    expect(obj(ev.doc['mimecast'])).toMatchObject({ account: 'acme-prod', stream: 'siem', log_type: 'receipt' });
  });

  it('gives the same id in any key order and a new one for any change', () => {
    const id = normalizeSiemV1(RECEIPT, CTX).id;
    expect(normalizeSiemV1(Object.fromEntries(Object.entries(RECEIPT).reverse()), CTX).id).toBe(id);
    expect(normalizeSiemV1({ ...RECEIPT, aCode: 'abd' }, CTX).id).not.toBe(id);
  });

  it.each<[string, unknown, RegExp]>([
    ['null', null, /not a JSON object/],
    ['an array', [], /not a JSON object/],
    ['an empty object', {}, /empty JSON object/],
  ])('throws NORMALIZE_FAILED for %s', (_n, input, pattern) => {
    let caught: unknown;
    try {
      normalizeSiemV1(input, CTX);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CollectorError);
    expect((caught as CollectorError).code).toBe('NORMALIZE_FAILED');
    expect((caught as CollectorError).message).toMatch(pattern);
  });
});

describe('siemV1TypeFromName', () => {
  it('reads prefixes, file names and Content-Disposition values', () => {
    expect(siemV1TypeFromName('receipt_20191125134532478.log')).toBe('receipt');
    expect(siemV1TypeFromName('ttp_ap_20211129153015541.zip')).toBe('attachment_protect');
    expect(siemV1TypeFromName('attachment; filename="impersonation_20240501.json"')).toBe('impersonation_protect');
    expect(siemV1TypeFromName('MTA')).toBeUndefined();
    expect(siemV1TypeFromName(undefined)).toBeUndefined();
  });
});

describe('normalizeSiemV1: TLS versions', () => {
  it('writes TlsVer TLSv1 as tls.version 1.0', () => {
    const r = { datetime: '2024-03-01T10:00:00+0100', aCode: 'x1', acc: 'CUK1', Dir: 'Inbound', Act: 'Acc', TlsVer: 'TLSv1', Sender: 'b@x.example', Rcpt: 'a@acme.example' };
    expect(obj(normalizeSiemV1(r, { ...CTX, logType: 'receipt' }).doc['tls'])).toMatchObject({ version: '1.0', version_protocol: 'tls' });
  });
});

describe('normalizeSiemV1: attachment lists', () => {
  const PROCESS = { datetime: '2024-05-01T10:02:12+0000', aCode: 'q7', acc: 'CUK1', Act: 'Acc', MsgSize: 61233 };
  const attachments = (r: Record<string, unknown>): unknown => obj(normalizeSiemV1({ ...PROCESS, ...r }, { ...CTX, logType: 'process' }).doc['email'] ?? {})['attachments'];

  it('never cuts a name that holds quotes, and gives the one file its size', () => {
    expect(attachments({ AttCnt: 1, AttNames: '"Q3 "final" figures.pdf"', AttSize: 48211 })).toEqual([{ file: { name: 'Q3 "final" figures.pdf', extension: 'pdf', size: 48211 } }]);
  });

  it('splits a quoted list only between names, and gives no file the total of several', () => {
    expect(attachments({ AttCnt: '2', AttNames: '"Q3 "final" figures.pdf", "notes.DOCX"', AttSize: '90211' })).toEqual([
      { file: { name: 'Q3 "final" figures.pdf', extension: 'pdf' } },
      { file: { name: 'notes.DOCX', extension: 'docx' } },
    ]);
  });

  it('gives each file its own size when the sizes line up with the names', () => {
    expect(attachments({ AttCnt: 2, AttNames: '"a.pdf", "b.txt"', AttSize: '1000, 24' })).toEqual([
      { file: { name: 'a.pdf', extension: 'pdf', size: 1000 } },
      { file: { name: 'b.txt', extension: 'txt', size: 24 } },
    ]);
    expect(attachments({ AttCnt: 2, AttNames: '"a.pdf", "b.txt"', AttSize: [1000, 24] })).toEqual([
      { file: { name: 'a.pdf', extension: 'pdf', size: 1000 } },
      { file: { name: 'b.txt', extension: 'txt', size: 24 } },
    ]);
  });

  it('keeps the size of the one attachment whose name is null', () => {
    expect(attachments({ AttCnt: 1, AttNames: null, AttSize: 1153 })).toEqual([{ file: { size: 1153 } }]);
    expect(attachments({ AttCnt: '1', AttNames: '', AttSize: '1153' })).toEqual([{ file: { size: 1153 } }]);
    expect(attachments({ AttCnt: 0, AttNames: null, AttSize: 0 })).toBeUndefined();
  });
});
