// A record without any usable time is still an event, for every stream: collection time, event.created and a tag.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { StreamName } from '../core/contracts.js';
import { CollectorError } from '../core/errors.js';
import { parseLines } from '../sources/parse/parse-lines.js';
import { checkNormalizedEvent } from './contract.js';
import { normalizerFor } from '../sources/normalizers.js';
import { TAG_TIME_MISSING } from './tags.js';

const CTX = { account: 'acme-prod' };
const NOW = '2026-03-04T05:06:07.089Z';
const LATER = '2026-03-05T00:00:00.000Z';

/** Records as the API could serve them, each without any time its stream reads (or with one that is no date). */
const TIMELESS: readonly [string, StreamName, 'v1' | 'v2' | undefined, Record<string, unknown>][] = [
  ['SIEM 2.0 receipt, no timestamp', 'siem', 'v2', { accountId: 'C1', aggregateId: 'a1', processingId: 'p1', type: 'receipt', senderEnvelope: 'a@example.com', recipients: 'b@example.org', action: 'Acc' }],
  ['SIEM 2.0 receipt, timestamp null', 'siem', 'v2', { accountId: 'C1', aggregateId: 'a2', type: 'receipt', timestamp: null, subject: 'hello' }],
  ['SIEM 1.0 receipt, no datetime', 'siem', 'v1', { aCode: 'x1', acc: 'C1', Act: 'Acc', Sender: 'a@example.com', Rcpt: 'b@example.org' }],
  ['SIEM 1.0 receipt, garbage datetime', 'siem', 'v1', { aCode: 'x2', acc: 'C1', Act: 'Acc', datetime: 'yesterday' }],
  ['TTP URL log, no date', 'ttp_url', undefined, { userEmailAddress: 'b@example.org', url: 'https://example.net/a', action: 'Block', route: 'inbound' }],
  ['TTP attachment log, empty date', 'ttp_attachment', undefined, { recipientAddress: 'b@example.org', fileName: 'a.pdf', result: 'safe', date: '' }],
  ['TTP impersonation log, no eventTime', 'ttp_impersonation', undefined, { id: 'imp-1', senderAddress: 'a@example.com', recipientAddress: 'b@example.org', hits: 1 }],
  ['audit event, no eventTime', 'audit', undefined, { id: 'aud-1', auditType: 'Logon', user: 'admin@example.com', category: 'authentication_logs' }],
  ['DLP log, no eventTime', 'dlp', undefined, { senderAddress: 'a@example.com', recipientAddress: 'b@example.org', action: 'hold', policy: 'Watermark' }],
  ['held-release log, none of its dates', 'held_release', undefined, { id: 'held-1', status: 'released', operator: 'admin@example.com', subject: 'report' }],
  ['archive search log, no createTime', 'archive_search', undefined, { emailAddr: 'admin@example.com', source: 'archive', description: 'Message Tracking Search' }],
  ['threat-intel STIX object, no times', 'threat_intel', undefined, { type: 'malware', id: 'malware--0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', name: 'Invoice', labels: ['virus'] }],
  ['threat-intel CSV row, no date column', 'threat_intel', undefined, { sha256: 'a'.repeat(64), filename: 'x.exe' }],
];

describe('a record without a usable time', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date(NOW));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each(TIMELESS)('%s: kept, stamped with the collection time and tagged', (_name, stream, variant, record) => {
    const normalize = normalizerFor(stream, variant);
    const ev = normalize(structuredClone(record), CTX);
    const doc = ev.doc;
    expect(ev.timeMissing).toBe(true);
    expect(ev.time).toBe(NOW);
    expect(doc['@timestamp']).toBe(NOW);
    expect((doc['event'] as Record<string, unknown>)['created']).toBe(NOW);
    expect(doc['tags']).toContain(TAG_TIME_MISSING);
    expect(checkNormalizedEvent(ev)).toEqual([]);
    // The record is kept whole under mimecast.*.
    expect(doc['mimecast']).toMatchObject(record);

    // Read again later: another @timestamp, the same event.id (so the journal's dedup finds it).
    vi.setSystemTime(new Date(LATER));
    const again = normalize(structuredClone(record), CTX);
    expect(again.time).toBe(LATER);
    expect(again.id).toBe(ev.id);
  });

  it('keeps the feed labels of a threat-intel object beside the tag', () => {
    const ev = normalizerFor('threat_intel')({ type: 'malware', id: 'malware--1d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6', labels: ['virus'] }, CTX);
    expect(ev.doc['tags']).toEqual(['virus', TAG_TIME_MISSING]);
  });

  it('is marked the same way after the parse worker packs it (SIEM 2.0 lines)', () => {
    const lines = [
      JSON.stringify({ accountId: 'C1', type: 'receipt', timestamp: 1714557600000, subject: 'dated' }),
      JSON.stringify({ accountId: 'C1', type: 'receipt', subject: 'undated' }),
    ];
    const { events, quarantined } = parseLines({ stream: 'siem', variant: 'v2', account: 'acme-prod', lines, firstLine: 1, where: 'test' });
    expect(quarantined).toEqual([]);
    expect(events.map((e) => [e.time, e.timeMissing === true])).toEqual([
      ['2024-05-01T10:00:00.000Z', false],
      [NOW, true],
    ]);
  });

  it.each<[string, StreamName, 'v1' | 'v2' | undefined]>([
    ['siem 2.0', 'siem', 'v2'],
    ['siem 1.0', 'siem', 'v1'],
    ['ttp_url', 'ttp_url', undefined],
    ['held_release', 'held_release', undefined],
  ])('%s: an empty object is still no record (quarantined, NORMALIZE_FAILED)', (_name, stream, variant) => {
    let caught: unknown;
    try {
      normalizerFor(stream, variant)({}, CTX);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(CollectorError);
    expect((caught as CollectorError).code).toBe('NORMALIZE_FAILED');
  });
});
