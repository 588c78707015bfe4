// Every stream that carries a message's sender and recipients maps every key spelling the API uses for them.
import { describe, expect, it } from 'vitest';
import { CI_TYPES, SIEM_API_TYPE, SIEM_TYPES, type NormalizedEvent, type StreamName } from '../core/contracts.js';
import { checkNormalizedEvent } from './contract.js';
import { normalizerFor } from '../sources/normalizers.js';

const CTX = { account: 'acme-prod' };

/** The get-siem-logs file-name prefix of each type, so a 1.0 record is not classified by the keys under test. */
const V1_PREFIX: Readonly<Record<(typeof SIEM_TYPES)[number], string>> = {
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

interface Case {
  name: string;
  base: Record<string, unknown>;
  normalize: (r: Record<string, unknown>) => NormalizedEvent;
}

function streamCase(stream: StreamName, base: Record<string, unknown>): Case {
  const n = normalizerFor(stream);
  return { name: stream, base, normalize: (r) => n(r, CTX) };
}

/** One case per log type of each SIEM generation and per other stream that names a message's parties. */
const CASES: Case[] = [
  ...[...SIEM_TYPES, ...CI_TYPES.filter((t) => t === 'entities')].map((t): Case => {
    const n = normalizerFor('siem', 'v2');
    const type = (SIEM_API_TYPE as Readonly<Record<string, string>>)[t] ?? t;
    return { name: `siem 2.0 ${type}`, base: { accountId: 'CUK1', aggregateId: 'a_1', processingId: 'p_1', timestamp: 1714560000000, type }, normalize: (r) => n(r, CTX) };
  }),
  ...SIEM_TYPES.map((t): Case => {
    const n = normalizerFor('siem', 'v1');
    return { name: `siem 1.0 ${V1_PREFIX[t]}`, base: { datetime: '2024-05-01T10:00:00+0100', acc: 'CUK1' }, normalize: (r) => n(r, { ...CTX, logType: V1_PREFIX[t] }) };
  }),
  streamCase('dlp', { eventTime: '2024-05-01T10:00:00+0000', action: 'hold' }),
  streamCase('ttp_attachment', { date: '2024-05-01T10:00:00+0000', fileName: 'a.pdf' }),
  streamCase('ttp_impersonation', { eventTime: '2024-05-01T10:00:00+0000', action: 'hold' }),
  streamCase('ttp_url', { date: '2024-05-01T10:00:00+0000', url: 'https://x.example/' }),
  streamCase('held_release', { released: '2024-05-01T10:00:00+0000', status: 'released' }),
];

/** How a list of addresses may arrive: one string, a ;/, list with display names, an array, {emailAddress} objects. */
const SHAPES: readonly [string, unknown, string[]][] = [
  ['a string', 'amy@acme.example', ['amy@acme.example']],
  ['a separated list', 'amy@acme.example; "Lee, Bob" <bob@acme.example>, carol@acme.example', ['amy@acme.example', 'bob@acme.example', 'carol@acme.example']],
  ['an array', ['amy@acme.example', 'bob@acme.example'], ['amy@acme.example', 'bob@acme.example']],
  ['an {emailAddress} object', { displayableName: 'Amy', emailAddress: 'amy@acme.example' }, ['amy@acme.example']],
  ['a list of {emailAddress} objects', [{ emailAddress: 'amy@acme.example' }, { emailAddress: 'bob@acme.example' }], ['amy@acme.example', 'bob@acme.example']],
];

/** Key spellings the API uses for the recipients (2.0 plural and singular, 1.0 capitalised and short, TTP/DLP, held release). */
const RECIPIENT_KEYS = ['recipients', 'recipient', 'Recipients', 'Recipient', 'Rcpt', 'recipientAddress', 'to'];
/** ...for the envelope sender (2.0, 1.0 capitalised, 1.0 URL protect's lower camel case, held release). */
const ENVELOPE_KEYS = ['senderEnvelope', 'sender', 'Sender', 'fromEnv'];
/** ...for the From: header. */
const HEADER_KEYS = ['senderHeader', 'headerFrom', 'fromHdr'];
/** ...for a sender whose kind the record does not say (TTP/DLP, TTP URL). */
const SENDER_KEYS = ['senderAddress', 'fromUserEmailAddress'];

function email(ev: NormalizedEvent): Record<string, unknown> {
  return (ev.doc['email'] ?? {}) as Record<string, unknown>;
}
function relatedUsers(ev: NormalizedEvent): unknown {
  return (ev.doc['related'] as Record<string, unknown> | undefined)?.['user'];
}

describe.each(CASES)('$name: who sent and who received', ({ base, normalize }) => {
  it.each(RECIPIENT_KEYS)('the recipients under %s reach email.to.address and related.user, in every value shape', (key) => {
    for (const [shape, value, addresses] of SHAPES) {
      const ev = normalize({ ...base, [key]: value });
      expect(email(ev)['to'], `${key} as ${shape}`).toEqual({ address: addresses });
      expect(relatedUsers(ev), `${key} as ${shape}`).toEqual(expect.arrayContaining(addresses));
      expect(checkNormalizedEvent(ev)).toEqual([]);
      expect((ev.doc['mimecast'] as Record<string, unknown>)[key]).toEqual(value);
    }
  });

  it.each(ENVELOPE_KEYS)('the envelope sender under %s is email.sender, and email.from when no header says otherwise', (key) => {
    const ev = normalize({ ...base, [key]: 'Bob <bob@partner.example>' });
    expect(email(ev)['sender']).toEqual({ address: 'bob@partner.example' });
    expect(email(ev)['from']).toEqual({ address: ['bob@partner.example'] });
    expect(relatedUsers(ev)).toEqual(['bob@partner.example']);
  });

  it.each(HEADER_KEYS)('the From: header under %s is email.from; the envelope stays email.sender', (key) => {
    const ev = normalize({ ...base, senderEnvelope: 'bounce@mailer.example', [key]: { emailAddress: 'news@partner.example' } });
    expect((email(ev)['from'] as { address: string[] }).address[0]).toBe('news@partner.example');
    expect(email(ev)['sender']).toEqual({ address: 'bounce@mailer.example' });
    expect(relatedUsers(ev)).toEqual(expect.arrayContaining(['news@partner.example', 'bounce@mailer.example']));
  });

  it.each(SENDER_KEYS)('a sender of unstated kind under %s is email.from, not email.sender', (key) => {
    const ev = normalize({ ...base, [key]: 'carol@partner.example' });
    expect(email(ev)['from']).toEqual({ address: ['carol@partner.example'] });
    expect(email(ev)['sender']).toBeUndefined();
    expect(relatedUsers(ev)).toEqual(['carol@partner.example']);
  });

  it('a blank or null key does not hide another spelling of the same party', () => {
    const ev = normalize({ ...base, recipients: null, Rcpt: '', recipient: 'amy@acme.example', senderEnvelope: '', sender: 'bob@partner.example' });
    expect(email(ev)['to']).toEqual({ address: ['amy@acme.example'] });
    expect(email(ev)['sender']).toEqual({ address: 'bob@partner.example' });
  });
});

describe('the singular recipient of an API 2.0 attachment-protect record', () => {
  it('reaches email.to.address and related.user', () => {
    const ev = normalizerFor('siem')(
      { accountId: 'CUK1', aggregateId: 'a_1', fileName: 'zero-day.pdf', processingId: 'p_1', recipient: 'amy@acme.example', senderEnvelope: 'x@bad.example', timestamp: 1714560000000, type: 'attachment protect' },
      CTX,
    );
    expect(email(ev)['to']).toEqual({ address: ['amy@acme.example'] });
    expect(relatedUsers(ev)).toEqual(['x@bad.example', 'amy@acme.example']);
  });
});
