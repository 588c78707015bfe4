// A message's parties and attachment lists, read from every key spelling and value shape the Mimecast API uses.
import { isRecord } from '../core/util.js';
import { type Related, asInt, asString, put, splitAddresses, uniq } from './ecs.js';
import { fileFields } from './fields.js';

/**
 * The keys each party of a message arrives under, across every stream and both SIEM generations. All keys
 * of a role are read (a blank or null one never hides another spelling); their addresses are merged in this order.
 */
export const PARTY_KEYS = {
  /** The SMTP envelope sender: `email.sender`, and `email.from` when no From: header is given. */
  envelope: [
    'senderEnvelope', // SIEM 2.0, Cloud Integrated
    'sender', // SIEM 2.0 url protect, SIEM 1.0 ttp_url (lower camel case)
    'Sender', // SIEM 1.0
    'fromEnv', // held release ({emailAddress})
  ],
  /** The From: header: `email.from`. */
  header: [
    'senderHeader', // SIEM 2.0, Cloud Integrated
    'headerFrom', // SIEM 1.0 receipt, spam
    'HeaderFrom',
    'fromHdr', // held release ({emailAddress})
  ],
  /** A sender whose kind (envelope or header) the record does not say: `email.from` only. */
  from: [
    'senderAddress', // TTP attachment / impersonation, DLP
    'fromUserEmailAddress', // TTP URL
  ],
  /** The recipients: `email.to`. */
  to: [
    'recipients', // SIEM 2.0, Cloud Integrated (string, list or array)
    'recipient', // SIEM 2.0 attachment protect, SIEM 1.0 ttp_url
    'Recipients',
    'Recipient', // SIEM 1.0 av, spam, iep, impersonation, ttp_ap
    'Rcpt', // SIEM 1.0 receipt, delivery, journal
    'recipientAddress', // TTP, DLP
    'to', // held release ([{emailAddress}])
  ],
} as const satisfies Record<string, readonly string[]>;

export type PartyRole = keyof typeof PARTY_KEYS;

/**
 * Addresses from any shape a party's value takes: `"a@x, B <b@y>; c@z"`, an array of such strings,
 * an `{emailAddress}` (or `{address}`) object, or an array of those. Trimmed, display names and the
 * null sender `<>` dropped, de-duplicated in order.
 */
export function addressesOf(v: unknown): string[] {
  if (typeof v === 'string') {
    const list = splitAddresses(v);
    return list.length < 2 ? list : uniq(list);
  }
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const item of v) appendNew(out, addressesOf(item));
    return out;
  }
  if (isRecord(v)) return splitAddresses(v['emailAddress'] ?? v['address']);
  return [];
}

/** Every address the record gives for one role, from all of that role's key spellings, de-duplicated. */
export function partyAddresses(r: Record<string, unknown>, role: PartyRole): string[] {
  const out: string[] = [];
  for (const key of PARTY_KEYS[role]) addAddresses(out, r[key]);
  return out;
}

function addAddresses(out: string[], v: unknown): void {
  if (v !== undefined && v !== null && v !== '') appendNew(out, addressesOf(v));
}

// Every party key with its place in PARTY_KEYS. A record is scanned once against this map: cheaper than looking
// each spelling up, since most records hold three or four of them among twenty-odd keys.
const ALL_PARTY_KEYS: readonly string[] = Object.values(PARTY_KEYS).flat();
const SLOT_OF: ReadonlyMap<string, number> = new Map(ALL_PARTY_KEYS.map((k, i) => [k, i]));
const FIRST_SLOT: Readonly<Record<PartyRole, number>> = {
  envelope: 0,
  header: PARTY_KEYS.envelope.length,
  from: PARTY_KEYS.envelope.length + PARTY_KEYS.header.length,
  to: PARTY_KEYS.envelope.length + PARTY_KEYS.header.length + PARTY_KEYS.from.length,
};

function roleAddresses(values: readonly unknown[], role: PartyRole): string[] {
  const out: string[] = [];
  const first = FIRST_SLOT[role];
  for (let i = first; i < first + PARTY_KEYS[role].length; i++) addAddresses(out, values[i]);
  return out;
}

/** Appends the items `out` does not hold yet; lists of addresses are short, so a scan beats building a Set. */
function appendNew(out: string[], items: readonly string[]): void {
  for (const item of items) if (!out.includes(item)) out.push(item);
}

export interface EmailParties {
  /** `email.from.address`: the From: header, else the envelope sender, else a sender of unstated kind. */
  from: string[];
  /** `email.sender.address`: the first envelope sender. */
  sender: string | undefined;
  /** `email.to.address`. */
  to: string[];
  /** Every address above and the envelope's others, for `related.user`. */
  all: string[];
}

/** The parties of the message a record describes, by the rules of {@link EmailParties}. */
export function emailParties(r: Record<string, unknown>): EmailParties {
  const values: unknown[] = [];
  for (const k in r) {
    const slot = SLOT_OF.get(k);
    if (slot !== undefined && Object.hasOwn(r, k)) values[slot] = r[k];
  }
  const envelope = roleAddresses(values, 'envelope');
  const header = roleAddresses(values, 'header');
  const unstated = roleAddresses(values, 'from');
  const from = header.length > 0 ? header : envelope.length > 0 ? envelope : unstated;
  const to = roleAddresses(values, 'to');
  const all = from.slice();
  appendNew(all, envelope);
  appendNew(all, unstated);
  appendNew(all, to);
  return { from, sender: envelope[0], to, all };
}

/** Writes `email.from`, `email.sender` and `email.to` and adds every party to `related.user`. */
export function putEmailParties(email: Record<string, unknown>, related: Related, parties: EmailParties): void {
  if (parties.from.length > 0) email['from'] = { address: parties.from };
  if (parties.sender !== undefined) email['sender'] = { address: parties.sender };
  if (parties.to.length > 0) email['to'] = { address: parties.to };
  related.addUser(parties.all);
}

// Between two names of a quoted list: `"a.pdf", "b.pdf"` (a quote inside a name is not followed by a comma).
const QUOTED_SEPARATOR = /"\s*[,;]\s*"/;

/**
 * Attachment names from `AttNames` (API 1.0) or `attachments` (API 2.0): a list of quoted names
 * (`"a.pdf", "b, c.docx"`), a plain comma-separated list, or an array. A name is never cut: quotes
 * inside a name (`"Q3 "final" figures.pdf"`) stay part of it, and when the record says it holds
 * one attachment (`count` 1) the whole text is that one name, commas included.
 */
export function attachmentNames(v: unknown, count?: number): string[] {
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const item of v) {
      const s = asString(item);
      if (s !== undefined) out.push(s);
    }
    return out;
  }
  const s = asString(v);
  if (s === undefined) return [];
  const quoted = s.length >= 2 && s.startsWith('"') && s.endsWith('"');
  const inner = quoted ? s.slice(1, -1) : s;
  const parts = count === 1 ? [inner] : quoted ? inner.split(QUOTED_SEPARATOR) : inner.split(',');
  const out: string[] = [];
  for (const part of parts) {
    const name = (quoted ? part.replaceAll('\\"', '"') : part).trim();
    if (name.length > 0) out.push(name);
  }
  return out;
}

/** Sizes in bytes from a number, a numeric string, a `"100, 200"` list or an array; [] when any part is not a size. */
export function attachmentSizes(v: unknown): number[] {
  const parts = Array.isArray(v) ? v : typeof v === 'string' && /[,;]/.test(v) ? v.split(/[,;]/) : [v];
  const out: number[] = [];
  for (const part of parts) {
    const n = asInt(part);
    if (n === undefined || n < 0) return [];
    out.push(n);
  }
  return out;
}

/**
 * ECS `email.attachments` from a record's attachment list: the names (see {@link attachmentNames}), the number of
 * attachments the record states and the size(s) it gives. A size goes to a file only when it is that one file's:
 * one size and one attachment, or one size per name; a total over several files is left under `mimecast.*`. With no
 * usable name but one attachment and its size, the attachment is kept with its size alone.
 */
export function attachmentList(names: unknown, count: unknown, sizes: unknown): Record<string, unknown>[] | undefined {
  const n = asInt(count);
  const list = attachmentNames(names, n);
  const bytes = attachmentSizes(sizes);
  const countAgrees = n === undefined || n === list.length;
  if (list.length === 0) {
    if (n !== 1 || bytes.length !== 1) return undefined;
    const file: Record<string, unknown> = {};
    put(file, 'size', bytes[0]);
    return [{ file }];
  }
  const sized = countAgrees && bytes.length === list.length;
  return list.map((name, i) => ({ file: fileFields({ name, size: sized ? bytes[i] : undefined }) ?? { name } }));
}
