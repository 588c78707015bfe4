// The simulated account's directory and gateway state the admin functions read and change, seeded from the simulator's seed.
import type { SimContext } from '../core/context.js';
import { fmtUtc } from '../http.js';
import { Rng, mix } from '../prng.js';

/** The account's internal domains: users live in both. */
export const INTERNAL_DOMAINS = ['corp.example', 'subsidiary.example'] as const;

export interface User {
  id: string;
  emailAddress: string;
  name: string;
  domain: string;
  /** Set on an alias row: the primary address it points to. */
  aliasFor: string | undefined;
  addressType: string;
  source: string;
  created: number;
  updated: number;
  accountDisabled: boolean;
  accountLocked: boolean;
  allowPop: boolean;
  allowSmtp: boolean;
  forcePasswordChange: boolean;
  passwordNeverExpires: boolean;
}

export interface Member {
  id: string;
  emailAddress: string;
  domain: string;
  internal: boolean;
  name: string;
  notes: string;
  type: string;
}

export interface Group {
  id: string;
  description: string;
  source: string;
  parentId: string;
  folderCount: number;
  members: Member[];
}

export interface HeldMessage {
  id: string;
  reasonCode: string;
  reason: string;
  policyInfo: string;
  from: string;
  fromName: string;
  to: string;
  toName: string;
  subject: string;
  route: 'INBOUND' | 'OUTBOUND' | 'INTERNAL';
  hasAttachments: boolean;
  size: number;
  dateReceived: number;
  senderIP: string;
  released: boolean;
}

export interface TrackedEmail {
  id: string;
  status: string;
  from: string;
  fromName: string;
  to: string;
  subject: string;
  received: number;
  senderIP: string;
  route: 'inbound' | 'outbound' | 'internal';
  attachments: boolean;
  spamScore: number;
}

export interface BlockedSenderPolicy {
  id: string;
  option: 'block_sender' | 'no_action';
  policy: Record<string, unknown>;
}

export interface ManagedSender {
  id: string;
  sender: string;
  to: string;
  type: 'Permit' | 'Block';
}

export interface AddressAlteration {
  id: string;
  folderId: string;
  addressType: string;
  originalAddress: string;
  newAddress: string;
  routing: 'all' | 'inbound' | 'outbound';
}

const FIRST = ['Ada', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy', 'Mallory', 'Niaj', 'Olivia', 'Peggy', 'Rupert', 'Sybil', 'Trent', 'Victor', 'Walter', 'Zoe'];
const LAST = ['Lovelace', 'Builder', 'Jones', 'Smith', 'Miller', 'Garcia', 'Hopper', 'Klein', 'Petrov', 'Chen'];
const EXTERNAL = ['promo@shop.example', 'billing@vendor.example', 'news@list.example', 'ceo@lookalike.example', 'x@partner.example', 'alerts@bank.example'];
const HOLD_REASONS = [
  ['message_hold_applied_spam_signature_policy', 'Message Hold Applied - Spam Signature policy', 'Relaxed Spam Detection'],
  ['message_hold_applied_attachment_management_policy', 'Message Hold Applied - Attachment Management policy', 'Default Attachment Management Definition - Block Dangerous File Types'],
  ['message_hold_applied_dlp_policy', 'Message Hold Applied - Content Examination policy', 'Confidential keyword'],
] as const;
const SUBJECTS = ['Last chance!', 'Invoice 4411', 'Updated bank details', 'Your parcel', 'Q1 numbers', 'Urgent wire', 'Weekly digest', 'Réunion — budget'];

const DAY = 86_400_000;

/** An opaque id shaped like Mimecast's (`eNo` + base64url), drawn from the seed. */
function opaqueId(r: Rng): string {
  return `eNo${r.token(60)}`;
}

export class Directory {
  readonly users = new Map<string, User>();
  readonly groups: Group[] = [];
  readonly held: HeldMessage[] = [];
  readonly tracked: TrackedEmail[] = [];
  readonly blockedSenders: BlockedSenderPolicy[] = [];
  readonly managedSenders: ManagedSender[] = [];
  readonly definitions: AddressAlteration[] = [];
  readonly domainIds = new Map<string, string>();
  /** Addresses whose data is to be purged (add-to-purge-list). */
  readonly purgeList = new Set<string>();
  /** Ids of new objects come from here, so a run with the same seed and calls hands out the same ids. */
  readonly ids: Rng;

  constructor(seedH: number, now: number) {
    const r = new Rng(mix(seedH, 0xad0a));
    this.ids = new Rng(mix(seedH, 0xad1d));
    const [main, sub] = INTERNAL_DOMAINS;
    for (const d of INTERNAL_DOMAINS) this.domainIds.set(d, opaqueId(r));
    const add = (local: string, name: string, domain: string, created: number): User => {
      const u = this.newUser(`${local}@${domain}`, name, created);
      this.users.set(u.emailAddress, u);
      return u;
    };
    // Fixed people first (the ones docs and tests name), then enough generated ones that listings span pages.
    add('ada.lovelace', 'Ada Lovelace', main, now - 400 * DAY);
    add('bob.builder', 'Bob Builder', main, now - 380 * DAY);
    add('carol.jones', 'Carol Jones', main, now - 300 * DAY);
    add('postmaster', 'Domain postMaster address', main, now - 500 * DAY);
    add('it-ops', 'IT Operations', main, now - 450 * DAY);
    for (let i = 1; i <= 40; i++) {
      const first = r.pick(FIRST);
      const last = r.pick(LAST);
      add(`${first.toLowerCase()}.${last.toLowerCase()}${String(i).padStart(2, '0')}`, `${first} ${last}`, main, now - r.range(1, 700) * DAY);
    }
    add('dave.smith', 'Dave Smith', sub, now - 200 * DAY);
    add('erin.miller', 'Erin Miller', sub, now - 150 * DAY);
    add('frank.garcia', 'Frank Garcia', sub, now - 90 * DAY);
    add('postmaster', 'Domain postMaster address', sub, now - 500 * DAY);
    const disabled = this.users.get(`frank.garcia@${sub}`);
    if (disabled !== undefined) disabled.accountDisabled = true;
    const alias = this.newUser(`ada@${main}`, 'Ada Lovelace', now - 399 * DAY);
    alias.aliasFor = `ada.lovelace@${main}`;
    this.users.set(alias.emailAddress, alias);

    const root = opaqueId(r);
    const group = (description: string, members: string[]): Group => {
      const g: Group = { id: opaqueId(r), description, source: 'cloud', parentId: root, folderCount: 0, members: [] };
      for (const m of members) g.members.push(this.newMember(m, m.includes('@') ? '' : m));
      this.groups.push(g);
      return g;
    };
    group('Blocked Senders', ['spam@bad.example', 'bad-domain.example']);
    group('Permitted senders', ['billing@vendor.example']);
    group('Sales Team', [`ada.lovelace@${main}`, `bob.builder@${main}`, `dave.smith@${sub}`]);
    group('Finance', [`carol.jones@${main}`]);
    group('Engineering', []);

    for (let i = 0; i < 12; i++) {
      const [reasonCode, reason, policyInfo] = r.pick(HOLD_REASONS);
      const toUser = [...this.users.values()][r.int(8)] as User;
      const from = r.pick(EXTERNAL);
      this.held.push({
        id: opaqueId(r),
        reasonCode,
        reason,
        policyInfo,
        from,
        fromName: r.chance(0.5) ? '' : from.split('@')[0] ?? '',
        to: toUser.emailAddress,
        toName: toUser.name,
        subject: r.pick(SUBJECTS),
        route: 'INBOUND',
        hasAttachments: reasonCode.includes('attachment'),
        size: r.range(2_000, 900_000),
        // Oldest first; all within the last three days.
        dateReceived: Math.floor((now - 3 * DAY + (i * 3 * DAY) / 12) / 1000) * 1000,
        senderIP: `198.51.100.${r.range(2, 250)}`,
        released: false,
      });
    }
    for (const h of this.held) {
      this.tracked.push({
        id: opaqueId(r),
        status: 'held',
        from: h.from,
        fromName: h.fromName,
        to: h.to,
        subject: h.subject,
        received: h.dateReceived,
        senderIP: h.senderIP,
        route: 'inbound',
        attachments: h.hasAttachments,
        spamScore: r.range(0, 30),
      });
    }
    for (let i = 0; i < 30; i++) {
      const inbound = r.chance(0.7);
      const user = [...this.users.values()][r.int(10)] as User;
      const ext = r.pick(EXTERNAL);
      this.tracked.push({
        id: opaqueId(r),
        status: r.pick(['delivered', 'delivered', 'delivered', 'archived', 'rejected']),
        from: inbound ? ext : user.emailAddress,
        fromName: '',
        to: inbound ? user.emailAddress : ext,
        subject: r.pick(SUBJECTS),
        received: Math.floor((now - 7 * DAY + r.int(7 * DAY)) / 1000) * 1000,
        senderIP: inbound ? `203.0.113.${r.range(2, 250)}` : '192.0.2.10',
        route: inbound ? 'inbound' : 'outbound',
        attachments: r.chance(0.3),
        spamScore: r.range(0, 30),
      });
    }
    this.tracked.sort((a, b) => a.received - b.received);
    this.blockedSenders.push(blockedPolicy(opaqueId(r), 'block_sender', 'Block spam@bad.example', 'individual_email_address', 'spam@bad.example', now - 30 * DAY));
    this.blockedSenders.push(blockedPolicy(opaqueId(r), 'block_sender', 'Block bad-domain.example', 'email_domain', 'bad-domain.example', now - 20 * DAY));
    this.definitions.push(
      { id: opaqueId(r), folderId: opaqueId(r), addressType: 'email_address', originalAddress: `sales@${main}`, newAddress: `ada.lovelace@${main}`, routing: 'inbound' },
      { id: opaqueId(r), folderId: opaqueId(r), addressType: 'domain', originalAddress: sub, newAddress: main, routing: 'outbound' },
    );
  }

  newUser(emailAddress: string, name: string, created: number): User {
    return {
      id: opaqueId(this.ids),
      emailAddress,
      name,
      domain: emailAddress.slice(emailAddress.indexOf('@') + 1),
      aliasFor: undefined,
      addressType: 'created_manually',
      source: 'cloud',
      created,
      updated: created,
      accountDisabled: false,
      accountLocked: false,
      allowPop: true,
      allowSmtp: true,
      forcePasswordChange: false,
      passwordNeverExpires: false,
    };
  }

  newMember(emailAddress: string, domain: string, notes = ''): Member {
    const d = domain !== '' ? domain : emailAddress.slice(emailAddress.indexOf('@') + 1);
    const internal = (INTERNAL_DOMAINS as readonly string[]).includes(d);
    return {
      id: opaqueId(this.ids),
      emailAddress: domain !== '' ? '' : emailAddress,
      domain: d,
      internal,
      name: this.users.get(emailAddress)?.name ?? '',
      notes,
      type: 'created_manually',
    };
  }

  newId(): string {
    return opaqueId(this.ids);
  }

  isInternalDomain(d: string): boolean {
    return (INTERNAL_DOMAINS as readonly string[]).includes(d.toLowerCase());
  }

  group(id: string): Group | undefined {
    return this.groups.find((g) => g.id === id);
  }
}

export function blockedPolicy(id: string, option: 'block_sender' | 'no_action', description: string, fromType: string, fromValue: string | undefined, t: number): BlockedSenderPolicy {
  const from: Record<string, unknown> = { type: fromType };
  if (fromType === 'individual_email_address' && fromValue !== undefined) from['emailAddress'] = fromValue;
  if (fromType === 'email_domain' && fromValue !== undefined) from['emailDomain'] = fromValue;
  if (fromType === 'profile_group' && fromValue !== undefined) from['groupId'] = fromValue;
  const policy: Record<string, unknown> = {
    description,
    fromPart: 'envelope_from',
    from,
    to: { type: 'everyone' },
    fromType,
    toType: 'everyone',
    fromEternal: true,
    toEternal: true,
    fromDate: '1900-01-01T00:00:00+0000',
    toDate: '2100-01-01T23:59:59+0000',
    override: false,
    bidirectional: false,
    conditions: {},
    enabled: true,
    enforced: false,
    createTime: fmtUtc(t),
    lastUpdated: fmtUtc(t),
  };
  if (fromValue !== undefined) policy['fromValue'] = fromValue;
  return { id, option, policy };
}

const directories = new WeakMap<SimContext['account'], Directory>();

/** The directory of the context's account, seeded on first use (the account outlives any one request). */
export function directoryOf(ctx: SimContext): Directory {
  let d = directories.get(ctx.account);
  if (d === undefined) {
    d = new Directory(ctx.opts.seedH, ctx.opts.startTime);
    directories.set(ctx.account, d);
  }
  return d;
}

/** The operator the simulator names in audit and release records (there is one admin per simulated account). */
export function operatorOf(owner: string): string {
  return owner.startsWith('v1:') ? `api-admin@${INTERNAL_DOMAINS[0]}` : `api-app@${INTERNAL_DOMAINS[0]}`;
}

/** Appends an audit event for a change made through an admin function, so the audit stream shows it. */
export function audit(ctx: SimContext, owner: string, auditType: string, category: string, what: string): Promise<void> {
  const user = operatorOf(owner);
  return ctx.account.appendRecord('audit', (t) => ({
    id: `eNqrVipOTS4tSs1MUbJS${opaqueId(directoryOf(ctx).ids).slice(3)}`,
    auditType,
    user,
    eventTime: fmtUtc(t),
    eventInfo: `${auditType}: ${what}, by ${user}, Date: ${fmtUtc(t).slice(0, 10)}, Time: ${fmtUtc(t).slice(11, 19)}+0000, Application: API`,
    category,
  }));
}
