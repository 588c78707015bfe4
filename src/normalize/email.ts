// A message's parties, read from every key spelling and value shape the Mimecast API uses.
import { type Related, splitAddresses, uniq } from './ecs.js';
import { isRecord } from './fields.js';

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
  if (typeof v === 'string') return splitAddresses(v);
  if (Array.isArray(v)) {
    const out: string[] = [];
    for (const item of v) for (const a of addressesOf(item)) out.push(a);
    return uniq(out);
  }
  if (isRecord(v)) return splitAddresses(v['emailAddress'] ?? v['address']);
  return [];
}

/** Every address the record gives for one role, from all of that role's key spellings, de-duplicated. */
export function partyAddresses(r: Record<string, unknown>, role: PartyRole): string[] {
  let out: string[] | undefined;
  for (const key of PARTY_KEYS[role]) {
    const v = r[key];
    if (v === undefined || v === null || v === '') continue;
    const found = addressesOf(v);
    if (found.length === 0) continue;
    out = out === undefined ? found : [...out, ...found];
  }
  return out === undefined ? [] : uniq(out);
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
  const envelope = partyAddresses(r, 'envelope');
  const header = partyAddresses(r, 'header');
  const unstated = partyAddresses(r, 'from');
  const from = header.length > 0 ? header : envelope.length > 0 ? envelope : unstated;
  const to = partyAddresses(r, 'to');
  return { from, sender: envelope[0], to, all: uniq([...from, ...envelope, ...unstated, ...to]) };
}

/** Writes `email.from`, `email.sender` and `email.to` and adds every party to `related.user`. */
export function putEmailParties(email: Record<string, unknown>, related: Related, parties: EmailParties): void {
  if (parties.from.length > 0) email['from'] = { address: parties.from };
  if (parties.sender !== undefined) email['sender'] = { address: parties.sender };
  if (parties.to.length > 0) email['to'] = { address: parties.to };
  related.addUser(parties.all);
}
