// Deterministic API 2.0 SIEM batch records: each simulated message is a receipt → process → delivery chain plus optional security records.
import { SIEM_API_TYPE, SIEM_TYPES, type SiemType } from '../core/contracts.js';
import { Rng, mix } from './prng.js';

export const TYPE_COUNT = SIEM_TYPES.length;

/** Type indices follow SIEM_TYPES. */
const RECEIPT = 0;
const PROCESS = 1;
const DELIVERY = 2;
const AV = 3;
const SPAM = 4;
const JOURNAL = 5;
const INTERNAL_EMAIL_PROTECT = 6;
const IMPERSONATION_PROTECT = 7;
const URL_PROTECT = 8;
const ATTACHMENT_PROTECT = 9;

export function typeIndex(t: SiemType): number {
  return SIEM_TYPES.indexOf(t);
}

export function typeAt(i: number): SiemType {
  const t = SIEM_TYPES[i];
  if (t === undefined) throw new RangeError(`no SIEM type at index ${i}`);
  return t;
}

const API_TYPES: readonly string[] = SIEM_TYPES.map((t) => SIEM_API_TYPE[t]);

/** The order in which a message's records are published (a message is received, scanned, processed, delivered). */
const CHAIN_ORDER = [
  RECEIPT,
  SPAM,
  AV,
  PROCESS,
  ATTACHMENT_PROTECT,
  URL_PROTECT,
  IMPERSONATION_PROTECT,
  DELIVERY,
  JOURNAL,
  INTERNAL_EMAIL_PROTECT,
];

const TYPE_BITS = (1 << TYPE_COUNT) - 1;

/** For every type mask, the type indices of its records in chain order. */
const SLOT_TABLE: readonly (readonly number[])[] = Array.from({ length: 1 << TYPE_COUNT }, (_, mask) =>
  CHAIN_ORDER.filter((t) => (mask & (1 << t)) !== 0),
);

export function slotsOf(mask: number): readonly number[] {
  return SLOT_TABLE[mask & TYPE_BITS] as readonly number[];
}

/**
 * What a Catalog publishes: simulated messages, each yielding records of some types (bits of `mask(m)`, in the
 * order `slots(mask)` gives), every record regenerable byte for byte from (message, type, offset, times). All
 * methods must be pure functions of their arguments and the model's seed.
 */
export interface RecordModel {
  /** Type names by index (lower case, `[a-z_]`): the blob file-name prefix; also the `type=` value on the ci endpoint. */
  readonly typeNames: readonly string[];
  /** The types message `m` yields: bit `t` set for type index `t`; bits from `typeNames.length` up are the model's own. */
  mask(m: number): number;
  /** The type indices of a mask's records, in publication order (each set type bit once). */
  slots(mask: number): readonly number[];
  /**
   * The record of type `t` for message `m`: `offset` is its `_offset`, `ts` its own time, `msgTs` the time of the
   * message's first record. Key order does not matter (the catalog sorts keys).
   */
  record(m: number, t: number, offset: number, ts: number, msgTs: number): Record<string, unknown>;
}

const DIR_INBOUND = 0;
const DIR_OUTBOUND = 1;
const DIR_INTERNAL = 2;
const DIRECTIONS = ['Inbound', 'Outbound', 'Internal'] as const;

export const INTERNAL_DOMAINS = ['example.com', 'eu.example.com'];
export const EXTERNAL_DOMAINS = [
  'example.net',
  'example.org',
  'vendor.example',
  'partner.example',
  'shop.example',
  'news.example',
  'bank.example',
  'mailer.example.net',
  'cloud.example.org',
  'bad.example',
  'login-verify.example',
  'examp1e.com',
];
export const INTERNAL_USERS = [
  'amy', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy', 'mallory', 'niaj',
  'olivia', 'peggy', 'rupert', 'sybil', 'trent', 'victor', 'walter', 'ops', 'finance', 'hr', 'it-support',
  'ceo', 'cfo', 'sales', 'support', 'jörg.müller', 'zoë', 'o\'brien',
];
export const EXTERNAL_USERS = [
  'alerts', 'news', 'billing', 'info', 'deals', 'no-reply', 'support', 'jane.doe', 'john.smith', 'hr-team',
  'accounts', 'notifications', 'ceo.name', 'payments',
];
const WORDS = ['budget', 'roadmap', 'Q3 plan', 'onboarding', 'offsite', 'migration', 'audit', 'renewal', 'launch'];
export const SUBJECTS: readonly ((r: Rng) => string)[] = [
  (r) => `Invoice ${r.range(1000, 99999)}`,
  (r) => `RE: Quarterly report | Q${r.range(1, 4)} ${r.range(2023, 2025)}`,
  (r) => `Your order #${r.range(100000, 999999)} has shipped`,
  (r) => `Meeting notes – "${r.pick(WORDS)}" review`,
  (r) => `Rechnung Nr. ${r.range(100, 9999)} – Übersicht`,
  (r) => `会议通知：项目进度 ${r.range(1, 50)}`,
  () => 'Passwort läuft bald ab',
  () => 'FW: "Urgent" wire transfer',
  (r) => `Weekly digest #${r.range(1, 300)}`,
  () => '🎉 Special offer just for you',
  (r) => `Line one\r\nLine two ${r.range(1, 99)}`,
  (r) => `Delivery failure | message ${r.range(1, 9999)} | not delivered`,
  (r) => `Réunion équipe — ${r.pick(WORDS)}`,
  (r) => `Don't miss: webinar ${r.range(1, 40)}`,
  (r) => `Path C:\\temp\\report_${r.range(1, 99)}.txt attached`,
  (r) => `Re: ${r.pick(WORDS)} / next steps`,
  () => 'Sign document',
  () => 'Updated bank details',
  (r) => `Пароль истекает через ${r.range(1, 9)} дней`,
];
interface FileSpec {
  name: string;
  ext: string;
  md5: string;
  sha1: string;
  sha256: string;
}
export const FILE_NAMES = [
  'invoice-4411.pdf', 'q1.xlsm', 'datasheet.pdf', 'WinZip Attachments.zip', 'report final (2).docx', 'photo.jpg',
  'setup.exe', 'notes.txt', 'Übersicht.pdf', 'scan_0001.tiff', 'payload.js', 'contract "signed".pdf', 'budget.xlsx',
  'zero-day.pdf', 'readme.html',
];
const TLS = [
  ['TLSv1.3', 'TLS_AES_256_GCM_SHA384'],
  ['TLSv1.3', 'TLS_AES_128_GCM_SHA256'],
  ['TLSv1.2', 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384'],
  ['TLSv1.2', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
] as const;
const HOSTNAMES = ['mx1.example.com', 'mail.example.com', 'smtp.example.net', 'mail.partner.example', 'relay.example.org'];
const URL_CATEGORIES = ['Phishing & Fraud', 'Malware', 'Compromised', 'Newly Observed Domain', 'Spam', 'Clean', 'Unknown'];
const BLOCK_REASONS = ['Unknown', 'File Detected', 'Clean', 'Malicious', 'Suspicious'];
const VIRUSES = ['Trojan.Generic.3411', 'W97M.Downloader', 'Eicar-Test-Signature', 'JS.Phish.Agent', 'Win32.Emotet.A'];
const REJECTIONS = [
  ['550', 'Envelope blocked - User Entry', 'Manual Envelope Rejection'],
  ['554', 'Rejected by header based Blocked Senders - Block policy', 'Blocked Senders'],
  ['550', 'Invalid Recipient', 'Recipient Address Rejected'],
  ['451', 'Greylisting in action, please come back later', 'Greylisted'],
] as const;

function spamDetail(r: Rng): string {
  const spfPass = r.chance(0.85);
  return JSON.stringify({
    spf: { allow: spfPass, info: spfPass ? 'ALLOW' : 'SPF_FAIL' },
    dkim: { allow: true, info: r.pick(['DKIM_UNKNOWN', 'ALLOW', 'DKIM_NONE']) },
    dmarc: { allow: spfPass, info: spfPass ? 'DMARC_PASS' : 'DMARC_QUARANTINE' },
    greyEmail: r.chance(0.1),
    rbl: { allow: true, info: '' },
    managedSender: { allow: r.chance(0.2), info: 'DEFAULT' },
  });
}

function fileSpec(seedH: number, i: number): FileSpec {
  const name = FILE_NAMES[i] as string;
  const r = new Rng(mix(seedH, 0xf11e, i));
  const dot = name.lastIndexOf('.');
  return { name, ext: name.slice(dot + 1), md5: r.hex(32), sha1: r.hex(40), sha256: r.hex(64) };
}

/** What all records of one message share. */
interface Message {
  m: number;
  mask: number;
  dir: number;
  rejected: boolean;
  held: boolean;
  senderEnvelope: string;
  senderHeader: string | null;
  senderDomain: string;
  recipients: string[];
  subject: string | null;
  messageId: string | null;
  aggId: string;
  procId: string;
  senderIp: string;
  tls: readonly [string, string];
  files: FileSpec[];
  emailSize: number;
  spamScore: number;
}

export type Rec = Record<string, unknown>;

/**
 * The Cloud Gateway SIEM model (the ten types of SIEM_TYPES): builds records from (message number, type), pure
 * functions of the seed, so a blob can be regenerated from a handful of numbers instead of being kept in memory.
 */
export class RecordFactory implements RecordModel {
  readonly typeNames: readonly string[] = SIEM_TYPES;
  private readonly seedH: number;
  private readonly accountId: string;
  private readonly partitionBase: number;
  private readonly files: FileSpec[];
  private cached: Message | undefined;

  constructor(seedH: number, accountId: string) {
    this.seedH = seedH;
    this.accountId = accountId;
    this.partitionBase = 1 + (mix(seedH, 0x9a27) % 80);
    this.files = FILE_NAMES.map((_, i) => fileSpec(seedH, i));
  }

  slots(mask: number): readonly number[] {
    return slotsOf(mask);
  }

  /** Kafka-style partition of a type; distinct per type so (`_partition`, `_offset`) is unique. */
  partitionOf(t: number): number {
    return this.partitionBase + t;
  }

  /**
   * The record types message `m` yields (bits by type index), plus direction/flags above bit 10. Must draw exactly
   * like `message()` does before its details.
   */
  mask(m: number): number {
    return this.decide(new Rng(mix(this.seedH, m)));
  }

  private decide(r: Rng): number {
    const d = r.next();
    const rej = r.next();
    const att = r.next();
    const sp = r.next();
    const av = r.next();
    const ap = r.next();
    const url = r.next();
    const imp = r.next();
    const jr = r.next();
    const iep = r.next();
    const dir = d < 0.7 ? DIR_INBOUND : d < 0.88 ? DIR_OUTBOUND : DIR_INTERNAL;
    const rejected = dir === DIR_INBOUND && rej < 0.06;
    const hasFiles = att < 0.3;
    let mask = 1 << RECEIPT;
    if (!rejected) {
      mask |= (1 << PROCESS) | (1 << DELIVERY);
      if (dir === DIR_INBOUND && sp < 0.12) mask |= 1 << SPAM;
      if (hasFiles && av < 0.1) mask |= 1 << AV;
      if (hasFiles && ap < 0.4) mask |= 1 << ATTACHMENT_PROTECT;
      if (url < 0.06) mask |= 1 << URL_PROTECT;
      if (dir === DIR_INBOUND && imp < 0.05) mask |= 1 << IMPERSONATION_PROTECT;
      if (jr < (dir === DIR_INTERNAL ? 0.3 : 0.1)) mask |= 1 << JOURNAL;
      if (dir === DIR_INTERNAL && iep < 0.35) mask |= 1 << INTERNAL_EMAIL_PROTECT;
    }
    return mask | (dir << 10) | (rejected ? 1 << 12 : 0) | (hasFiles ? 1 << 13 : 0);
  }

  private message(m: number): Message {
    const c = this.cached;
    if (c !== undefined && c.m === m) return c;
    const r = new Rng(mix(this.seedH, m));
    const mask = this.decide(r);
    const dir = (mask >> 10) & 3;
    const rejected = (mask & (1 << 12)) !== 0;
    const hasFiles = (mask & (1 << 13)) !== 0;
    const internal = (): string => `${r.pick(INTERNAL_USERS)}@${r.pick(INTERNAL_DOMAINS)}`;
    const external = (): string => `${r.pick(EXTERNAL_USERS)}@${r.pick(EXTERNAL_DOMAINS)}`;
    const senderEnvelope = dir === DIR_INBOUND ? external() : internal();
    const nRcpt = r.chance(0.85) ? 1 : r.chance(0.6) ? 2 : 3;
    const recipients: string[] = [];
    for (let i = 0; i < nRcpt; i++) recipients.push(dir === DIR_OUTBOUND ? external() : internal());
    const senderDomain = senderEnvelope.slice(senderEnvelope.indexOf('@') + 1);
    const headerRoll = r.next();
    const senderHeader = headerRoll < 0.8 ? senderEnvelope : headerRoll < 0.95 ? `${r.pick(EXTERNAL_USERS)}@${senderDomain}` : null;
    const subject = r.chance(0.02) ? null : r.pick(SUBJECTS)(r);
    const msgRoll = r.next();
    const messageId = rejected && msgRoll < 0.5 ? null : `<${r.token(16)}@${senderDomain}>`;
    const aggId = r.token(22);
    const procId = r.token(43);
    const senderIp =
      dir === DIR_INBOUND
        ? `${r.chance(0.5) ? '198.51.100' : '203.0.113'}.${r.range(1, 254)}`
        : `192.0.2.${r.range(1, 254)}`;
    const tls = r.pick(TLS);
    const files: FileSpec[] = [];
    if (hasFiles) {
      const n = r.chance(0.75) ? 1 : r.range(2, 3);
      for (let i = 0; i < n; i++) files.push(r.pick(this.files));
    }
    const emailSize = r.range(1800, 60000) + files.length * r.range(20000, 900000);
    const spamScore = r.range(0, 30);
    const held = (mask & (1 << SPAM)) !== 0 && r.chance(0.5);
    const msg: Message = {
      m, mask, dir, rejected, held, senderEnvelope, senderHeader, senderDomain, recipients, subject, messageId,
      aggId, procId, senderIp, tls, files, emailSize, spamScore,
    };
    this.cached = msg;
    return msg;
  }

  /**
   * The record of type `t` for message `m`. `ts` is the record's own time, `msgTs` the time of the message's first
   * record (it suffixes the aggregate/processing ids, as the real ids carry epoch seconds).
   */
  record(m: number, t: number, offset: number, ts: number, msgTs: number): Rec {
    const msg = this.message(m);
    const r = new Rng(mix(this.seedH, m, 0x100 + t));
    const sfx = `_${Math.floor(msgTs / 1000)}`;
    const partition = this.partitionBase + t;
    const accountId = this.accountId;
    const aggregateId = msg.aggId + sfx;
    const processingId = msg.procId + sfx;
    const type = API_TYPES[t] as string;
    const direction = DIRECTIONS[msg.dir] as string;
    const firstRcpt = msg.recipients[0] as string;
    const allRcpts: string | string[] = msg.recipients.length > 1 ? msg.recipients : firstRcpt;
    const file = msg.files[0];
    const totalFiles = msg.files.length;
    switch (t) {
      case RECEIPT: {
        const rej = msg.rejected ? r.pick(REJECTIONS) : undefined;
        const action = msg.rejected ? 'Rej' : 'Acc';
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          action,
          direction,
          messageId: msg.messageId,
          numberAttachments: String(totalFiles),
          processingId,
          receiptErrors: null,
          recipients: allRcpts,
          rejectionCode: rej?.[0] ?? null,
          rejectionInfo: rej?.[1] ?? null,
          rejectionType: rej?.[2] ?? null,
          senderEnvelope: msg.senderEnvelope,
          senderHeader: msg.rejected ? null : msg.senderHeader,
          senderIp: msg.senderIp,
          spamDetectionLevel: msg.rejected ? null : String(r.range(0, 7)),
          spamInfo: msg.rejected ? null : '[]',
          spamProcessingDetail: msg.rejected ? null : spamDetail(r),
          spamScore: msg.rejected ? null : String(msg.spamScore),
          subject: msg.rejected ? null : msg.subject,
          subtype: action,
          timestamp: ts,
          tlsCipher: msg.tls[1],
          tlsVersion: msg.tls[0],
          type,
          virusFound: null,
        };
      }
      case PROCESS: {
        const action = msg.held ? 'Hld' : 'Acc';
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          action,
          // As the API sends them: each name in double quotes (`"a.pdf", "b.docx"`).
          attachments: totalFiles === 0 ? null : msg.files.map((f) => `"${f.name}"`).join(', '),
          emailSize: String(msg.emailSize),
          holdReason: msg.held ? 'Spm' : null,
          messageId: msg.messageId,
          numberAttachments: String(totalFiles),
          processingId,
          senderEnvelope: msg.senderEnvelope,
          subject: msg.subject,
          subtype: action,
          timestamp: ts,
          totalSizeAttachments: String(Math.max(0, msg.emailSize - 1800) * (totalFiles > 0 ? 1 : 0)),
          type,
        };
      }
      case DELIVERY: {
        const ok = !msg.held && r.chance(0.97);
        const delivered = ok ? 'true' : 'false';
        const tlsUsed = r.chance(0.9);
        return {
          Hostname: r.pick(HOSTNAMES),
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          delivered,
          deliveryAttempts: String(ok ? 1 : r.range(1, 5)),
          deliveryErrors: ok ? null : r.pick(['Connection timed out', '421 Service not available', 'Hold for review']),
          deliveryTime: String(r.range(200, 9000)),
          destinationIp: msg.dir === DIR_OUTBOUND ? `203.0.113.${r.range(1, 254)}` : `192.0.2.${r.range(1, 254)}`,
          direction,
          emailSize: String(msg.emailSize),
          messageId: msg.messageId,
          numberAttachments: String(totalFiles),
          processingId,
          recipients: allRcpts,
          rejectionCode: null,
          rejectionInfo: null,
          rejectionType: null,
          route: msg.dir === DIR_INBOUND ? 'Office365' : msg.dir === DIR_INTERNAL ? 'Internal' : 'External',
          senderEnvelope: msg.senderEnvelope,
          subject: msg.subject,
          subtype: delivered,
          timestamp: ts,
          tlsCipher: tlsUsed ? msg.tls[1] : null,
          tlsUsed: tlsUsed ? 'Yes' : 'No',
          tlsVersion: tlsUsed ? msg.tls[0] : null,
          totalSizeAttachments: String(totalFiles > 0 ? msg.emailSize - 1800 : 0),
          type,
        };
      }
      case AV: {
        const f = file ?? (this.files[0] as FileSpec);
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          customerIp: `192.0.2.${r.range(1, 254)}`,
          fileExtension: f.ext,
          fileName: f.name,
          md5: f.md5,
          messageId: msg.messageId,
          processingId,
          recipients: firstRcpt,
          senderDomainInternal: msg.dir === DIR_INBOUND ? 'false' : 'true',
          senderEnvelope: msg.senderEnvelope,
          senderIp: msg.senderIp,
          sha1: f.sha1,
          sha256: f.sha256,
          sizeAttachment: r.range(2000, 900000),
          subject: msg.subject,
          subtype: null,
          timestamp: ts,
          type,
          virusFound: r.pick(VIRUSES),
        };
      }
      case SPAM: {
        const tagged = r.chance(0.3);
        const rec: Rec = {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          messageId: msg.messageId,
          processingId,
          recipients: firstRcpt,
          route: 'Inbound',
          senderDomain: msg.senderDomain,
          senderEnvelope: msg.senderEnvelope,
          senderHeader: msg.senderHeader,
          senderIp: msg.senderIp,
          subject: msg.subject,
          subtype: null,
          timestamp: ts,
          type,
        };
        if (tagged) {
          rec['taggedExternal'] = 'true';
          rec['taggedMalicious'] = r.chance(0.5) ? 'true' : 'false';
        }
        return rec;
      }
      case JOURNAL:
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          direction,
          processingId,
          recipients: r.chance(0.5) ? `archive@${INTERNAL_DOMAINS[0] as string}` : firstRcpt,
          senderEnvelope: msg.senderEnvelope,
          subtype: null,
          timestamp: ts,
          type,
        };
      case INTERNAL_EMAIL_PROTECT: {
        const similar = r.chance(0.3);
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          messageId: msg.messageId,
          monitoredDomainSource: similar ? 'Custom Monitored External Domain' : null,
          processingId,
          recipients: firstRcpt,
          route: 'Internal',
          scanResults: r.pick(['Blocked URL Category', 'Malicious URL', 'Malicious Attachment', 'Similar Domain']),
          senderEnvelope: msg.senderEnvelope,
          similarDomain: similar ? 'examp1e.com' : null,
          subject: msg.subject,
          subtype: null,
          timestamp: ts,
          type,
          urlCategory: r.pick(URL_CATEGORIES),
        };
      }
      case IMPERSONATION_PROTECT: {
        const hitOrNot = (): string => (r.chance(0.3) ? 'Hit' : 'No Hit');
        const hold = r.chance(0.4);
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          action: hold ? 'Hold' : 'None',
          customNameMatch: hitOrNot(),
          customThreatDictionary: hitOrNot(),
          internalUserName: hitOrNot(),
          itemsDetected: String(r.range(1, 4)),
          messageId: msg.messageId,
          mimecastThreatDictionary: hitOrNot(),
          newDomain: hitOrNot(),
          policyDefinition: r.pick(['Default Impersonation Definition', 'IP - 1 hit (Tag email)', 'IP - 3 hits (Hold)']),
          processingId,
          recipients: firstRcpt,
          replyMismatch: hitOrNot(),
          senderEnvelope: msg.senderEnvelope,
          senderIp: msg.senderIp,
          similarCustomExternalDomain: hitOrNot(),
          similarInternalDomain: hitOrNot(),
          similarMimecastExternalDomain: hitOrNot(),
          similarMimecastExternalDomainResults: r.chance(0.5) ? null : 'examp1e.com',
          subject: msg.subject,
          subtype: null,
          taggedExternal: r.chance(0.7) ? 'true' : 'false',
          taggedMalicious: hold ? 'true' : 'false',
          timestamp: ts,
          type,
        };
      }
      case URL_PROTECT: {
        const cat = r.pick(URL_CATEGORIES);
        const blocked = cat !== 'Clean' && cat !== 'Unknown';
        const host = r.pick(EXTERNAL_DOMAINS);
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          action: blocked ? 'Block' : r.pick(['Allow', 'Warn']),
          blockReason: blocked ? r.pick(['Malicious', 'Suspicious', 'File Detected']) : r.pick(BLOCK_REASONS),
          credentialTheft: cat === 'Phishing & Fraud' && r.chance(0.5) ? 'Credential Theft Brand Impersonation' : null,
          messageId: msg.messageId,
          processingId,
          recipients: firstRcpt,
          route: direction,
          senderDomain: msg.senderDomain,
          senderEnvelope: msg.senderEnvelope,
          sourceIp: msg.dir === DIR_INBOUND ? msg.senderIp : 'Internal IP',
          subject: msg.subject,
          subtype: null,
          timestamp: ts,
          type,
          url: `https://${r.chance(0.3) ? 'login.' : ''}${host}/${r.token(8)}?id=${r.range(1, 99999)}&lang=en`,
          urlCategory: cat,
        };
      }
      case ATTACHMENT_PROTECT: {
        const f = file ?? (this.files[0] as FileSpec);
        return {
          _offset: offset,
          _partition: partition,
          accountId,
          aggregateId,
          fileExtension: f.ext,
          fileName: f.name,
          md5: f.md5,
          processingId,
          sha1: f.sha1,
          sha256: f.sha256,
          subtype: null,
          timestamp: ts,
          type,
        };
      }
      default:
        throw new RangeError(`unknown type index ${t}`);
    }
  }
}
