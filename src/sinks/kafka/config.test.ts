// The kafka sink's config: defaults, broker addresses, the topic template's checks, SASL and compression.
import { describe, expect, it } from 'vitest';
import { StoredEvent } from '../../core/contracts.js';
import { kafkaSinkSchema, topicTemplateProblem, ZSTD_AVAILABLE } from './config.js';
import { topicOf } from './sink.js';

const base = { name: 'k', type: 'kafka', brokers: ['127.0.0.1:9092'] };

function issues(extra: Record<string, unknown>): string[] {
  const r = kafkaSinkSchema.safeParse({ ...base, ...extra });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('kafka sink config', () => {
  it('has safe defaults: topic per stream, no compression, 1MB messages, 30s requests, no TLS or SASL', () => {
    const c = kafkaSinkSchema.parse(base);
    expect(c).toMatchObject({ topic: 'mimecast.{stream}', client_id: 'mimecast-collector', compression: 'none', max_message_bytes: 1024 * 1024, request_timeout: 30_000, format: 'ecs' });
    expect(c.tls).toBeUndefined();
    expect(c.sasl).toBeUndefined();
  });

  it('takes host:port brokers only, each once', () => {
    expect(issues({ brokers: [] })).toEqual(['brokers: list at least one broker (host:port)']);
    expect(issues({ brokers: ['kafka-1'] })[0]).toMatch(/expected host:port/);
    expect(issues({ brokers: ['kafka-1:99999'] })[0]).toMatch(/port must be 1-65535/);
    expect(issues({ brokers: ['a:9092', 'a:9092'] })).toEqual(['brokers: a broker is listed twice']);
    expect(issues({ brokers: ['kafka-1.example:9093', '10.0.0.2:9092', '[::1]:9092'] })).toEqual([]);
  });

  it('checks the topic template at validate time: placeholders, legal characters, length', () => {
    expect(topicTemplateProblem('mimecast.{stream}')).toBeUndefined();
    expect(topicTemplateProblem('logs-{account}.{stream}.{log_type}')).toBeUndefined();
    expect(topicTemplateProblem('mimecast.{type}')).toMatch(/unknown placeholder \{type\}/);
    expect(topicTemplateProblem('mimecast/{stream}')).toMatch(/cannot contain "\/"/);
    expect(topicTemplateProblem('mimecast {stream}')).toMatch(/cannot contain " "/);
    expect(topicTemplateProblem('mimecast.{stream')).toMatch(/unbalanced/);
    expect(topicTemplateProblem('__consumer_offsets')).toMatch(/internal topics/);
    expect(topicTemplateProblem(`${'x'.repeat(200)}.{account}`)).toMatch(/can reach 265 characters; Kafka takes at most 249/);
    expect(issues({ topic: 'a:{stream}' })).toEqual(['topic: topic names cannot contain ":" (only letters, digits, ".", "_" and "-")']);
  });

  it('fills the template per event; every name it makes is a legal topic name', () => {
    const e = new StoredEvent(1, 'id-1', 'siem', 'acme-eu', '2024-01-01T00:00:00Z', Buffer.from('{}'), 'url_protect');
    expect(topicOf('mimecast.{stream}', e)).toBe('mimecast.siem');
    expect(topicOf('{account}.{stream}.{log_type}', e)).toBe('acme-eu.siem.url_protect');
    expect(topicOf('x.{log_type}', new StoredEvent(1, 'i', 'audit', 'a', 't', '{}'))).toBe('x.unknown');
  });

  it('SASL needs a known mechanism, a username and a password', () => {
    expect(issues({ sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } })).toEqual([]);
    expect(issues({ sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } })).toEqual(['sasl.mechanism: expected one of: plain, scram-sha-256, scram-sha-512']);
    expect(issues({ sasl: { mechanism: 'plain', username: 'u' } })[0]).toMatch(/sasl.password: sasl needs a password: set password_file/);
  });

  it('compression: none, gzip, snappy, lz4, and zstd only where Node has it', () => {
    for (const c of ['none', 'gzip', 'snappy', 'lz4']) expect(issues({ compression: c })).toEqual([]);
    expect(issues({ compression: 'brotli' })[0]).toMatch(/expected one of: none, gzip, snappy, lz4, zstd/);
    if (ZSTD_AVAILABLE) expect(issues({ compression: 'zstd' })).toEqual([]);
    else expect(issues({ compression: 'zstd' })).toEqual([`compression: zstd needs Node 22.15 or later (this is Node ${process.versions.node}): use lz4, snappy or gzip`]);
  });

  it('bounds max_message_bytes and request_timeout', () => {
    expect(issues({ max_message_bytes: '100' })[0]).toMatch(/between 1KB and 64MB/);
    expect(issues({ request_timeout: '100ms' })[0]).toMatch(/between 1s and 10m/);
  });
});
