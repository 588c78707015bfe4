// Tests for the output-event contract checker: a valid document passes, each kind of break is named.
import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../core/contracts.js';
import { checkEventContract, checkNormalizedEvent } from './contract.js';

function validDoc(): Record<string, unknown> {
  return {
    '@timestamp': '2024-03-01T10:02:11.482Z',
    event: {
      id: '0123456789abcdef0123456789abcdef',
      module: 'mimecast',
      dataset: 'mimecast.siem',
      kind: 'event',
      category: ['email'],
      type: ['info'],
      outcome: 'success',
      action: 'accept',
    },
    mimecast: { account: 'acme', stream: 'siem', log_type: 'receipt', subject: 'x' },
  };
}

function edit(fn: (doc: Record<string, Record<string, unknown>>) => void): Record<string, unknown> {
  const doc = validDoc() as Record<string, Record<string, unknown>>;
  fn(doc);
  return doc;
}

describe('checkEventContract', () => {
  it('accepts a valid document, with or without optional fields', () => {
    expect(checkEventContract(validDoc())).toEqual([]);
    expect(
      checkEventContract(
        edit((d) => {
          delete d['event']!['category'];
          delete d['event']!['type'];
          delete d['event']!['outcome'];
          delete d['event']!['action'];
        }),
      ),
    ).toEqual([]);
    expect(checkEventContract(edit((d) => ((d as Record<string, unknown>)['@timestamp'] = '2024-03-01T10:02:11Z')))).toEqual([]);
  });

  it('rejects non-objects', () => {
    for (const bad of [null, [], 'x', 1]) expect(checkEventContract(bad)).toEqual(['document is not a JSON object']);
  });

  it.each<[string, (d: Record<string, Record<string, unknown>>) => void, RegExp]>([
    ['missing @timestamp', (d) => delete (d as Record<string, unknown>)['@timestamp'], /@timestamp/],
    ['@timestamp with offset', (d) => ((d as Record<string, unknown>)['@timestamp'] = '2024-03-01T11:02:11+01:00'), /@timestamp/],
    ['@timestamp as epoch', (d) => ((d as Record<string, unknown>)['@timestamp'] = 1709287331482), /@timestamp/],
    ['@timestamp impossible', (d) => ((d as Record<string, unknown>)['@timestamp'] = '2024-13-45T10:02:11Z'), /@timestamp/],
    ['empty event.id', (d) => (d['event']!['id'] = ''), /event\.id/],
    ['numeric event.id', (d) => (d['event']!['id'] = 5), /event\.id/],
    ['wrong module', (d) => (d['event']!['module'] = 'mimecast_collector'), /event\.module/],
    ['dataset not matching stream', (d) => (d['event']!['dataset'] = 'mimecast.audit'), /event\.dataset/],
    ['missing kind', (d) => delete d['event']!['kind'], /event\.kind/],
    ['unknown kind', (d) => (d['event']!['kind'] = 'log'), /event\.kind/],
    ['category not an array', (d) => (d['event']!['category'] = 'email'), /event\.category/],
    ['category with non-ECS value', (d) => (d['event']!['category'] = ['email', 'spam']), /event\.category.*"spam"/],
    ['type with a number', (d) => (d['event']!['type'] = ['info', 3]), /event\.type/],
    ['empty type', (d) => (d['event']!['type'] = []), /event\.type/],
    ['bad outcome', (d) => (d['event']!['outcome'] = 'ok'), /event\.outcome/],
    ['empty action', (d) => (d['event']!['action'] = ''), /event\.action/],
    ['missing account', (d) => delete d['mimecast']!['account'], /mimecast\.account/],
    ['unknown stream', (d) => (d['mimecast']!['stream'] = 'siem_v2'), /mimecast\.stream/],
    ['missing log_type', (d) => (d['mimecast']!['log_type'] = null), /mimecast\.log_type/],
    ['no mimecast object', (d) => delete d['mimecast'], /mimecast must be an object/],
    ['no event object', (d) => ((d as Record<string, unknown>)['event'] = 'x'), /event must be an object/],
  ])('reports %s', (_name, fn, pattern) => {
    const problems = checkEventContract(edit(fn));
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.some((p) => pattern.test(p))).toBe(true);
  });

  it('reports every problem at once', () => {
    const problems = checkEventContract({ '@timestamp': 'x', event: { module: 'm' }, mimecast: {} });
    expect(problems.length).toBeGreaterThanOrEqual(5);
  });
});

describe('checkNormalizedEvent', () => {
  const doc = validDoc();
  const ok: NormalizedEvent = { id: '0123456789abcdef0123456789abcdef', stream: 'siem', account: 'acme', time: '2024-03-01T10:02:11.482Z', doc };

  it('accepts an event whose envelope matches its document', () => {
    expect(checkNormalizedEvent(ok)).toEqual([]);
  });

  it('names each disagreement', () => {
    expect(checkNormalizedEvent({ ...ok, id: 'other' })).toEqual(['NormalizedEvent.id differs from event.id']);
    expect(checkNormalizedEvent({ ...ok, time: '2024-03-01T10:02:11Z' })).toEqual(['NormalizedEvent.time differs from @timestamp']);
    expect(checkNormalizedEvent({ ...ok, stream: 'audit' })).toEqual(['NormalizedEvent.stream differs from mimecast.stream']);
    expect(checkNormalizedEvent({ ...ok, account: 'x' })).toEqual(['NormalizedEvent.account differs from mimecast.account']);
  });
});
