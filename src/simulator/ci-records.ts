// Deterministic Cloud Integrated SIEM records (API 2.0 `/siem/v1/batch/events/ci`): entities → mailflow → urlclick per message.
import { CI_TYPES } from '../core/contracts.js';
import { EXTERNAL_DOMAINS, EXTERNAL_USERS, FILE_NAMES, INTERNAL_DOMAINS, INTERNAL_USERS, SUBJECTS, type RecordModel } from './records.js';
import { Rng, mix } from './prng.js';

const ENTITIES = 0;
const MAILFLOW = 1;
const URLCLICK = 2;
const TYPE_BITS = (1 << CI_TYPES.length) - 1;
/** Salt so the CI streams never reuse the Cloud Gateway model's random draws. */
const SALT = 0xc1c1;

const SLOT_TABLE: readonly (readonly number[])[] = Array.from({ length: 1 << CI_TYPES.length }, (_, mask) =>
  [ENTITIES, MAILFLOW, URLCLICK].filter((t) => (mask & (1 << t)) !== 0),
);

const DIRECTIONS = ['INBOUND', 'OUTBOUND', 'INTERNAL'] as const;
const THREATS = ['PHISHING', 'MALWARE', 'IMPERSONATION', 'SPAM'] as const;
const CLEAN_STATES = ['DELIVERED', 'DELIVERY_IN_PROGRESS'] as const;
const THREAT_STATES = ['QUARANTINED', 'REMEDIATED', 'DELIVERED'] as const;
const POLICIES = [
  { action: 'DO_NOTHING', mode: 'ACTIVE', name: 'Default O365 Mail policy' },
  { action: 'QUARANTINE', mode: 'ACTIVE', name: 'Phishing & malware policy' },
  { action: 'DO_NOTHING', mode: 'MONITOR', name: 'Impersonation monitoring' },
] as const;
const AUTH_RESULTS = ['pass', 'pass', 'pass', 'fail', 'softfail', 'none'] as const;
const URL_PATHS = ['/login', '/invoice/view', '/shared/doc?id=', '/reset-password?u=', '/news/article/', '/download/'];

interface CiMessage {
  m: number;
  mask: number;
  dir: number;
  threat: string | undefined;
  sender: string;
  recipients: string[];
  subject: string;
  messageId: string;
  aggId: string;
  procId: string;
  senderIp: string;
  files: string[];
}

export class CiRecordFactory implements RecordModel {
  readonly typeNames: readonly string[] = CI_TYPES;
  private readonly partitionBase: number;
  private cached: CiMessage | undefined;

  constructor(
    private readonly seedH: number,
    private readonly accountId: string,
  ) {
    // Away from the Cloud Gateway partitions (1..90) so (`_partition`, `_offset`) stays unique across both.
    this.partitionBase = 100 + (mix(seedH, SALT, 0x9a27) % 50);
  }

  mask(m: number): number {
    const r = new Rng(mix(this.seedH, SALT, m));
    let mask = 1 << ENTITIES;
    if (r.chance(0.8)) mask |= 1 << MAILFLOW;
    if (r.chance(0.1)) mask |= 1 << URLCLICK;
    return mask;
  }

  slots(mask: number): readonly number[] {
    return SLOT_TABLE[mask & TYPE_BITS] as readonly number[];
  }

  private message(m: number): CiMessage {
    const c = this.cached;
    if (c !== undefined && c.m === m) return c;
    const mask = this.mask(m);
    const r = new Rng(mix(this.seedH, SALT, m, 1));
    const d = r.next();
    const dir = d < 0.75 ? 0 : d < 0.9 ? 1 : 2;
    const internal = (): string => `${r.pick(INTERNAL_USERS)}@${r.pick(INTERNAL_DOMAINS)}`;
    const external = (): string => `${r.pick(EXTERNAL_USERS)}@${r.pick(EXTERNAL_DOMAINS)}`;
    const sender = dir === 0 ? external() : internal();
    const recipients: string[] = [];
    const n = r.chance(0.8) ? 1 : r.range(2, 4);
    for (let i = 0; i < n; i++) recipients.push(dir === 1 ? external() : internal());
    const threat = dir === 0 && r.chance(0.08) ? r.pick(THREATS) : undefined;
    const files: string[] = [];
    if (r.chance(0.25)) for (let i = r.range(1, 2); i > 0; i--) files.push(r.pick(FILE_NAMES));
    const msg: CiMessage = {
      m,
      mask,
      dir,
      threat,
      sender,
      recipients,
      subject: r.pick(SUBJECTS)(r),
      messageId: `<${r.hex(8)}-${r.hex(4)}-${r.hex(4)}-${r.hex(4)}-${r.hex(12)}@${sender.slice(sender.indexOf('@') + 1)}>`,
      aggId: r.token(42),
      procId: r.hex(64),
      senderIp: dir === 0 ? `${r.chance(0.5) ? '198.51.100' : '203.0.113'}.${r.range(1, 254)}` : `192.0.2.${r.range(1, 254)}`,
      files,
    };
    this.cached = msg;
    return msg;
  }

  record(m: number, t: number, offset: number, ts: number, msgTs: number): Record<string, unknown> {
    const msg = this.message(m);
    const r = new Rng(mix(this.seedH, SALT, m, 0x100 + t));
    const sfx = `_${Math.floor(msgTs / 1000)}`;
    const common = {
      _offset: offset,
      _partition: this.partitionBase + t,
      accountId: this.accountId,
      aggregateId: msg.aggId + sfx,
      processingId: msg.procId + sfx,
      timestamp: ts,
      type: CI_TYPES[t],
    };
    switch (t) {
      case ENTITIES: {
        const threatType = msg.threat ?? 'NO_DETECTIONS';
        const policies = msg.threat === undefined ? [POLICIES[0]] : [POLICIES[1], POLICIES[0]];
        return {
          ...common,
          attachments: msg.files,
          direction: DIRECTIONS[msg.dir],
          historicalMail: r.chance(0.05),
          messageId: msg.messageId,
          policiesApplied: policies.map((p) => ({ ...p })),
          recipients: msg.recipients,
          senderEnvelope: r.chance(0.2) ? '' : msg.sender,
          senderHeader: msg.sender,
          senderIp: msg.senderIp,
          source: 'OFFICE_365_MAIL',
          subject: msg.subject,
          subtype: threatType,
          tags: msg.threat === undefined ? null : ['untrustworthy'],
          threatState: msg.threat === undefined ? r.pick(CLEAN_STATES) : r.pick(THREAT_STATES),
          threatType,
        };
      }
      case MAILFLOW:
        return {
          ...common,
          authResults: (['SPF', 'DKIM', 'DMARC'] as const).map((type) => ({
            aligned: type === 'DMARC' ? null : r.chance(0.7),
            result: msg.threat === undefined ? r.pick(AUTH_RESULTS) : r.pick(['fail', 'softfail', 'none']),
            type,
          })),
          messageId: msg.messageId,
          subtype: null,
        };
      default: {
        const bad = msg.threat !== undefined;
        const domain = bad ? r.pick(['login-verify.example', 'bad.example', 'examp1e.com']) : r.pick(EXTERNAL_DOMAINS);
        const url = `https://${domain}${r.pick(URL_PATHS)}${r.range(1, 99999)}`;
        return {
          ...common,
          action: bad ? (r.chance(0.8) ? 'block' : 'warn') : 'allow',
          originalUrl: url,
          redirectUrl: bad || r.chance(0.6) ? null : `https://portal.${domain}/r/${r.token(10)}`,
          sourceIp: `${r.chance(0.5) ? '198.51.100' : '203.0.113'}.${r.range(1, 254)}`,
          subtype: null,
          userEmailAddress: msg.recipients[0] ?? msg.sender,
        };
      }
    }
  }
}
