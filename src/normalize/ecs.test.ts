// Tests for the shared ECS helpers: id stability and uniqueness, canonical JSON, value coercion.
import { describe, expect, it } from 'vitest';
import {
  Related,
  asBool,
  asInt,
  asIp,
  asString,
  canonicalJson,
  eventId,
  hasKeys,
  isIp,
  lowerOrUndefined,
  put,
  setPath,
  splitAddresses,
  uniq,
} from './ecs.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth, so key order does not matter', () => {
    const a = { b: 1, a: { y: [1, { q: 1, p: 2 }], x: 's' } };
    const b = { a: { x: 's', y: [1, { p: 2, q: 1 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"a":{"x":"s","y":[1,{"p":2,"q":1}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('keeps array order and JSON semantics for odd values', () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson({ a: undefined, b: null, c: Number.NaN, d: [undefined] })).toBe('{"b":null,"c":null,"d":[null]}');
    expect(canonicalJson('a"\n')).toBe(JSON.stringify('a"\n'));
    expect(canonicalJson(new Date(0))).toBe('"1970-01-01T00:00:00.000Z"');
    expect(canonicalJson(undefined)).toBe('null');
  });

  it('is valid JSON that parses back to the same value', () => {
    const v = { z: 'x\r\n|y', n: -1.5e-7, t: true, f: false, arr: [{ b: 2, a: 1 }], nested: { '': 0 } };
    expect(JSON.parse(canonicalJson(v))).toEqual(v);
  });

  it('gives the same text for already-sorted input (native fast path) and shuffled input', () => {
    const sorted = { a: [{ b: 1, c: 'x\u2028"' }, null], d: { e: -0, f: 1.5e300, g: undefined }, h: '\ud800' };
    const shuffled = { h: '\ud800', d: { g: undefined, f: 1.5e300, e: -0 }, a: [{ c: 'x\u2028"', b: 1 }, null] };
    expect(canonicalJson(shuffled)).toBe(canonicalJson(sorted));
    expect(canonicalJson(sorted)).toBe(JSON.stringify(sorted));
    // Integer-like keys: property order puts "9" before "10", sorted order does not.
    expect(canonicalJson({ 9: 'a', 10: 'b' })).toBe('{"10":"b","9":"a"}');
  });

  it('refuses circular structures and BigInt', () => {
    const a: Record<string, unknown> = {};
    a['self'] = a;
    expect(() => canonicalJson(a)).toThrow(/circular/);
    expect(() => canonicalJson({ n: 1n })).toThrow(/BigInt/);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
  });
});

describe('eventId', () => {
  const rec = { type: 'receipt', timestamp: 1709287331482, messageId: '<a@b>', recipients: ['x@y', 'z@y'] };

  it('is 32 lower-case hex characters', () => {
    expect(eventId('acct', 'siem', rec)).toMatch(/^[0-9a-f]{32}$/);
    expect(eventId('acct', 'audit', rec, 'native-1')).toMatch(/^[0-9a-f]{32}$/);
  });

  it('is stable for the same record whatever its key order', () => {
    const shuffled = { recipients: ['x@y', 'z@y'], messageId: '<a@b>', timestamp: 1709287331482, type: 'receipt' };
    expect(eventId('acct', 'siem', shuffled)).toBe(eventId('acct', 'siem', rec));
    expect(eventId('acct', 'siem', JSON.parse(JSON.stringify(rec)))).toBe(eventId('acct', 'siem', rec));
  });

  it('changes with any difference in the record, account or stream', () => {
    const base = eventId('acct', 'siem', rec);
    const variants = [
      { ...rec, timestamp: 1709287331483 },
      { ...rec, timestamp: '1709287331482' },
      { ...rec, messageId: null },
      { ...rec, extra: null },
      { ...rec, recipients: ['z@y', 'x@y'] },
      { ...rec, recipients: 'x@y,z@y' },
    ];
    const ids = new Set([base, ...variants.map((v) => eventId('acct', 'siem', v))]);
    ids.add(eventId('other', 'siem', rec));
    ids.add(eventId('acct', 'ttp_url', rec));
    expect(ids.size).toBe(variants.length + 3);
  });

  it('does not let separators in account or stream collide', () => {
    expect(eventId('a|b', 'c', rec)).not.toBe(eventId('a', 'b|c', rec));
    expect(eventId('a"', 'b', rec)).not.toBe(eventId('a', '"b', rec));
  });

  it('uses the native id when given, independent of the rest of the record', () => {
    const a = eventId('acct', 'audit', { eventTime: 'x' }, 'ID-1');
    expect(eventId('acct', 'audit', { eventTime: 'y' }, 'ID-1')).toBe(a);
    expect(eventId('acct', 'audit', { eventTime: 'x' }, 'ID-2')).not.toBe(a);
    expect(eventId('other', 'audit', { eventTime: 'x' }, 'ID-1')).not.toBe(a);
    // An empty native id is no id: the record hash is used.
    expect(eventId('acct', 'audit', rec, '')).toBe(eventId('acct', 'audit', rec));
    // A native id equal to a record's canonical JSON still cannot collide with the record form.
    expect(eventId('acct', 'audit', {}, canonicalJson(rec))).not.toBe(eventId('acct', 'audit', rec));
  });

  it('gives 5000 records that differ in one field 5000 ids', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5000; i++) ids.add(eventId('acct', 'siem', { ...rec, _offset: i }));
    expect(ids.size).toBe(5000);
  });
});

describe('IP helpers', () => {
  it('isIp accepts v4 and v6 only', () => {
    expect(isIp('192.0.2.1')).toBe(true);
    expect(isIp('2001:db8::1')).toBe(true);
    expect(isIp('999.0.0.1')).toBe(false);
    expect(isIp('Internal IP')).toBe(false);
  });

  it('asIp drops placeholders and non-strings', () => {
    expect(asIp(' 198.51.100.7 ')).toBe('198.51.100.7');
    expect(asIp('[2001:db8::7]')).toBe('2001:db8::7');
    expect(asIp('::1')).toBe('::1');
    for (const bad of ['Internal IP', '', 'unknown', '10.0.0.1:25', null, undefined, 167772161, ['10.0.0.1']]) {
      expect(asIp(bad)).toBeUndefined();
    }
  });
});

describe('splitAddresses', () => {
  it.each<[unknown, string[]]>([
    ['a@x.example', ['a@x.example']],
    [' a@x.example , b@y.example;c@z.example; ', ['a@x.example', 'b@y.example', 'c@z.example']],
    [['a@x.example', ' b@y.example ', '', 'c@z.example, d@z.example'], ['a@x.example', 'b@y.example', 'c@z.example', 'd@z.example']],
    ['Amy Pond <amy@x.example>', ['amy@x.example']],
    ['"Doe, Jane" <jane@x.example>, bob@x.example', ['jane@x.example', 'bob@x.example']],
    ['<odd,name@x.example>', ['odd,name@x.example']],
    ['<>', []],
    ['', []],
    [null, []],
    [undefined, []],
    [42, []],
    [[null, 1, 'a@x.example'], ['a@x.example']],
  ])('%j', (input, expected) => {
    expect(splitAddresses(input)).toEqual(expected);
  });
});

describe('value coercion', () => {
  it('asString trims, skips blanks, and stringifies scalars', () => {
    expect(asString('  x ')).toBe('x');
    expect(asString('   ')).toBeUndefined();
    expect(asString(12)).toBe('12');
    expect(asString(false)).toBe('false');
    expect(asString(null)).toBeUndefined();
    expect(asString({})).toBeUndefined();
  });

  it('asInt reads integers and numeric strings only', () => {
    expect(asInt('4170')).toBe(4170);
    expect(asInt(' -3 ')).toBe(-3);
    expect(asInt(12)).toBe(12);
    for (const bad of ['4.5', '12abc', '', null, 1.5, '99999999999999999999', Number.NaN]) expect(asInt(bad)).toBeUndefined();
  });

  it('asBool understands the API spellings', () => {
    for (const t of [true, 'true', 'True', 'Yes', 'yes', '1', 1]) expect(asBool(t)).toBe(true);
    for (const f of [false, 'false', 'FALSE', 'No', '0', 0]) expect(asBool(f)).toBe(false);
    for (const u of [null, undefined, 'maybe', 2, '']) expect(asBool(u)).toBeUndefined();
  });

  it('lowerOrUndefined', () => {
    expect(lowerOrUndefined(' Inbound ')).toBe('inbound');
    expect(lowerOrUndefined('')).toBeUndefined();
    expect(lowerOrUndefined(null)).toBeUndefined();
  });

  it('uniq keeps first occurrences in order', () => {
    expect(uniq(['b', 'a', 'b', 'c', 'a'])).toEqual(['b', 'a', 'c']);
    expect(uniq([])).toEqual([]);
  });
});

describe('building documents', () => {
  it('setPath creates objects and skips empty values', () => {
    const doc: Record<string, unknown> = { email: { subject: 's' } };
    setPath(doc, 'email.to.address', ['a@x']);
    setPath(doc, 'source.ip', '192.0.2.1');
    setPath(doc, 'a.b', undefined);
    setPath(doc, 'a.c', null);
    setPath(doc, 'a.d', '');
    setPath(doc, 'a.e', []);
    setPath(doc, 'n', 0);
    setPath(doc, 'f', false);
    expect(doc).toEqual({ email: { subject: 's', to: { address: ['a@x'] } }, source: { ip: '192.0.2.1' }, n: 0, f: false });
  });

  it('setPath replaces a scalar in the way', () => {
    const doc: Record<string, unknown> = { url: 'x' };
    setPath(doc, 'url.domain', 'd.example');
    expect(doc).toEqual({ url: { domain: 'd.example' } });
  });

  it('put skips empty values; hasKeys sees any key', () => {
    const o: Record<string, unknown> = {};
    put(o, 'a', undefined);
    put(o, 'b', '');
    expect(hasKeys(o)).toBe(false);
    put(o, 'c', 0);
    expect(o).toEqual({ c: 0 });
    expect(hasKeys(o)).toBe(true);
  });

  it('Related collects de-duplicated lists and drops invalid IPs', () => {
    const r = new Related();
    expect(r.toEcs()).toBeUndefined();
    r.addIp('192.0.2.1').addIp('Internal IP').addIp('192.0.2.1').addIp(null);
    r.addUser(['a@x', 'b@x']).addUser('a@x').addUser('').addUser(7);
    r.addHash('abc').addHash(undefined);
    r.addHost('mx.example');
    expect(r.toEcs()).toEqual({ ip: ['192.0.2.1'], user: ['a@x', 'b@x'], hash: ['abc'], hosts: ['mx.example'] });
  });
});
