// Tests for the key_value parser: the documented splitting rule and the values that break naive parsers.
import { describe, expect, it } from 'vitest';
import { keyValueRecordTexts, parseKeyValue, splitRecords } from './keyvalue.js';
import { parsedSlots, type ParsedSlot as RecordItem } from './testkit.js';

async function collect(chunks: readonly string[], max?: number): Promise<RecordItem[]> {
  const out: RecordItem[] = [];
  const src = (async function* () {
    for (const c of chunks) yield Buffer.from(c, 'utf8');
  })();
  for await (const r of parsedSlots(keyValueRecordTexts(src, max === undefined ? {} : { maxRecordBytes: max }), parseKeyValue, 'bad_record')) out.push(r);
  return out;
}

const values = (items: RecordItem[]): unknown[] => items.map((i) => (i.ok ? i.value : { bad: i.reason }));

describe('parseKeyValue', () => {
  it('parses the documented receipt line', () => {
    const line =
      'datetime=2024-03-01T10:02:11+0000|aCode=q7Lm2XbWNz6tP0aQe1RrFg|acc=CUK12A345|Sender=alerts@vendor.example|Rcpt=ops@corp.example|Act=Acc|IP=198.51.100.23|Dir=Inbound|MsgId=<a1b2c3@vendor.example>|Subject=Invoice 4411|headerFrom=alerts@vendor.example|SpamInfo=[]|SpamScore=3|SpamLimit=28|TlsVer=TLSv1.3|Cphr=TLS_AES_256_GCM_SHA384';
    const r = parseKeyValue(line);
    expect(r['datetime']).toBe('2024-03-01T10:02:11+0000');
    expect(r['Subject']).toBe('Invoice 4411');
    expect(r['Cphr']).toBe('TLS_AES_256_GCM_SHA384');
    expect(Object.keys(r)).toHaveLength(16);
  });

  it.each([
    ['a pipe with spaces', 'Subject=Q1 | Q2 report|Act=Acc', { Subject: 'Q1 | Q2 report', Act: 'Acc' }],
    ['double pipes and a trailing pipe', 'Subject=a||b|', { Subject: 'a||b|' }],
    ['a pipe before a non-key', 'Subject=x|=y|1abc=z|Act=Acc', { Subject: 'x|=y|1abc=z', Act: 'Acc' }],
    ['datetime= inside a value', 'datetime=2024-03-01T10:02:11+0100|Subject=re: datetime=2024-01-01T00:00:00+0000|Act=Hld', {
      datetime: '2024-03-01T10:02:11+0100',
      Subject: 're: datetime=2024-01-01T00:00:00+0000',
      Act: 'Hld',
    }],
    ['|datetime= inside a value (key already used)', 'datetime=2024-03-01T10:02:11+0100|Subject=a|datetime=b|Act=Acc', {
      datetime: '2024-03-01T10:02:11+0100',
      Subject: 'a|datetime=b',
      Act: 'Acc',
    }],
    ['equals signs in values', 'Subject=a=b==c|URL=https://x.example/?q=1&r=2|Act=Acc', { Subject: 'a=b==c', URL: 'https://x.example/?q=1&r=2', Act: 'Acc' }],
    ['empty values', 'AttNames=|headerFrom=|Act=Acc', { AttNames: '', headerFrom: '', Act: 'Acc' }],
    ['quoted names with pipes', 'AttNames="a.pdf", "b|c.doc"|AttCnt=2', { AttNames: '"a.pdf", "b|c.doc"', AttCnt: '2' }],
    ['a repeated key stays in the value', 'Subject=x|Subject=y|Act=Acc', { Subject: 'x|Subject=y', Act: 'Acc' }],
  ])('%s', (_name, line, expected) => {
    expect(parseKeyValue(line)).toEqual(expected);
  });

  it('rejects text that does not start with key=', () => {
    expect(() => parseKeyValue('garbage without pairs')).toThrow(TypeError);
    expect(() => parseKeyValue('|Act=Acc')).toThrow(TypeError);
  });
});

describe('splitRecords', () => {
  it('splits run-together records only at a real record prefix', () => {
    const a = 'datetime=2024-03-01T10:00:00+0100|aCode=A1|acc=C1|Subject=one';
    const b = 'datetime=2024-03-01T10:00:01+0100|acc=C1|Subject=two datetime=2024-03-01T10:00:02+0100 inside';
    expect(splitRecords(a + b)).toEqual([a, b]);
    expect(splitRecords(a)).toEqual([a]);
  });
});

describe('keyValueRecordTexts', () => {
  const file =
    '\ufeffdatetime=2024-03-01T10:00:00+0100|aCode=A1|acc=C1|Subject=a|b\r\n' +
    '\n' +
    'datetime=2024-03-01T10:00:01+0100|aCode=A2|acc=C1|Subject=ünïcødé ✓\r\n' +
    'not a record\n' +
    'datetime=2024-03-01T10:00:02+0100|aCode=A3|acc=C1|Subject=last';

  it('reads lines (CRLF, BOM, blank lines, no final newline) and reports bad lines in place', async () => {
    const items = await collect([file]);
    expect(values(items)).toEqual([
      { datetime: '2024-03-01T10:00:00+0100', aCode: 'A1', acc: 'C1', Subject: 'a|b' },
      { datetime: '2024-03-01T10:00:01+0100', aCode: 'A2', acc: 'C1', Subject: 'ünïcødé ✓' },
      { bad: 'bad_record' },
      { datetime: '2024-03-01T10:00:02+0100', aCode: 'A3', acc: 'C1', Subject: 'last' },
    ]);
  });

  it('gives the same records whatever the chunking, byte by byte included', async () => {
    const whole = await collect([file]);
    const bytes = Buffer.from(file, 'utf8');
    const src = (async function* () {
      for (const b of bytes) yield Buffer.from([b]);
    })();
    const out: RecordItem[] = [];
    for await (const r of parsedSlots(keyValueRecordTexts(src), parseKeyValue, 'bad_record')) out.push(r);
    expect(out).toEqual(whole);
  });

  it('stays bounded on a file without line breaks and skips an over-long record', async () => {
    const rec = (i: number): string => `datetime=2024-03-01T10:00:${String(i % 60).padStart(2, '0')}+0100|aCode=A${i}|acc=C1|Subject=s${i}`;
    const parts = Array.from({ length: 200 }, (_, i) => rec(i));
    parts.splice(100, 0, `datetime=2024-03-01T10:00:00+0100|aCode=BIG|acc=C1|Subject=${'x'.repeat(5000)}`);
    const joined = parts.join('');
    const chunks: string[] = [];
    for (let i = 0; i < joined.length; i += 700) chunks.push(joined.slice(i, i + 700));
    const items = await collect(chunks, 2000);
    const ok = items.filter((i) => i.ok);
    expect(ok).toHaveLength(200);
    expect(items.filter((i) => !i.ok).map((i) => (i.ok ? '' : i.reason))).toEqual(['record_too_large']);
    expect((ok[199] as { value: Record<string, string> }).value['aCode']).toBe('A199');
  });

  it('the record limit counts UTF-8 bytes, not characters', async () => {
    const wide = `datetime=2024-03-01T10:00:00+0100|aCode=W|acc=C1|Subject=${'✓'.repeat(900)}`;
    const narrow = 'datetime=2024-03-01T10:00:01+0100|aCode=N|acc=C1|Subject=ok';
    const items = await collect([`${wide}\n${narrow}\n`], 2000);
    expect(items.map((i) => (i.ok ? (i.value as Record<string, string>)['aCode'] : i.reason))).toEqual(['record_too_large', 'N']);
  });
});
