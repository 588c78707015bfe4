// Syslog message building: RFC 5424 header and structured data, RFC 3164, framing in bytes, severity, size policy.
import { describe, expect, it } from 'vitest';
import { StoredEvent, type EcsDocument } from '../../core/contracts.js';
import { silentLogger } from '../../telemetry/logger.js';
import { syslogSinkSchema } from './config.js';
import { normalizeSiemV2Full } from '../../sources/normalizers.js';
import { RecordFactory } from '../../simulator/records.js';
import { endLine, headerLead, headerRoute, headerTail, rfc3164Time, sdEscape, severityOfDocument, severityOfJson, utf8Prefix } from './format.js';
import { SyslogSink } from './sink.js';

function event(doc: EcsDocument, over: { id?: string; account?: string; logType?: string; time?: string } = {}): StoredEvent {
  return new StoredEvent(1, over.id ?? 'ev-1', 'siem', over.account ?? 'corp', over.time ?? '2026-12-01T10:00:03.120Z', Buffer.from(JSON.stringify(doc)), over.logType ?? 'receipt');
}

function sink(extra: Record<string, unknown> = {}): SyslogSink {
  const cfg = syslogSinkSchema.parse({ name: 'sys', type: 'syslog', host: '127.0.0.1', hostname: 'collector-1', ...extra });
  return new SyslogSink(cfg, silentLogger());
}

const DOC = { '@timestamp': '2026-12-01T10:00:03.120Z', event: { action: 'accept' }, mimecast: { log_type: 'receipt' } };

describe('RFC 5424 messages', () => {
  it('carry PRI, version, the event time, hostname, app name, procid, log type as MSGID, structured data, then the payload', () => {
    const s = sink();
    const e = event(DOC);
    const [f] = s.build([e]).frames;
    const text = (f as Buffer).toString('utf8');
    const m = /^(\d+) (<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (\[.*?[^\\]\]) (.*))$/.exec(text);
    expect(m).not.toBeNull();
    const [, len, msg, pri, ts, host, app, procid, msgid, sd, payload] = m as unknown as string[];
    expect(Number(len)).toBe(Buffer.byteLength(msg as string));
    expect(pri).toBe(String(16 * 8 + 6)); // local0, informational
    expect(ts).toBe('2026-12-01T10:00:03.120Z');
    expect([host, app, procid, msgid]).toEqual(['collector-1', 'mimecast-collector', String(process.pid), 'receipt']);
    expect(sd).toBe('[mimecast@32473 account="corp" stream="siem" log_type="receipt" event_id="ev-1"]');
    expect(JSON.parse(payload as string)).toEqual(DOC);
  });

  it('escapes ", \\ and ] in structured-data values', () => {
    expect(sdEscape('a"b\\c]d')).toBe('a\\"b\\\\c\\]d');
    const o = { rfc: 5424, facility: 1, hostname: 'h', appName: 'a', procId: '1', sdId: 'x@1' } as const;
    const h = headerLead(o, 't', 5) + headerRoute(o, { account: 'acc"', stream: 'audit', logType: '' }) + headerTail(o, 'i]"\\');
    expect(h).toBe('<13>1 - h a 1 audit [x@1 account="acc\\"" stream="audit" event_id="i\\]\\"\\\\"] ');
  });

  it('count octets, not characters, in the frame length (non-ASCII payloads)', () => {
    const s = sink();
    const [f] = s.build([event({ ...DOC, note: 'héllo wörld ✓ 日本' })]).frames;
    const buf = f as Buffer;
    const space = buf.indexOf(0x20);
    const len = Number(buf.subarray(0, space).toString('latin1'));
    expect(len).toBe(buf.length - space - 1);
    expect(len).toBeGreaterThan(buf.subarray(space + 1).toString('utf8').length);
  });

  it('with LF framing end each message with one LF and never hold another', () => {
    const buf = Buffer.from('xa\nb\r\nc\n?');
    expect(endLine(buf, 1, 7)).toBe(8);
    expect(buf.toString()).toBe('xa b  c\n?');
    const s = sink({ framing: 'lf' });
    const text = s.build([event(DOC), event(DOC, { id: 'ev-2' })]).frames.map((b) => b.toString()).join('');
    expect(text.split('\n')).toHaveLength(3);
  });

  it('render cef and leef payloads from the document', () => {
    const cef = sink({ format: 'cef' }).build([event(DOC)]).frames[0]?.toString() ?? '';
    expect(cef).toMatch(/\] CEF:0\|Mimecast\|Email Security\|1\.0\|/);
    const leef = sink({ format: 'leef' }).build([event(DOC)]).frames[0]?.toString() ?? '';
    expect(leef).toMatch(/\] LEEF:1\.0\|Mimecast\|Email Security\|1\.0\|/);
  });
});

describe('config', () => {
  it('refuses tls settings on a transport that is not tls (they would protect nothing)', () => {
    const r = syslogSinkSchema.safeParse({ name: 's', type: 'syslog', host: 'h', tls: { ca_file: '/ca.pem' } });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe('tls settings apply to transport: tls only (this sink sends over tcp in clear text): set transport: tls, or remove them');
    expect(syslogSinkSchema.safeParse({ name: 's', type: 'syslog', host: 'h', transport: 'tls', tls: { ca_file: '/ca.pem' } }).success).toBe(true);
  });

  it('takes facility names and numbers, and says which names exist', () => {
    expect(syslogSinkSchema.parse({ name: 's', type: 'syslog', host: 'h', facility: 'LOCAL7' }).facility).toBe(23);
    expect(syslogSinkSchema.parse({ name: 's', type: 'syslog', host: 'h', facility: 4 }).facility).toBe(4);
    expect(syslogSinkSchema.safeParse({ name: 's', type: 'syslog', host: 'h', facility: 'locl0' }).error?.issues[0]?.message).toMatch(/^unknown facility "locl0" \(expected 0–23 or one of: kern, /);
  });
});

describe('RFC 3164 messages', () => {
  it('carry PRI, Mmm dd hh:mm:ss (day space-padded, UTC), hostname and TAG[pid]:', () => {
    expect(rfc3164Time('2026-12-01T09:08:07Z')).toBe('Dec  1 09:08:07');
    expect(rfc3164Time('2026-03-21T23:59:59.999Z')).toBe('Mar 21 23:59:59');
    const f = sink({ rfc: 3164, facility: 'auth' }).build([event(DOC)]).frames[0]?.toString() ?? '';
    expect(f).toMatch(new RegExp(`^\\d+ <38>Dec  1 10:00:03 collector-1 mimecast-collector\\[${process.pid}\\]: \\{`));
  });
});

describe('severity', () => {
  it('follows the CEF/LEEF severity of the event', () => {
    expect(severityOfDocument({ event: { category: ['malware'] } })).toBe(2);
    expect(severityOfDocument({ mimecast: { scanResult: 'Malicious' } })).toBe(2);
    expect(severityOfDocument({ event: { kind: 'alert' } })).toBe(3);
    expect(severityOfDocument({ event: { category: ['threat'], action: 'hold' } })).toBe(4);
    expect(severityOfDocument({ event: { outcome: 'failure' } })).toBe(5);
    expect(severityOfDocument({ event: { action: 'accept' } })).toBe(6);
    expect(severityOfJson('{"event":{"kind":"\\u0061lert"}}')).toBe(3);
    const f = sink({ facility: 4 }).build([event({ event: { category: ['malware'] } })]).frames[0]?.toString() ?? '';
    expect(f).toMatch(/^\d+ <34>1 /);
  });

  it('takes the severity journaled with the event, and reads the document only for events journaled without one', () => {
    const plain = JSON.stringify({ event: { action: 'accept' } });
    const journaled = new StoredEvent(1, 'e1', 'siem', 'corp', '2026-12-01T10:00:03.120Z', Buffer.from(plain), 'receipt', 8);
    const old = new StoredEvent(2, 'e2', 'siem', 'corp', '2026-12-01T10:00:03.120Z', Buffer.from(JSON.stringify({ event: { category: ['malware'] } })), 'receipt');
    const frames = sink({ facility: 4 }).build([journaled, old]).frames.map((x) => x.toString());
    expect(frames[0]).toMatch(/^\d+ <34>1 /);
    expect(frames[1]).toMatch(/^\d+ <34>1 /);
  });

  it('read from the JSON text without parsing plain documents gives the same severity as from the document', () => {
    const factory = new RecordFactory(7, 'sev');
    const seen = new Set<number>();
    let offset = 0;
    for (let m = 0; offset < 5000; m++) {
      for (const t of factory.slots(factory.mask(m))) {
        const ev = normalizeSiemV2Full(factory.record(m, t, offset++, 1.7e12 + m, 1.7e12 + m), { account: 'a' });
        const json = ev.json ?? JSON.stringify(ev.doc);
        const want = severityOfDocument(JSON.parse(json) as EcsDocument);
        seen.add(want);
        expect(severityOfJson(json)).toBe(want);
      }
    }
    expect(seen.size).toBeGreaterThan(2);
  });
});

describe('max_message_size', () => {
  const big = { ...DOC, blob: 'x'.repeat(3000) };
  it('on TCP/TLS: an event whose message is longer is rejected with the reason, the others go', () => {
    const s = sink({ max_message_size: '1KB' });
    const out = s.build([event(DOC), event(big, { id: 'ev-big' })]);
    expect(out.frames).toHaveLength(1);
    expect(out.rejected).toEqual([{ index: 1, reason: expect.stringMatching(/syslog message of \d+ bytes is over max_message_size \(1024 bytes\)/) as unknown }]);
  });

  it('on UDP: a longer message is cut at max_message_size on a character boundary, and counted', () => {
    const s = sink({ transport: 'udp', max_message_size: '1KB' });
    const out = s.build([event({ ...big, blob: 'é'.repeat(1500) })]);
    expect(out.truncated).toBe(1);
    const msg = out.frames[0] as Buffer;
    expect(msg.length).toBeLessThanOrEqual(1024);
    expect(msg.length).toBeGreaterThan(1020);
    expect(msg.toString('utf8')).not.toContain('\ufffd');
  });

  it('defaults to 2KB on UDP and 64KB on TCP/TLS; UDP takes no framing', () => {
    expect(syslogSinkSchema.safeParse({ name: 's', type: 'syslog', host: 'h', transport: 'udp', framing: 'lf' }).success).toBe(false);
    expect(utf8Prefix(Buffer.from('aé'), 2)).toBe(1);
    const udp = sink({ transport: 'udp' }).build([event({ ...DOC, blob: 'x'.repeat(2100) })]);
    expect(udp.frames[0]?.length).toBe(2048);
    expect(sink().build([event({ ...DOC, blob: 'x'.repeat(60_000) })]).rejected).toEqual([]);
  });
});
