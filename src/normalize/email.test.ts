// Unit tests for the email helpers: party addresses from every key spelling and value shape, attachment lists.
import { describe, expect, it } from 'vitest';
import { Related } from './ecs.js';
import { PARTY_KEYS, addressesOf, attachmentList, attachmentNames, attachmentSizes, emailParties, partyAddresses, putEmailParties } from './email.js';

describe('addressesOf', () => {
  it.each<[string, unknown, string[]]>([
    ['a plain address', ' amy@acme.example ', ['amy@acme.example']],
    ['a list with display names and both separators', 'amy@acme.example; "Lee, Bob" <bob@acme.example>,carol@acme.example', ['amy@acme.example', 'bob@acme.example', 'carol@acme.example']],
    ['an array of strings and lists', ['amy@acme.example', 'bob@acme.example, amy@acme.example'], ['amy@acme.example', 'bob@acme.example']],
    ['an {emailAddress} object', { displayableName: 'Amy', emailAddress: 'amy@acme.example' }, ['amy@acme.example']],
    ['an {address} object', { address: 'amy@acme.example' }, ['amy@acme.example']],
    ['a list of objects', [{ emailAddress: 'amy@acme.example' }, { displayableName: 'nobody' }, { emailAddress: 'bob@acme.example' }], ['amy@acme.example', 'bob@acme.example']],
    ['the null sender', '<>', []],
    ['null', null, []],
    ['a number', 42, []],
    ['an empty array', [], []],
  ])('reads %s', (_name, value, expected) => {
    expect(addressesOf(value)).toEqual(expected);
  });
});

describe('partyAddresses', () => {
  it('merges every spelling of a role in table order, skipping blanks, nulls and duplicates', () => {
    const r = { recipients: null, recipient: '', Recipient: 'bob@acme.example', Rcpt: 'amy@acme.example; bob@acme.example', to: [{ emailAddress: 'carol@acme.example' }] };
    expect(partyAddresses(r, 'to')).toEqual(['bob@acme.example', 'amy@acme.example', 'carol@acme.example']);
  });

  it('de-duplicates within one key too', () => {
    expect(partyAddresses({ recipients: 'amy@acme.example, amy@acme.example' }, 'to')).toEqual(['amy@acme.example']);
  });

  it('gives no addresses for a record without the role', () => {
    expect(partyAddresses({ subject: 'x' }, 'envelope')).toEqual([]);
  });

  it('names no key under two roles', () => {
    const all = Object.values(PARTY_KEYS).flat();
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('emailParties', () => {
  it('takes the From: header for email.from and the envelope for email.sender', () => {
    const p = emailParties({ senderEnvelope: 'bounce@mailer.example', senderHeader: 'news@partner.example', recipients: ['amy@acme.example'] });
    expect(p).toEqual({
      from: ['news@partner.example'],
      sender: 'bounce@mailer.example',
      to: ['amy@acme.example'],
      all: ['news@partner.example', 'bounce@mailer.example', 'amy@acme.example'],
    });
  });

  it('falls back to the envelope, then to a sender of unstated kind, for email.from', () => {
    expect(emailParties({ Sender: 'x@bad.example' }).from).toEqual(['x@bad.example']);
    const unstated = emailParties({ senderAddress: 'y@bad.example' });
    expect(unstated.from).toEqual(['y@bad.example']);
    expect(unstated.sender).toBeUndefined();
  });

  it('writes nothing for a record without parties', () => {
    const email: Record<string, unknown> = {};
    const related = new Related();
    putEmailParties(email, related, emailParties({ subject: 'x' }));
    expect(email).toEqual({});
    expect(related.toEcs()).toBeUndefined();
  });

  it('writes email.from, email.sender, email.to and related.user', () => {
    const email: Record<string, unknown> = {};
    const related = new Related();
    putEmailParties(email, related, emailParties({ fromEnv: { emailAddress: 'a@x.example' }, recipient: 'b@y.example' }));
    expect(email).toEqual({ from: { address: ['a@x.example'] }, sender: { address: 'a@x.example' }, to: { address: ['b@y.example'] } });
    expect(related.toEcs()).toEqual({ user: ['a@x.example', 'b@y.example'] });
  });
});

describe('attachmentNames', () => {
  it.each<[string, unknown, number | undefined, string[]]>([
    ['one quoted name with quotes inside', '"Q3 "final" figures.pdf"', 1, ['Q3 "final" figures.pdf']],
    ['the same without a count', '"Q3 "final" figures.pdf"', undefined, ['Q3 "final" figures.pdf']],
    ['a quoted list', '"Q3 "final" figures.pdf", "b, c.docx";"d.txt"', 3, ['Q3 "final" figures.pdf', 'b, c.docx', 'd.txt']],
    ['escaped quotes inside a quoted name', String.raw`"Q3 \"final\" figures.pdf"`, 1, ['Q3 "final" figures.pdf']],
    ['a plain list', 'contract "signed".pdf, budget.xlsx', 2, ['contract "signed".pdf', 'budget.xlsx']],
    ['the only name, commas and all', 'scan, page 1.jpg', 1, ['scan, page 1.jpg']],
    ['the only quoted name, whatever it holds', '"a", "b.pdf"', 1, ['a", "b.pdf']],
    ['an array, blanks and nulls skipped', ['a "b".pdf', '', null, ' c.txt '], 2, ['a "b".pdf', 'c.txt']],
    ['an empty string', '', 0, []],
    ['null', null, 1, []],
    ['a lone quote', '"', undefined, ['"']],
  ])('reads %s', (_name, value, count, expected) => {
    expect(attachmentNames(value, count)).toEqual(expected);
  });
});

describe('attachmentSizes', () => {
  it.each<[unknown, number[]]>([
    [48211, [48211]],
    ['48211', [48211]],
    ['1000, 24', [1000, 24]],
    ['1000;24', [1000, 24]],
    [[1000, '24'], [1000, 24]],
    ['1000, x', []],
    [-1, []],
    [null, []],
    [undefined, []],
    ['', []],
  ])('reads %j', (value, expected) => {
    expect(attachmentSizes(value)).toEqual(expected);
  });
});

describe('attachmentList', () => {
  it('gives the one attachment the one size', () => {
    expect(attachmentList('"a.pdf"', '1', '700')).toEqual([{ file: { name: 'a.pdf', extension: 'pdf', size: 700 } }]);
    expect(attachmentList('"a.pdf"', undefined, 700)).toEqual([{ file: { name: 'a.pdf', extension: 'pdf', size: 700 } }]);
  });

  it('gives each file its own size only when the sizes line up with the names and the count', () => {
    expect(attachmentList('"a.pdf", "b"', 2, '10, 20')).toEqual([{ file: { name: 'a.pdf', extension: 'pdf', size: 10 } }, { file: { name: 'b', size: 20 } }]);
    expect(attachmentList('"a.pdf", "b"', 3, '10, 20')).toEqual([{ file: { name: 'a.pdf', extension: 'pdf' } }, { file: { name: 'b' } }]);
    expect(attachmentList('"a.pdf", "b"', 2, '30')).toEqual([{ file: { name: 'a.pdf', extension: 'pdf' } }, { file: { name: 'b' } }]);
    expect(attachmentList('"a.pdf"', 2, '30')).toEqual([{ file: { name: 'a.pdf', extension: 'pdf' } }]);
  });

  it('keeps one nameless attachment with its size, and nothing else without names', () => {
    expect(attachmentList(null, 1, 1153)).toEqual([{ file: { size: 1153 } }]);
    expect(attachmentList(undefined, '1', '0')).toEqual([{ file: { size: 0 } }]);
    expect(attachmentList(null, 1, undefined)).toBeUndefined();
    expect(attachmentList(null, 2, 1153)).toBeUndefined();
    expect(attachmentList('', 0, 0)).toBeUndefined();
  });
});
