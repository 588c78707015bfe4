// The account's API 1.0 SIEM data: the records of each log type, their key_value form, and how they fall into files.
import { fmtOffset } from './http.js';
import type { LogStore } from './logstore.js';
import { Rng } from './prng.js';

/** File-name prefixes of the 1.0 SIEM log types. */
export const V1_PREFIXES = ['receipt', 'process', 'delivery', 'jrnl', 'av', 'spameventthread', 'iep', 'impersonation', 'ttp_url', 'ttp_ap'] as const;
export type V1Prefix = (typeof V1_PREFIXES)[number];
const WEIGHTS = [30, 25, 25, 4, 2, 4, 3, 2, 3, 2];
const WEIGHT_SUM = WEIGHTS.reduce((a, b) => a + b, 0);
const RETENTION_MS = 7 * 86_400_000;

export function v1TypeOf(seed: number): number {
  let x = (seed >>> 8) % WEIGHT_SUM;
  for (let p = 0; p < WEIGHTS.length; p++) {
    x -= WEIGHTS[p] as number;
    if (x < 0) return p;
  }
  return 0;
}

type Rec = Record<string, unknown>;

const USERS = ['amy', 'bob', 'carol', 'dave', 'ops', 'finance', 'jörg.müller'];
const EXT = ['alerts@vendor.example', 'news@list.example', 'spoof@bad.example', 'x@partner.example', 'deals@shop.example'];
/** Subjects include the characters that break naive key_value parsers: `|`, `=`, even `datetime=`. */
const SUBJECTS = [
  'Invoice 4411',
  'RE: Quarterly report | Q3 2024',
  'Discount=50% today only',
  'Report datetime=2024-03-01T10:00:00+0000 attached',
  'Status|pending review',
  'Weekly digest',
  'Line one\r\nLine two',
  'Réunion équipe — budget',
  'a = b | c = d',
];
const FILES = [
  ['invoice-4411.pdf', 'pdf', 'application/pdf'],
  ['q1.xlsm', 'xlsm', 'application/vnd.ms-excel.sheet.macroEnabled.12'],
  ['photo, 2.jpg', 'jpg', 'image/jpeg'],
] as const;

function spamDetail(r: Rng): Rec {
  const pass = r.chance(0.85);
  return {
    spf: { info: pass ? 'SPF_PASS' : 'SPF_FAIL', allow: true },
    dkim: { info: r.pick(['DKIM_UNKNOWN', 'DKIM_PASS']), allow: true },
    dmarc: { info: pass ? 'DMARC_PASS' : 'DMARC_QUARANTINE', allow: pass },
  };
}

/** A 1.0 SIEM record (JSON-file form: native numbers, booleans, nulls, SpamProcessingDetail as an object). */
export function v1Record(p: number, seed: number, t: number, acc: string, offsetMin: number): Rec {
  const r = new Rng(seed);
  const datetime = fmtOffset(t, offsetMin);
  const aCode = r.token(22);
  const inbound = r.chance(0.7);
  const user = `${r.pick(USERS)}@corp.example`;
  const ext = r.pick(EXT);
  const sender = inbound ? ext : user;
  const rcpt = inbound ? user : ext;
  const subject = r.chance(0.03) ? null : r.pick(SUBJECTS);
  const msgId = r.chance(0.03) ? null : `<${r.token(10)}@${sender.slice(sender.indexOf('@') + 1)}>`;
  const ip = inbound ? `198.51.100.${r.range(1, 254)}` : `10.20.${r.range(0, 9)}.${r.range(1, 254)}`;
  const dir = inbound ? 'Inbound' : r.pick(['Outbound', 'Internal']);
  const file = r.pick(FILES);
  const hashes = { md5: r.hex(32), sha1: r.hex(40), sha256: r.hex(64) };
  switch (V1_PREFIXES[p]) {
    case 'receipt': {
      if (r.chance(0.08)) {
        return { datetime, aCode, acc, Sender: sender, Rcpt: rcpt, Act: 'Rej', IP: ip, Dir: dir, RejType: 'IP Found in RBL', RejCode: '550', RejInfo: 'Poor Reputation Sender.', headerFrom: '' };
      }
      const rec: Rec = { datetime, aCode, acc, Sender: sender, Rcpt: rcpt, Act: 'Acc', IP: ip, Dir: dir, MsgId: msgId, Subject: subject, headerFrom: sender, SpamScore: r.range(0, 30), SpamLimit: 28, SpamInfo: '[]' };
      if (r.chance(0.7)) rec['SpamProcessingDetail'] = spamDetail(r);
      rec['TlsVer'] = 'TLSv1.3';
      rec['Cphr'] = 'TLS_AES_256_GCM_SHA384';
      if (r.chance(0.05)) rec['Virus'] = 'Example.Test.Signature';
      return rec;
    }
    case 'process': {
      const n = r.range(0, 2);
      const names = n === 0 ? r.pick([null, '']) : [file[0], 'notes.txt'].slice(0, n).map((f) => `"${f}"`).join(', ');
      const rec: Rec = { datetime, aCode, acc, Act: r.pick(['Acc', 'Acc', 'Hld', 'Sdbx']), AttCnt: n, AttNames: names, AttSize: n * r.range(1000, 90000), MsgSize: r.range(2000, 200000), MsgId: msgId };
      if (rec['Act'] === 'Hld') {
        rec['Hld'] = r.pick(['Spm', 'Att', 'Imp']);
        rec['Sender'] = sender;
        rec['Subject'] = subject;
        rec['IPNewDomain'] = r.pick(['true', 'false']);
        rec['IPSimilarDomain'] = 'false';
      }
      return rec;
    }
    case 'delivery': {
      const ok = r.chance(0.9);
      const rec: Rec = { datetime, aCode, acc, Delivered: ok, IP: `192.0.2.${r.range(1, 254)}`, AttCnt: r.range(0, 2), Dir: dir, ReceiptAck: ok ? `250 2.6.0 ${msgId ?? '<none>'} Queued mail for delivery` : null, MsgId: msgId, Subject: subject, Latency: r.range(100, 30000), Sender: sender, Rcpt: rcpt, AttSize: r.range(0, 90000), Attempt: ok ? 1 : r.range(1, 7), TlsVer: 'TLSv1.2', Cphr: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', Snt: r.range(100, 200000), UseTls: r.pick(['Yes', 'No']), Route: r.pick(['Office365', 'MX']) };
      if (!ok) {
        rec['RejType'] = 'Recipient server unavailable or busy';
        rec['RejCode'] = '451';
        rec['RejInfo'] = 'Try again later';
        rec['Err'] = 'Connection refused (Connection refused)';
      }
      return rec;
    }
    case 'jrnl':
      return { datetime, aCode, acc, Sender: sender, Rcpt: rcpt, RcptActType: 'Jnl', Dir: dir, RcptHdrType: r.pick(['To', 'Cc', 'Unknown']) };
    case 'av':
      return { datetime, acc, MsgId: msgId, Sender: sender, Recipient: rcpt, Route: 'Inbound', IP: ip, SenderDomain: sender.slice(sender.indexOf('@') + 1), SenderDomainInternal: 'false', CustomerIP: 'false', MimecastIP: 'false', Size: r.range(1000, 900000), Subject: subject, Virus: 'Example:Phishing', fileName: file[0], fileExt: file[1], fileMime: file[2], ...hashes };
    case 'spameventthread':
      return { datetime, aCode, acc, MsgId: msgId, Sender: sender, Recipient: rcpt, Route: 'Inbound', SenderDomain: sender.slice(sender.indexOf('@') + 1), SourceIP: ip, Subject: subject, headerFrom: sender };
    case 'iep':
      return { datetime, aCode, acc, MsgId: msgId, Sender: user, Recipient: `${r.pick(USERS)}@corp.example`, Route: 'Internal', ScanResultInfo: r.pick(['Blocked URL Category', 'Malicious URL']), Subject: subject, URL: `http://old.example/${r.token(5)}?a=1&b=2`, UrlCategory: 'Compromised' };
    case 'impersonation': {
      const b = (): string => (r.chance(0.3) ? 'true' : 'false');
      return { datetime, aCode, acc, MsgId: msgId, Sender: sender, Recipient: rcpt, Route: 'Inbound', IP: ip, Subject: subject, Action: r.pick(['None', 'Hold']), Definition: 'Default Impersonation Definition', Hits: r.range(1, 3), CustomName: b(), CustomThreatDictionary: b(), InternalName: b(), NewDomain: b(), ReplyMismatch: b(), SimilarCustomExternalDomain: b(), SimilarInternalDomain: b(), SimilarMimecastExternalDomain: b(), TaggedExternal: b(), TaggedMalicious: b(), ThreatDictionary: b() };
    }
    case 'ttp_url':
      return { datetime, acc, reason: r.pick(['malicious', 'clean']), subject, msgid: msgId, url: `http://login.bad.example/${r.token(6)}`, route: 'inbound', sourceIp: r.chance(0.2) ? 'Internal IP' : ip, sender, recipient: rcpt, action: 'Block', urlCategory: 'Phishing & Fraud', credentialTheft: null, senderDomain: sender.slice(sender.indexOf('@') + 1) };
    case 'ttp_ap':
      return { datetime, acc, IP: ip, Recipient: rcpt, Route: 'Inbound', Sender: sender, SenderDomain: sender.slice(sender.indexOf('@') + 1), Size: r.range(1000, 900000), fileName: file[0], fileExt: file[1], fileMime: file[2], ...hashes };
    default:
      throw new RangeError(`no 1.0 SIEM type ${p}`);
  }
}

function kvValue(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v.replace(/\r\n|\r|\n/g, ' ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v as number | boolean);
}

/** What a key_value line encodes: every value a string (null → '', objects as JSON text, line breaks → space). */
export function keyValueObject(rec: Rec): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec)) out[k] = kvValue(v);
  return out;
}

export function keyValueLine(rec: Rec): string {
  return Object.entries(rec)
    .map(([k, v]) => `${k}=${kvValue(v)}`)
    .join('|');
}

export interface V1File {
  readonly index: number;
  readonly p: number;
  readonly start: number;
  readonly end: number;
  readonly count: number;
  readonly tLast: number;
}

/** The file list of the account: files close at a count limit, a period boundary, or the end of a publication. */
export class SiemV1Files {
  readonly files: V1File[] = [];

  constructor(
    private readonly store: LogStore,
    private readonly perFile: number,
    private readonly periodMs: number,
  ) {}

  addRange(first: number, end: number): void {
    const open = new Map<number, { start: number; last: number; count: number; tLast: number }>();
    const done: { p: number; start: number; last: number; count: number; tLast: number }[] = [];
    const close = (p: number): void => {
      const f = open.get(p);
      if (f === undefined) return;
      open.delete(p);
      done.push({ p, ...f });
    };
    let bucket = -1;
    for (let i = first; i < end; i++) {
      const p = v1TypeOf(this.store.seedOf(i));
      const t = this.store.timeOf(i);
      const b = Math.floor(t / this.periodMs);
      // Every type's file ends at a period boundary, as Mimecast writes files per period.
      if (b !== bucket) {
        for (const q of [...open.keys()]) close(q);
        bucket = b;
      }
      let f = open.get(p);
      if (f === undefined) {
        f = { start: i, last: i, count: 0, tLast: t };
        open.set(p, f);
      }
      f.last = i;
      f.count++;
      f.tLast = t;
      if (f.count >= this.perFile) close(p);
    }
    for (const q of [...open.keys()]) close(q);
    // Ordered by their newest record, the list stays sorted by time (firstRetained relies on it).
    done.sort((a, b) => a.last - b.last);
    for (const f of done) this.files.push({ index: this.files.length, p: f.p, start: f.start, end: f.last + 1, count: f.count, tLast: f.tLast });
  }

  /** Index of the oldest file still retained (7 days). */
  firstRetained(now: number): number {
    let lo = 0;
    let hi = this.files.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.files[mid] as V1File).tLast < now - RETENTION_MS) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The file's records in JSON form. */
  records(f: V1File, accountCode: string, offsetMin: number): Rec[] {
    const out: Rec[] = [];
    for (let i = f.start; i < f.end && out.length < f.count; i++) {
      const seed = this.store.seedOf(i);
      if (v1TypeOf(seed) === f.p) out.push(v1Record(f.p, seed, this.store.timeOf(i), accountCode, offsetMin));
    }
    return out;
  }
}

/** The manifest line of siem_v1 record i (JSON, or key_value fields as strings). */
export function siemV1ManifestLine(store: LogStore, i: number, t: number, accountCode: string, offsetMin: number, as: 'json' | 'key_value'): string {
  const seed = store.seedOf(i);
  const rec = v1Record(v1TypeOf(seed), seed, t, accountCode, offsetMin);
  return JSON.stringify(as === 'key_value' ? keyValueObject(rec) : rec);
}
